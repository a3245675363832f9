//! One contract, two adapters: every test below runs against the embedded store and against the
//! DynamoDB adapter on real DynamoDB Local.

use std::sync::Arc;

use e2e_tests::payloads::{status, statuses, stored, text_reply};
use e2e_tests::stores;
use shared::domain::status::status_changes;
use shared::domain::{DeliveryStatus, EventFamily, MessageState, SubProduct};
use shared::store::{EventsByKey, ReadMessage, StoredEvent, WriteEvents, WriteReport};

trait Store: WriteEvents + ReadMessage + EventsByKey + 'static {}
impl<T: WriteEvents + ReadMessage + EventsByKey + 'static> Store for T {}

const T0: i64 = 1_700_000_000;

/// What a write must report: its counts, and the ids of exactly the events it stored for the
/// first time, each once (in id order, see [`sorted`]).
fn report<'a>(
    stored: usize,
    duplicates: usize,
    new: impl IntoIterator<Item = &'a StoredEvent>,
) -> WriteReport {
    let mut new_event_ids: Vec<String> = new.into_iter().map(|e| e.event.id.clone()).collect();
    new_event_ids.sort();
    new_event_ids.dedup();
    WriteReport {
        stored,
        duplicates,
        new_event_ids,
    }
}

/// A report with its new event ids in id order: the order is not part of the contract.
fn sorted(mut report: WriteReport) -> WriteReport {
    report.new_event_ids.sort();
    report
}

async fn stores_each_event_once(store: Arc<dyn Store>) {
    let body = statuses(
        &[
            ("wamid.a", "sent", T0),
            ("wamid.a", "delivered", T0 + 1),
            ("wamid.b", "sent", T0),
        ],
        "whatsapp-k1",
    );
    let events = stored(&body, SubProduct::Conversational, 1);
    assert_eq!(
        sorted(store.write_events(&events).await.unwrap()),
        report(3, 0, &events)
    );
    // A redelivery, received later: same events, nothing new.
    let again = stored(&body, SubProduct::Conversational, 2);
    assert_eq!(
        sorted(store.write_events(&again).await.unwrap()),
        report(0, 3, [])
    );
    let record = store
        .read_message("wamid.a")
        .await
        .unwrap()
        .expect("message stored");
    assert_eq!(record.events.len(), 2);
    assert!(
        record.events.iter().all(|e| e.received_at == 1),
        "the first copy is kept"
    );
}

async fn duplicates_inside_one_batch_count_once(store: Arc<dyn Store>) {
    let mut events = stored(
        &status("wamid.d", "sent", T0, "whatsapp-k"),
        SubProduct::Transactional,
        1,
    );
    events.extend(events.clone());
    assert_eq!(
        sorted(store.write_events(&events).await.unwrap()),
        report(1, 1, &events[..1])
    );
}

async fn concurrent_duplicate_writes_store_once(store: Arc<dyn Store>) {
    let body = statuses(
        &[
            ("wamid.c1", "sent", T0),
            ("wamid.c1", "delivered", T0 + 5),
            ("wamid.c2", "read", T0 + 9),
            ("wamid.c3", "failed", T0 + 2),
        ],
        "whatsapp-concurrent",
    );
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = Arc::clone(&store);
        let events = stored(&body, SubProduct::Conversational, i);
        tasks.push(tokio::spawn(
            async move { store.write_events(&events).await },
        ));
    }
    let mut total = report(0, 0, []);
    for task in tasks {
        let r = task
            .await
            .unwrap()
            .expect("every concurrent write succeeds");
        total.stored += r.stored;
        total.duplicates += r.duplicates;
        total.new_event_ids.extend(r.new_event_ids);
    }
    // Each event is new to exactly one of the writes.
    let events = stored(&body, SubProduct::Conversational, 0);
    assert_eq!(sorted(total), report(4, 16 * 4 - 4, &events));
    let by_key = store
        .events_by_key("whatsapp-concurrent", 100)
        .await
        .unwrap();
    assert_eq!(by_key.len(), 4);
    let c1 = store.read_message("wamid.c1").await.unwrap().unwrap();
    assert_eq!(c1.events.len(), 2);
    assert_eq!(c1.state.unwrap().status(), Some("delivered"));
}

