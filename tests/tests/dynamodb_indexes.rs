//! The DynamoDB adapter's indexes. No read-back query scans the table: on a table of thousands
//! of events, each listing reads the index entries of its own range and the partitions they lead
//! to, and nothing else (DynamoDB's `ScannedCount`, which the adapter logs for every `Query` at
//! debug level; the test captures its own thread's logs, so it runs on a current-thread
//! runtime). And a table an older version created gets the new indexes when the store opens it.

use std::sync::Arc;
use std::time::Duration;

use e2e_tests::dynamodb_local::{self, raw_request, unique_table_name};
use e2e_tests::logs::{self, CapturedLogs};
use e2e_tests::payloads::{status_report, stored};
use e2e_tests::stores::{self, RETENTION, events_of_contact, events_of_key};
use serde_json::{Value, json};
use shared::domain::DeliveryStatus;
use shared::domain::SubProduct;
use shared::domain::query::{
    DAY, EventFilter, EventScope, HOUR, HourWindow, PageRequest, Range, Window,
};
use shared::store::dynamo::DynamoStore;
use shared::store::{EventPage, EventsByContact, ListEvents, ReadStats, WriteEvents};

const DAY0: i64 = 1_700_006_400;
const TARGET: &str = "905551234567";
const TARGET_KEY: &str = "whatsapp-target";
const TARGET_EVENTS: usize = 30;
const NOISE_EVENTS: i64 = 2_000;

/// The `Query` calls logged since `from` (a length of the log text): how many, and the items
/// they read in all.
fn reads_since(logs: &CapturedLogs, from: usize) -> (usize, i64) {
    let text = logs.text();
    let queries: Vec<Value> = text[from..]
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["fields"]["message"] == "dynamodb query")
        .collect();
    let scanned = queries
        .iter()
        .map(|q| q["fields"]["scanned"].as_i64().expect("scanned is logged"))
        .sum();
    (queries.len(), scanned)
}

fn first_page(limit: usize) -> PageRequest {
    PageRequest { after: None, limit }
}

fn complete(page: EventPage) -> EventPage {
    assert!(page.next.is_none(), "one page holds the whole answer");
    page
}

#[tokio::test]
async fn each_listing_reads_its_own_range_on_a_large_table() {
    let store = stores::dynamo().await;
    // Events nobody asks for below: other customers and keys, three days earlier or later the
    // same day.
    let mut noise = Vec::new();
    for i in 0..NOISE_EVENTS {
        let at = if i % 4 == 0 {
            DAY0 + 5 * HOUR + i
        } else {
            DAY0 - 3 * DAY + i * 60
        };
        let body = status_report(
            &format!("wamid.noise-{i}"),
            "delivered",
            at,
            &format!("90000{i:07}"),
            &format!("whatsapp-noise-{}", i % 50),
            None,
        );
        noise.extend(stored(&body, SubProduct::Transactional, (at + 1) * 1000));
    }
    for chunk in noise.chunks(100) {
        store.write_events(chunk).await.unwrap();
    }
    let mut target = Vec::new();
    for i in 0..TARGET_EVENTS as i64 {
        let at = DAY0 + HOUR + i * 100;
        let (status, code) = if i % 3 == 0 {
            ("failed", Some(131026))
        } else {
            ("delivered", None)
        };
        let body = status_report(
            &format!("wamid.target-{i}"),
            status,
            at,
            TARGET,
            TARGET_KEY,
            code,
        );
        target.extend(stored(&body, SubProduct::Conversational, (at + 1) * 1000));
    }
    store.write_events(&target).await.unwrap();

    let (logs, _guard) = logs::capture();
    let hour = Window::new(DAY0 + HOUR, DAY0 + 2 * HOUR).unwrap();
    let mut from = 0;
    let mut measure = |what: &str, returned: usize, expected: usize| {
        let (queries, scanned) = reads_since(&logs, from);
        from = logs.text().len();
        assert_eq!(returned, expected, "{what}: the answer");
        assert!(queries > 0, "{what}: the reads are logged");
        scanned
    };

    let page = complete(
        store
            .list_events(
                &EventScope::Window(hour),
                &EventFilter::default(),
                &first_page(100),
            )
            .await
            .unwrap(),
    );
    let scanned = measure("window", page.events.len(), TARGET_EVENTS);
    assert_eq!(
        scanned, TARGET_EVENTS as i64,
        "a window reads its own hour only"
    );

    let failed = EventFilter {
        status: Some(DeliveryStatus::Failed),
        ..EventFilter::default()
    };
    let page = complete(
        store
            .list_events(&EventScope::Window(hour), &failed, &first_page(100))
            .await
            .unwrap(),
    );
    let scanned = measure("failed in the window", page.events.len(), TARGET_EVENTS / 3);
    assert_eq!(
        scanned, TARGET_EVENTS as i64,
        "a filter is evaluated within the window's range, not over the table"
    );

    let page = complete(
        store
            .events_by_contact(
                TARGET,
                &Range::default(),
                &EventFilter::default(),
                &first_page(100),
            )
            .await
            .unwrap(),
    );
    let scanned = measure("conversation", page.events.len(), TARGET_EVENTS);
    // Each target event is its own message: one contact index entry, then one partition each.
    assert_eq!(scanned, 2 * TARGET_EVENTS as i64);

    let key = EventScope::Key {
        key: TARGET_KEY.into(),
        range: Range::default(),
    };
    let page = complete(
        store
            .list_events(&key, &EventFilter::default(), &first_page(1000))
            .await
            .unwrap(),
    );
    let scanned = measure("tracking key", page.events.len(), TARGET_EVENTS);
    assert_eq!(scanned, 2 * TARGET_EVENTS as i64);

    // Written long after their hour, the target events are late entries: counted at each read.
    // The hour's shards, settled and empty of them, are counted once and then kept.
    let hours = HourWindow::covering(hour);
    let stats = store.read_stats(&hours).await.unwrap();
    let scanned = measure("stats", stats.events as usize, TARGET_EVENTS);
    assert_eq!(
        scanned, TARGET_EVENTS as i64,
        "the hour's index entries only"
    );
    let stats = store.read_stats(&hours).await.unwrap();
    let scanned = measure("stats again", stats.events as usize, TARGET_EVENTS);
    assert_eq!(
        scanned,
        TARGET_EVENTS as i64 + 1,
        "the late entries and the kept counts of the settled hour"
    );
}

