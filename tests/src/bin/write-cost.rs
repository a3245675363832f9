//! The DynamoDB write cost of the real receiver, as DynamoDB itself reports it: the local
//! stack's webhook route on the DynamoDB store, with DynamoDB Local behind a capacity proxy
//! (`e2e_tests::capacity_proxy`) that asks every request for its `ConsumedCapacity` and adds it
//! up per table and index. Each scenario (realistic payloads from `tests/fixtures/insider/`,
//! fresh message ids every time) is measured on its own between two snapshots of the proxy's
//! counters, then redelivered byte for byte and measured again. The table and each index are
//! scanned around the first run of each scenario for the storage its events take, and once more
//! at the end for the whole run's.
//!
//! ```sh
//! cargo build --release --locked -p e2e-tests --bin write-cost
//! target/release/write-cost --repeat 20            # a markdown table
//! target/release/write-cost --repeat 20 --json     # the same figures as JSON
//! ```
//! A failed conditional write is counted at 1 write unit, as AWS bills it; DynamoDB Local
//! reports none for it. `--fallback` gives the receiver its fallback queue (moto's SQS), as the
//! template deploys it: the figures must be the same, with nothing parked.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::Parser;
use e2e_tests::capacity_proxy::{CapacityProxy, Consumption, item_size};
use e2e_tests::dynamodb_local::{self, DynamoDbLocal, unique_table_name};
use e2e_tests::moto::Moto;
use e2e_tests::stack::{self, WEBHOOK_TOKEN};
use futures::{StreamExt, TryStreamExt};
use local_stack::{FallbackQueue, StartError, StoreChoice};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};
use shared::fallback::DEFAULT_FALLBACK_BUDGET;

#[derive(Parser)]
#[command(
    about = "Measures the receiver's DynamoDB write units per event, as DynamoDB reports them"
)]
struct Args {
    /// Runs of each scenario, each with new message ids; the table shows the mean per event.
    #[arg(long, default_value_t = 20)]
    repeat: usize,
    /// Print the figures as JSON instead of a markdown table.
    #[arg(long)]
    json: bool,
    /// Print every DynamoDB request's operation and consumed capacity on stderr.
    #[arg(long)]
    trace: bool,
    /// The attribute that marks a table item as an event's, for the storage report.
    #[arg(long, default_value = "event_id")]
    event_attribute: String,
    /// Configure the receiver's fallback queue (moto's SQS), as the template does; the run fails
    /// if any delivery is parked.
    #[arg(long)]
    fallback: bool,
    /// Give up after this long; everything started is stopped all the same.
    #[arg(long, default_value_t = 900)]
    timeout_secs: u64,
}

/// AWS bills every item and index entry this much beyond its data.
const STORAGE_OVERHEAD: usize = 100;
/// Deliveries sent at once while preparing a scenario (not measured).
const SETUP_CONCURRENCY: usize = 8;
const SUB_PRODUCT: &str = "conversational";

const ACCEPTED: &str = include_str!("../../fixtures/insider/accepted.json");
const SENT: &str = include_str!("../../fixtures/insider/status_sent.json");
const DELIVERED: &str = include_str!("../../fixtures/insider/status_delivered.json");
const READ: &str = include_str!("../../fixtures/insider/status_read.json");
const REPLY: &str = include_str!("../../fixtures/insider/reply_text.json");
/// The values of the fixtures that each run replaces with fresh ones.
const FIXTURE_MESSAGE: &str = "wamid.HBgMOTA1NTUxMTEyMjMzFQIAERgUM0VCMEM0QThGMUQyRTZCNzlBMDUA";
const FIXTURE_KEY: &str = "whatsapp-6f1c8e2d4b7a903e51c2d8e7f05b13a4";
const FIXTURE_REPLY: &str = "wamid.HBgMOTA1NTUxMTEyMjMzFQIAEhgUQUNGMUI5RTA3RDNDMkE1RTg0RjEA";

