//! The real `webhook-receiver` executable under a local Lambda Runtime API, on DynamoDB Local:
//! what Lambda runs, started as Lambda starts it.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use e2e_tests::dynamodb_local::{self, unique_table_name};
use e2e_tests::gateway;
use e2e_tests::payloads::status;
use lambda_emulator::{Function, FunctionSettings, Outcome};
use shared::store::ReadMessage;
use shared::store::dynamo::DynamoStore;

const BOOTSTRAP: &str = env!("CARGO_BIN_EXE_webhook-receiver");

fn settings(dynamodb_endpoint: &str, table: &str) -> FunctionSettings {
    FunctionSettings {
        environment: [
            ("TABLE_NAME", table),
            ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint),
            ("AWS_ACCESS_KEY_ID", "local"),
            ("AWS_SECRET_ACCESS_KEY", "local"),
            ("STORE_TIMEOUT_MS", "1000"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect(),
        ..FunctionSettings::default()
    }
}

async fn table() -> (&'static str, String, DynamoStore) {
    let local = dynamodb_local::shared().await;
    let table = unique_table_name("runtime-api");
    let client = shared::config::endpoint_dynamo_client(local.endpoint(), Duration::from_secs(5));
    let store = DynamoStore::new(client, &table, Duration::from_secs(86_400));
    store.create_table_if_missing().await.unwrap();
    (local.endpoint(), table, store)
}

fn status_code(outcome: &Outcome) -> (u64, serde_json::Value) {
    let Outcome::Response(body) = outcome else {
        panic!("the handler failed: {outcome:?}");
    };
    let answer: serde_json::Value = serde_json::from_slice(body).unwrap();
    let text = answer["body"].as_str().unwrap_or_default();
    let bytes = if answer["isBase64Encoded"] == true {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap()
    } else {
        text.as_bytes().to_vec()
    };
    let body = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (answer["statusCode"].as_u64().unwrap(), body)
}

#[tokio::test]
async fn the_executable_initialises_and_answers_under_the_runtime_api() {
    let (endpoint, table, store) = table().await;
    let mut function = Function::start(Path::new(BOOTSTRAP), &settings(endpoint, &table))
        .await
        .unwrap();
    assert!(function.init_duration < lambda_emulator::INIT_LIMIT);

    let probe = gateway::event("GET", "/webhooks/conversational", "", &[], None, false).to_string();
    let answer = function.invoke(Bytes::from(probe)).await.unwrap();
    assert_eq!(status_code(&answer.outcome).0, 200);

    // No credential source is configured here: deliveries are refused with a 5xx, so Insider
    // One keeps them and retries, and nothing is written.
    let delivery = status("wamid.runtime-api", "delivered", 1_795_000_000, "");
    let event = gateway::event(
        "POST",
        "/webhooks/transactional",
        "",
        &[("authorization", "Bearer t")],
        Some(&delivery),
        false,
    )
    .to_string();
    let answer = function.invoke(Bytes::from(event)).await.unwrap();
    let (code, body) = status_code(&answer.outcome);
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (503, Some("auth_not_configured")),
        "{body}"
    );
    assert!(
        store
            .read_message("wamid.runtime-api")
            .await
            .unwrap()
            .is_none()
    );

    assert!(function.peak_memory_kib().is_some_and(|kib| kib > 0));
    function.stop().await;
}

#[tokio::test]
async fn init_completes_when_the_store_cannot_be_reached() {
    // Nothing listens on the discard port: the connection opened during init fails, which must
    // cost the first request a handshake, never the function its start.
    let mut function = Function::start(
        Path::new(BOOTSTRAP),
        &settings("http://127.0.0.1:9", "no-such-table"),
    )
    .await
    .unwrap();
    let probe = gateway::event("GET", "/webhooks/verify", "", &[], None, false).to_string();
    let answer = function.invoke(Bytes::from(probe)).await.unwrap();
    assert_eq!(status_code(&answer.outcome).0, 200);
    function.stop().await;
}
