//! The Lambda path: an API Gateway HTTP API (payload 2.0) event, as Lambda hands it to the
//! binary, goes through the Lambdas' own conversion (`shared::http::gateway`) into the same
//! handlers.

use std::sync::Arc;

use base64::Engine;
use e2e_tests::gateway;
use e2e_tests::payloads::status;
use e2e_tests::stack::WEBHOOK_TOKEN;
use e2e_tests::stores;
use shared::auth::{Authenticator, StaticTokens};
use shared::http::Request;
use shared::http::query::{Query, query};
use shared::http::receiver::{DEFAULT_MAX_BODY_BYTES, DEFAULT_STORE_BUDGET, Receiver, receive};
use shared::store::ReadMessage;

/// An event with the webhook token, the body base64-encoded when `base64` says so.
fn api_gateway_event(
    method: &str,
    path: &str,
    query: &str,
    token: &str,
    body: &str,
    base64: bool,
) -> Request {
    let body = if base64 {
        base64::engine::general_purpose::STANDARD.encode(body)
    } else {
        body.to_owned()
    };
    let authorization = format!("Bearer {token}");
    let event = gateway::event(
        method,
        path,
        query,
        &[
            ("authorization", authorization.as_str()),
            ("content-type", "application/json"),
        ],
        Some(&body),
        base64,
    );
    gateway::request(&event).expect("a valid API Gateway event")
}

#[tokio::test]
async fn base64_and_plain_bodies_from_api_gateway_are_stored() {
    let (store, _dir) = stores::embedded();
    let store = Arc::new(store);
    let receiver = Receiver {
        store: store.clone(),
        auth: Authenticator::new().with(StaticTokens::new([WEBHOOK_TOKEN])),
        max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        store_budget: DEFAULT_STORE_BUDGET,
        fallback: None,
    };
    for (base64, message_id) in [(true, "wamid.b64"), (false, "wamid.plain")] {
        let body = status(message_id, "delivered", 1_700_000_000, "whatsapp-lambda");
        let event = api_gateway_event(
            "POST",
            "/webhooks/transactional",
            "",
            WEBHOOK_TOKEN,
            &body,
            base64,
        );
        let response = receive(&receiver, event).await;
        assert_eq!(response.status(), 200, "base64: {base64}");
        assert_eq!(
            std::str::from_utf8(response.body()).unwrap(),
            r#"{"duplicates":0,"stored":1}"#
        );
        let record = store
            .read_message(message_id)
            .await
            .unwrap()
            .expect("stored");
        assert_eq!(
            record.events[0].sub_product,
            shared::domain::SubProduct::Transactional
        );
    }

    let query_handler = Query { store };
    let event = api_gateway_event(
        "GET",
        "/events",
        "key=whatsapp-lambda&limit=5",
        "",
        "",
        false,
    );
    let response = query(&query_handler, event).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(
        body["events"].as_array().unwrap().len(),
        2,
        "the query string reaches the handler"
    );

    // A path parameter and an encoded RFC 3339 offset reach the new routes alike.
    for (path, query_string) in [
        ("/contacts/%2B905551112233/messages", "limit=1"),
        (
            "/events",
            "since=2023-11-14T23%3A13%3A00%2B01%3A00&until=1700000001&limit=1",
        ),
    ] {
        let event = api_gateway_event("GET", path, query_string, "", "", false);
        let response = query(&query_handler, event).await;
        assert_eq!(response.status(), 200, "{path}?{query_string}");
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["events"].as_array().unwrap().len(), 1, "{path}");
        assert!(
            body["next_cursor"].is_string(),
            "{path}: the second event is on the next page"
        );
    }
    let event = api_gateway_event(
        "GET",
        "/stats",
        "since=1699999999&until=1700000001",
        "",
        "",
        false,
    );
    let response = query(&query_handler, event).await;
    assert_eq!(response.status(), 200);
    let stats: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(stats["delivered"], 2);
}
