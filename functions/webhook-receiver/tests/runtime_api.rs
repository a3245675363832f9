//! The real `webhook-receiver` executable under a local Lambda Runtime API, on DynamoDB Local:
//! what Lambda runs, started as Lambda starts it.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use e2e_tests::dynamodb_local::{self, unique_table_name};
use e2e_tests::gateway;
use e2e_tests::moto::Moto;
use e2e_tests::payloads::{status, text_reply};
use lambda_emulator::{EmulatorError, Function, FunctionSettings, Logs, Outcome};
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

const SECRET_TOKEN: &str = "token-kept-in-secrets-manager-0001";
const PARAMETER_TOKEN: &str = "token-kept-in-parameter-store-0001";

/// moto holding the webhook tokens as the template keeps them: a Secrets Manager secret, and
/// (the documented alternative) an SSM SecureString parameter.
async fn credential_sources() -> Moto {
    let moto = Moto::start().await;
    let sdk = aws_config_for(moto.endpoint());
    aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name("webhook-tokens")
        .secret_string(format!(
            r#"["{SECRET_TOKEN}", "token-rotated-out-next-0002"]"#
        ))
        .send()
        .await
        .unwrap();
    aws_sdk_ssm::Client::new(&sdk)
        .put_parameter()
        .name("/insider/webhook-tokens")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .value(PARAMETER_TOKEN)
        .send()
        .await
        .unwrap();
    moto
}

fn aws_config_for(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_ssm::config::SharedCredentialsProvider::new(
            aws_sdk_ssm::config::Credentials::new("local", "local", None, None, "moto"),
        ))
        .build()
}

async fn deliver(
    function: &mut Function,
    message_id: &str,
    token: &str,
) -> (u64, serde_json::Value) {
    let delivery = status(message_id, "read", 1_795_000_000, "");
    let authorization = format!("Bearer {token}");
    let event = gateway::event(
        "POST",
        "/webhooks/conversational",
        "",
        &[("authorization", authorization.as_str())],
        Some(&delivery),
        false,
    )
    .to_string();
    status_code(&function.invoke(Bytes::from(event)).await.unwrap().outcome)
}

#[tokio::test]
async fn tokens_come_from_secrets_manager_or_parameter_store_read_at_init() {
    let (endpoint, table, store) = table().await;
    let moto = credential_sources().await;
    let sources = [
        ("WEBHOOK_TOKENS_SECRET", "webhook-tokens", SECRET_TOKEN),
        (
            "WEBHOOK_TOKENS_PARAMETER",
            "/insider/webhook-tokens",
            PARAMETER_TOKEN,
        ),
    ];
    for (variable, name, token) in sources {
        let mut settings = settings(endpoint, &table);
        settings.environment.extend([
            (variable.to_owned(), name.to_owned()),
            (
                "AWS_ENDPOINT_URL_SECRETS_MANAGER".to_owned(),
                moto.endpoint().to_owned(),
            ),
            (
                "AWS_ENDPOINT_URL_SSM".to_owned(),
                moto.endpoint().to_owned(),
            ),
        ]);
        let mut function = Function::start(Path::new(BOOTSTRAP), &settings)
            .await
            .unwrap();
        let message_id = format!("wamid.{variable}");
        let (code, body) = deliver(&mut function, &message_id, "not-the-token").await;
        assert_eq!(
            (code, body["error"]["code"].as_str()),
            (401, Some("invalid_token"))
        );
        assert!(store.read_message(&message_id).await.unwrap().is_none());
        let (code, body) = deliver(&mut function, &message_id, token).await;
        assert_eq!(
            (code, body),
            (200, serde_json::json!({"stored": 1, "duplicates": 0})),
            "{variable}"
        );
        assert!(store.read_message(&message_id).await.unwrap().is_some());
        function.stop().await;
    }
}

