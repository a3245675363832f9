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

#[test]
fn at_trace_the_libraries_log_no_more_than_info() {
    // lambda_runtime logs every raw event at TRACE, headers and body, as Lambda hands it over.
    let raw_event = format!(
        "{{\"headers\":{{\"authorization\":\"Bearer {WEBHOOK_TOKEN}\"}},\"body\":\"905551112233\"}}"
    );
    for (level, ours_logged) in [("TRACE", true), ("debug", true), ("warn", false)] {
        let logs = e2e_tests::logs::CapturedLogs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_env_filter(shared::telemetry::log_filter(level))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "lambda_runtime::layers::api_response", body = raw_event.as_str(), "raw JSON event received from Lambda");
            tracing::debug!(target: "aws_smithy_runtime::client::orchestrator", request = raw_event.as_str(), "sending");
            tracing::trace!(target: "hyper::proto::h1::io", bytes = raw_event.as_str(), "read");
            tracing::info!(target: "lambda_runtime::runtime", "an info line of the runtime");
            tracing::debug!(target: "shared::store", "our own debug line");
        });
        let text = logs.text();
        assert!(
            !text.contains(WEBHOOK_TOKEN) && !text.contains("905551112233"),
            "{level}: {text}"
        );
        assert_eq!(
            text.contains("our own debug line"),
            ours_logged,
            "{level}: {text}"
        );
        assert_eq!(
            text.contains("an info line of the runtime"),
            level != "warn",
            "{level}: {text}"
        );
    }
}
