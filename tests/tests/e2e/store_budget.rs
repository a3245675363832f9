//! A delivery of thousands of events is stored with bounded work: answered within the store
//! budget, or 503 `storage_timeout` once it is spent; the sender's retry then completes the write,
//! and every event is stored once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e_tests::payloads::statuses;
use e2e_tests::stack::WEBHOOK_TOKEN;
use e2e_tests::stores;
use serde_json::Value;
use shared::auth::{Authenticator, StaticTokens};
use shared::domain::query::{EventFilter, EventScope, PageRequest, Window};
use shared::http::Body;
use shared::http::receiver::{DEFAULT_MAX_BODY_BYTES, Receiver, receive};
use shared::store::ListEvents;

const EVENTS: i64 = 3_000;
const T0: i64 = 1_700_000_000;

fn delivery(body: &str) -> shared::http::Request {
    http::Request::builder()
        .method("POST")
        .uri("/webhooks/transactional")
        .header("authorization", format!("Bearer {WEBHOOK_TOKEN}"))
        .body(Body::from(body.to_owned()))
        .unwrap()
}

#[tokio::test]
async fn a_large_delivery_is_answered_within_its_budget_and_a_retry_completes_it() {
    let store = Arc::new(stores::dynamo().await);
    let receiver = |budget: Duration| Receiver {
        store: store.clone(),
        auth: Authenticator::new().with(StaticTokens::new([WEBHOOK_TOKEN])),
        max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        store_budget: budget,
        fallback: None,
    };
    let ids: Vec<String> = (0..EVENTS).map(|i| format!("wamid.budget-{i}")).collect();
    let items: Vec<(&str, &str, i64)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), "delivered", T0 + i as i64))
        .collect();
    let body = statuses(&items, "whatsapp-budget");

    let budget = Duration::from_millis(200);
    let started = Instant::now();
    let answer = receive(&receiver(budget), delivery(&body)).await;
    assert!(
        started.elapsed() < budget + Duration::from_millis(500),
        "answered {:?} after the budget of {budget:?}",
        started.elapsed()
    );
    assert_eq!(answer.status(), 503);
    assert_eq!(answer.headers()["retry-after"], "1");
    let error: Value = serde_json::from_slice(answer.body()).unwrap();
    assert_eq!(error["error"]["code"], "storage_timeout");

    let answer = receive(&receiver(Duration::from_secs(120)), delivery(&body)).await;
    assert_eq!(answer.status(), 200);
    let report: Value = serde_json::from_slice(answer.body()).unwrap();
    let stored = report["stored"].as_i64().unwrap();
    assert!(
        stored > 0 && stored + report["duplicates"].as_i64().unwrap() == EVENTS,
        "the retry stores what the first attempt left: {report}"
    );

    let window = EventScope::Window(Window::new(T0, T0 + EVENTS).unwrap());
    let mut listed = 0;
    let mut after = None;
    loop {
        let page = store
            .list_events(
                &window,
                &EventFilter::default(),
                &PageRequest { after, limit: 1000 },
            )
            .await
            .unwrap();
        listed += page.events.len();
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(listed, EVENTS as usize, "every event stored once");
}
