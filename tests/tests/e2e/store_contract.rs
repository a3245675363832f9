//! One contract, two adapters: every test below runs against the embedded store and against the
//! DynamoDB adapter on real DynamoDB Local.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use e2e_tests::payloads::{
    accepted, cloud_error, reply_of_type, status, status_report, statuses, stored, text_reply,
};
use e2e_tests::stores;
use shared::domain::query::{
    EventFilter, EventScope, HOUR, HourWindow, MAX_TIME, PageRequest, Position, Range, Stats,
    Window,
};
use shared::domain::status::status_changes;
use shared::domain::{DeliveryStatus, EventFamily, MessageState, SubProduct};
use shared::store::{
    EraseContact, Erased, EventPage, ReadEvents, StoreError, StoredEvent, WriteEvents, WriteReport,
};

trait Store: WriteEvents + ReadEvents + EraseContact + 'static {}
impl<T: WriteEvents + ReadEvents + EraseContact + 'static> Store for T {}

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
        tasks.push(tokio::spawn(async move {
            deliver_until_acknowledged(store.as_ref(), &events).await
        }));
    }
    let mut total = report(0, 0, []);
    for task in tasks {
        let r = task.await.unwrap();
        total.stored += r.stored;
        total.duplicates += r.duplicates;
        total.new_event_ids.extend(r.new_event_ids);
    }
    // Each event is new to exactly one of the writes.
    let events = stored(&body, SubProduct::Conversational, 0);
    assert_eq!(sorted(total), report(4, 16 * 4 - 4, &events));
    let by_key = stores::events_of_key(store.as_ref(), "whatsapp-concurrent", 100).await;
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

    let by_key = stores::events_of_key(store.as_ref(), "whatsapp-many", 1000).await;
    assert_eq!(by_key.len(), 300);
    assert!(
        by_key
            .windows(2)
            .all(|w| w[0].event.occurred_at <= w[1].event.occurred_at)
    );
    assert_eq!(
        stores::events_of_key(store.as_ref(), "whatsapp-many", 10)
            .await
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

    let kept = stores::events_of_key(store.as_ref(), "whatsapp-new", 10).await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].event.family, EventFamily::Unknown);
    assert_eq!(kept[0].event.raw.get(), unknown, "byte for byte");
    assert_eq!(kept[0].sub_product, SubProduct::Verify);
}

async fn unknown_message_reads_as_none(store: Arc<dyn Store>) {
    assert!(store.read_message("wamid.never").await.unwrap().is_none());
    assert!(
        stores::events_of_key(store.as_ref(), "whatsapp-never", 10)
            .await
            .is_empty()
    );
}

/// Ids and keys past DynamoDB's 2,048-byte key limit: each is stored, found by its full value,
/// and kept apart from one that shares its first kilobyte.
async fn over_long_ids_and_keys_are_stored_and_found(store: Arc<dyn Store>) {
    let common = format!("wamid.{}", "ğ".repeat(1_500));
    let (first, second) = (format!("{common}-1"), format!("{common}-2"));
    let key = format!("whatsapp-{}", "k".repeat(3_000));
    let body = statuses(
        &[
            (first.as_str(), "sent", T0),
            (first.as_str(), "read", T0 + 2),
            (second.as_str(), "delivered", T0 + 1),
        ],
        &key,
    );
    let events = stored(&body, SubProduct::Transactional, 1);
    assert_eq!(
        sorted(store.write_events(&events).await.unwrap()),
        report(3, 0, &events)
    );
    assert_eq!(
        sorted(store.write_events(&events).await.unwrap()),
        report(0, 3, []),
        "a redelivery is recognised"
    );

    for (id, status, count) in [(&first, "read", 2), (&second, "delivered", 1)] {
        let record = store.read_message(id).await.unwrap().unwrap();
        assert_eq!(record.events.len(), count);
        assert!(
            record
                .events
                .iter()
                .all(|e| e.event.message_id.as_ref() == Some(id))
        );
        assert_eq!(record.state.unwrap().status(), Some(status));
    }
    let of_key = stores::events_of_key(store.as_ref(), &key, 10).await;
    assert_eq!(of_key.len(), 3);
    assert!(of_key.iter().all(|e| e.event.key.as_ref() == Some(&key)));
    assert!(
        stores::events_of_key(store.as_ref(), &key[..key.len() - 1], 10)
            .await
            .is_empty(),
        "a key is found by its whole value only"
    );
}

