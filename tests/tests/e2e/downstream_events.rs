//! The push side: every newly stored event goes downstream once, as an EventBridge event whose
//! `detail` follows `schemas/events/`.
//!
//! - every fixture's events validate against the JSON Schemas;
//! - the stream consumer, fed real stream records of DynamoDB Local, publishes each new event
//!   once, sees no record at all for duplicates, and skips the table's other items;
//! - a target that fails chosen events: the first failed record is reported, nothing after its
//!   batch is published, and the retry Lambda makes from there completes the rest;
//! - the EventBridge adapter against moto: rules route the events to SQS queues;
//! - the local stack POSTs new events, never duplicates, and a dead URL fails no webhook.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use e2e_tests::moto::Moto;
use e2e_tests::payloads::{statuses, stored, text_reply};
use e2e_tests::{dynamodb_local, stack, stores};
use serde_json::{Value, json};
use shared::domain::SubProduct;
use shared::domain::downstream::{DetailType, DownstreamEvent};
use shared::publish::eventbridge::EventBridgePublisher;
use shared::publish::local::envelope;
use shared::publish::stream::{StreamPublisher, publish_new_events};
use shared::publish::{
    BatchLimits, PublishError, PublishEvents, PublishFailure, PublishFuture, downstream, publish,
};
use shared::store::dynamo::DynamoStore;
use shared::store::{StoredEvent, WriteEvents};

const T0: i64 = 1_700_000_000;
const SOURCE: &str = "insider.webhooks";

// ------------------------------------------------------------------------------------------
// The JSON Schemas
// ------------------------------------------------------------------------------------------

/// A validator per detail-type and one for the envelope, built from the files of
/// `schemas/events/` (each registered under its `$id`, so their `$ref`s resolve offline).
struct Schemas {
    details: HashMap<DetailType, jsonschema::Validator>,
    envelope: jsonschema::Validator,
}

fn schemas() -> &'static Schemas {
    static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/events");
        let mut documents = HashMap::new();
        for entry in std::fs::read_dir(&dir).expect("schemas/events exists") {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let document: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
            assert_eq!(
                document["$schema"], "https://json-schema.org/draft/2020-12/schema",
                "{name}"
            );
            documents.insert(name, document);
        }
        let mut registry = jsonschema::Registry::new();
        for document in documents.values() {
            let id = document["$id"].as_str().expect("every schema has an $id");
            registry = registry.add(id, document.clone()).expect("a valid schema");
        }
        let registry = registry.prepare().expect("the schemas resolve");
        let build = |name: &str| {
            let document = documents
                .get(name)
                .unwrap_or_else(|| panic!("schemas/events/{name} is missing"));
            jsonschema::options()
                .with_registry(&registry)
                .should_validate_formats(true)
                .build(document)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        Schemas {
            details: DetailType::ALL
                .into_iter()
                .map(|t| (t, build(&format!("{}.schema.json", t.as_str()))))
                .collect(),
            envelope: build("envelope.schema.json"),
        }
    })
}

fn assert_valid(validator: &jsonschema::Validator, instance: &Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{e} (at {})", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}\n{instance:#}");
}

/// Checks a published detail against the schema of its detail-type.
fn assert_detail_valid(detail_type: DetailType, detail: &Value) {
    assert_valid(
        &schemas().details[&detail_type],
        detail,
        detail_type.as_str(),
    );
}

fn detail_json(event: &DownstreamEvent) -> Value {
    serde_json::from_str(event.detail.get()).unwrap()
}

fn fixtures() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/insider");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

/// Every fixture's events, as the receiver stores them (a sub-product each, in turn).
fn fixture_events() -> Vec<StoredEvent> {
    fixtures()
        .iter()
        .enumerate()
        .flat_map(|(i, (_, body))| {
            stored(body, SubProduct::ALL[i % 3], 1_718_873_100_000 + i as i64)
        })
        .collect()
}

#[test]
fn every_fixture_event_validates_against_the_schema_of_its_detail_type() {
    let mut seen = HashSet::new();
    for (name, body) in fixtures() {
        for event in stored(&body, SubProduct::Conversational, T0 * 1000) {
            let downstream = downstream(&event).unwrap();
            seen.insert(downstream.detail_type);
            let detail = detail_json(&downstream);
            assert_detail_valid(downstream.detail_type, &detail);
            let envelope: Value =
                serde_json::from_str(&envelope(SOURCE, &downstream).unwrap()).unwrap();
            assert_valid(&schemas().envelope, &envelope, &name);
            assert_eq!(envelope["detail"], detail);
            // A detail of another type must not pass as this one: the schemas tell them apart.
            for other in DetailType::ALL {
                if other != downstream.detail_type {
                    assert!(
                        !schemas().details[&other].is_valid(&detail),
                        "{name}: a {} detail also passes as {}",
                        downstream.detail_type.as_str(),
                        other.as_str()
                    );
                }
            }
        }
    }
    let missing: Vec<_> = DetailType::ALL
        .iter()
        .filter(|t| !seen.contains(t))
        .collect();
    assert!(missing.is_empty(), "no fixture yields {missing:?}");
}