#[derive(Debug)]
enum BenchError {
    Stack(StartError),
    /// The receiver did not answer 200 with the count of new events expected.
    Delivery {
        scenario: &'static str,
        status: StatusCode,
        answer: Value,
        expected_stored: usize,
    },
    /// A request of the storage scan failed.
    Scan {
        operation: &'static str,
        detail: String,
    },
    /// DynamoDB Local refused the re-written, no longer correctly signed requests.
    SignatureChecked(BTreeMap<String, u64>),
    /// Responses came back without `ConsumedCapacity`: the figures would undercount.
    Unmetered(u64),
    /// The proxy's item-by-item count of transactions disagrees with DynamoDB Local's own.
    ModelMismatch {
        mismatches: u64,
        transactions: u64,
    },
    NoEventItems(String),
    /// Deliveries went to the fallback queue: the store did not answer as measured.
    Parked(usize),
    Timeout(Duration),
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stack(error) => write!(f, "the local stack did not start: {error}"),
            Self::Delivery {
                scenario,
                status,
                answer,
                expected_stored,
            } => write!(
                f,
                "{scenario}: the receiver answered {status} {answer}, expected 200 with \
                 {expected_stored} events stored"
            ),
            Self::Scan { operation, detail } => write!(f, "{operation} failed: {detail}"),
            Self::SignatureChecked(errors) => write!(
                f,
                "DynamoDB Local refused requests whose body the proxy changed ({errors:?}): it \
                 checks signatures now, so the proxy must sign again"
            ),
            Self::Unmetered(count) => write!(
                f,
                "{count} responses carried no ConsumedCapacity although the proxy asked for it"
            ),
            Self::ModelMismatch {
                mismatches,
                transactions,
            } => write!(
                f,
                "of {transactions} transactions the proxy counted item by item, {mismatches} do \
                 not match DynamoDB Local's own figures (run with --trace to see them)"
            ),
            Self::NoEventItems(attribute) => write!(
                f,
                "no table item has the attribute {attribute:?}; name the one event items carry \
                 with --event-attribute"
            ),
            Self::Parked(count) => write!(
                f,
                "{count} deliveries were parked in the fallback queue instead of stored"
            ),
            Self::Timeout(limit) => write!(f, "the run took longer than {limit:?}"),
        }
    }
}