/// Midnight UTC: the mixed events straddle it, so windows span two days of the time index.
const DAY0: i64 = 1_700_006_400;
const SINCE: i64 = DAY0 - 2 * HOUR;
const UNTIL: i64 = DAY0 + 2 * HOUR;
const CONTACTS: [&str; 5] = [
    "905550000000",
    "905550000001",
    "905550000002",
    "905550000003",
    "905550000004",
];

fn received_ms(at: i64) -> i64 {
    (at + 2) * 1000 + 250
}

/// Every family, statuses of every kind with two error codes, replies of three types from five
/// customers, three sub-products, listed over the four hours around `DAY0`; some events carry
/// no time of their own and are listed when they arrived.
fn mixed_events() -> Vec<StoredEvent> {
    let mut events = Vec::new();
    let sub_product = |i: i64| {
        if i % 2 == 0 {
            SubProduct::Conversational
        } else {
            SubProduct::Transactional
        }
    };
    for i in 0..40i64 {
        let message_id = format!("wamid.mix-{i}");
        let to = CONTACTS[(i % 5) as usize];
        let at = SINCE + (i * 353) % 14_000;
        let key = format!("whatsapp-mix-{i}");
        let mut reports = vec![("sent", at, None), ("delivered", at + 5, None)];
        if i % 3 == 0 {
            reports.push(("read", at + 60, None));
        }
        if i % 4 == 0 {
            let code = if i % 8 == 0 { 131026 } else { 470 };
            reports.push(("failed", at + 7, Some(code)));
        }
        for (name, at, code) in reports {
            let body = status_report(&message_id, name, at, to, &key, code);
            events.extend(stored(&body, sub_product(i), received_ms(at)));
        }
    }
    for i in 0..15i64 {
        let kind = ["text", "image", "button"][(i % 3) as usize];
        let at = SINCE + 200 + i * 911;
        let body = reply_of_type(
            &format!("wamid.in-{i}"),
            CONTACTS[(i % 5) as usize],
            kind,
            at,
        );
        events.extend(stored(&body, SubProduct::Conversational, received_ms(at)));
    }
    for i in 0..4i64 {
        let arrived = DAY0 - 3000 + i * 1700;
        let code = if i % 2 == 0 { 131026 } else { 100 };
        let error = cloud_error(code, &format!("whatsapp-err-{i}"));
        events.extend(stored(
            &error,
            SubProduct::Transactional,
            received_ms(arrived),
        ));
        let message_id = format!("wamid.acc-{i}");
        let body = accepted(
            &message_id,
            CONTACTS[i as usize],
            &format!("whatsapp-acc-{i}"),
        );
        events.extend(stored(&body, SubProduct::Verify, received_ms(arrived + 11)));
    }
    events
}

async fn write_all(store: &dyn Store, events: &[StoredEvent]) {
    for chunk in events.chunks(16) {
        store.write_events(chunk).await.unwrap();
    }
}

fn window(since: i64, until: i64) -> EventScope {
    EventScope::Window(Window::new(since, until).unwrap())
}

/// What a listing is asked for, to page through it generically.
enum Listing<'a> {
    Events(&'a EventScope),
    Contact(&'a str, Range),
}

async fn page(
    store: &dyn Store,
    listing: &Listing<'_>,
    filter: &EventFilter,
    request: &PageRequest,
) -> Result<EventPage, StoreError> {
    match listing {
        Listing::Events(scope) => store.list_events(scope, filter, request).await,
        Listing::Contact(contact, range) => {
            store
                .events_by_contact(contact, range, filter, request)
                .await
        }
    }
}

/// Every page, following `next` until it is absent; checks that pages respect the limit and
/// that positions only move forward.
async fn every_page(
    store: &dyn Store,
    listing: &Listing<'_>,
    filter: &EventFilter,
    limit: usize,
) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after: Option<Position> = None;
    for _ in 0..10_000 {
        let request = PageRequest {
            after: after.clone(),
            limit,
        };
        let page = page(store, listing, filter, &request).await.unwrap();
        assert!(page.events.len() <= limit, "a page holds at most its limit");
        ids.extend(page.events.into_iter().map(|e| e.event.id));
        match page.next {
            None => return ids,
            Some(next) => {
                assert!(Some(&next) > after.as_ref(), "a page moves forward");
                after = Some(next);
            }
        }
    }
    panic!("the listing never ended")
}

