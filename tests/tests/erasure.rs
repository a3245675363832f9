//! `DELETE /contacts/{wa_id}`: erasure on request over HTTP, on the local stack with DynamoDB
//! Local: bounded per call and repeated until done, the conversation empty afterwards, the
//! funnel unchanged, bad parameters refused; and the log of an erasure holds counts, never whose
//! data it was.

use std::sync::Arc;
use std::time::Duration;

use e2e_tests::dynamodb_local;
use e2e_tests::logs;
use e2e_tests::payloads::{reply_of_type, statuses, stored};
use e2e_tests::stack::{self, ADMIN_TOKEN, WEBHOOK_TOKEN, client, deliver, error_code, read};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::domain::SubProduct;
use shared::http::Body;
use shared::http::erasure::{Erasure, erase};
use shared::store::WriteEvents;

const T0: i64 = 1_700_006_400;
const CONTACT: &str = "905551112233";

fn conversation() -> Vec<String> {
    vec![
        statuses(
            &[
                ("wamid.x1", "sent", T0),
                ("wamid.x1", "delivered", T0 + 5),
                ("wamid.x2", "failed", T0 + 6),
            ],
            "whatsapp-erase",
        ),
        reply_of_type("wamid.x3", CONTACT, "text", T0 + 7),
    ]
}

async fn erase_request(base: &str, path: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = client().delete(format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_is_erased_call_by_call_and_the_funnel_stays() {
    let dynamodb = dynamodb_local::shared().await;
    let stack = stack::dynamo(dynamodb.endpoint(), Duration::from_secs(10)).await;
    let base = stack.url();
    for body in conversation() {
        let (status, _) = deliver(&base, "conversational", Some(WEBHOOK_TOKEN), &body).await;
        assert_eq!(status, StatusCode::OK);
    }
    let window = format!("since={T0}&until={}", T0 + 3600);
    let (_, funnel) = read(&base, &format!("/stats?{window}")).await;
    let (_, before) = read(&base, &format!("/contacts/{CONTACT}/messages")).await;
    assert_eq!(before["events"].as_array().unwrap().len(), 4);

    let mut messages = 0;
    for _ in 0..10 {
        let (status, answer) = erase_request(
            &base,
            &format!("/contacts/{CONTACT}?limit=1"),
            Some(ADMIN_TOKEN),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        messages += answer["erased_messages"].as_u64().unwrap();
        if answer["done"] == true {
            break;
        }
    }
    assert_eq!(messages, 3);
    let (_, after) = read(&base, &format!("/contacts/{CONTACT}/messages")).await;
    assert_eq!(after["events"], json!([]));
    let (_, message) = read(&base, "/messages/wamid.x1").await;
    assert_eq!(message["status"], "delivered");
    assert!(
        !message.to_string().contains(CONTACT),
        "no number left: {message}"
    );
    let (_, funnel_after) = read(&base, &format!("/stats?{window}")).await;
    assert_eq!(funnel_after, funnel, "the counts stay");
    // Repeating it is safe.
    let (status, answer) =
        erase_request(&base, &format!("/contacts/%2B{CONTACT}"), Some(ADMIN_TOKEN)).await;
    assert_eq!(
        (status, answer),
        (
            StatusCode::OK,
            json!({"erased_messages": 0, "erased_events": 0, "done": true})
        )
    );

    for (path, status, code) in [
        (
            format!("/contacts/{CONTACT}?limit=0"),
            400,
            "invalid_parameter",
        ),
        (
            format!("/contacts/{CONTACT}?limit=101"),
            400,
            "invalid_parameter",
        ),
        (
            format!("/contacts/{CONTACT}?limit=ten"),
            400,
            "invalid_parameter",
        ),
        (
            format!("/contacts/{CONTACT}?since=1"),
            400,
            "invalid_parameter",
        ),
        ("/contacts/%2B".to_owned(), 400, "invalid_parameter"),
        (format!("/contacts/{CONTACT}/messages"), 404, "not_found"),
    ] {
        let (got, answer) = erase_request(&base, &path, Some(ADMIN_TOKEN)).await;
        assert_eq!(
            (got.as_u16(), error_code(&answer)),
            (status, code),
            "{path}: {answer}"
        );
    }
    let (status, _) = erase_request(&base, &format!("/contacts/{CONTACT}"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) =
        erase_request(&base, &format!("/contacts/{CONTACT}"), Some(WEBHOOK_TOKEN)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_log_of_an_erasure_holds_counts_never_whose_data() {
    let (store, _dir) = e2e_tests::stores::embedded();
    for body in conversation() {
        store
            .write_events(&stored(&body, SubProduct::Conversational, T0 * 1000))
            .await
            .unwrap();
    }
    let erasure = Erasure {
        store: Arc::new(store),
    };
    let (captured, _guard) = logs::capture();
    let request = http::Request::builder()
        .method("DELETE")
        .uri(format!("/contacts/{CONTACT}"))
        .body(Body::Empty)
        .unwrap();
    let response = erase(&erasure, request).await;
    assert_eq!(response.status(), 200);
    let text = captured.text();
    assert!(text.contains("contact data erased"), "{text}");
    assert!(
        !text.contains(CONTACT) && !text.contains("5551112233"),
        "{text}"
    );
}
