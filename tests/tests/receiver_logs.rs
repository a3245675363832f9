//! What the receiver logs: one line per request with its outcome and counts, never the text of a
//! payload or a credential. Its own binary: tracing caches, per call site, whether anyone listens,
//! and tests in other threads without the capturing subscriber would make it skip lines.

use e2e_tests::payloads::text_reply;
use e2e_tests::stack::{self, WEBHOOK_TOKEN, deliver};
use reqwest::StatusCode;
use serde_json::{Value, json};

const T0: i64 = 1_700_000_000;

#[tokio::test]
async fn request_logs_hold_outcomes_and_counts_never_payload_text() {
    let (logs, _guard) = e2e_tests::logs::capture();
    let (stack, _dir) = stack::embedded().await;
    let base = stack.url();
    let words = "Teslimat adresim değişti, lütfen arayın 0555 111 22 33";
    let reply = text_reply("wamid.logs", words, T0);
    let (code, _) = deliver(&base, "conversational", Some(WEBHOOK_TOKEN), &reply).await;
    assert_eq!(code, StatusCode::OK);
    let unauthenticated = text_reply("wamid.logs-2", words, T0);
    let (code, _) = deliver(&base, "conversational", None, &unauthenticated).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    let not_json = format!("{{\"text\": \"{words}\"");
    let (code, _) = deliver(&base, "conversational", Some(WEBHOOK_TOKEN), &not_json).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);

    let logs = logs.text();
    let outcomes: Vec<Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["fields"]["sub_product"] == "conversational")
        .map(|line| line["fields"].clone())
        .collect();
    assert_eq!(outcomes.len(), 3, "one line per request: {logs}");
    assert_eq!(
        (&outcomes[0]["outcome"], &outcomes[0]["stored"]),
        (&json!("stored"), &json!(1))
    );
    assert_eq!(outcomes[1]["outcome"], "missing_credentials");
    assert_eq!(outcomes[2]["outcome"], "invalid_json");
    for payload_text in [
        "Teslimat",
        "0555 111",
        "Ayşe",
        "905551112233",
        WEBHOOK_TOKEN,
    ] {
        assert!(
            !logs.contains(payload_text),
            "a log line shows {payload_text:?}: {logs}"
        );
    }
}