#[test]
fn an_oversized_raw_fragment_still_validates() {
    let body = format!(
        r#"{{"key":"whatsapp-big","blob":"{}"}}"#,
        "x".repeat(300 * 1024)
    );
    let event = &stored(&body, SubProduct::Verify, T0 * 1000)[0];
    let downstream = downstream(event).unwrap();
    assert!(downstream.raw_omitted);
    assert_detail_valid(downstream.detail_type, &detail_json(&downstream));
    let envelope: Value = serde_json::from_str(&envelope(SOURCE, &downstream).unwrap()).unwrap();
    assert_valid(&schemas().envelope, &envelope, "oversized");
}

// ------------------------------------------------------------------------------------------
// A target that fails chosen events
// ------------------------------------------------------------------------------------------

/// Takes up to ten events per call, like EventBridge, publishes each unless it was told to
/// fail it (every time), and records every call.
struct FakeTarget {
    failing: HashMap<String, PublishError>,
    calls: Mutex<Vec<Vec<String>>>,
    published: Mutex<Vec<(DetailType, Value)>>,
}

impl FakeTarget {
    fn new(failing: impl IntoIterator<Item = (String, PublishError)>) -> Self {
        Self {
            failing: failing.into_iter().collect(),
            calls: Mutex::new(Vec::new()),
            published: Mutex::new(Vec::new()),
        }
    }

    /// The event ids published, in the order they were.
    fn published_ids(&self) -> Vec<String> {
        self.published
            .lock()
            .unwrap()
            .iter()
            .map(|(_, d)| d["event_id"].as_str().unwrap().to_owned())
            .collect()
    }

    fn sent_ids(&self) -> HashSet<String> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .cloned()
            .collect()
    }
}

impl PublishEvents for FakeTarget {
    fn limits(&self) -> BatchLimits {
        BatchLimits {
            entries: 10,
            bytes: 256 * 1024,
        }
    }

    fn put_batch<'a>(&'a self, events: &'a [&'a DownstreamEvent]) -> PublishFuture<'a> {
        self.calls
            .lock()
            .unwrap()
            .push(events.iter().map(|e| e.event_id.clone()).collect());
        let outcomes = events
            .iter()
            .map(|e| match self.failing.get(&e.event_id) {
                Some(error) => Err(error.clone()),
                None => {
                    self.published
                        .lock()
                        .unwrap()
                        .push((e.detail_type, detail_json(e)));
                    Ok(())
                }
            })
            .collect();
        Box::pin(async move { outcomes })
    }
}

// ------------------------------------------------------------------------------------------
// Real stream records from DynamoDB Local
// ------------------------------------------------------------------------------------------

/// A store on a new table of the shared DynamoDB Local, with the template's stream
/// (`NEW_IMAGE`), and a reader of that stream.
struct StreamedTable {
    store: DynamoStore,
    dynamodb: aws_sdk_dynamodb::Client,
    streams: aws_sdk_dynamodbstreams::Client,
    table: String,
}

