//! Metrics reach CloudWatch as Embedded Metric Format documents on stdout; this checks the
//! documents a delivery produces (its own test binary: the collector is process-wide).

use std::sync::Arc;

use e2e_tests::manage::insider_settings;
use e2e_tests::payloads::{cloud_error, statuses};
use e2e_tests::stack::WEBHOOK_TOKEN;
use e2e_tests::stores;
use serde_json::Value;
use shared::auth::access_tokens::{AccessTokens, SigningKey};
use shared::auth::oauth::TokenService;
use shared::auth::{Authenticator, StaticTokens};
use shared::http::Body;
use shared::http::oauth::token_endpoint;
use shared::http::receiver::{DEFAULT_MAX_BODY_BYTES, DEFAULT_STORE_BUDGET, Receiver, receive};
use shared::insider::{Deadline, InsiderApi, InsiderClient, VendorCall};

fn delivery(token: &str, body: String) -> shared::http::Request {
    http::Request::builder()
        .method("POST")
        .uri("/webhooks/transactional")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn a_delivery_emits_the_metrics_the_alarms_watch() {
    shared::telemetry::init_metrics_in("InsiderWebhooks/test".into());
    let (store, _dir) = stores::embedded();
    let receiver = Receiver {
        store: Arc::new(store),
        auth: Authenticator::new().with(StaticTokens::new([WEBHOOK_TOKEN])),
        max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        store_budget: DEFAULT_STORE_BUDGET,
        fallback: None,
    };
    let body = statuses(
        &[("wamid.m1", "sent", 1), ("wamid.m1", "read", 2)],
        "whatsapp-metrics",
    );
    assert_eq!(
        receive(&receiver, delivery(WEBHOOK_TOKEN, body.clone()))
            .await
            .status(),
        200
    );
    assert_eq!(
        receive(&receiver, delivery(WEBHOOK_TOKEN, body))
            .await
            .status(),
        200
    );
    // A failure with a known code, and an error report with a code outside the known set.
    for body in [
        statuses(&[("wamid.m2", "failed", 3)], "whatsapp-metrics"),
        cloud_error(999_999, "whatsapp-metrics"),
        r#"{"a_shape": "never seen before"}"#.to_owned(),
    ] {
        assert_eq!(
            receive(&receiver, delivery(WEBHOOK_TOKEN, body))
                .await
                .status(),
            200
        );
    }
    assert_eq!(
        receive(&receiver, delivery("wrong", "{\"a\":1}".into()))
            .await
            .status(),
        401
    );
    // A token request with a wrong secret, and one with no client authentication.
    let (client_store, _client_dir) = stores::embedded();
    let tokens = TokenService {
        configured: Vec::new(),
        store: Arc::new(client_store),
        tokens: AccessTokens::new(vec![SigningKey::generate("k")], "iss", "aud").unwrap(),
    };
    for body in [
        "grant_type=client_credentials&client_id=someone&client_secret=wrong-secret",
        "grant_type=client_credentials",
    ] {
        let request = http::Request::builder()
            .method("POST")
            .uri("/oauth/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body.to_owned()))
            .unwrap();
        assert_eq!(token_endpoint(&tokens, request).await.status(), 401);
    }

    let mut written = Vec::new();
    shared::telemetry::write_metrics(Some("request-1"), &mut written).unwrap();
    let documents: Vec<Value> = String::from_utf8(written)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is one EMF document"))
        .collect();
    let value = |name: &str, dimensions: &[(&str, &str)]| -> f64 {
        documents
            .iter()
            .filter(|doc| {
                doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["Name"] == name)
                    && dimensions.iter().all(|(k, v)| doc[*k] == *v)
                    && doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
                        .as_array()
                        .unwrap()
                        .len()
                        == dimensions.len()
            })
            .map(|doc| match &doc[name] {
                Value::Array(values) => values.iter().map(|v| v.as_f64().unwrap()).sum(),
                v => v.as_f64().unwrap(),
            })
            .sum()
    };
    assert!(
        documents
            .iter()
            .all(|d| d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "InsiderWebhooks/test")
    );
    assert!(documents.iter().all(|d| d["RequestId"] == "request-1"));
    assert_eq!(value("EventsReceived", &[]), 7.0);
    assert_eq!(value("UnknownShapes", &[]), 1.0);
    assert_eq!(
        value(
            "EventsReceived",
            &[("SubProduct", "transactional"), ("Family", "status")]
        ),
        5.0
    );
    assert_eq!(value("StatusesReceived", &[("Status", "read")]), 2.0);
    assert_eq!(value("StatusesReceived", &[("Status", "sent")]), 2.0);
    assert_eq!(value("StatusesReceived", &[("Status", "failed")]), 1.0);
    // What the business alarms read: a jump in one code, and the failure rate.
    assert_eq!(value("FailuresByErrorCode", &[("Code", "131026")]), 1.0);
    assert_eq!(value("FailuresByErrorCode", &[("Code", "other")]), 1.0);
    assert_eq!(value("DuplicateEvents", &[]), 2.0);
    assert_eq!(value("AuthFailures", &[]), 3.0);
    assert_eq!(value("AuthFailures", &[("Route", "webhooks")]), 1.0);
    assert_eq!(value("AuthFailures", &[("Route", "oauth")]), 2.0);
    assert!(value("StoreLatency", &[]) > 0.0);

    // A vendor call answered 500 once, then retried with success.
    let sim = insider_sim::server::start(insider_sim::server::SimConfig::default())
        .await
        .unwrap();
    e2e_tests::stack::client()
        .post(format!("{}/_sim/faults", sim.url()))
        .json(&serde_json::json!({"route": "list", "status": 500, "count": 1}))
        .send()
        .await
        .unwrap();
    let insider = InsiderClient::new(insider_settings(&sim.url())).unwrap();
    let list = VendorCall::ListWebhooks {
        phone_number: "15551234567".into(),
    };
    insider
        .call_within(&list, Deadline::after(insider.request_budget()))
        .await
        .expect("the retry succeeds");
    let mut written = Vec::new();
    shared::telemetry::write_metrics(None, &mut written).unwrap();
    let documents: Vec<Value> = String::from_utf8(written)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let errors: Vec<&Value> = documents
        .iter()
        .filter(|d| d.get("VendorErrors").is_some())
        .collect();
    assert!(
        errors.iter().any(|d| d["Operation"] == "list_webhooks"
            && d["Code"] == "500"
            && d["VendorErrors"] == 1),
        "{errors:?}"
    );
    let latencies = documents
        .iter()
        .filter(|d| d["Operation"] == "list_webhooks" && d.get("VendorCallLatency").is_some())
        .count();
    assert!(latencies >= 1, "vendor latency is recorded");

    // The hourly count of messages with no delivery report: one sent 30 hours ago and nothing
    // since, one delivered, one sent an hour ago, one accepted then sent 30 hours ago.
    let (store, _stalled_dir) = stores::embedded();
    let now = 1_800_000_000;
    let sent = now - 30 * 3600;
    for body in [
        statuses(&[("wamid.quiet", "sent", sent)], "k"),
        statuses(
            &[
                ("wamid.fine", "sent", sent),
                ("wamid.fine", "delivered", sent + 5),
            ],
            "k",
        ),
        statuses(&[("wamid.young", "sent", now - 3600)], "k"),
        // Accepted, then sent: stalled at sent, and counted once.
        statuses(
            &[
                ("wamid.twice", "accepted", sent - 10),
                ("wamid.twice", "sent", sent),
            ],
            "k",
        ),
    ] {
        let events = e2e_tests::payloads::stored(
            &body,
            shared::domain::SubProduct::Conversational,
            now * 1000,
        );
        shared::store::WriteEvents::write_events(&store, &events)
            .await
            .unwrap();
    }
    let counter = shared::stalled::StalledCount {
        store: Arc::new(store),
        hours: 24,
        lookback: std::time::Duration::from_secs(86_400),
        budget: std::time::Duration::from_secs(10),
    };
    assert_eq!(counter.count(now).await.unwrap(), (2, true));
    let mut written = Vec::new();
    shared::telemetry::write_metrics(None, &mut written).unwrap();
    let stalled: Vec<Value> = String::from_utf8(written)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|d| d.get("StalledMessages").is_some())
        .collect();
    assert_eq!(stalled.len(), 1, "{stalled:?}");
    assert_eq!(stalled[0]["StalledMessages"], 2.0);
}