/// The ids in the order of windows and conversations: listed time, then id.
fn listed_order<'a>(events: impl IntoIterator<Item = &'a StoredEvent>) -> Vec<String> {
    let mut events: Vec<_> = events
        .into_iter()
        .map(|e| (e.listed_at(), e.event.id.clone()))
        .collect();
    events.sort();
    events.dedup();
    events.into_iter().map(|(_, id)| id).collect()
}

/// The ids in the order of the tracking key index: the payload's time or 0, then id.
fn key_order<'a>(events: impl IntoIterator<Item = &'a StoredEvent>) -> Vec<String> {
    let mut events: Vec<_> = events
        .into_iter()
        .map(|e| (e.event.occurred_at.unwrap_or(0), e.event.id.clone()))
        .collect();
    events.sort();
    events.dedup();
    events.into_iter().map(|(_, id)| id).collect()
}

fn in_range(event: &StoredEvent, range: &Range) -> bool {
    let at = event.listed_at();
    range.since.is_none_or(|since| at >= since) && range.until.is_none_or(|until| at < until)
}

/// The filter's meaning, written out independently of the stores.
fn passes(event: &StoredEvent, filter: &EventFilter) -> bool {
    filter.family.is_none_or(|f| event.event.family == f)
        && filter
            .status
            .as_ref()
            .is_none_or(|s| event.event.status.as_ref() == Some(s))
        && filter.sub_product.is_none_or(|p| event.sub_product == p)
        && filter
            .error_code
            .is_none_or(|c| event.event.error_codes.contains(&c))
}

async fn windows_page_completely_and_in_order_across_days(store: Arc<dyn Store>) {
    let events = mixed_events();
    write_all(store.as_ref(), &events).await;
    let everything = window(SINCE, UNTIL);
    let expected = listed_order(&events);
    assert_eq!(expected.len(), 127, "the data set as designed");
    for limit in [4, 1000] {
        let listed = every_page(
            store.as_ref(),
            &Listing::Events(&everything),
            &EventFilter::default(),
            limit,
        )
        .await;
        assert_eq!(
            listed, expected,
            "every event exactly once, in order (limit {limit})"
        );
    }
    let part = Range {
        since: Some(DAY0 - HOUR),
        until: Some(DAY0 + HOUR / 2),
    };
    let listed = every_page(
        store.as_ref(),
        &Listing::Events(&window(DAY0 - HOUR, DAY0 + HOUR / 2)),
        &EventFilter::default(),
        7,
    )
    .await;
    assert_eq!(
        listed,
        listed_order(events.iter().filter(|e| in_range(e, &part)))
    );
    let empty = every_page(
        store.as_ref(),
        &Listing::Events(&window(DAY0 - 30 * 86_400, DAY0 - 29 * 86_400)),
        &EventFilter::default(),
        10,
    )
    .await;
    assert!(empty.is_empty());
}

async fn conversations_page_completely_and_in_order(store: Arc<dyn Store>) {
    let events = mixed_events();
    write_all(store.as_ref(), &events).await;
    for contact in CONTACTS {
        let expected = listed_order(
            events
                .iter()
                .filter(|e| e.event.contact.as_deref() == Some(contact)),
        );
        assert!(expected.len() > 10);
        let listing = Listing::Contact(contact, Range::default());
        let listed = every_page(store.as_ref(), &listing, &EventFilter::default(), 4).await;
        assert_eq!(listed, expected, "conversation with {contact}");
        let families: HashSet<EventFamily> = events
            .iter()
            .filter(|e| listed.contains(&e.event.id))
            .map(|e| e.event.family)
            .collect();
        assert!(families.contains(&EventFamily::Status) && families.contains(&EventFamily::Reply));
        let with_plus = format!("+{contact}");
        let listing = Listing::Contact(&with_plus, Range::default());
        let listed_with_plus =
            every_page(store.as_ref(), &listing, &EventFilter::default(), 1000).await;
        assert_eq!(
            listed_with_plus, expected,
            "a leading + is the same contact"
        );
    }
    let range = Range {
        since: Some(DAY0),
        until: None,
    };
    let listing = Listing::Contact(CONTACTS[2], range);
    assert_eq!(
        every_page(store.as_ref(), &listing, &EventFilter::default(), 3).await,
        listed_order(events.iter().filter(|e| {
            e.event.contact.as_deref() == Some(CONTACTS[2]) && in_range(e, &range)
        }))
    );
    let listing = Listing::Contact("905559999999", Range::default());
    assert!(
        every_page(store.as_ref(), &listing, &EventFilter::default(), 3)
            .await
            .is_empty()
    );
}

