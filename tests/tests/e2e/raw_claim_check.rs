//! Nothing lost to size: an event too large for a DynamoDB item is stored with its raw fragment
//! in S3 (moto) and a reference in the item; `/messages/{id}` reads it back whole, listings and
//! the downstream event carry the reference, a redelivery stores nothing again. And an answer of
//! `/messages/{id}` stays within Lambda's 6 MB, saying which fragments it left out.

use std::sync::Arc;

use e2e_tests::moto::Moto;
use e2e_tests::payloads::{status, stored, text_reply};
use e2e_tests::stack::ADMIN_TOKEN;
use e2e_tests::stores;
use serde_json::Value;
use shared::domain::SubProduct;
use shared::domain::query::{EventFilter, EventScope, PageRequest, Window};
use shared::http::Body;
use shared::http::query::{Query, query};
use shared::store::dynamo::RawBucket;
use shared::store::{ListEvents, ReadMessage, StoreError, WriteEvents};

const T0: i64 = 1_700_000_000;
const BUCKET: &str = "raw-fragments";

async fn s3_client(moto: &Moto) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(moto.endpoint())
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .force_path_style(true)
        .build();
    let client = aws_sdk_s3::Client::from_conf(config);
    client.create_bucket().bucket(BUCKET).send().await.unwrap();
    client
}

#[tokio::test]
async fn an_event_over_the_item_limit_is_kept_in_s3_and_read_back_whole() {
    let moto = Moto::start().await;
    let s3 = s3_client(&moto).await;
    let store = stores::dynamo()
        .await
        .with_raw_bucket(RawBucket::new(s3.clone(), BUCKET));
    let text = "ğ".repeat(250_000); // 500,000 bytes of UTF-8
    let body = text_reply("wamid.huge", &text, T0);
    let events = stored(&body, SubProduct::Conversational, T0 * 1000);
    let original = events[0].event.raw.get().to_owned();
    assert!(original.len() > 400 * 1024);

    let report = store.write_events(&events).await.unwrap();
    assert_eq!((report.stored, report.duplicates), (1, 0));
    let report = store.write_events(&events).await.unwrap();
    assert_eq!((report.stored, report.duplicates), (0, 1));
    let objects = s3.list_objects_v2().bucket(BUCKET).send().await.unwrap();
    assert_eq!(objects.key_count(), Some(1), "one object, written once");

    let record = store.read_message("wamid.huge").await.unwrap().unwrap();
    let event = &record.events[0];
    assert_eq!(event.event.raw.get(), original, "read back byte for byte");
    assert!(!event.raw_omitted);
    let reference = event.raw_ref.clone().expect("the reference is shown");
    assert!(reference.uri.starts_with(&format!("s3://{BUCKET}/raw/")));
    assert_eq!(reference.bytes, original.len() as u64);

    let window = EventScope::Window(Window::new(T0, T0 + 1).unwrap());
    let page = store
        .list_events(
            &window,
            &EventFilter::default(),
            &PageRequest {
                after: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    let listed = &page.events[0];
    assert_eq!(listed.event.raw.get(), "null");
    assert!(listed.raw_omitted);
    let shown = serde_json::to_value(listed).unwrap();
    assert_eq!(shown["raw_ref"]["sha256"], reference.sha256.as_str());
    assert_eq!(shown["raw_omitted"], true);

    // The stream consumer reads the same item image: the detail carries the reference.
    let downstream = shared::publish::downstream(listed).unwrap();
    let detail: Value = serde_json::from_str(downstream.detail.get()).unwrap();
    assert_eq!(detail["raw"], Value::Null);
    assert_eq!(detail["raw_omitted"], true);
    assert_eq!(detail["raw_ref"]["uri"], reference.uri.as_str());
}

#[tokio::test]
async fn without_a_bucket_such_an_event_is_refused_not_cut() {
    let store = stores::dynamo().await;
    let body = text_reply("wamid.huge", &"x".repeat(500_000), T0);
    let refused = store
        .write_events(&stored(&body, SubProduct::Conversational, T0 * 1000))
        .await;
    assert!(
        matches!(refused, Err(StoreError::Rejected(_))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_message_answer_stays_within_lambdas_response_limit() {
    let (store, _dir) = stores::embedded();
    let store = Arc::new(store);
    // Twenty reports of one message, each with a 300 KB field: 6 MB of raw fragments.
    for i in 0..20 {
        let body = status("wamid.wide", "sent", T0 + i, "whatsapp-wide").replace(
            "\"status\":",
            &format!("\"pad\":\"{}\",\"status\":", "x".repeat(300_000)),
        );
        let report = store
            .write_events(&stored(&body, SubProduct::Transactional, T0 * 1000))
            .await
            .unwrap();
        assert_eq!(report.stored, 1);
    }
    let request = http::Request::builder()
        .uri("/messages/wamid.wide")
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .body(Body::Empty)
        .unwrap();
    let answer = query(&Query { store }, request).await;
    assert_eq!(answer.status(), 200);
    assert!(
        answer.body().len() < 5 * 1024 * 1024,
        "{} bytes",
        answer.body().len()
    );
    let message: Value = serde_json::from_slice(answer.body()).unwrap();
    let events = message["events"].as_array().unwrap();
    assert_eq!(events.len(), 20, "every event is listed");
    let omitted = events.iter().filter(|e| e["raw_omitted"] == true).count();
    assert!(
        (1..20).contains(&omitted),
        "{omitted} raw fragments left out"
    );
    assert!(
        events
            .iter()
            .filter(|e| e["raw_omitted"] == true)
            .all(|e| e["raw"].is_null())
    );
}

#[tokio::test]
async fn an_erasure_deletes_the_raw_fragment_kept_in_s3() {
    use shared::store::EraseContact;
    let moto = Moto::start().await;
    let s3 = s3_client(&moto).await;
    let store = stores::dynamo()
        .await
        .with_raw_bucket(RawBucket::new(s3.clone(), BUCKET));
    let body = text_reply("wamid.huge-erased", &"ğ".repeat(250_000), T0);
    store
        .write_events(&stored(&body, SubProduct::Conversational, T0 * 1000))
        .await
        .unwrap();
    let objects = s3.list_objects_v2().bucket(BUCKET).send().await.unwrap();
    assert_eq!(objects.key_count(), Some(1));

    let erased = store.erase_contact("905551112233", 25).await.unwrap();
    assert_eq!((erased.messages, erased.events), (1, 1));
    let objects = s3.list_objects_v2().bucket(BUCKET).send().await.unwrap();
    assert_eq!(
        objects.key_count(),
        Some(0),
        "the copy outside the table is gone"
    );
    let record = store
        .read_message("wamid.huge-erased")
        .await
        .unwrap()
        .unwrap();
    let event = &record.events[0];
    assert_eq!(event.event.raw.get(), "null");
    assert_eq!(event.raw_ref, None, "no reference to what is gone");
}