impl std::error::Error for BenchError {}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let limit = Duration::from_secs(args.timeout_secs);
    // DynamoDB Local, the proxy and the stack live inside `run`: on a timeout they are dropped
    // with it, which stops each of them.
    let outcome = match tokio::time::timeout(limit, run(&args)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(BenchError::Timeout(limit)),
    };
    match outcome {
        Ok(report) => {
            if args.json {
                println!("{}", report.json());
            } else {
                print!("{}", report.markdown());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("write-cost: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<Report, BenchError> {
    let local = DynamoDbLocal::start().await;
    let proxy = CapacityProxy::start(local.addr(), args.trace);
    let table = unique_table_name("write-cost");
    let fallback = match args.fallback {
        true => {
            let moto = Moto::start().await;
            let (queue, _) = moto.queue_with_dead_letters("fallback", 5).await;
            Some((moto, queue))
        }
        false => None,
    };
    let store = StoreChoice::Dynamo {
        endpoint: proxy.url(),
        table: table.clone(),
        raw_bucket: None,
        fallback_queue: fallback.as_ref().map(|(moto, queue)| FallbackQueue {
            url: queue.clone(),
            endpoint: moto.endpoint().to_owned(),
            budget: DEFAULT_FALLBACK_BUDGET,
        }),
    };
    let stack = local_stack::start(stack::config(store, Duration::from_secs(10)))
        .await
        .map_err(BenchError::Stack)?;
    let base = stack.url();
    let scanner = Scanner::new(local.addr(), &table, &args.event_attribute).await?;

    let mut ids = Ids::default();
    let mut rows = Vec::new();
    let mut stored_events = 0;
    for scenario in Scenario::ALL {
        let mut first = Consumption::default();
        let mut again = Consumption::default();
        let mut events = 0;
        let mut storage = None;
        for run in 0..args.repeat {
            let plan = scenario.plan(&mut ids);
            futures::stream::iter(&plan.setup)
                .map(|body| deliver(&base, scenario.name(), body, 1))
                .buffer_unordered(SETUP_CONCURRENCY)
                .try_collect::<()>()
                .await?;
            // Item sizes are the same in every run (ids of fixed lengths): the first run's scans
            // give the scenario's storage.
            let stored_before = match run {
                0 => Some(scanner.footprint().await?),
                _ => None,
            };
            let before = proxy.snapshot();
            for (body, new_events) in &plan.measured {
                deliver(&base, scenario.name(), body, *new_events).await?;
            }
            let between = proxy.snapshot();
            if let Some(stored_before) = stored_before {
                storage = Some(scanner.footprint().await?.since(&stored_before));
            }
            for (body, _) in &plan.measured {
                deliver(&base, scenario.name(), body, 0).await?;
            }
            let after = proxy.snapshot();
            first.add(&between.since(&before));
            again.add(&after.since(&between));
            events = plan.events();
            stored_events += plan.setup.len() + events;
        }
        rows.push(Row {
            scenario: scenario.name().to_owned(),
            events,
            runs: args.repeat,
            consumption: first,
            storage,
        });
        rows.push(Row {
            scenario: format!("{}, redelivered", scenario.name()),
            events,
            runs: args.repeat,
            consumption: again,
            storage: None,
        });
    }
    stack.stop().await;
    if let Some((moto, queue)) = &fallback {
        let parked = moto.messages_in(queue).await;
        if parked > 0 {
            return Err(BenchError::Parked(parked));
        }
    }

    let total = proxy.snapshot();
    let refused: BTreeMap<String, u64> = total
        .errors
        .iter()
        .filter(|(kind, _)| {
            [
                "Signature",
                "UnrecognizedClient",
                "MissingAuthenticationToken",
            ]
            .iter()
            .any(|word| kind.contains(word))
        })
        .map(|(kind, count)| (kind.clone(), *count))
        .collect();
    if !refused.is_empty() {
        return Err(BenchError::SignatureChecked(refused));
    }
    if total.unmetered > 0 {
        return Err(BenchError::Unmetered(total.unmetered));
    }
    if total.model_mismatches > 0 {
        return Err(BenchError::ModelMismatch {
            mismatches: total.model_mismatches,
            transactions: total.transactions_recounted,
        });
    }
    let storage = scanner.footprint().await?;
    if storage.event_items == 0 {
        return Err(BenchError::NoEventItems(args.event_attribute.clone()));
    }
    Ok(Report {
        repeat: args.repeat,
        storage,
        stored_events,
        transactions_recounted: total.transactions_recounted,
        // Of the measured deliveries only: the stack's start-up asks for a missing table first.
        errors: rows
            .iter()
            .flat_map(|row| &row.consumption.errors)
            .filter(|(_, count)| **count > 0)
            .fold(BTreeMap::new(), |mut sum, (kind, count)| {
                *sum.entry(kind.clone()).or_default() += count;
                sum
            }),
        rows,
    })
}

/// Posts one delivery and checks that the receiver stored `expected_stored` new events of it.
async fn deliver(
    base: &str,
    scenario: &'static str,
    body: &str,
    expected_stored: usize,
) -> Result<(), BenchError> {
    let (status, answer) = stack::deliver(base, SUB_PRODUCT, Some(WEBHOOK_TOKEN), body).await;
    if status == StatusCode::OK && answer["stored"].as_u64() == Some(expected_stored as u64) {
        Ok(())
    } else {
        Err(BenchError::Delivery {
            scenario,
            status,
            answer,
            expected_stored,
        })
    }
}

#[derive(Clone, Copy)]
enum Scenario {
    LoneStatus,
    FirstReport,
    Life,
    Reply,
    Batch,
}

/// The deliveries of one run of a scenario.
struct Plan {
    /// Sent first and not measured: what the store holds before, as in real traffic.
    setup: Vec<String>,
    /// Measured, in order, each with the events it adds.
    measured: Vec<(String, usize)>,
}

impl Plan {
    fn events(&self) -> usize {
        self.measured.iter().map(|(_, events)| events).sum()
    }
}

impl Scenario {
    const ALL: [Scenario; 5] = [
        Self::LoneStatus,
        Self::FirstReport,
        Self::Life,
        Self::Reply,
        Self::Batch,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::LoneStatus => "delivered, message stored before",
            Self::FirstReport => "sent, message never seen",
            Self::Life => "accepted, sent, delivered, read",
            Self::Reply => "text reply",
            Self::Batch => "100 statuses in one delivery",
        }
    }

    fn plan(self, ids: &mut Ids) -> Plan {
        match self {
            Self::LoneStatus => {
                let (message, key) = (ids.outbound(), ids.key());
                Plan {
                    setup: vec![outbound(ACCEPTED, &message, &key)],
                    measured: vec![(outbound(DELIVERED, &message, &key), 1)],
                }
            }
            Self::FirstReport => Plan {
                setup: Vec::new(),
                measured: vec![(outbound(SENT, &ids.outbound(), &ids.key()), 1)],
            },
            Self::Life => {
                let (message, key) = (ids.outbound(), ids.key());
                Plan {
                    setup: Vec::new(),
                    measured: [ACCEPTED, SENT, DELIVERED, READ]
                        .iter()
                        .map(|fixture| (outbound(fixture, &message, &key), 1))
                        .collect(),
                }
            }
            Self::Reply => Plan {
                setup: Vec::new(),
                measured: vec![(compact(&REPLY.replace(FIXTURE_REPLY, &ids.inbound())), 1)],
            },
            Self::Batch => {
                let messages: Vec<String> = (0..100).map(|_| ids.outbound()).collect();
                Plan {
                    setup: messages
                        .iter()
                        .map(|message| outbound(ACCEPTED, message, &ids.key()))
                        .collect(),
                    measured: vec![(status_batch(&messages), messages.len())],
                }
            }
        }
    }
}

/// A fixture about our message, with its id and tracking key replaced.
fn outbound(fixture: &str, message: &str, key: &str) -> String {
    compact(
        &fixture
            .replace(FIXTURE_MESSAGE, message)
            .replace(FIXTURE_KEY, key),
    )
}

/// One line, as a sender serializes it, not the fixture's pretty print: the receiver stores
/// each event's JSON as it came, whitespace and all.
fn compact(json: &str) -> String {
    serde_json::from_str::<Value>(json)
        .expect("the fixtures are JSON")
        .to_string()
}

/// The `delivered` fixture's status, once for each message, in one Meta envelope; without a
/// tracking key, since Meta batches statuses of several messages (the simulator sends such
/// batches so too).
fn status_batch(messages: &[String]) -> String {
    let mut body: Value = serde_json::from_str(DELIVERED).expect("the fixtures are JSON");
    let value = &mut body["entry"][0]["changes"][0]["value"];
    let status = value["statuses"][0].clone();
    value["statuses"] = messages
        .iter()
        .map(|message| {
            let mut status = status.clone();
            status["id"] = message.as_str().into();
            status
        })
        .collect();
    if let Some(envelope) = body.as_object_mut() {
        envelope.remove("key");
    }
    body.to_string()
}

/// Message ids and tracking keys of the fixtures' shapes and lengths, new each time.
#[derive(Default)]
struct Ids {
    next: u64,
}

impl Ids {
    fn bump(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// As Meta builds ids of messages we send: the recipient's number and a 20-character tail.
    fn outbound(&mut self) -> String {
        let tail = BASE64.encode(format!("3EB0{:016X}\0", self.bump()));
        format!("wamid.HBgMOTA1NTUxMTEyMjMzFQIAERgU{tail}")
    }

    /// A customer's message id.
    fn inbound(&mut self) -> String {
        let tail = BASE64.encode(format!("AC{:018X}\0", self.bump()));
        format!("wamid.HBgMOTA1NTUxMTEyMjMzFQIAEhgU{tail}")
    }

    fn key(&mut self) -> String {
        format!("whatsapp-{:032x}", self.bump())
    }
}

/// One line of the table: a scenario's runs summed.
struct Row {
    scenario: String,
    /// Events one run stores (or, redelivered, sends again).
    events: usize,
    runs: usize,
    consumption: Consumption,
    /// What the first run's measured deliveries added to the table and its indexes; `None` for
    /// a redelivery, which adds nothing.
    storage: Option<Footprint>,
}

impl Row {
    fn per_event(&self, value: f64) -> f64 {
        value / (self.events * self.runs).max(1) as f64
    }

    /// Requests of one run by operation, e.g. `1 TransactWriteItems + 1 UpdateItem`.
    fn operations(&self) -> String {
        let per_run: Vec<String> = self
            .consumption
            .operations
            .iter()
            .filter(|(_, count)| **count > 0)
            .map(|(operation, count)| {
                let mean = *count as f64 / self.runs.max(1) as f64;
                format!("{} {operation}", number(mean))
            })
            .collect();
        if per_run.is_empty() {
            "none".into()
        } else {
            per_run.join(" + ")
        }
    }
}

/// Where events' bytes go, from a scan of the table and of every index: sums, so that two scans
/// taken around a scenario's deliveries give that scenario's share.
#[derive(Clone, Default)]
struct Footprint {
    event_items: usize,
    /// Data bytes of the event items, without the per-item overhead.
    event_item_bytes: usize,
    /// Bytes of each index's entries of event items, overhead included.
    index_bytes: BTreeMap<String, usize>,
    /// Bytes of the other items (status, counters), overhead included.
    other_bytes: usize,
}

impl Footprint {
    /// What was added between `before` and `self`.
    fn since(&self, before: &Footprint) -> Footprint {
        Footprint {
            event_items: self.event_items - before.event_items,
            event_item_bytes: self.event_item_bytes - before.event_item_bytes,
            index_bytes: self
                .index_bytes
                .iter()
                .map(|(index, bytes)| {
                    let earlier = before.index_bytes.get(index).copied().unwrap_or(0);
                    (index.clone(), bytes - earlier)
                })
                .collect(),
            other_bytes: self.other_bytes.saturating_sub(before.other_bytes),
        }
    }

    fn per_event(&self, bytes: usize) -> f64 {
        bytes as f64 / self.event_items.max(1) as f64
    }

    /// An event item with its overhead, as billed, on average.
    fn event_item_billed(&self) -> f64 {
        self.per_event(self.event_item_bytes + STORAGE_OVERHEAD * self.event_items)
    }

    /// An event item and its index entries, as billed, on average.
    fn bytes_per_event(&self) -> f64 {
        self.event_item_billed() + self.per_event(self.index_bytes.values().sum())
    }

    /// Storage per event over the event item alone: the figure the layout aims to keep low.
    fn times_event_item(&self) -> f64 {
        self.bytes_per_event() / self.event_item_billed()
    }

    fn json(&self) -> Value {
        json!({
            "bytes_per_event": self.bytes_per_event(),
            "times_event_item": self.times_event_item(),
            "event_item_data_bytes": self.per_event(self.event_item_bytes),
            "overhead_bytes_per_item": STORAGE_OVERHEAD,
            "index_bytes_per_event": self.index_bytes.iter()
                .map(|(index, bytes)| (index.clone(), json!(self.per_event(*bytes))))
                .collect::<Map<_, _>>(),
            "other_item_bytes_per_event": self.per_event(self.other_bytes),
            "event_items": self.event_items,
        })
    }
}

/// Scans the table and each of its indexes directly (not through the proxy).
struct Scanner {
    addr: SocketAddr,
    table: String,
    table_key: Vec<String>,
    indexes: Vec<String>,
    event_attribute: String,
}

impl Scanner {
    async fn new(addr: SocketAddr, table: &str, event_attribute: &str) -> Result<Self, BenchError> {
        let description = call(addr, "DescribeTable", &json!({"TableName": table})).await?;
        let table_key = description["Table"]["KeySchema"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|key| key["AttributeName"].as_str().map(str::to_owned))
            .collect();
        let indexes = description["Table"]["GlobalSecondaryIndexes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|index| index["IndexName"].as_str().map(str::to_owned))
            .collect();
        Ok(Self {
            addr,
            table: table.to_owned(),
            table_key,
            indexes,
            event_attribute: event_attribute.to_owned(),
        })
    }

    fn key_of(&self, item: &Map<String, Value>) -> String {
        self.table_key
            .iter()
            .map(|name| item.get(name).map(Value::to_string).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("|")
    }

    async fn footprint(&self) -> Result<Footprint, BenchError> {
        let items = scan(self.addr, &self.table, None).await?;
        let (events, others): (Vec<_>, Vec<_>) = items
            .iter()
            .partition(|item| item.contains_key(&self.event_attribute));
        let event_keys: BTreeSet<String> = events.iter().map(|item| self.key_of(item)).collect();
        let billed = |item: &Map<String, Value>| item_size(item) + STORAGE_OVERHEAD;
        let mut index_bytes = BTreeMap::new();
        for index in &self.indexes {
            let entries = scan(self.addr, &self.table, Some(index)).await?;
            let bytes = entries
                .iter()
                .filter(|entry| event_keys.contains(&self.key_of(entry)))
                .map(billed)
                .sum();
            index_bytes.insert(index.clone(), bytes);
        }
        Ok(Footprint {
            event_items: events.len(),
            event_item_bytes: events.iter().map(|item| item_size(item)).sum(),
            index_bytes,
            other_bytes: others.iter().map(|item| billed(item)).sum(),
        })
    }
}

/// Every item of the table, or every entry of one of its indexes.
async fn scan(
    addr: SocketAddr,
    table: &str,
    index: Option<&str>,
) -> Result<Vec<Map<String, Value>>, BenchError> {
    let mut items = Vec::new();
    let mut start = Value::Null;
    loop {
        let mut request = json!({"TableName": table});
        if let Some(index) = index {
            request["IndexName"] = index.into();
        }
        if !start.is_null() {
            request["ExclusiveStartKey"] = start;
        }
        let mut page = call(addr, "Scan", &request).await?;
        if let Value::Array(page_items) = page["Items"].take() {
            items.extend(page_items.into_iter().filter_map(|item| match item {
                Value::Object(item) => Some(item),
                _ => None,
            }));
        }
        start = page["LastEvaluatedKey"].take();
        if start.is_null() {
            return Ok(items);
        }
    }
}

async fn call(
    addr: SocketAddr,
    operation: &'static str,
    request: &Value,
) -> Result<Value, BenchError> {
    let failed = |detail: String| BenchError::Scan { operation, detail };
    let response = dynamodb_local::raw_request(addr, operation, &request.to_string())
        .await
        .map_err(|error| failed(error.to_string()))?;
    if response.status != 200 {
        return Err(failed(format!("{} {}", response.status, response.body)));
    }
    serde_json::from_str(&response.body).map_err(|error| failed(error.to_string()))
}

struct Report {
    repeat: usize,
    rows: Vec<Row>,
    /// Everything stored by the end of the run, setup deliveries included.
    storage: Footprint,
    /// Events the receiver reported stored; should equal the event items scanned.
    stored_events: usize,
    /// Transactions the proxy counted item by item, all in agreement with DynamoDB Local.
    transactions_recounted: u64,
    /// Error responses other than failed conditions, over the whole run.
    errors: BTreeMap<String, u64>,
}

impl Report {
    /// Every index any request wrote or read, for the columns.
    fn indexes(&self) -> BTreeSet<&str> {
        self.rows
            .iter()
            .flat_map(|row| row.consumption.index_writes.keys().map(String::as_str))
            .chain(self.storage.index_bytes.keys().map(String::as_str))
            .collect()
    }

    fn markdown(&self) -> String {
        let indexes = self.indexes();
        let mut out = String::new();
        let index_heads: String = indexes.iter().map(|i| format!(" {i} |")).collect();
        out.push_str(&format!(
            "| scenario | events | WU/event | table |{index_heads} failed conditional | RU/event | requests/event | requests per run |\n"
        ));
        out.push_str(&format!(
            "|---|---:|---:|---:|{}---:|---:|---:|---|\n",
            "---:|".repeat(indexes.len())
        ));
        for row in &self.rows {
            let c = &row.consumption;
            let index_cells: String = indexes
                .iter()
                .map(|i| {
                    format!(
                        " {} |",
                        number(row.per_event(c.index_writes.get(*i).copied().unwrap_or(0.0)))
                    )
                })
                .collect();
            out.push_str(&format!(
                "| {} | {} | {} | {} |{index_cells} {} | {} | {} | {} |\n",
                row.scenario,
                row.events,
                number(row.per_event(c.write_units())),
                number(row.per_event(c.table_writes)),
                number(row.per_event(c.failed_conditional as f64)),
                number(row.per_event(c.reads)),
                number(row.per_event(c.requests as f64)),
                row.operations(),
            ));
        }
        out.push_str(&format!(
            "\n{} runs of each scenario; units per event are means over all runs.",
            self.repeat
        ));
        if self.transactions_recounted > 0 {
            out.push_str(&format!(
                " {} transactions were counted item by item, each agreeing with DynamoDB Local's \
                 own figures once de-duplicated as it does.",
                self.transactions_recounted
            ));
        }
        out.push_str("\n\n");
        out.push_str(&format!(
            "| storage, bytes per event (each item and entry with its {STORAGE_OVERHEAD} bytes of overhead) | × event item | event item |{index_heads} other items |\n"
        ));
        out.push_str(&format!(
            "|---|---:|---:|{}---:|\n",
            "---:|".repeat(indexes.len())
        ));
        let measured = self
            .rows
            .iter()
            .filter_map(|row| Some((row.scenario.as_str(), row.storage.as_ref()?)));
        let whole = format!(
            "the whole run, setup deliveries included ({} event items, {} events stored)",
            self.storage.event_items, self.stored_events
        );
        for (label, footprint) in measured.chain([(whole.as_str(), &self.storage)]) {
            let index_cells: String = indexes
                .iter()
                .map(|i| {
                    let bytes = footprint.index_bytes.get(*i).copied().unwrap_or(0);
                    format!(" {} |", number(footprint.per_event(bytes)))
                })
                .collect();
            out.push_str(&format!(
                "| {label} | {} | {} |{index_cells} {} |\n",
                number(footprint.times_event_item()),
                number(footprint.event_item_billed()),
                number(footprint.per_event(footprint.other_bytes)),
            ));
        }
        if !self.errors.is_empty() {
            out.push_str(&format!(
                "error responses besides failed conditions: {:?}\n",
                self.errors
            ));
        }
        out
    }

    fn json(&self) -> Value {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                let c = &row.consumption;
                json!({
                    "scenario": row.scenario,
                    "events_per_run": row.events,
                    "runs": row.runs,
                    "write_units_per_event": row.per_event(c.write_units()),
                    "table_write_units_per_event": row.per_event(c.table_writes),
                    "index_write_units_per_event": c.index_writes.iter()
                        .map(|(i, units)| (i.clone(), json!(row.per_event(*units))))
                        .collect::<Map<_, _>>(),
                    "failed_conditional_per_event": row.per_event(c.failed_conditional as f64),
                    "read_units_per_event": row.per_event(c.reads),
                    "requests_per_event": row.per_event(c.requests as f64),
                    "requests_per_run": c.operations.iter()
                        .filter(|(_, count)| **count > 0)
                        .map(|(op, count)| (op.clone(), json!(*count as f64 / row.runs.max(1) as f64)))
                        .collect::<Map<_, _>>(),
                    "storage": row.storage.as_ref().map(Footprint::json),
                })
            })
            .collect();
        json!({
            "repeat": self.repeat,
            "scenarios": rows,
            "storage": self.storage.json(),
            "stored_events": self.stored_events,
            "transactions_recounted": self.transactions_recounted,
            "errors": self.errors,
        })
    }
}

/// At most two decimals, trailing zeros dropped: `11`, `7.02`, `0.5`.
fn number(value: f64) -> String {
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}