async fn key_listings_page_in_the_key_index_order(store: Arc<dyn Store>) {
    let key = "whatsapp-paged";
    let mut events = Vec::new();
    for (i, name) in ["sent", "delivered", "read", "failed"]
        .into_iter()
        .enumerate()
    {
        let at = DAY0 + 100 - i as i64 * 10;
        let code = (name == "failed").then_some(131026);
        let body = status_report("wamid.paged", name, at, CONTACTS[0], key, code);
        events.extend(stored(&body, SubProduct::Transactional, received_ms(at)));
    }
    // Without a time of their own these sort first in the key index.
    events.extend(stored(
        &cloud_error(100, key),
        SubProduct::Transactional,
        received_ms(DAY0),
    ));
    let body = accepted("wamid.paged", CONTACTS[0], key);
    events.extend(stored(
        &body,
        SubProduct::Transactional,
        received_ms(DAY0 + 1),
    ));
    write_all(store.as_ref(), &events).await;
    let scope = EventScope::Key {
        key: key.into(),
        range: Range::default(),
    };
    let listing = Listing::Events(&scope);
    let listed = every_page(store.as_ref(), &listing, &EventFilter::default(), 2).await;
    assert_eq!(listed, key_order(&events));
    let range = Range {
        since: Some(DAY0 + 75),
        until: Some(DAY0 + 95),
    };
    let scope = EventScope::Key {
        key: key.into(),
        range,
    };
    let listing = Listing::Events(&scope);
    assert_eq!(
        every_page(store.as_ref(), &listing, &EventFilter::default(), 1).await,
        key_order(events.iter().filter(|e| in_range(e, &range))),
        "a time range on a key filters by listed time"
    );
}

