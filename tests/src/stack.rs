//! The local stack, started in-process on a free loopback port for one test.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use local_stack::{Config, LocalStack, StoreChoice};
use reqwest::StatusCode;
use serde_json::Value;
use shared::auth::access_tokens::SigningKey;

pub const WEBHOOK_TOKEN: &str = "test-webhook-token";
pub const ROTATED_WEBHOOK_TOKEN: &str = "test-webhook-token-next";
pub const ADMIN_TOKEN: &str = "test-admin-token";
pub const OAUTH_CLIENT_ID: &str = "test-insider";
pub const OAUTH_CLIENT_SECRET: &str = "test-oauth-client-secret-0123456789";
/// The access-token signing key of every test stack, known so that tests can sign the tokens
/// the stack must refuse (expired, for another audience, without the delivery scope).
pub const SIGNING_KEY_ID: &str = "test";
pub const SIGNING_KEY_SECRET: &[u8] = b"test-signing-key-0123456789abcdef";

/// The configuration every test stack uses, with the test credentials.
pub fn config(store: StoreChoice, store_timeout: Duration) -> Config {
    Config {
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        store,
        retention: crate::stores::RETENTION,
        store_timeout,
        store_budget: shared::http::receiver::DEFAULT_STORE_BUDGET,
        max_body_bytes: shared::http::receiver::DEFAULT_MAX_BODY_BYTES,
        webhook_tokens: vec![WEBHOOK_TOKEN.into(), ROTATED_WEBHOOK_TOKEN.into()],
        admin_token: ADMIN_TOKEN.into(),
        oauth_client_id: OAUTH_CLIENT_ID.into(),
        oauth_client_secret: OAUTH_CLIENT_SECRET.into(),
        downstream: Default::default(),
        signing_key: Some(
            SigningKey::new(SIGNING_KEY_ID, SIGNING_KEY_SECRET.to_vec())
                .expect("the test key is long enough"),
        ),
        trusted_issuers: Vec::new(),
        trusted_audience: None,
    }
}

/// On the embedded store in a temporary folder (kept alive by the returned guard).
pub async fn embedded() -> (LocalStack, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let stack = local_stack::start(config(
        StoreChoice::Embedded(dir.path().to_owned()),
        Duration::from_secs(3),
    ))
    .await
    .expect("local stack starts");
    (stack, dir)
}

/// On a new table at a DynamoDB-compatible endpoint.
pub async fn dynamo(endpoint: &str, store_timeout: Duration) -> LocalStack {
    let store = StoreChoice::Dynamo {
        endpoint: endpoint.to_owned(),
        table: crate::dynamodb_local::unique_table_name("stack"),
        raw_bucket: None,
        fallback_queue: None,
    };
    local_stack::start(config(store, store_timeout))
        .await
        .expect("local stack starts")
}

/// A client for tests: no proxy from the environment, bounded waits.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

/// Posts a webhook body as Insider One does; the status and the JSON answer (`Null` if none).
pub async fn deliver(
    base: &str,
    sub_product: &str,
    token: Option<&str>,
    body: &str,
) -> (StatusCode, Value) {
    let mut request = client()
        .post(format!("{base}/webhooks/{sub_product}"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request is answered");
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A read-back `GET` with the admin token; the status and the JSON answer (`Null` if none).
pub async fn read(base: &str, path: &str) -> (StatusCode, Value) {
    let response = client()
        .get(format!("{base}{path}"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("request is answered");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The `code` of an error answer.
pub fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}