#[tokio::test]
async fn at_trace_level_no_log_line_holds_a_credential_a_phone_number_or_message_text() {
    let (endpoint, table, store) = table().await;
    let moto = credential_sources().await;
    let logs = tempfile::NamedTempFile::new().unwrap();
    let mut settings = settings(endpoint, &table);
    settings.environment.extend(
        [
            ("AWS_LAMBDA_LOG_LEVEL", "TRACE"),
            ("WEBHOOK_TOKENS_SECRET", "webhook-tokens"),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto.endpoint()),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned())),
    );
    settings.logs = Logs::File(logs.path().to_owned());
    let mut function = Function::start(Path::new(BOOTSTRAP), &settings)
        .await
        .unwrap();
    // A status to a phone number and a reply with its text, with the token, then a wrong token.
    const TEXT: &str = "my parcel never came, please call me back";
    let (code, _) = deliver(&mut function, "wamid.trace-status", SECRET_TOKEN).await;
    assert_eq!(code, 200);
    let reply = text_reply("wamid.trace-reply", TEXT, 1_795_000_000);
    let event = gateway::event(
        "POST",
        "/webhooks/conversational",
        "",
        &[("authorization", &format!("Bearer {SECRET_TOKEN}"))],
        Some(&reply),
        false,
    )
    .to_string();
    let answer = function.invoke(Bytes::from(event)).await.unwrap();
    assert_eq!(status_code(&answer.outcome).0, 200);
    let (code, _) = deliver(
        &mut function,
        "wamid.trace-refused",
        "wrong-token-0123456789",
    )
    .await;
    assert_eq!(code, 401);
    assert!(
        store
            .read_message("wamid.trace-reply")
            .await
            .unwrap()
            .is_some()
    );
    function.stop().await;

    let written = std::fs::read_to_string(logs.path()).unwrap();
    assert!(
        written.contains("\"outcome\":\"stored\""),
        "the function logged its requests: {written}"
    );
    for secret in [
        SECRET_TOKEN,
        "token-rotated-out-next-0002",
        "wrong-token-0123456789",
        "905551112233",
        TEXT,
        "Ayşe",
    ] {
        assert!(!written.contains(secret), "a log line shows {secret:?}");
    }
}

#[tokio::test]
async fn a_configured_secret_that_cannot_be_read_fails_init() {
    let (endpoint, table, _store) = table().await;
    let moto = credential_sources().await;
    let mut settings = settings(endpoint, &table);
    settings.environment.extend([
        (
            "WEBHOOK_TOKENS_SECRET".to_owned(),
            "no-such-secret".to_owned(),
        ),
        (
            "AWS_ENDPOINT_URL_SECRETS_MANAGER".to_owned(),
            moto.endpoint().to_owned(),
        ),
    ]);
    // Fail closed: a function that cannot know its tokens never serves, and Lambda answers
    // the sender with a 5xx that Insider One retries.
    match Function::start(Path::new(BOOTSTRAP), &settings).await {
        Err(EmulatorError::ExitedDuringInit(status)) => assert!(!status.success()),
        Err(other) => panic!("init failed otherwise: {other}"),
        Ok(function) => {
            function.stop().await;
            panic!("init succeeded without its tokens")
        }
    }
}

#[tokio::test]
async fn a_delivery_the_store_cannot_take_is_parked_in_the_fallback_queue() {
    let moto = credential_sources().await;
    let (queue, _) = moto.queue_with_dead_letters("fallback", 5).await;
    // Nothing listens on the discard port: every DynamoDB call fails.
    let mut settings = settings("http://127.0.0.1:9", "no-such-table");
    settings.environment.extend(
        [
            ("WEBHOOK_TOKENS_SECRET", "webhook-tokens"),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto.endpoint()),
            ("FALLBACK_QUEUE_URL", queue.as_str()),
            ("AWS_ENDPOINT_URL_SQS", moto.endpoint()),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned())),
    );
    let mut function = Function::start(Path::new(BOOTSTRAP), &settings)
        .await
        .unwrap();
    let (code, body) = deliver(&mut function, "wamid.parked", SECRET_TOKEN).await;
    assert_eq!(
        (code, body),
        (
            200,
            serde_json::json!({"stored": 0, "duplicates": 0, "parked": true})
        )
    );
    function.stop().await;

    let messages = moto.receive(&queue).await;
    assert_eq!(messages.len(), 1);
    let attribute = |name: &str| {
        messages[0].message_attributes.as_ref().unwrap()[name]
            .string_value()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        messages[0].body(),
        Some(status("wamid.parked", "read", 1_795_000_000, "").as_str()),
        "the body exactly as received"
    );
    assert_eq!(attribute("sub_product"), "conversational");
    assert_eq!(attribute("principal"), "static-token");
    assert!(attribute("received_at").parse::<i64>().unwrap() > 1_795_000_000_000 / 2);
}