async fn filters_are_exact(store: Arc<dyn Store>) {
    let events = mixed_events();
    write_all(store.as_ref(), &events).await;
    let filters = [
        EventFilter {
            family: Some(EventFamily::Status),
            ..EventFilter::default()
        },
        EventFilter {
            family: Some(EventFamily::Reply),
            ..EventFilter::default()
        },
        EventFilter {
            family: Some(EventFamily::Error),
            ..EventFilter::default()
        },
        EventFilter {
            family: Some(EventFamily::Template),
            ..EventFilter::default()
        },
        EventFilter {
            status: Some(DeliveryStatus::Failed),
            ..EventFilter::default()
        },
        EventFilter {
            status: Some(DeliveryStatus::Read),
            ..EventFilter::default()
        },
        EventFilter {
            status: Some(DeliveryStatus::Accepted),
            ..EventFilter::default()
        },
        EventFilter {
            sub_product: Some(SubProduct::Transactional),
            ..EventFilter::default()
        },
        EventFilter {
            sub_product: Some(SubProduct::Verify),
            ..EventFilter::default()
        },
        EventFilter {
            error_code: Some(131026),
            ..EventFilter::default()
        },
        EventFilter {
            error_code: Some(470),
            ..EventFilter::default()
        },
        EventFilter {
            status: Some(DeliveryStatus::Failed),
            error_code: Some(470),
            sub_product: Some(SubProduct::Conversational),
            ..EventFilter::default()
        },
        EventFilter {
            family: Some(EventFamily::Reply),
            sub_product: Some(SubProduct::Transactional),
            ..EventFilter::default()
        },
    ];
    let everything = window(SINCE, UNTIL);
    let part = Range {
        since: Some(DAY0 - HOUR),
        until: Some(DAY0 + HOUR),
    };
    let part_window = window(DAY0 - HOUR, DAY0 + HOUR);
    for filter in &filters {
        let expected = listed_order(events.iter().filter(|e| passes(e, filter)));
        let listed = every_page(store.as_ref(), &Listing::Events(&everything), filter, 5).await;
        assert_eq!(listed, expected, "window with {filter:?}");
        let expected = listed_order(
            events
                .iter()
                .filter(|e| passes(e, filter) && in_range(e, &part)),
        );
        let listed = every_page(store.as_ref(), &Listing::Events(&part_window), filter, 1000).await;
        assert_eq!(listed, expected, "part of the window with {filter:?}");
        for contact in [CONTACTS[0], CONTACTS[3]] {
            let expected = listed_order(
                events
                    .iter()
                    .filter(|e| e.event.contact.as_deref() == Some(contact) && passes(e, filter)),
            );
            let listing = Listing::Contact(contact, Range::default());
            let listed = every_page(store.as_ref(), &listing, filter, 3).await;
            assert_eq!(listed, expected, "{contact} with {filter:?}");
        }
        let key = "whatsapp-mix-8";
        let scope = EventScope::Key {
            key: key.into(),
            range: Range::default(),
        };
        let expected = key_order(
            events
                .iter()
                .filter(|e| e.event.key.as_deref() == Some(key) && passes(e, filter)),
        );
        let listed = every_page(store.as_ref(), &Listing::Events(&scope), filter, 2).await;
        assert_eq!(listed, expected, "{key} with {filter:?}");
    }
    let non_empty = filters
        .iter()
        .filter(|f| events.iter().any(|e| passes(e, f)))
        .count();
    assert_eq!(
        non_empty,
        filters.len() - 2,
        "only the template and transactional reply filters match nothing"
    );
}

async fn pagination_is_stable_under_concurrent_writes(store: Arc<dyn Store>) {
    let existing = mixed_events();
    write_all(store.as_ref(), &existing).await;
    let scope = Arc::new(window(SINCE, UNTIL));
    const WRITERS: usize = 2;
    // The reader announces each page it starts; every writer then writes one event, while the
    // page is being read, before the reader moves on: writes and reads overlap, and the reader
    // still gets ahead of the writers.
    let (pages_started, pages) = tokio::sync::watch::channel(0usize);
    let (written_tx, mut written) = tokio::sync::watch::channel(0usize);
    let written_tx = Arc::new(written_tx);
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let (store, mut pages, written_tx) =
            (Arc::clone(&store), pages.clone(), Arc::clone(&written_tx));
        writers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0usize.. {
                let Ok(page) = pages.wait_for(|&p| p > n).await.map(|p| *p) else {
                    return ids;
                };
                if page == usize::MAX {
                    return ids;
                }
                // Spread over the window: some land behind the reader, some ahead.
                let at = SINCE + ((writer * 7919 + n * 104_729) % 14_400) as i64;
                let body = status_report(
                    &format!("wamid.new-{writer}-{n}"),
                    "delivered",
                    at,
                    CONTACTS[n % 5],
                    "whatsapp-new",
                    None,
                );
                let events = stored(&body, SubProduct::Conversational, received_ms(at));
                store.write_events(&events).await.unwrap();
                ids.extend(events.into_iter().map(|e| e.event.id));
                written_tx.send_modify(|w| *w += 1);
            }
            ids
        }));
    }
    let mut seen: Vec<StoredEvent> = Vec::new();
    let mut after = None;
    for page_number in 1.. {
        pages_started.send_replace(page_number);
        let request = PageRequest {
            after: after.clone(),
            limit: 5,
        };
        let page = store
            .list_events(&scope, &EventFilter::default(), &request)
            .await
            .unwrap();
        seen.extend(page.events);
        written
            .wait_for(|&w| w >= page_number * WRITERS)
            .await
            .unwrap();
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    pages_started.send_replace(usize::MAX);
    let mut new = HashSet::new();
    for writer in writers {
        new.extend(writer.await.unwrap());
    }
    assert!(
        new.len() >= 2 * WRITERS,
        "writes happened while the reader paged"
    );

    let ids: Vec<&str> = seen.iter().map(|e| e.event.id.as_str()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "no event is seen twice");
    let positions: Vec<(i64, &str)> = seen
        .iter()
        .map(|e| (e.listed_at(), e.event.id.as_str()))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "in order");
    for event in &existing {
        assert!(
            unique.contains(event.event.id.as_str()),
            "pre-existing {} is seen",
            event.event.id
        );
    }
    assert!(
        unique
            .iter()
            .all(|id| new.contains(*id) || existing.iter().any(|e| e.event.id == *id)),
        "nothing else is seen"
    );
}