#[tokio::test]
async fn a_table_of_an_older_version_gets_the_new_indexes() {
    let dynamodb = dynamodb_local::shared().await;
    let table = unique_table_name("older");
    let string = |name: &str| json!({"AttributeName": name, "AttributeType": "S"});
    let key = |name: &str, kind: &str| json!({"AttributeName": name, "KeyType": kind});
    let older = json!({
        "TableName": table,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [string("PK"), string("SK"), string("GSI1PK"), string("GSI1SK")],
        "KeySchema": [key("PK", "HASH"), key("SK", "RANGE")],
        "GlobalSecondaryIndexes": [{
            "IndexName": "GSI1",
            "KeySchema": [key("GSI1PK", "HASH"), key("GSI1SK", "RANGE")],
            "Projection": {"ProjectionType": "ALL"},
        }],
    });
    let created = raw_request(dynamodb.addr(), "CreateTable", &older.to_string())
        .await
        .unwrap();
    assert_eq!(created.status, 200, "{}", created.body);

    let client =
        shared::config::endpoint_dynamo_client(dynamodb.endpoint(), Duration::from_secs(30));
    let store = DynamoStore::new(client, table.clone(), RETENTION);
    store.create_table_if_missing().await.unwrap();
    store
        .create_table_if_missing()
        .await
        .expect("a second opening finds nothing to add");
    let described = raw_request(
        dynamodb.addr(),
        "DescribeTable",
        &json!({"TableName": table}).to_string(),
    )
    .await
    .unwrap();
    let described: Value = serde_json::from_str(&described.body).unwrap();
    let mut indexes: Vec<&str> = described["Table"]["GlobalSecondaryIndexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["IndexName"].as_str().unwrap())
        .collect();
    indexes.sort_unstable();
    assert_eq!(indexes, ["ByContact", "ByKey", "ByTime", "GSI1"]);

    let body = status_report("wamid.upgraded", "read", DAY0, TARGET, TARGET_KEY, None);
    store
        .write_events(&stored(&body, SubProduct::Conversational, DAY0 * 1000))
        .await
        .unwrap();
    let window = EventScope::Window(Window::new(DAY0, DAY0 + 1).unwrap());
    let by_time = store
        .list_events(&window, &EventFilter::default(), &first_page(10))
        .await
        .unwrap();
    let by_contact = store
        .events_by_contact(
            TARGET,
            &Range::default(),
            &EventFilter::default(),
            &first_page(10),
        )
        .await
        .unwrap();
    assert_eq!((by_time.events.len(), by_contact.events.len()), (1, 1));
}

/// `/stats` on the hour's own clock: counted live while the hour is under way, counted once and
/// kept when it has settled, and an event written after that (late) still counted, from the
/// day's late partition, without counting the hour again.
#[tokio::test]
async fn a_settled_hour_is_counted_once_and_late_events_still_count() {
    let base = stores::dynamo().await;
    let hour = DAY0 + 7 * HOUR;
    let at = |secs: i64| base.clone().with_clock(Arc::new(move || secs * 1000));
    let reports = |from: i64, count: i64| -> Vec<_> {
        (from..from + count)
            .flat_map(|i| {
                let body = status_report(
                    &format!("wamid.settle-{i}"),
                    "delivered",
                    hour + 100 + i,
                    TARGET,
                    TARGET_KEY,
                    None,
                );
                stored(&body, SubProduct::Conversational, (hour + 600) * 1000)
            })
            .collect()
    };
    let hours = HourWindow::covering(Window::new(hour, hour + HOUR).unwrap());

    let during = at(hour + 600);
    during.write_events(&reports(0, 10)).await.unwrap();
    let stats = during.read_stats(&hours).await.unwrap();
    assert_eq!((stats.events, stats.delivered), (10, 10), "live, under way");

    let settled = at(hour + 2 * HOUR);
    assert_eq!(settled.read_stats(&hours).await.unwrap().events, 10);
    settled.write_events(&reports(10, 3)).await.unwrap();

    let (logs, _guard) = logs::capture();
    let stats = settled.read_stats(&hours).await.unwrap();
    assert_eq!((stats.events, stats.delivered), (13, 13));
    let (_, scanned) = reads_since(&logs, 0);
    assert_eq!(
        scanned,
        1 + 3,
        "the kept counts and the late entries, nothing recounted"
    );

    let window = EventScope::Window(Window::new(hour, hour + HOUR).unwrap());
    let page = complete(
        settled
            .list_events(&window, &EventFilter::default(), &first_page(100))
            .await
            .unwrap(),
    );
    assert_eq!(
        page.events.len(),
        13,
        "late entries are listed with the others"
    );
    let order: Vec<i64> = page.events.iter().map(|e| e.listed_at()).collect();
    assert!(
        order.is_sorted(),
        "in time order across shards and the late partition"
    );
}

#[tokio::test]
async fn a_message_stored_without_its_index_entries_gets_them_when_delivered_again() {
    // Two deliveries of one message's events in opposite orders, racing, can each give the key
    // and contact entries to the event the other one stores first: the stored copies then lack
    // them. The next delivery of the message adds them to an event already stored.
    let endpoint = dynamodb_local::shared().await.endpoint().to_owned();
    let table = unique_table_name("entries");
    let client = shared::config::endpoint_dynamo_client(&endpoint, Duration::from_secs(30));
    let store = DynamoStore::new(client.clone(), table.clone(), RETENTION);
    store.create_table_if_missing().await.unwrap();
    let at = DAY0 + HOUR;
    let body = status_report("wamid.raced", "delivered", at, TARGET, TARGET_KEY, None);
    let events = stored(&body, SubProduct::Conversational, (at + 1) * 1000);
    let mut item = shared::store::dynamo::event_item(&events[0], RETENTION);
    assert!(item.remove("KPK").is_some() && item.remove("CPK").is_some());
    client
        .put_item()
        .table_name(&table)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
    assert!(events_of_key(&store, TARGET_KEY, 10).await.is_empty());
    assert!(events_of_contact(&store, TARGET, 10).await.is_empty());

    let report = store.write_events(&events).await.unwrap();
    assert_eq!((report.stored, report.duplicates), (0, 1), "stored once");
    assert_eq!(events_of_key(&store, TARGET_KEY, 10).await.len(), 1);
    assert_eq!(events_of_contact(&store, TARGET, 10).await.len(), 1);
    // Once there, a redelivery writes nothing more.
    let report = store.write_events(&events).await.unwrap();
    assert_eq!(report.stored, 0);
    assert_eq!(events_of_key(&store, TARGET_KEY, 10).await.len(), 1);
}
