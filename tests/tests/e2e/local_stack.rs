//! End to end over HTTP: the local stack runs the same handlers as the Lambdas.

use std::time::{Duration, Instant};

use e2e_tests::dynamodb_local;
use e2e_tests::fault_proxy::FaultProxy;
use e2e_tests::payloads::{status, statuses, text_reply};
use e2e_tests::stack::{
    self, ADMIN_TOKEN, ROTATED_WEBHOOK_TOKEN, WEBHOOK_TOKEN, client, deliver, error_code, read,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const T0: i64 = 1_700_000_000;

#[tokio::test]
async fn a_delivery_is_stored_once_and_read_back() {
    let (stack, _dir) = stack::embedded().await;
    let base = stack.url();
    let body = statuses(
        &[
            ("wamid.e2e", "sent", T0),
            ("wamid.e2e", "delivered", T0 + 2),
        ],
        "whatsapp-e2e",
    );

    let (code, answer) = deliver(&base, "conversational", Some(WEBHOOK_TOKEN), &body).await;
    assert_eq!(
        (code, answer),
        (StatusCode::OK, json!({"stored": 2, "duplicates": 0}))
    );
    let (code, answer) = deliver(&base, "conversational", Some(ROTATED_WEBHOOK_TOKEN), &body).await;
    assert_eq!(
        (code, answer),
        (StatusCode::OK, json!({"stored": 0, "duplicates": 2})),
        "a redelivery stores nothing"
    );
    let late_sent = status("wamid.e2e", "sent", T0 + 1, "whatsapp-e2e");
    deliver(&base, "conversational", Some(WEBHOOK_TOKEN), &late_sent).await;

    let (code, message) = read(&base, "/messages/wamid.e2e").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(message["message_id"], "wamid.e2e");
    assert_eq!(
        message["status"], "delivered",
        "a late sent does not move the status back"
    );
    assert_eq!(message["key"], "whatsapp-e2e");
    let events = message["events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["family"], "status");
    assert_eq!(events[0]["status"], "sent");
    assert_eq!(events[0]["sub_product"], "conversational");
    assert_eq!(
        events[0]["raw"]["status"], "sent",
        "the raw fragment is embedded as JSON"
    );
    assert!(events[0]["received_at"].as_i64().unwrap() > 0);

    let (code, by_key) = read(&base, "/events?key=whatsapp-e2e").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(by_key["events"].as_array().unwrap().len(), 3);

    let (code, missing) = read(&base, "/messages/wamid.unknown").await;
    assert_eq!(
        (code, error_code(&missing)),
        (StatusCode::NOT_FOUND, "message_not_found")
    );
    let (code, no_key) = read(&base, "/events").await;
    assert_eq!(
        (code, error_code(&no_key)),
        (StatusCode::BAD_REQUEST, "missing_parameter")
    );
    let (code, bad_limit) = read(&base, "/events?key=k&limit=0").await;
    assert_eq!(
        (code, error_code(&bad_limit)),
        (StatusCode::BAD_REQUEST, "invalid_parameter")
    );
}

#[tokio::test]
async fn the_url_validation_probe_passes_with_or_without_credentials_and_stores_nothing() {
    let (stack, _dir) = stack::embedded().await;
    let base = stack.url();
    for sub_product in ["conversational", "transactional", "verify"] {
        for method in [Method::GET, Method::HEAD] {
            let response = client()
                .request(method.clone(), format!("{base}/webhooks/{sub_product}"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{method} {sub_product}");
            assert!(response.bytes().await.unwrap().is_empty());
        }
        for (token, body) in [
            (None, ""),
            (None, "{}"),
            (Some("wrong"), " { } "),
            (Some(WEBHOOK_TOKEN), "{}"),
        ] {
            let (code, answer) = deliver(&base, sub_product, token, body).await;
            assert_eq!(
                (code, answer),
                (StatusCode::OK, Value::Null),
                "POST {body:?} with {token:?}"
            );
        }
    }
    // A `{}` that got past the probe check would be stored as an unknown event at its arrival
    // time: the window around now must be empty.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let window = format!("since={}&until={}", now - 3_600, now + 3_600);
    let (code, listed) = read(&base, &format!("/events?{window}")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(listed["events"], json!([]), "no probe is stored");
    let (code, stats) = read(&base, &format!("/stats?{window}")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(stats["events"], 0, "no probe is counted: {stats}");
}

#[tokio::test]
async fn authentication_failures_store_nothing() {
    let (stack, _dir) = stack::embedded().await;
    let base = stack.url();
    let body = status("wamid.auth", "read", T0, "whatsapp-auth");
    for (token, expected) in [
        (None, "missing_credentials"),
        (Some("not-the-token"), "invalid_token"),
        (Some(ADMIN_TOKEN), "invalid_token"),
    ] {
        let (code, answer) = deliver(&base, "transactional", token, &body).await;
        assert_eq!(
            (code, error_code(&answer)),
            (StatusCode::UNAUTHORIZED, expected)
        );
    }
    let basic = client()
        .post(format!("{base}/webhooks/transactional"))
        .basic_auth("user", Some(WEBHOOK_TOKEN))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(basic.headers()["www-authenticate"], "Bearer");
    let (code, _) = read(&base, "/messages/wamid.auth").await;
    assert_eq!(code, StatusCode::NOT_FOUND, "nothing was stored");

    // The read-back routes want the admin token, not the webhook token.
    let response = client()
        .get(format!("{base}/events?key=x"))
        .bearer_auth(WEBHOOK_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_console_is_behind_the_admin_token() {
    let (stack, _dir) = stack::embedded().await;
    let base = stack.url();
    let no_redirects = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = |token: Option<&'static str>| {
        let mut request = no_redirects.get(format!("{base}/console/funnel"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    for token in [None, Some(WEBHOOK_TOKEN)] {
        let response = page(token).await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{token:?}");
        assert_eq!(response.headers()["location"], "/console/login");
    }
    let response = page(Some(ADMIN_TOKEN)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    assert!(response.text().await.unwrap().contains("<h1>Funnel</h1>"));
}

#[tokio::test]
async fn bad_requests_get_clear_errors_and_change_nothing() {
    let (stack, _dir) = stack::embedded().await;
    let base = stack.url();
    let cases: Vec<(&str, String, StatusCode, &str)> = vec![
        (
            "conversational",
            "{\"entry\": [".into(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "conversational",
            "[{\"key\": \"whatsapp-x\"}]".into(),
            StatusCode::BAD_REQUEST,
            "not_a_json_object",
        ),
        (
            "verify",
            "\"text\"".into(),
            StatusCode::BAD_REQUEST,
            "not_a_json_object",
        ),
        (
            "transactional",
            format!(
                "{{\"key\":\"whatsapp-big\",\"pad\":\"{}\"}}",
                "x".repeat(1024 * 1024)
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        ("nope", "{}".into(), StatusCode::NOT_FOUND, "not_found"),
    ];
    for (sub_product, body, status, code) in cases {
        let (got, answer) = deliver(&base, sub_product, Some(WEBHOOK_TOKEN), &body).await;
        assert_eq!(
            (got, error_code(&answer)),
            (status, code),
            "{sub_product} {}",
            &body[..body.len().min(40)]
        );
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let put = client()
        .put(format!("{base}/webhooks/verify"))
        .bearer_auth(WEBHOOK_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::METHOD_NOT_ALLOWED);
    let (code, by_key) = read(&base, "/events?key=whatsapp-big").await;
    assert_eq!(
        (code, by_key["events"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(0))
    );
}

#[tokio::test]
async fn unknown_shapes_and_replies_are_stored_as_received() {
    let (stack, _dir) = stack::embedded().await;
    let base = stack.url();
    let unknown = r#"{"key": "whatsapp-new-shape", "novel": {"x": [1, 2]}}"#;
    let (code, answer) = deliver(&base, "verify", Some(WEBHOOK_TOKEN), unknown).await;
    assert_eq!(
        (code, answer),
        (StatusCode::OK, json!({"stored": 1, "duplicates": 0}))
    );
    let (_, by_key) = read(&base, "/events?key=whatsapp-new-shape").await;
    assert_eq!(by_key["events"][0]["family"], "unknown");
    assert_eq!(
        by_key["events"][0]["raw"],
        serde_json::from_str::<Value>(unknown).unwrap()
    );

    let reply = text_reply("wamid.reply-e2e", "hello", T0);
    deliver(&base, "conversational", Some(WEBHOOK_TOKEN), &reply).await;
    let (_, message) = read(&base, "/messages/wamid.reply-e2e").await;
    assert_eq!(message["status"], Value::Null);
    assert_eq!(message["events"][0]["message_type"], "text");
    assert_eq!(message["events"][0]["raw"]["text"]["body"], "hello");
}

#[tokio::test]
async fn a_stored_event_reads_back_whatever_json_it_holds() {
    // Valid JSON that serde_json's own tree refuses: nesting past its 128 levels, and a lone
    // surrogate escape (half an emoji, as JavaScript's JSON.stringify writes it).
    let (stack, _dir) = stack::embedded().await;
    let base = stack.url();
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let body = format!(
        r#"{{"entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"phone_number_id":"1"}},"messages":[{{"from":"905551112233","id":"wamid.deep","timestamp":"1700000000","type":"text","text":{{"body":"\ud83d"}},"deep":{deep}}}]}}}}]}}]}}"#
    );
    let (code, _) = deliver(&base, "conversational", Some(WEBHOOK_TOKEN), &body).await;
    assert_eq!(code, StatusCode::OK);
    let response = client()
        .get(format!("{base}/messages/wamid.deep"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("the read route answers");
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(text.contains(r#""body":"\ud83d""#), "{text}");
    assert!(text.contains(&deep), "the fragment comes back as stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_down_answers_503_and_nothing_is_lost_once_it_is_back() {
    let dynamodb = dynamodb_local::shared().await;
    let proxy = FaultProxy::start(dynamodb.addr());
    // A bound well above the SDK's own retries against a refused connection (three attempts,
    // about three seconds of backoff at most), so the answer says "unavailable", not "timeout".
    let stack = stack::dynamo(&proxy.url(), Duration::from_secs(8)).await;
    let base = stack.url();
    let body = statuses(
        &[
            ("wamid.down-1", "sent", T0),
            ("wamid.down-1", "delivered", T0 + 1),
            ("wamid.down-2", "read", T0),
        ],
        "whatsapp-down",
    );

    proxy.set_up(false);
    let started = Instant::now();
    let response = client()
        .post(format!("{base}/webhooks/conversational"))
        .bearer_auth(WEBHOOK_TOKEN)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(error_code(&answer), "storage_unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a dead store is answered promptly"
    );

    proxy.set_up(true);
    let (code, answer) = deliver(&base, "conversational", Some(WEBHOOK_TOKEN), &body).await;
    assert_eq!(
        (code, answer),
        (StatusCode::OK, json!({"stored": 3, "duplicates": 0}))
    );
    let (code, answer) = deliver(&base, "conversational", Some(WEBHOOK_TOKEN), &body).await;
    assert_eq!(
        (code, answer),
        (StatusCode::OK, json!({"stored": 0, "duplicates": 3}))
    );
    let (_, by_key) = read(&base, "/events?key=whatsapp-down").await;
    assert_eq!(
        by_key["events"].as_array().unwrap().len(),
        3,
        "every event exactly once"
    );
    let (_, message) = read(&base, "/messages/wamid.down-1").await;
    assert_eq!(message["status"], "delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_storage_is_answered_503_within_the_bound() {
    let dynamodb = dynamodb_local::shared().await;
    let proxy = FaultProxy::start(dynamodb.addr());
    let stack = stack::dynamo(&proxy.url(), Duration::from_secs(1)).await;
    let base = stack.url();
    proxy.set_delay(Duration::from_secs(5));
    let started = Instant::now();
    let (code, answer) = deliver(
        &base,
        "transactional",
        Some(WEBHOOK_TOKEN),
        &status("wamid.slow", "sent", T0, "whatsapp-slow"),
    )
    .await;
    assert_eq!(
        (code, error_code(&answer)),
        (StatusCode::SERVICE_UNAVAILABLE, "storage_timeout")
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "bounded by the store timeout, not the store"
    );
    proxy.set_delay(Duration::ZERO);
    let (code, _) = deliver(
        &base,
        "transactional",
        Some(WEBHOOK_TOKEN),
        &status("wamid.slow", "sent", T0, "whatsapp-slow"),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
}