/// The funnel of `events` in `hours`, counted the plain way.
fn expected_stats(events: &[StoredEvent], hours: HourWindow) -> Stats {
    let mut seen = HashSet::new();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut add = |name: String| *counts.entry(name).or_default() += 1;
    for event in events.iter().filter(|e| seen.insert(e.event.id.clone())) {
        let at = event.listed_at();
        if at < hours.since() || at >= hours.until() {
            continue;
        }
        let e = &event.event;
        add(format!("family:{}", e.family.as_str()));
        if let Some(status) = &e.status {
            add(format!("status:{}", status.as_str()));
        }
        let failure = e.status == Some(DeliveryStatus::Failed) || e.family == EventFamily::Error;
        if failure {
            for code in e
                .error_codes
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
            {
                add(format!("failure_code:{code}"));
            }
        }
        if let Some(kind) = e
            .message_type
            .as_deref()
            .filter(|_| e.family == EventFamily::Reply)
        {
            add(format!("reply_type:{kind}"));
        }
    }
    Stats::from_counts(hours, counts)
}

/// Writes as Insider One delivers: a write refused as unavailable (answered 503) is sent again.
/// Writers racing on the same events make DynamoDB cancel transactions (TransactionConflict)
/// until the store gives up; each chunk here fits one transaction, so a refused write stored no
/// event, and the retry's report still counts every event it stores.
async fn deliver_until_acknowledged(store: &dyn Store, events: &[StoredEvent]) -> WriteReport {
    for _ in 0..20 {
        match store.write_events(events).await {
            Ok(report) => return report,
            Err(StoreError::Unavailable(_)) => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(other) => panic!("a write failed for good: {other}"),
        }
    }
    panic!("a write was refused 20 times in a row")
}

async fn stats_count_every_stored_event_once(store: Arc<dyn Store>) {
    let events = Arc::new(mixed_events());
    // Eight writers deliver everything, each in its own order and chunks: most events reach
    // the store several times at once, and each must count once.
    let mut writers = Vec::new();
    for writer in 0..8usize {
        let (store, events) = (Arc::clone(&store), Arc::clone(&events));
        writers.push(tokio::spawn(async move {
            let mut mine: Vec<StoredEvent> = events.iter().cloned().collect();
            mine.rotate_left(writer * 16);
            let mut stored = 0;
            for chunk in mine.chunks(5 + writer * 3) {
                stored += deliver_until_acknowledged(store.as_ref(), chunk)
                    .await
                    .stored;
            }
            stored
        }));
    }
    let mut stored = 0;
    for writer in writers {
        stored += writer.await.unwrap();
    }
    assert_eq!(stored, events.len(), "each event stored once");
    // A late redelivery of everything changes nothing.
    write_all(store.as_ref(), &events).await;

    let all = HourWindow::covering(Window::new(SINCE, UNTIL).unwrap());
    let stats = store.read_stats(&all).await.unwrap();
    assert_eq!(stats, expected_stats(&events, all));
    assert_eq!(stats.events, 127);
    assert_eq!(
        (stats.sent, stats.delivered, stats.read, stats.failed),
        (40, 40, 14, 10)
    );
    assert_eq!(stats.accepted, 4);
    assert_eq!(
        stats.failures_by_error_code,
        BTreeMap::from([(100, 2), (470, 5), (131026, 7)])
    );
    assert_eq!(
        stats.replies_by_type,
        BTreeMap::from([
            ("button".into(), 5),
            ("image".into(), 5),
            ("text".into(), 5)
        ])
    );

    for hour in [SINCE, DAY0 - HOUR, DAY0, DAY0 + HOUR] {
        let one = HourWindow::covering(Window::new(hour + 60, hour + 120).unwrap());
        assert_eq!(
            (one.since(), one.until()),
            (hour, hour + HOUR),
            "whole hours"
        );
        assert_eq!(
            store.read_stats(&one).await.unwrap(),
            expected_stats(&events, one)
        );
    }
    let before = HourWindow::covering(Window::new(SINCE - 86_400, SINCE).unwrap());
    assert_eq!(store.read_stats(&before).await.unwrap().events, 0);
}