impl StreamedTable {
    async fn new() -> Self {
        use aws_sdk_dynamodb::types::{StreamSpecification, StreamViewType};
        let endpoint = dynamodb_local::shared().await.endpoint().to_owned();
        let table = dynamodb_local::unique_table_name("stream");
        let dynamodb = shared::config::endpoint_dynamo_client(&endpoint, Duration::from_secs(30));
        let store = DynamoStore::new(dynamodb.clone(), &table, stores::RETENTION);
        store.create_table_if_missing().await.unwrap();
        dynamodb
            .update_table()
            .table_name(&table)
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewImage)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("the stream is turned on");
        let streams = aws_sdk_dynamodbstreams::Client::from_conf(
            aws_sdk_dynamodbstreams::Config::builder()
                .behavior_version(aws_sdk_dynamodbstreams::config::BehaviorVersion::latest())
                .region(aws_sdk_dynamodbstreams::config::Region::new("us-east-1"))
                .endpoint_url(&endpoint)
                .credentials_provider(aws_sdk_dynamodbstreams::config::Credentials::new(
                    "local", "local", None, None, "test",
                ))
                .build(),
        );
        Self {
            store,
            dynamodb,
            streams,
            table,
        }
    }

    /// Every record of the stream so far, shard by shard, as Lambda hands them to a function
    /// (the JSON of a DynamoDB stream event's `Records`).
    async fn records(&self) -> Vec<Value> {
        let arn = self
            .dynamodb
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .unwrap()
            .table()
            .and_then(|t| t.latest_stream_arn())
            .expect("the table has a stream")
            .to_owned();
        let description = self
            .streams
            .describe_stream()
            .stream_arn(&arn)
            .send()
            .await
            .unwrap();
        let shards = description.stream_description().unwrap().shards().to_vec();
        let mut records = Vec::new();
        for shard in shards {
            let mut iterator = self
                .streams
                .get_shard_iterator()
                .stream_arn(&arn)
                .shard_id(shard.shard_id().unwrap())
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .unwrap()
                .shard_iterator()
                .map(str::to_owned);
            // DynamoDB Local writes a record with the item, so an empty read is the end.
            while let Some(current) = iterator {
                let page = self
                    .streams
                    .get_records()
                    .shard_iterator(current)
                    .send()
                    .await
                    .unwrap();
                if page.records().is_empty() {
                    break;
                }
                records.extend(page.records().iter().map(|r| lambda_record(r, &arn)));
                iterator = page.next_shard_iterator().map(str::to_owned);
            }
        }
        records
    }
}

/// A stream record in the JSON Lambda gives the function (images in DynamoDB JSON).
fn lambda_record(record: &aws_sdk_dynamodbstreams::types::Record, arn: &str) -> Value {
    let change = record.dynamodb().expect("a record carries its change");
    let image = |item: Option<&HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>| {
        item.map(|item| serde_json::to_value(serde_dynamo::Item::from(item.clone())).unwrap())
            .unwrap_or(Value::Null)
    };
    json!({
        "eventID": record.event_id(),
        "eventName": record.event_name().map(|n| n.as_str()),
        "eventVersion": record.event_version(),
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "eventSourceARN": arn,
        "dynamodb": {
            "ApproximateCreationDateTime": change.approximate_creation_date_time().map(|t| t.secs()),
            "Keys": image(change.keys()),
            "NewImage": image(change.new_image()),
            "SequenceNumber": change.sequence_number(),
            "SizeBytes": change.size_bytes(),
            "StreamViewType": change.stream_view_type().map(|v| v.as_str()),
        },
    })
}

fn sort_key(record: &Value) -> &str {
    record["dynamodb"]["NewImage"]["SK"]["S"]
        .as_str()
        .unwrap_or("")
}

fn is_event_insert(record: &Value) -> bool {
    record["eventName"] == "INSERT" && sort_key(record).starts_with("EVT#")
}

