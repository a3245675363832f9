//! Cold starts of the real `webhook-receiver` bootstrap under the local Lambda Runtime API
//! (`tools/lambda-emulator`), its AWS dependencies on loopback: DynamoDB Local holds the table and
//! moto serves the Secrets Manager secret with the webhook token, so init does what it does in
//! Lambda (read the secrets, open the DynamoDB connection) and every invocation stores a new
//! delivery.
//!
//! ```sh
//! cargo build --release -p webhook-receiver -p lambda-emulator
//! cargo build --release -p e2e-tests --bin cold-start
//! target/release/cold-start --cold-starts 20 --invocations 50
//! target/release/cold-start --statuses 4000 --cold-starts 5 --invocations 10   # ~1 MB bodies
//! ```
//! Prints the emulator's table: init, first and warm invocation durations, peak memory.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use clap::Parser;
use e2e_tests::dynamodb_local::{self, unique_table_name};
use e2e_tests::gateway;
use e2e_tests::moto::Moto;
use e2e_tests::payloads::statuses;
use shared::store::dynamo::DynamoStore;

const TOKEN: &str = "cold-start-webhook-token";
const SECRET: &str = "cold-start/webhook-tokens";

#[derive(Parser)]
#[command(about = "Measures the receiver's cold starts under the local Lambda Runtime API")]
struct Args {
    #[arg(long, default_value_t = 20)]
    cold_starts: usize,
    #[arg(long, default_value_t = 50)]
    invocations: usize,
    #[arg(long, default_value_t = 256)]
    memory_mb: u32,
    /// Statuses per delivery (one is the common case; 4,000 make a body of about 1 MB).
    #[arg(long, default_value_t = 1)]
    statuses: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let release = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(PathBuf::from))
        .expect("the folder of this executable");
    let local = dynamodb_local::shared().await;
    let table = unique_table_name("cold-start");
    let store = DynamoStore::new(
        shared::config::endpoint_dynamo_client(local.endpoint(), Duration::from_secs(10)),
        &table,
        e2e_tests::stores::RETENTION,
    );
    store
        .create_table_if_missing()
        .await
        .expect("table created");
    let moto = Moto::start().await;
    secrets_manager(moto.endpoint())
        .create_secret()
        .name(SECRET)
        .secret_string(TOKEN)
        .send()
        .await
        .expect("secret created");

    // `__SEQ__` becomes a number unique to each invocation, so every delivery is new.
    let items: Vec<(String, &str, i64)> = (0..args.statuses)
        .map(|i| (format!("wamid.__SEQ__.{i}"), "delivered", 1_795_000_000))
        .collect();
    let items: Vec<(&str, &str, i64)> = items
        .iter()
        .map(|(id, s, t)| (id.as_str(), *s, *t))
        .collect();
    let body = statuses(&items, "");
    let authorization = format!("Bearer {TOKEN}");
    let headers = [
        ("authorization", authorization.as_str()),
        ("content-type", "application/json"),
    ];
    let event = gateway::event(
        "POST",
        "/webhooks/transactional",
        "",
        &headers,
        Some(&body),
        false,
    )
    .to_string();
    let event_file = tempfile::NamedTempFile::new().expect("event file");
    std::fs::write(event_file.path(), event).expect("event written");
    println!(
        "delivery body: {} bytes, {} statuses",
        body.len(),
        args.statuses
    );

    let status = tokio::process::Command::new(release.join("lambda-emulator"))
        .arg("--bootstrap")
        .arg(release.join("webhook-receiver"))
        .arg("--event")
        .arg(event_file.path())
        .args(["--cold-starts", &args.cold_starts.to_string()])
        .args(["--invocations", &args.invocations.to_string()])
        .args(["--memory-mb", &args.memory_mb.to_string()])
        .args(["--expect-status", "200"])
        .args(["--env", &format!("TABLE_NAME={table}")])
        .args([
            "--env",
            &format!("AWS_ENDPOINT_URL_DYNAMODB={}", local.endpoint()),
        ])
        .args([
            "--env",
            &format!("AWS_ENDPOINT_URL_SECRETS_MANAGER={}", moto.endpoint()),
        ])
        .args(["--env", &format!("WEBHOOK_TOKENS_SECRET={SECRET}")])
        .args([
            "--env",
            "AWS_ACCESS_KEY_ID=local",
            "--env",
            "AWS_SECRET_ACCESS_KEY=local",
        ])
        .status()
        .await
        .expect("lambda-emulator runs (build it with -p lambda-emulator)");
    if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn secrets_manager(endpoint: &str) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(Credentials::new("local", "local", None, None, "moto"))
            .build(),
    )
}