/// Events of the hour under way, written on time (the events above are all of hours long past):
/// counted once each, also after a redelivery, and a reply and an accepted report without a
/// time of their own counted at their arrival.
async fn stats_count_the_hour_under_way(store: Arc<dyn Store>) {
    let now = shared::clock::now_millis() / 1000;
    let mut events = Vec::new();
    for i in 0..6i64 {
        let message_id = format!("wamid.now-{i}");
        let body = accepted(&message_id, CONTACTS[0], &format!("whatsapp-now-{i}"));
        events.extend(stored(&body, SubProduct::Conversational, now * 1000));
        for (name, code) in [
            ("sent", None),
            ("delivered", None),
            ("failed", Some(131047)),
        ] {
            let body = status_report(&message_id, name, now - 30, CONTACTS[1], "k", code);
            events.extend(stored(&body, SubProduct::Conversational, now * 1000));
        }
    }
    let body = text_reply("wamid.now-reply", "hello", now - 10);
    events.extend(stored(&body, SubProduct::Conversational, now * 1000));
    write_all(store.as_ref(), &events).await;
    write_all(store.as_ref(), &events).await;

    let hours = HourWindow::covering(Window::new(now - 60, now + 1).unwrap());
    let stats = store.read_stats(&hours).await.unwrap();
    assert_eq!(stats, expected_stats(&events, hours));
    assert_eq!(stats.events, 25);
    assert_eq!((stats.accepted, stats.sent, stats.failed), (6, 6, 6));
}

async fn windows_and_stats_reach_the_last_second(store: Arc<dyn Store>) {
    // The last hour a window may cover ends past MAX_TIME, a time of twelve digits.
    let at = MAX_TIME - 100;
    let body = status_report("wamid.last", "delivered", at, CONTACTS[0], "k-last", None);
    let events = stored(&body, SubProduct::Conversational, 1_000);
    write_all(store.as_ref(), &events).await;
    let window = Window::new(MAX_TIME - 1_000, MAX_TIME + 1).unwrap();
    let hours = HourWindow::covering(window);
    assert!(hours.until() > MAX_TIME + 1);
    let stats = store.read_stats(&hours).await.unwrap();
    assert_eq!(stats, expected_stats(&events, hours));
    assert_eq!(stats.events, 1);
    let scope = EventScope::Window(window);
    let listed = every_page(
        store.as_ref(),
        &Listing::Events(&scope),
        &EventFilter::default(),
        10,
    )
    .await;
    assert_eq!(listed.len(), 1);
}

