//! Proves the DynamoDB Local and fault proxy support works, with raw HTTP calls.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use e2e_tests::dynamodb_local::{self, DynamoDbLocal, RawResponse, raw_request};
use e2e_tests::fault_proxy::FaultProxy;

/// Printed by the `hold-dynamodb-local` binary, followed by its server's port.
const PORT_LINE: &str = "dynamodb-local-port=";

async fn call(addr: SocketAddr, operation: &str, body: &str) -> std::io::Result<RawResponse> {
    tokio::time::timeout(Duration::from_secs(10), raw_request(addr, operation, body))
        .await
        .unwrap_or_else(|_| panic!("{operation} on {addr} took over 10 s"))
}

async fn create_table(addr: SocketAddr, name: &str) {
    let body = format!(
        r#"{{"TableName":"{name}","AttributeDefinitions":[{{"AttributeName":"pk","AttributeType":"S"}}],"KeySchema":[{{"AttributeName":"pk","KeyType":"HASH"}}],"BillingMode":"PAY_PER_REQUEST"}}"#
    );
    let response = call(addr, "CreateTable", &body).await.expect("CreateTable");
    assert_eq!(response.status, 200, "CreateTable: {}", response.body);
}

async fn table_names(addr: SocketAddr) -> String {
    let response = call(addr, "ListTables", "{}").await.expect("ListTables");
    assert_eq!(response.status, 200, "ListTables: {}", response.body);
    assert!(
        response.body.contains("\"TableNames\""),
        "{}",
        response.body
    );
    response.body
}

#[tokio::test]
async fn shared_instance_answers_list_tables() {
    let local = dynamodb_local::shared().await;
    assert!(local.endpoint().starts_with("http://127.0.0.1:"));
    table_names(local.addr()).await;
}

// Runs on a different runtime from the test above, yet reaches the same server.
#[tokio::test]
async fn shared_instance_keeps_tables_apart_by_name() {
    let local = dynamodb_local::shared().await;
    let first = dynamodb_local::unique_table_name("smoke");
    let second = dynamodb_local::unique_table_name("smoke");
    assert_ne!(first, second);
    create_table(local.addr(), &first).await;
    create_table(local.addr(), &second).await;
    let names = table_names(local.addr()).await;
    assert!(names.contains(&format!("\"{first}\"")), "{names}");
    assert!(names.contains(&format!("\"{second}\"")), "{names}");
}

#[tokio::test]
async fn fault_proxy_goes_down_and_up() {
    let local = dynamodb_local::shared().await;
    let proxy = FaultProxy::start(local.addr());
    assert_eq!(proxy.url(), format!("http://{}", proxy.addr()));
    table_names(proxy.addr()).await;

    // An idle connection opened while up is cut when the proxy goes down.
    let mut open = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    proxy.set_up(false);
    let mut byte = [0; 1];
    let cut = tokio::time::timeout(Duration::from_secs(5), open.read(&mut byte))
        .await
        .expect("the open connection was not closed");
    assert!(matches!(cut, Ok(0) | Err(_)), "read {cut:?}");

    let refused = call(proxy.addr(), "ListTables", "{}").await;
    assert!(refused.is_err(), "answered while down: {refused:?}");

    proxy.set_up(true);
    table_names(proxy.addr()).await;
}

#[tokio::test]
async fn fault_proxy_delays_responses() {
    let local = dynamodb_local::shared().await;
    let proxy = FaultProxy::start(local.addr());
    let delay = Duration::from_millis(500);
    proxy.set_delay(delay);
    let started = Instant::now();
    table_names(proxy.addr()).await;
    assert!(started.elapsed() >= delay, "took {:?}", started.elapsed());

    proxy.set_delay(Duration::ZERO);
    let started = Instant::now();
    table_names(proxy.addr()).await;
    assert!(started.elapsed() < delay, "took {:?}", started.elapsed());
}

#[tokio::test]
async fn restart_keeps_the_port_and_loses_the_data() {
    let mut local = DynamoDbLocal::start().await;
    let endpoint = local.endpoint().to_owned();
    let table = dynamodb_local::unique_table_name("restart");
    create_table(local.addr(), &table).await;

    local.stop();
    let stopped = call(local.addr(), "ListTables", "{}").await;
    assert!(stopped.is_err(), "answered while stopped: {stopped:?}");

    local.restart().await;
    assert_eq!(local.endpoint(), endpoint);
    let names = table_names(local.addr()).await;
    assert!(!names.contains(&table), "{names}");
}

/// The child's JVM must go when the child is killed outright, with no destructor run.
///
/// The child is the `hold-dynamodb-local` binary, which holds the shared server as a test
/// binary does.
#[tokio::test]
async fn jvm_dies_with_the_test_process() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hold-dynamodb-local"))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port = loop {
        let line = lines.next_line().await.unwrap();
        let line = line.expect("the child printed no port");
        if let Some(port) = line.strip_prefix(PORT_LINE) {
            break port.parse::<u16>().unwrap();
        }
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    table_names(addr).await;

    child.kill().await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(15);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "DynamoDB Local on {addr} outlived its test process"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