fn event_id_of(record: &Value) -> String {
    record["dynamodb"]["NewImage"]["event_id"]["S"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn sequence_number(record: &Value) -> String {
    record["dynamodb"]["SequenceNumber"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Runs the consumer on `records` as one invocation.
async fn invoke(publisher: &'static FakeTarget, records: &[Value]) -> DynamoDbEventResponse {
    let event: StreamEvent =
        serde_json::from_value(json!({ "Records": records })).expect("a Lambda stream event");
    let consumer = StreamPublisher {
        publisher: std::sync::Arc::new(Forward(publisher)),
    };
    publish_new_events(&consumer, event).await
}

/// Lends a test's target to the consumer, which owns its publisher.
struct Forward(&'static FakeTarget);

impl PublishEvents for Forward {
    fn limits(&self) -> BatchLimits {
        self.0.limits()
    }
    fn put_batch<'a>(&'a self, events: &'a [&'a DownstreamEvent]) -> PublishFuture<'a> {
        self.0.put_batch(events)
    }
}

fn leak(target: FakeTarget) -> &'static FakeTarget {
    Box::leak(Box::new(target))
}

fn failures(response: &DynamoDbEventResponse) -> Vec<Option<String>> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_consumer_publishes_each_new_event_once_and_nothing_else() {
    let table = StreamedTable::new().await;
    let first = statuses(
        &[
            ("wamid.s1", "sent", T0),
            ("wamid.s1", "delivered", T0 + 1),
            ("wamid.s2", "failed", T0 + 2),
        ],
        "whatsapp-stream",
    );
    let mut twice = stored(
        &statuses(&[("wamid.s1", "read", T0 + 4)], "whatsapp-stream"),
        SubProduct::Conversational,
        4,
    );
    twice.extend(twice.clone());
    let writes = [
        stored(&first, SubProduct::Conversational, 1),
        stored(
            &text_reply("wamid.r1", "Merhaba", T0 + 3),
            SubProduct::Conversational,
            2,
        ),
        // A redelivery, received later, and a batch holding one event twice.
        stored(&first, SubProduct::Conversational, 3),
        twice,
        // Every fixture, then all of them again.
        fixture_events(),
        fixture_events(),
    ];
    let mut reported_new: Vec<String> = Vec::new();
    for events in &writes {
        let report = table.store.write_events(events).await.unwrap();
        reported_new.extend(report.new_event_ids);
    }
    let written: Vec<&StoredEvent> = writes.iter().flatten().collect();
    // An insert that is no event: an OAuth client minted at run time.
    let client = shared::auth::oauth::ConfiguredClient {
        client_id: "insider-stream".into(),
        client_secret: "a-client-secret-of-enough-length".into(),
        grants: vec![shared::domain::oauth::GrantType::ClientCredentials],
        scopes: shared::domain::oauth::default_scopes(),
        token_lifetime_secs: 3600,
        rotate_refresh_tokens: false,
    }
    .into_client()
    .unwrap();
    assert!(e2e_tests::stores::mint(&table.store, &client).await);

    let mut distinct = Vec::new();
    for event in &written {
        if !distinct.contains(&event.event.id) {
            distinct.push(event.event.id.clone());
        }
    }
    let reported: HashSet<&String> = reported_new.iter().collect();
    assert_eq!(
        reported.len(),
        reported_new.len(),
        "no event reported new twice"
    );
    assert_eq!(
        reported,
        distinct.iter().collect(),
        "the writes report each event new once"
    );

    let records = table.records().await;
    let inserted: Vec<String> = records
        .iter()
        .filter(|r| is_event_insert(r))
        .map(event_id_of)
        .collect();
    assert_eq!(
        inserted.iter().collect::<HashSet<_>>(),
        distinct.iter().collect::<HashSet<_>>(),
        "one INSERT per distinct event"
    );
    assert_eq!(
        inserted.len(),
        distinct.len(),
        "duplicates never reach the stream as INSERTs"
    );
    assert!(
        records.iter().any(|r| sort_key(r) == "CLIENT"),
        "the stream also holds a client item, which the consumer must skip"
    );
    assert!(
        records.iter().all(|r| r["eventName"] == "INSERT"),
        "the store never modifies an item it wrote (no status or counter items)"
    );

    // As Lambda would: batches of up to 100 records, in stream order.
    let target = leak(FakeTarget::new([]));
    for batch in records.chunks(100) {
        let response = invoke(target, batch).await;
        assert!(failures(&response).is_empty(), "{response:?}");
    }
    assert_eq!(
        target.published_ids(),
        inserted,
        "each new event once, in stream order"
    );

    // What went out is what was stored (its first copy), field for field, raw fragment included.
    for (detail_type, detail) in target.published.lock().unwrap().iter() {
        assert_detail_valid(*detail_type, detail);
        let first_copy = written
            .iter()
            .find(|e| e.event.id == detail["event_id"].as_str().unwrap())
            .unwrap();
        assert_eq!(detail, &detail_json(&downstream(first_copy).unwrap()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_event_is_reported_and_nothing_after_its_batch_is_published() {
    let table = StreamedTable::new().await;
    let messages: Vec<(String, i64)> = (0..25)
        .map(|i| (format!("wamid.p{i:02}"), T0 + i))
        .collect();
    let items: Vec<(&str, &str, i64)> = messages
        .iter()
        .map(|(id, ts)| (id.as_str(), "delivered", *ts))
        .collect();
    let report = table
        .store
        .write_events(&stored(
            &statuses(&items, "whatsapp-partial"),
            SubProduct::Transactional,
            1,
        ))
        .await
        .unwrap();
    assert_eq!(report.stored, 25);
    let records = table.records().await;
    let events: Vec<&Value> = records.iter().filter(|r| is_event_insert(r)).collect();
    assert_eq!(events.len(), 25);
    let ids: Vec<String> = events.iter().map(|r| event_id_of(r)).collect();

    // The 14th event keeps failing: it is reported, the events before it are published, and of
    // the rest only those sent in the same PutEvents call (the 11th to the 20th) may be.
    let failing = leak(FakeTarget::new([(
        ids[13].clone(),
        PublishError::Unavailable("InternalFailure".into()),
    )]));
    let response = invoke(failing, &records).await;
    assert_eq!(failures(&response), [Some(sequence_number(events[13]))]);
    let published = failing.published_ids();
    assert_eq!(
        &published[..13],
        &ids[..13],
        "everything before the failure"
    );
    assert!(!published.contains(&ids[13]));
    let sent = failing.sent_ids();
    assert!(
        ids[20..].iter().all(|id| !sent.contains(id)),
        "no batch after the failed one is sent"
    );
    let calls = failing.calls.lock().unwrap().clone();
    assert_eq!(
        calls.len(),
        2 + 2,
        "two full batches, then the failed event alone, twice"
    );
    assert_eq!(
        calls[2..],
        [[ids[13].clone()], [ids[13].clone()]],
        "only the failed event is sent again"
    );

    // Lambda retries from the reported record on, and this time the target takes everything.
    let from = records
        .iter()
        .position(|r| sequence_number(r) == sequence_number(events[13]))
        .unwrap();
    let healthy = leak(FakeTarget::new([]));
    let response = invoke(healthy, &records[from..]).await;
    assert!(failures(&response).is_empty());
    let mut all: Vec<String> = published.clone();
    all.extend(healthy.published_ids());
    assert_eq!(
        all.iter().collect::<HashSet<_>>(),
        ids.iter().collect(),
        "every event, at least once"
    );
    let twice = all.len() - ids.len();
    assert!(
        twice <= 9,
        "only the failed event's own batch comes again ({twice} events)"
    );

    // A refusal of the very first event, which is not tried again: the first record is
    // reported; the rest of its batch went out with it, nothing after that batch.
    let refusing = leak(FakeTarget::new([(
        ids[0].clone(),
        PublishError::Refused("MalformedDetail".into()),
    )]));
    let response = invoke(refusing, &records).await;
    assert_eq!(failures(&response), [Some(sequence_number(events[0]))]);
    assert_eq!(refusing.published_ids(), &ids[1..10]);
    assert_eq!(refusing.calls.lock().unwrap().len(), 1);

    // An event item that cannot be read fails like a publish: reported, nothing after it sent.
    let mut broken = records.clone();
    let at = broken
        .iter()
        .position(|r| event_id_of_opt(r) == Some(ids[5].clone()))
        .unwrap();
    broken[at]["dynamodb"]["NewImage"]
        .as_object_mut()
        .unwrap()
        .remove("raw");
    let reader = leak(FakeTarget::new([]));
    let response = invoke(reader, &broken).await;
    assert_eq!(failures(&response), [Some(sequence_number(events[5]))]);
    assert_eq!(reader.published_ids(), &ids[..5]);
}

fn event_id_of_opt(record: &Value) -> Option<String> {
    is_event_insert(record).then(|| event_id_of(record))
}

// ------------------------------------------------------------------------------------------
// EventBridge in moto
// ------------------------------------------------------------------------------------------

/// moto's EventBridge and SQS clients, with the event bus `bus` created.
async fn moto_bus(moto: &Moto, bus: &str) -> (aws_sdk_eventbridge::Client, aws_sdk_sqs::Client) {
    use aws_sdk_eventbridge::config as eb;
    let eventbridge = aws_sdk_eventbridge::Client::from_conf(
        eb::Config::builder()
            .behavior_version(eb::BehaviorVersion::latest())
            .region(eb::Region::new("us-east-1"))
            .endpoint_url(moto.endpoint())
            .credentials_provider(eb::Credentials::new("test", "test", None, None, "moto"))
            .build(),
    );
    eventbridge
        .create_event_bus()
        .name(bus)
        .send()
        .await
        .unwrap();
    (eventbridge, moto.sqs())
}

/// A queue receiving the events of `detail_type` from our source on `bus`, through a rule
/// `name`; returns its URL.
async fn rule_to_queue(
    eventbridge: &aws_sdk_eventbridge::Client,
    sqs: &aws_sdk_sqs::Client,
    bus: &str,
    name: &str,
    detail_type: &str,
) -> String {
    let pattern = json!({"source": [SOURCE], "detail-type": [detail_type]});
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .unwrap()
        .clone();
    eventbridge
        .put_rule()
        .name(name)
        .event_bus_name(bus)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .unwrap();
    eventbridge
        .put_targets()
        .rule(name)
        .event_bus_name(bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id(name)
                .arn(arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    url
}

/// Every message in the queue (moto delivers while PutEvents runs, so they are all there).
async fn drain(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<Value> {
    let mut bodies = Vec::new();
    loop {
        let page = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        if page.messages().is_empty() {
            return bodies;
        }
        for message in page.messages() {
            bodies.push(serde_json::from_str(message.body().unwrap()).unwrap());
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventbridge_rules_route_the_published_events_to_their_targets() {
    let moto = Moto::start().await;
    let bus = "insider-webhooks-test";
    let (eventbridge, sqs) = moto_bus(&moto, bus).await;
    let replies = rule_to_queue(
        &eventbridge,
        &sqs,
        bus,
        "replies",
        "whatsapp.reply.received",
    )
    .await;
    let failed = rule_to_queue(
        &eventbridge,
        &sqs,
        bus,
        "failed-messages",
        "whatsapp.message.failed",
    )
    .await;

    let events: Vec<DownstreamEvent> = fixture_events()
        .iter()
        .map(|e| downstream(e).unwrap())
        .collect();
    assert!(events.len() > 20, "several PutEvents calls");
    let publisher = EventBridgePublisher::new(eventbridge.clone(), bus, SOURCE);
    publish(&publisher, &events)
        .await
        .expect("every event is published");

    for (url, detail_type) in [
        (&replies, DetailType::ReplyReceived),
        (&failed, DetailType::MessageFailed),
    ] {
        let delivered = drain(&sqs, url).await;
        let expected: HashMap<&str, &DownstreamEvent> = events
            .iter()
            .filter(|e| e.detail_type == detail_type)
            .map(|e| (e.event_id.as_str(), e))
            .collect();
        assert!(!expected.is_empty());
        assert_eq!(
            delivered.len(),
            expected.len(),
            "{}: one message per event",
            detail_type.as_str()
        );
        for body in &delivered {
            assert_eq!(body["source"], SOURCE);
            assert_eq!(body["detail-type"], detail_type.as_str());
            let sent = expected[body["detail"]["event_id"].as_str().unwrap()];
            assert_eq!(
                body["detail"],
                detail_json(sent),
                "the detail arrives unchanged"
            );
            assert_detail_valid(detail_type, &body["detail"]);
            let time = aws_sdk_eventbridge::primitives::DateTime::from_secs(sent.time)
                .fmt(aws_sdk_eventbridge::primitives::DateTimeFormat::DateTime)
                .unwrap();
            assert_eq!(body["time"], time.as_str(), "the event's own time");
            // moto leaves out `account`, which EventBridge always sets; the rest of the
            // envelope is checked as moto delivered it.
            assert!(
                body.get("account").is_none(),
                "moto now sets account: check it as is"
            );
            let mut envelope = body.clone();
            envelope["account"] = json!("123456789012");
            assert_valid(
                &schemas().envelope,
                &envelope,
                "the envelope moto delivered",
            );
        }
    }

    // Entries EventBridge refuses one by one (here: an empty source, InvalidArgument): the
    // call succeeds, the failure is per entry, and it is reported for the first event.
    let refused = EventBridgePublisher::new(eventbridge.clone(), bus, "");
    let failure = publish(&refused, &events).await.unwrap_err();
    assert_eq!(failure.index, 0);
    assert!(
        matches!(&failure.error, PublishError::Refused(reason) if reason.contains("InvalidArgument")),
        "{failure:?}"
    );
    // A call that fails as a whole (no such bus) fails its first event too.
    let nowhere = EventBridgePublisher::new(eventbridge, "no-such-bus", SOURCE);
    let failure: PublishFailure = publish(&nowhere, &events).await.unwrap_err();
    assert_eq!(failure.index, 0);
    assert!(
        matches!(failure.error, PublishError::Refused(_)),
        "{failure:?}"
    );
    assert!(
        drain(&sqs, &replies).await.is_empty(),
        "nothing more was delivered"
    );
}

// ------------------------------------------------------------------------------------------
// The local stack
// ------------------------------------------------------------------------------------------

/// A loopback HTTP server that answers 200 to every request and hands over the bodies.
async fn event_receiver() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<Value>,
    tokio::task::JoinHandle<()>,
) {
    use http_body_util::BodyExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    let (sender, bodies) = tokio::sync::mpsc::unbounded_channel();
    let server = tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let sender = sender.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let sender = sender.clone();
                        async move {
                            assert_eq!(request.method(), "POST");
                            assert_eq!(request.headers()["content-type"], "application/json");
                            let body = request.into_body().collect().await?.to_bytes();
                            let _ = sender.send(serde_json::from_slice::<Value>(&body).unwrap());
                            Ok::<_, hyper::Error>(hyper::Response::new(http_body_util::Full::new(
                                bytes::Bytes::new(),
                            )))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, bodies, server)
}

async fn deliver(base: &str, body: &str) -> Value {
    let response = stack::client()
        .post(format!("{base}/webhooks/conversational"))
        .bearer_auth(stack::WEBHOOK_TOKEN)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The next body the receiver got (waiting at most 30 s, so a missing one fails the test
/// instead of hanging it).
async fn next(bodies: &mut tokio::sync::mpsc::UnboundedReceiver<Value>) -> Value {
    tokio::time::timeout(Duration::from_secs(30), bodies.recv())
        .await
        .expect("an event was POSTed")
        .expect("the receiver runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_stack_posts_new_events_and_never_duplicates() {
    let (url, mut bodies, receiver) = event_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = stack::config(
        local_stack::StoreChoice::Embedded(dir.path().to_owned()),
        Duration::from_secs(3),
    );
    config.downstream = local_stack::Downstream {
        print: false,
        post_to: Some(url),
        source: SOURCE.into(),
    };
    let stack = local_stack::start(config).await.unwrap();

    let first = statuses(
        &[
            ("wamid.l1", "sent", T0),
            ("wamid.l1", "read", T0 + 5),
            ("wamid.l2", "failed", T0 + 6),
        ],
        "whatsapp-local",
    );
    assert_eq!(
        deliver(&stack.url(), &first).await,
        json!({"stored": 3, "duplicates": 0})
    );
    assert_eq!(
        deliver(&stack.url(), &first).await,
        json!({"stored": 0, "duplicates": 3})
    );
    let reply = text_reply("wamid.l3", "Tamam", T0 + 7);
    assert_eq!(
        deliver(&stack.url(), &reply).await,
        json!({"stored": 1, "duplicates": 0})
    );

    // Events are POSTed in the order they were stored, so had the redelivery been published,
    // its events would come before the reply's.
    let expected: Vec<String> = stored(&first, SubProduct::Conversational, 0)
        .iter()
        .chain(&stored(&reply, SubProduct::Conversational, 0))
        .map(|e| e.event.id.clone())
        .collect();
    let mut received = Vec::new();
    for _ in 0..expected.len() {
        let envelope = next(&mut bodies).await;
        assert_valid(&schemas().envelope, &envelope, "a POSTed event");
        assert_eq!(envelope["source"], SOURCE);
        received.push(envelope["detail"]["event_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(received, expected);
    stack.stop().await;
    receiver.abort();
    assert!(bodies.try_recv().is_err(), "nothing else was POSTed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_is_down_fails_no_webhook() {
    // A port nothing listens on: connections are refused.
    let port = e2e_tests::supervised::free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut config = stack::config(
        local_stack::StoreChoice::Embedded(dir.path().to_owned()),
        Duration::from_secs(3),
    );
    config.downstream.post_to = Some(format!("http://127.0.0.1:{port}/events"));
    let stack = local_stack::start(config).await.unwrap();
    let body = statuses(&[("wamid.down", "delivered", T0)], "whatsapp-down");
    assert_eq!(
        deliver(&stack.url(), &body).await,
        json!({"stored": 1, "duplicates": 0})
    );
    let read = stack::client()
        .get(format!("{}/messages/wamid.down", stack.url()))
        .bearer_auth(stack::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200, "the event is stored");
    stack.stop().await;
}

// ------------------------------------------------------------------------------------------
// Replay
// ------------------------------------------------------------------------------------------

/// A replay route of `stack` with the admin token; its status and JSON answer.
async fn replay(stack: &local_stack::LocalStack, path: &str) -> (u16, Value) {
    let response = stack::client()
        .post(format!("{}{path}", stack.url()))
        .bearer_auth(stack::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_publishes_stored_events_again_with_their_event_ids() {
    let (url, mut bodies, receiver) = event_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = stack::config(
        local_stack::StoreChoice::Embedded(dir.path().to_owned()),
        Duration::from_secs(3),
    );
    config.downstream.post_to = Some(url);
    let stack = local_stack::start(config).await.unwrap();
    let body = statuses(
        &[
            ("wamid.r1", "sent", T0),
            ("wamid.r1", "read", T0 + 5),
            ("wamid.r2", "failed", T0 + 6),
        ],
        "whatsapp-replay",
    );
    deliver(&stack.url(), &body).await;
    let mut first = HashMap::new();
    for _ in 0..3 {
        let envelope = next(&mut bodies).await;
        first.insert(
            envelope["detail"]["event_id"].as_str().unwrap().to_owned(),
            envelope,
        );
    }

    // One message: both of its events, as they were published the first time.
    assert_eq!(
        replay(&stack, "/replay/messages/wamid.r1").await,
        (200, json!({"published": 2}))
    );
    for _ in 0..2 {
        let again = next(&mut bodies).await;
        let id = again["detail"]["event_id"].as_str().unwrap();
        assert_eq!(again["detail"], first[id]["detail"], "the same event");
        assert_eq!(first[id]["detail"]["message_id"], "wamid.r1");
    }

    // A window with the listing's filters: only the failed message.
    let window = format!("/replay/events?since={T0}&until={}", T0 + 60);
    assert_eq!(
        replay(&stack, &format!("{window}&status=failed")).await,
        (200, json!({"published": 1, "next_cursor": null}))
    );
    assert_eq!(next(&mut bodies).await["detail"]["message_id"], "wamid.r2");

    // Bounded per call and resumable: one event a call, following the cursor.
    let mut path = format!("{window}&limit=1");
    let mut replayed = Vec::new();
    loop {
        let (status, answer) = replay(&stack, &path).await;
        assert_eq!(status, 200, "{answer}");
        for _ in 0..answer["published"].as_u64().unwrap() {
            replayed.push(next(&mut bodies).await["detail"]["event_id"].clone());
        }
        match answer["next_cursor"].as_str() {
            Some(cursor) => path = format!("{window}&limit=1&cursor={cursor}"),
            None => break,
        }
    }
    let expected: HashSet<&str> = first.keys().map(String::as_str).collect();
    let got: HashSet<&str> = replayed.iter().map(|id| id.as_str().unwrap()).collect();
    assert_eq!(got, expected, "every event of the window, once");
    assert_eq!(replayed.len(), 3);

    // What it refuses, publishing nothing.
    let refused = [
        ("/replay/messages/wamid.unknown", 404, "message_not_found"),
        (
            &format!("{window}&format=ndjson") as &str,
            400,
            "invalid_parameter",
        ),
        ("/replay/events", 400, "missing_parameter"),
        (
            &format!("{window}&cursor=forged") as &str,
            400,
            "invalid_cursor",
        ),
        ("/replay/contacts", 404, "not_found"),
    ];
    for (path, status, code) in refused {
        let (got_status, answer) = replay(&stack, path).await;
        assert_eq!(
            (got_status, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{path}: {answer}"
        );
    }
    let get = stack::client()
        .get(format!("{}/replay/messages/wamid.r1", stack.url()))
        .bearer_auth(stack::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    let unauthenticated = stack::client()
        .post(format!("{}/replay/messages/wamid.r1", stack.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), bodies.recv())
            .await
            .is_err(),
        "nothing else was published"
    );
    stack.stop().await;
    receiver.abort();
}

#[tokio::test]
async fn replay_without_a_downstream_target_is_refused() {
    let (stack, _dir) = stack::embedded().await;
    let (status, answer) = replay(&stack, "/replay/messages/wamid.any").await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (503, Some("replay_not_configured"))
    );
}

/// The Lambda's path: the replay handler with the EventBridge adapter, against moto; a rule's
/// queue gets the replayed events with their event ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_publishes_to_the_event_bus() {
    let moto = Moto::start().await;
    let bus = "insider-webhooks-replay";
    let (eventbridge, sqs) = moto_bus(&moto, bus).await;
    let statuses_queue = rule_to_queue(
        &eventbridge,
        &sqs,
        bus,
        "replayed-statuses",
        "whatsapp.message.status",
    )
    .await;
    let store = stores::dynamo().await;
    let events = stored(
        &statuses(
            &[
                ("wamid.bus", "sent", T0),
                ("wamid.bus", "delivered", T0 + 1),
            ],
            "whatsapp-bus",
        ),
        SubProduct::Conversational,
        T0 * 1000,
    );
    store.write_events(&events).await.unwrap();
    let replay_route = shared::replay::Replay {
        store: std::sync::Arc::new(store),
        publishers: vec![std::sync::Arc::new(EventBridgePublisher::new(
            eventbridge.clone(),
            bus,
            SOURCE,
        ))],
    };
    let request = e2e_tests::gateway::request(&e2e_tests::gateway::event(
        "POST",
        "/replay/messages/wamid.bus",
        "",
        &[],
        None,
        false,
    ))
    .unwrap();
    let response = shared::http::replay::replay(&replay_route, request).await;
    assert_eq!(response.status(), 200);
    let delivered = drain(&sqs, &statuses_queue).await;
    let ids: HashSet<&str> = delivered
        .iter()
        .map(|body| body["detail"]["event_id"].as_str().unwrap())
        .collect();
    let expected: HashSet<&str> = events.iter().map(|e| e.event.id.as_str()).collect();
    assert_eq!(ids, expected);
}