/// Erasure on request: every event of the contact's messages loses its raw fragment and the
/// contact's number and name, the conversation forgets them, the counts stay, another contact
/// keeps everything, a redelivery stores nothing again, and a repeat finds nothing left.
async fn erasure_takes_out_a_contacts_personal_data_and_keeps_the_counts(store: Arc<dyn Store>) {
    const ERASED: &str = "905551112233";
    const KEPT: &str = "905550000000";
    let theirs = [
        statuses(
            &[
                ("wamid.e1", "sent", T0),
                ("wamid.e1", "read", T0 + 5),
                ("wamid.e2", "failed", T0 + 6),
            ],
            "whatsapp-erasure",
        ),
        reply_of_type("wamid.e3", ERASED, "text", T0 + 7),
    ];
    let other = reply_of_type("wamid.e4", KEPT, "image", T0 + 8);
    let mut events = Vec::new();
    for body in theirs.iter().chain([&other]) {
        events.extend(stored(body, SubProduct::Conversational, T0 * 1000));
    }
    write_all(store.as_ref(), &events).await;
    let hours = HourWindow::covering(Window::new(T0 - 10, T0 + 3600).unwrap());
    let counted = store.read_stats(&hours).await.unwrap();
    let all = PageRequest {
        after: None,
        limit: 100,
    };
    let conversation = |contact: &'static str| {
        let store = Arc::clone(&store);
        let all = all.clone();
        async move {
            store
                .events_by_contact(contact, &Range::default(), &EventFilter::default(), &all)
                .await
                .unwrap()
                .events
        }
    };
    assert_eq!(conversation(ERASED).await.len(), 4);

    // One message a call, until done.
    let mut total = Erased::default();
    for _ in 0..10 {
        let erased = store.erase_contact(ERASED, 1).await.unwrap();
        assert!(erased.messages <= 1);
        total.messages += erased.messages;
        total.events += erased.events;
        if erased.done {
            total.done = true;
            break;
        }
    }
    assert_eq!((total.messages, total.events, total.done), (3, 4, true));

    assert!(
        conversation(ERASED).await.is_empty(),
        "the conversation forgets them"
    );
    for message_id in ["wamid.e1", "wamid.e2", "wamid.e3"] {
        let record = store.read_message(message_id).await.unwrap().unwrap();
        for event in &record.events {
            assert_eq!(event.event.raw.get(), "null", "{message_id}");
            assert_eq!(event.event.contact, None);
            assert_eq!(event.event.contact_name, None);
            let shown = serde_json::to_string(event).unwrap();
            assert!(
                !shown.contains(ERASED) && !shown.contains("Ayşe"),
                "{shown}"
            );
        }
    }
    let e1 = store.read_message("wamid.e1").await.unwrap().unwrap();
    assert_eq!(
        e1.state.unwrap().status(),
        Some("read"),
        "the status is kept"
    );
    assert_eq!(
        store.read_stats(&hours).await.unwrap(),
        counted,
        "the counts stay"
    );
    let kept = conversation(KEPT).await;
    assert_eq!(kept.len(), 1);
    assert_ne!(
        kept[0].event.raw.get(),
        "null",
        "another contact keeps everything"
    );

    // A redelivery of what was erased is a duplicate: never stored again.
    let again: Vec<StoredEvent> = theirs
        .iter()
        .flat_map(|body| stored(body, SubProduct::Conversational, T0 * 1000))
        .collect();
    let report = store.write_events(&again).await.unwrap();
    assert_eq!((report.stored, report.duplicates), (0, 4));
    assert!(conversation(ERASED).await.is_empty());
    assert_eq!(
        store.erase_contact(ERASED, 25).await.unwrap(),
        Erased {
            messages: 0,
            events: 0,
            done: true
        }
    );

    // A late report of an erased message is new, and kept redacted from the start.
    let late = stored(
        &statuses(&[("wamid.e2", "sent", T0 + 1)], "whatsapp-erasure"),
        SubProduct::Conversational,
        T0 * 1000,
    );
    let report = store.write_events(&late).await.unwrap();
    assert_eq!(report.stored, 1);
    assert!(conversation(ERASED).await.is_empty());
    let e2 = store.read_message("wamid.e2").await.unwrap().unwrap();
    assert_eq!(e2.events.len(), 2);
    for event in &e2.events {
        assert_eq!(event.event.raw.get(), "null");
        assert_eq!(event.event.contact, None);
    }
}

e2e_tests::on_both_stores!(
    erasure_takes_out_a_contacts_personal_data_and_keeps_the_counts,
    windows_and_stats_reach_the_last_second,
    stores_each_event_once,
    duplicates_inside_one_batch_count_once,
    concurrent_duplicate_writes_store_once,
    status_only_moves_forward_in_every_arrival_order,
    status_in_one_batch_is_the_highest,
    batch_write_with_many_events,
    replies_and_unknown_shapes_are_kept_as_received,
    unknown_message_reads_as_none,
    over_long_ids_and_keys_are_stored_and_found,
    windows_page_completely_and_in_order_across_days,
    conversations_page_completely_and_in_order,
    key_listings_page_in_the_key_index_order,
    filters_are_exact,
    pagination_is_stable_under_concurrent_writes,
    stats_count_every_stored_event_once,
    stats_count_the_hour_under_way,
);