fn permutations(items: &[&'static str]) -> Vec<Vec<&'static str>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut all = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, first);
            all.push(tail);
        }
    }
    all
}

/// What the domain rules say a message's state is after these reports, in this order.
fn expected_state(order: &[&str]) -> MessageState {
    let mut state = MessageState::default();
    for (i, name) in order.iter().enumerate() {
        let events = stored(
            &status("wamid.x", name, T0 + i as i64, "k"),
            SubProduct::Conversational,
            0,
        );
        let events: Vec<_> = events.into_iter().map(|e| e.event).collect();
        for change in status_changes(&events) {
            state.apply(&change);
        }
    }
    state
}

async fn status_only_moves_forward_in_every_arrival_order(store: Arc<dyn Store>) {
    for (set, expected_status) in [
        (&["sent", "delivered", "read", "failed"][..], "failed"),
        (&["sent", "delivered", "read"][..], "read"),
        (&["sent", "delivered"][..], "delivered"),
        (&["delivered", "failed"][..], "failed"),
    ] {
        for (n, order) in permutations(set).into_iter().enumerate() {
            let message_id = format!("wamid.{}-{n}", set.join("-"));
            // Each report is its own delivery, arriving in this order, with timestamps that
            // follow the real order (sent first), so late arrivals carry earlier timestamps.
            for name in &order {
                let ts = T0 + set.iter().position(|s| s == name).unwrap() as i64;
                let events = stored(
                    &status(&message_id, name, ts, "whatsapp-order"),
                    SubProduct::Conversational,
                    0,
                );
                store.write_events(&events).await.unwrap();
            }
            let state = store
                .read_message(&message_id)
                .await
                .unwrap()
                .unwrap()
                .state
                .unwrap();
            assert_eq!(state.status(), Some(expected_status), "order {order:?}");
            let highest = set.iter().rfind(|s| **s != "failed").unwrap();
            assert_eq!(
                state.progress.as_ref().map(DeliveryStatus::as_str),
                Some(*highest),
                "the highest step is kept whatever the order: {order:?}"
            );
            assert_eq!(state.failed, set.contains(&"failed"), "order {order:?}");
            if state.failed {
                assert_eq!(state.error_codes, vec![131026]);
            }
            let oracle = expected_state(&order);
            assert_eq!(
                state.progress, oracle.progress,
                "adapter agrees with the domain rules"
            );
            assert_eq!(state.failed, oracle.failed);
        }
    }
}

async fn status_in_one_batch_is_the_highest(store: Arc<dyn Store>) {
    let body = statuses(
        &[
            ("wamid.batch", "read", T0 + 3),
            ("wamid.batch", "sent", T0 + 1),
            ("wamid.batch", "delivered", T0 + 2),
        ],
        "whatsapp-batch",
    );
    store
        .write_events(&stored(&body, SubProduct::Conversational, 0))
        .await
        .unwrap();
    let record = store.read_message("wamid.batch").await.unwrap().unwrap();
    assert_eq!(record.state.as_ref().unwrap().status(), Some("read"));
    assert_eq!(record.state.unwrap().progress_at, Some(T0 + 3));
    let times: Vec<_> = record
        .events
        .iter()
        .map(|e| e.event.occurred_at.unwrap())
        .collect();
    assert_eq!(
        times,
        vec![T0 + 1, T0 + 2, T0 + 3],
        "events come back in time order"
    );
    assert_eq!(record.key.as_deref(), Some("whatsapp-batch"));
}

