//! Helper process of the `jvm_dies_with_the_test_process` test in
//! `tests/tests/dynamodb_local_smoke.rs`: starts the shared DynamoDB Local, prints
//! `dynamodb-local-port=PORT`, and waits to be killed outright.

use std::io::Write;
use std::time::Duration;

use e2e_tests::dynamodb_local;

/// Must match `PORT_LINE` in `tests/tests/dynamodb_local_smoke.rs`.
const PORT_LINE: &str = "dynamodb-local-port=";

#[tokio::main]
async fn main() {
    // Held by a static, as tests hold theirs: never dropped.
    let local = dynamodb_local::shared().await;
    println!("{PORT_LINE}{}", local.addr().port());
    std::io::stdout().flush().unwrap();
    // Bounded, should the parent fail to kill this process.
    tokio::time::sleep(Duration::from_secs(60)).await;
}