async fn batch_write_with_many_events(store: Arc<dyn Store>) {
    let many: Vec<(String, i64)> = (0..250)
        .map(|i| (format!("wamid.many-{i}"), T0 + i))
        .collect();
    let items: Vec<(&str, &str, i64)> = many
        .iter()
        .map(|(id, ts)| (id.as_str(), "delivered", *ts))
        .collect();
    let events = stored(
        &statuses(&items, "whatsapp-many"),
        SubProduct::Transactional,
        0,
    );
    assert_eq!(
        sorted(store.write_events(&events).await.unwrap()),
        report(250, 0, &events)
    );

    // The same 250 again plus 50 new ones: only the new ones are stored.
    let more: Vec<(String, i64)> = (250..300)
        .map(|i| (format!("wamid.many-{i}"), T0 + i))
        .collect();
    let mut items = items.clone();
    items.extend(more.iter().map(|(id, ts)| (id.as_str(), "delivered", *ts)));
    let events = stored(
        &statuses(&items, "whatsapp-many"),
        SubProduct::Transactional,
        0,
    );
    assert_eq!(
        sorted(store.write_events(&events).await.unwrap()),
        report(50, 250, &events[250..])
    );

    let by_key = store.events_by_key("whatsapp-many", 1000).await.unwrap();
    assert_eq!(by_key.len(), 300);
    assert!(
        by_key
            .windows(2)
            .all(|w| w[0].event.occurred_at <= w[1].event.occurred_at)
    );
    assert_eq!(
        store
            .events_by_key("whatsapp-many", 10)
            .await
            .unwrap()
            .len(),
        10,
        "limit is honoured"
    );
    let last = store.read_message("wamid.many-299").await.unwrap().unwrap();
    assert_eq!(last.state.unwrap().status(), Some("delivered"));
}

async fn replies_and_unknown_shapes_are_kept_as_received(store: Arc<dyn Store>) {
    let reply = text_reply("wamid.in-1", "Merhaba, sipariş nerede?", T0);
    let unknown = r#"{"brand_new":{"shape":[1,2,3]},  "key":"whatsapp-new"}"#;
    let mut events = stored(&reply, SubProduct::Conversational, 5);
    events.extend(stored(unknown, SubProduct::Verify, 5));
    assert_eq!(
        sorted(store.write_events(&events).await.unwrap()),
        report(2, 0, &events)
    );

    let record = store.read_message("wamid.in-1").await.unwrap().unwrap();
    assert!(record.state.is_none(), "a reply has no delivery status");
    let event = &record.events[0];
    assert_eq!(event.event.family, EventFamily::Reply);
    assert_eq!(event.event.message_type.as_deref(), Some("text"));
    assert_eq!(event.event.contact_name.as_deref(), Some("Ayşe"));
    assert!(reply.contains(event.event.raw.get()));

    let kept = store.events_by_key("whatsapp-new", 10).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].event.family, EventFamily::Unknown);
    assert_eq!(kept[0].event.raw.get(), unknown, "byte for byte");
    assert_eq!(kept[0].sub_product, SubProduct::Verify);
}

async fn unknown_message_reads_as_none(store: Arc<dyn Store>) {
    assert!(store.read_message("wamid.never").await.unwrap().is_none());
    assert!(
        store
            .events_by_key("whatsapp-never", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (store, _dir) = e2e_tests::stores::embedded();
                    super::$name(std::sync::Arc::new(store)).await;
                }
            )*
        }
        mod dynamodb_local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(std::sync::Arc::new(super::stores::dynamo().await)).await;
                }
            )*
        }
    };
}

contract!(
    stores_each_event_once,
    duplicates_inside_one_batch_count_once,
    concurrent_duplicate_writes_store_once,
    status_only_moves_forward_in_every_arrival_order,
    status_in_one_batch_is_the_highest,
    batch_write_with_many_events,
    replies_and_unknown_shapes_are_kept_as_received,
    unknown_message_reads_as_none,
);
