//! A recording HTTP proxy between a DynamoDB client and DynamoDB Local that meters what every
//! request costs, as DynamoDB itself reports it.
//!
//! It speaks DynamoDB's JSON 1.0 protocol (`X-Amz-Target: DynamoDB_20120810.<Operation>`, a
//! JSON body) and knows nothing of the table layout: to every data-plane request it adds
//! `"ReturnConsumedCapacity": "INDEXES"`, and from every response it adds up the
//! `ConsumedCapacity` (one object, or a list for batches and transactions), per table and per
//! global secondary index by name. The client's SigV4 signature no longer matches the changed
//! body; DynamoDB Local does not check signatures, and [`Consumption::errors`] would show an
//! `InvalidSignatureException` should a release start to.
//!
//! DynamoDB Local reports nothing for a conditional write that fails, where AWS bills at least
//! one write unit; [`Consumption::failed_conditional`] counts those items (a
//! `ConditionalCheckFailedException`, or each `ConditionalCheckFailed` reason of a cancelled
//! transaction) so that a benchmark can bill them.
//!
//! DynamoDB Local (3.3.0) also undercounts a `TransactWriteItems` of several items: it adds up
//! the items' capacities as a set, so items that cost exactly the same (same units in the table
//! and in the same indexes) count once; 99 event puts and a counter update report what one put
//! and one update cost. The proxy therefore counts each item of a transaction that succeeded
//! itself, from the item before (read just before forwarding) and after (the put's item, or read
//! back after an update), DynamoDB's size rule and the indexes `DescribeTable` lists, at twice
//! the units, as AWS bills transactions. It then checks its figures against DynamoDB Local's
//! own: de-duplicated the same way, they must be equal, or [`Consumption::model_mismatches`]
//! counts the transaction.
//!
//! Like [`crate::fault_proxy::FaultProxy`] it runs its own tokio runtime on its own thread.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The operations that take `ReturnConsumedCapacity`; others (`CreateTable`, `DescribeTable`,
/// ...) are passed on untouched, as AWS would refuse the parameter there.
const METERED: [&str; 13] = [
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactGetItems",
    "TransactWriteItems",
    "ExecuteStatement",
    "BatchExecuteStatement",
    "ExecuteTransaction",
];

/// Operations whose units are writes when the response does not say (DynamoDB Local reports
/// only `CapacityUnits`; AWS adds `ReadCapacityUnits`/`WriteCapacityUnits`).
const WRITES: [&str; 5] = [
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
];

/// What the requests through the proxy consumed, summed since it started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Consumption {
    /// Requests forwarded, of every operation.
    pub requests: u64,
    /// Requests per operation name (`PutItem`, ...).
    pub operations: BTreeMap<String, u64>,
    /// Write units of the tables themselves.
    pub table_writes: f64,
    /// Write units per global secondary index name.
    pub index_writes: BTreeMap<String, f64>,
    /// Items whose condition failed: 0 units in DynamoDB Local, at least 1 in AWS.
    pub failed_conditional: u64,
    /// Read units, tables and indexes together.
    pub reads: f64,
    /// Error responses by exception name, conditional failures excepted; `proxy:...` when the
    /// proxy itself failed to reach DynamoDB.
    pub errors: BTreeMap<String, u64>,
    /// Successful metered requests whose response carried no `ConsumedCapacity`: the
    /// parameter was not honoured, and the figures undercount.
    pub unmetered: u64,
    /// Transactions counted item by item (see the module's documentation).
    pub transactions_recounted: u64,
    /// Of those, the ones where the item-by-item figures, de-duplicated as DynamoDB Local does,
    /// differ from what it reported: the item model is wrong somewhere.
    pub model_mismatches: u64,
}

impl Consumption {
    /// All write units: tables, indexes, and each failed conditional item at 1.
    pub fn write_units(&self) -> f64 {
        self.table_writes + self.index_writes.values().sum::<f64>() + self.failed_conditional as f64
    }

    /// What was consumed between `earlier` (a snapshot of the same proxy) and `self`.
    pub fn since(&self, earlier: &Consumption) -> Consumption {
        fn minus<T: Copy + Default + std::ops::Sub<Output = T>>(
            now: &BTreeMap<String, T>,
            then: &BTreeMap<String, T>,
        ) -> BTreeMap<String, T> {
            now.iter()
                .map(|(k, v)| (k.clone(), *v - then.get(k).copied().unwrap_or_default()))
                .collect()
        }
        Consumption {
            requests: self.requests - earlier.requests,
            operations: minus(&self.operations, &earlier.operations),
            table_writes: self.table_writes - earlier.table_writes,
            index_writes: minus(&self.index_writes, &earlier.index_writes),
            failed_conditional: self.failed_conditional - earlier.failed_conditional,
            reads: self.reads - earlier.reads,
            errors: minus(&self.errors, &earlier.errors),
            unmetered: self.unmetered - earlier.unmetered,
            transactions_recounted: self.transactions_recounted - earlier.transactions_recounted,
            model_mismatches: self.model_mismatches - earlier.model_mismatches,
        }
    }

    /// Adds `other` to this sum.
    pub fn add(&mut self, other: &Consumption) {
        fn plus<T: Copy + std::ops::AddAssign + Default>(
            sum: &mut BTreeMap<String, T>,
            other: &BTreeMap<String, T>,
        ) {
            for (k, v) in other {
                *sum.entry(k.clone()).or_default() += *v;
            }
        }
        self.requests += other.requests;
        plus(&mut self.operations, &other.operations);
        self.table_writes += other.table_writes;
        plus(&mut self.index_writes, &other.index_writes);
        self.failed_conditional += other.failed_conditional;
        self.reads += other.reads;
        plus(&mut self.errors, &other.errors);
        self.unmetered += other.unmetered;
        self.transactions_recounted += other.transactions_recounted;
        self.model_mismatches += other.model_mismatches;
    }

    /// Counts a successful `TransactWriteItems` from its items' own capacities instead of the
    /// response's sum, and checks them against that sum (see the module's documentation).
    fn record_transaction(&mut self, items: &[ItemCapacity], body: &[u8]) {
        self.requests += 1;
        *self
            .operations
            .entry("TransactWriteItems".to_owned())
            .or_default() += 1;
        self.transactions_recounted += 1;
        for item in items {
            self.table_writes += item.table_units as f64;
            for (index, units) in &item.indexes {
                *self.index_writes.entry(index.clone()).or_default() += *units as f64;
            }
        }
        let mut reported = Consumption::default();
        reported.record("TransactWriteItems", 200, body);
        let mut expected = Consumption::default();
        for item in items.iter().collect::<BTreeSet<_>>() {
            expected.table_writes += item.table_units as f64;
            for (index, units) in &item.indexes {
                *expected.index_writes.entry(index.clone()).or_default() += *units as f64;
            }
        }
        let nonzero = |c: &Consumption| -> BTreeMap<String, f64> {
            c.index_writes
                .iter()
                .filter(|(_, units)| **units != 0.0)
                .map(|(index, units)| (index.clone(), *units))
                .collect()
        };
        if reported.table_writes != expected.table_writes
            || nonzero(&reported) != nonzero(&expected)
        {
            self.model_mismatches += 1;
        }
    }

    /// Counts one exchange: the operation, the response's status and body.
    pub fn record(&mut self, operation: &str, status: u16, body: &[u8]) {
        self.requests += 1;
        *self.operations.entry(operation.to_owned()).or_default() += 1;
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if status >= 400 {
            self.record_error(&body);
            return;
        }
        if !METERED.contains(&operation) {
            return;
        }
        let entries = match &body["ConsumedCapacity"] {
            Value::Array(entries) => entries.iter().collect(),
            Value::Null => {
                self.unmetered += 1;
                return;
            }
            entry => vec![entry],
        };
        let writes = WRITES.contains(&operation);
        for entry in entries {
            let table = &entry["Table"];
            if table.is_object() {
                self.add_units(None, table, writes);
            } else {
                // Without a breakdown the whole is the table's.
                self.add_units(None, entry, writes);
            }
            if let Some(indexes) = entry["GlobalSecondaryIndexes"].as_object() {
                for (name, units) in indexes {
                    self.add_units(Some(name), units, writes);
                }
            }
            // Local secondary indexes share the table's partition and its bill.
            if let Some(indexes) = entry["LocalSecondaryIndexes"].as_object() {
                for units in indexes.values() {
                    self.add_units(None, units, writes);
                }
            }
        }
    }

    /// Units of one `Capacity` object: its explicit read and write units when given, else its
    /// `CapacityUnits`, taken as writes or reads by the operation.
    fn add_units(&mut self, index: Option<&str>, capacity: &Value, writes: bool) {
        let (read, write) = match (
            capacity["ReadCapacityUnits"].as_f64(),
            capacity["WriteCapacityUnits"].as_f64(),
        ) {
            (None, None) => {
                let units = capacity["CapacityUnits"].as_f64().unwrap_or(0.0);
                if writes { (0.0, units) } else { (units, 0.0) }
            }
            (read, write) => (read.unwrap_or(0.0), write.unwrap_or(0.0)),
        };
        self.reads += read;
        match index {
            // Entered even at 0 (an index read), so every index gets its column.
            Some(name) => *self.index_writes.entry(name.to_owned()).or_default() += write,
            None => self.table_writes += write,
        }
    }

    fn record_error(&mut self, body: &Value) {
        // `com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException` -> the name.
        let kind = body["__type"]
            .as_str()
            .map(|t| t.rsplit('#').next().unwrap_or(t))
            .unwrap_or("unreadable error response");
        match kind {
            "ConditionalCheckFailedException" => self.failed_conditional += 1,
            "TransactionCanceledException" => {
                let reasons = body["CancellationReasons"].as_array();
                let failed = reasons
                    .into_iter()
                    .flatten()
                    .filter(|r| r["Code"] == "ConditionalCheckFailed")
                    .count() as u64;
                self.failed_conditional += failed;
                let others = reasons
                    .into_iter()
                    .flatten()
                    .filter(|r| r["Code"] != "ConditionalCheckFailed" && r["Code"] != "None")
                    .count();
                // A cancellation for anything but failed conditions (a conflict, throttling)
                // is worth seeing.
                if failed == 0 || others > 0 {
                    *self.errors.entry(kind.to_owned()).or_default() += 1;
                }
            }
            other => *self.errors.entry(other.to_owned()).or_default() += 1,
        }
    }
}

/// A proxy on a loopback port in front of DynamoDB Local at `upstream`; it stops when dropped.
pub struct CapacityProxy {
    addr: SocketAddr,
    consumption: Arc<Mutex<Consumption>>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl CapacityProxy {
    /// Starts forwarding to `upstream`. With `trace`, every exchange is printed on stderr
    /// (operation, status, what it consumed). Panics if it cannot start.
    pub fn start(upstream: SocketAddr, trace: bool) -> CapacityProxy {
        // Bound here rather than on the proxy's thread so the address is known on return.
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .expect("cannot bind a loopback port for the capacity proxy");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        listener
            .set_nonblocking(true)
            .expect("cannot make the capacity proxy's listener non-blocking");
        let consumption = Arc::new(Mutex::new(Consumption::default()));
        let forwarder = Arc::new(Forwarder {
            upstream_addr: upstream,
            schemas: Mutex::default(),
            upstream: format!("http://{upstream}"),
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("cannot build the capacity proxy's HTTP client"),
            consumption: consumption.clone(),
            trace,
        });
        let (shutdown, shutdown_rx) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("cannot build the capacity proxy's runtime");
        let thread = std::thread::Builder::new()
            .name(format!("capacity-proxy-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = TcpListener::from_std(listener)
                        .expect("cannot register the capacity proxy's listener");
                    tokio::select! {
                        _ = shutdown_rx => {}
                        () = accept_loop(listener, forwarder) => {}
                    }
                });
            })
            .expect("cannot spawn the capacity proxy's thread");
        CapacityProxy {
            addr,
            consumption,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, the endpoint to give the DynamoDB client.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What every request so far consumed; subtract two snapshots with [`Consumption::since`].
    pub fn snapshot(&self) -> Consumption {
        self.consumption
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for CapacityProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Forwarder {
    upstream_addr: SocketAddr,
    /// Tables' keys and indexes, for counting transactions item by item.
    schemas: Mutex<HashMap<String, Arc<TableSchema>>>,
    upstream: String,
    client: reqwest::Client,
    consumption: Arc<Mutex<Consumption>>,
    trace: bool,
}

async fn accept_loop(listener: TcpListener, forwarder: Arc<Forwarder>) {
    loop {
        // Accept errors (such as running out of file descriptors) are transient.
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let forwarder = forwarder.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let forwarder = forwarder.clone();
                async move { Ok::<_, Infallible>(forwarder.exchange(request).await) }
            });
            // A client that hangs up mid-request is its own business.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(client), service)
                .await;
        });
    }
}

/// Hop-by-hop headers, and the length the changed body no longer has.
const NOT_FORWARDED: [&str; 5] = [
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "keep-alive",
];

impl Forwarder {
    async fn exchange(&self, request: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let operation = parts
            .headers
            .get("x-amz-target")
            .and_then(|target| target.to_str().ok())
            .and_then(|target| target.rsplit_once('.'))
            .map_or("unknown", |(_, operation)| operation)
            .to_owned();
        let body = match body.collect().await {
            Ok(body) => body.to_bytes(),
            Err(error) => return self.failure(&operation, "request body", &error),
        };
        let transaction = if operation == "TransactWriteItems" {
            self.prepare_transaction(&body).await
        } else {
            None
        };
        let body = if METERED.contains(&operation.as_str()) {
            with_consumed_capacity(body)
        } else {
            body
        };
        let mut upstream = self.client.request(
            parts.method,
            format!(
                "{}{}",
                self.upstream,
                parts.uri.path_and_query().map_or("/", |p| p.as_str())
            ),
        );
        for (name, value) in &parts.headers {
            if !NOT_FORWARDED.contains(&name.as_str()) {
                upstream = upstream.header(name, value);
            }
        }
        let response = match upstream.body(body).send().await {
            Ok(response) => response,
            Err(error) => return self.failure(&operation, "upstream", &error),
        };
        let status = response.status();
        let headers = response.headers().clone();
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(error) => return self.failure(&operation, "upstream body", &error),
        };
        if self.trace {
            eprintln!(
                "capacity-proxy: {operation} {status} {}",
                consumed_of(&body)
            );
        }
        let recounted = match transaction {
            Some(transaction) if status.is_success() => self.recount(transaction).await,
            _ => None,
        };
        let mut consumption = self
            .consumption
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match recounted {
            Some(items) => {
                consumption.record_transaction(&items, &body);
                if self.trace {
                    eprintln!("capacity-proxy: TransactWriteItems recounted as {items:?}");
                }
            }
            None => consumption.record(&operation, status.as_u16(), &body),
        }
        drop(consumption);
        let mut answer = hyper::Response::new(Full::new(body));
        *answer.status_mut() = status;
        for (name, value) in &headers {
            if !NOT_FORWARDED.contains(&name.as_str()) {
                answer.headers_mut().append(name, value.clone());
            }
        }
        answer
    }

    /// Counts the failure and answers 502, which the SDK retries like any server error.
    fn failure(
        &self,
        operation: &str,
        stage: &str,
        error: &dyn std::fmt::Display,
    ) -> hyper::Response<Full<Bytes>> {
        if self.trace {
            eprintln!("capacity-proxy: {operation} failed at the {stage}: {error}");
        }
        let mut consumption = self
            .consumption
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        consumption.requests += 1;
        *consumption
            .errors
            .entry(format!("proxy: {stage}"))
            .or_default() += 1;
        let mut answer = hyper::Response::new(Full::new(Bytes::from(error.to_string())));
        *answer.status_mut() = http::StatusCode::BAD_GATEWAY;
        answer
    }
}

impl Forwarder {
    /// The items of a `TransactWriteItems` request with their state before it, read directly
    /// from DynamoDB Local (unmetered); `None` when something cannot be read, and the
    /// transaction is then counted as DynamoDB Local reports it.
    async fn prepare_transaction(&self, body: &[u8]) -> Option<Transaction> {
        let request: Value = serde_json::from_slice(body).ok()?;
        let mut items = Vec::new();
        for entry in request["TransactItems"].as_array()? {
            let (kind, action) = entry.as_object()?.iter().next()?;
            let table = action["TableName"].as_str()?.to_owned();
            let schema = self.schema(&table).await?;
            let (kind, key, put) = match kind.as_str() {
                "Put" => {
                    let item = action["Item"].as_object()?.clone();
                    let key = schema
                        .key
                        .iter()
                        .map(|name| Some((name.clone(), item.get(name)?.clone())))
                        .collect::<Option<Map<_, _>>>()?;
                    (Kind::Put, key, Some(item))
                }
                "Update" => (Kind::Update, action["Key"].as_object()?.clone(), None),
                "Delete" => (Kind::Delete, action["Key"].as_object()?.clone(), None),
                "ConditionCheck" => (
                    Kind::ConditionCheck,
                    action["Key"].as_object()?.clone(),
                    None,
                ),
                _ => return None,
            };
            let before = self.get_item(&table, &key).await?;
            items.push(TransactionItem {
                table,
                schema,
                key,
                kind,
                put,
                before,
            });
        }
        Some(Transaction { items })
    }

    /// Each item's capacity, from its state before and after the transaction.
    async fn recount(&self, transaction: Transaction) -> Option<Vec<ItemCapacity>> {
        let mut capacities = Vec::new();
        for item in transaction.items {
            let after = match item.kind {
                Kind::Put => item.put.clone(),
                Kind::Update => self.get_item(&item.table, &item.key).await?,
                Kind::Delete => None,
                Kind::ConditionCheck => item.before.clone(),
            };
            capacities.push(item.capacity(after.as_ref()));
        }
        Some(capacities)
    }

    async fn schema(&self, table: &str) -> Option<Arc<TableSchema>> {
        if let Some(schema) = self
            .schemas
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(table)
        {
            return Some(schema.clone());
        }
        let description = self
            .direct("DescribeTable", &serde_json::json!({"TableName": table}))
            .await?;
        let schema = Arc::new(TableSchema::from_description(&description["Table"])?);
        self.schemas
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(table.to_owned(), schema.clone());
        Some(schema)
    }

    /// The item as it is now, strongly consistent; `None` when the read fails.
    async fn get_item(
        &self,
        table: &str,
        key: &Map<String, Value>,
    ) -> Option<Option<Map<String, Value>>> {
        let answer = self
            .direct(
                "GetItem",
                &serde_json::json!({"TableName": table, "Key": key, "ConsistentRead": true}),
            )
            .await?;
        Some(answer["Item"].as_object().cloned())
    }

    /// A request straight to DynamoDB Local, past the meter.
    async fn direct(&self, operation: &str, request: &Value) -> Option<Value> {
        let response =
            crate::dynamodb_local::raw_request(self.upstream_addr, operation, &request.to_string())
                .await
                .ok()?;
        if response.status != 200 {
            return None;
        }
        serde_json::from_str(&response.body).ok()
    }
}

/// A `TransactWriteItems` about to be forwarded.
struct Transaction {
    items: Vec<TransactionItem>,
}

struct TransactionItem {
    table: String,
    schema: Arc<TableSchema>,
    key: Map<String, Value>,
    kind: Kind,
    /// The item a `Put` writes.
    put: Option<Map<String, Value>>,
    before: Option<Map<String, Value>>,
}

enum Kind {
    Put,
    Update,
    Delete,
    ConditionCheck,
}

/// What one item of a transaction costs, in write units.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ItemCapacity {
    table: String,
    table_units: u64,
    /// Indexes written, with their units (indexes left alone are absent).
    indexes: BTreeMap<String, u64>,
}

/// A transaction writes every item twice (prepare and commit), and AWS bills it so.
const TRANSACTIONAL: u64 = 2;

impl TransactionItem {
    /// AWS's rule: the larger of the item before and after, per started KB; in each index,
    /// the entry written (both the old and the new one when the index key changes), nothing
    /// when the entry stays the same.
    fn capacity(&self, after: Option<&Map<String, Value>>) -> ItemCapacity {
        let before = self.before.as_ref();
        let size = |item: Option<&Map<String, Value>>| item.map_or(0, item_size);
        let indexes = self
            .schema
            .indexes
            .iter()
            .filter_map(|index| {
                let old = before.and_then(|item| index.entry(item, &self.schema.key));
                let new = after.and_then(|item| index.entry(item, &self.schema.key));
                let units = match (&old, &new) {
                    (None, None) => 0,
                    (Some(old), Some(new)) if old == new => 0,
                    (Some(old), Some(new))
                        if index.key.iter().any(|k| old.get(k) != new.get(k)) =>
                    {
                        units(item_size(old)) + units(item_size(new))
                    }
                    (Some(old), Some(new)) => units(item_size(old).max(item_size(new))),
                    (Some(entry), None) | (None, Some(entry)) => units(item_size(entry)),
                };
                (units > 0).then(|| (index.name.clone(), TRANSACTIONAL * units))
            })
            .collect();
        ItemCapacity {
            table: self.table.clone(),
            table_units: TRANSACTIONAL * units(size(before).max(size(after))),
            indexes,
        }
    }
}

/// Write units of `bytes`: one per started KB, at least one.
fn units(bytes: usize) -> u64 {
    bytes.div_ceil(1024).max(1) as u64
}

/// A table's key attributes and global secondary indexes.
struct TableSchema {
    key: Vec<String>,
    indexes: Vec<IndexSchema>,
}

struct IndexSchema {
    name: String,
    key: Vec<String>,
    /// `None`: every attribute (`ALL`); else the non-key attributes it holds.
    projected: Option<Vec<String>>,
}

impl TableSchema {
    /// From `DescribeTable`'s `Table`.
    fn from_description(table: &Value) -> Option<TableSchema> {
        let names = |schema: &Value| -> Option<Vec<String>> {
            schema
                .as_array()?
                .iter()
                .map(|key| key["AttributeName"].as_str().map(str::to_owned))
                .collect()
        };
        let indexes = table["GlobalSecondaryIndexes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|index| {
                let projection = &index["Projection"];
                Some(IndexSchema {
                    name: index["IndexName"].as_str()?.to_owned(),
                    key: names(&index["KeySchema"])?,
                    projected: match projection["ProjectionType"].as_str()? {
                        "ALL" => None,
                        _ => Some(
                            projection["NonKeyAttributes"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(|name| name.as_str().map(str::to_owned))
                                .collect(),
                        ),
                    },
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(TableSchema {
            key: names(&table["KeySchema"])?,
            indexes,
        })
    }
}

impl IndexSchema {
    /// The entry `item` has in this index: none without the index's key attributes.
    fn entry(&self, item: &Map<String, Value>, table_key: &[String]) -> Option<Map<String, Value>> {
        if !self.key.iter().all(|name| item.contains_key(name)) {
            return None;
        }
        Some(match &self.projected {
            None => item.clone(),
            Some(attributes) => item
                .iter()
                .filter(|(name, _)| {
                    table_key.contains(name) || self.key.contains(name) || attributes.contains(name)
                })
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
        })
    }
}

/// The body with `ReturnConsumedCapacity` set to `INDEXES` (replacing what the client asked
/// for: `TOTAL` is a part of it); a body that is no JSON object goes on unchanged, and
/// DynamoDB answers it as it would have.
fn with_consumed_capacity(body: Bytes) -> Bytes {
    match serde_json::from_slice::<Map<String, Value>>(&body) {
        Ok(mut request) => {
            request.insert("ReturnConsumedCapacity".into(), "INDEXES".into());
            Bytes::from(serde_json::to_vec(&request).expect("a JSON map serializes"))
        }
        Err(_) => body,
    }
}

/// The `ConsumedCapacity` of a response, or its error type, for tracing.
fn consumed_of(body: &[u8]) -> String {
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match (&body["ConsumedCapacity"], &body["__type"]) {
        (Value::Null, Value::Null) => "-".into(),
        (Value::Null, kind) => {
            let reasons = &body["CancellationReasons"];
            if reasons.is_null() {
                kind.to_string()
            } else {
                format!("{kind} {reasons}")
            }
        }
        (consumed, _) => consumed.to_string(),
    }
}

/// The size DynamoDB bills for an item in its JSON wire form (`{"name": {"S": "..."}, ...}`):
/// the UTF-8 length of every attribute name plus the size of its value. Strings count their
/// UTF-8 bytes, binaries their bytes, numbers 1 byte per two significant digits plus 1,
/// booleans and nulls 1; sets sum their elements; lists and maps take 3 bytes plus 1 per
/// element besides the elements (and a map's names). Storage overhead per item is not included.
pub fn item_size(item: &Map<String, Value>) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn value_size(value: &Value) -> usize {
    let Some((kind, inner)) = value.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    let strings = || {
        inner
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
    };
    match kind.as_str() {
        "S" => inner.as_str().map_or(0, str::len),
        "N" => inner.as_str().map_or(0, number_size),
        "B" => inner.as_str().map_or(0, base64_len),
        "BOOL" | "NULL" => 1,
        "SS" => strings().map(str::len).sum(),
        "NS" => strings().map(number_size).sum(),
        "BS" => strings().map(base64_len).sum(),
        "L" => {
            3 + inner
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| 1 + value_size(v))
                .sum::<usize>()
        }
        "M" => 3 + inner.as_object().map_or(0, |m| item_size(m) + m.len()),
        _ => 0,
    }
}

/// 1 byte per two significant digits (leading and trailing zeros trimmed), plus 1.
fn number_size(number: &str) -> usize {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let mantissa = match number.find(['e', 'E']) {
        // The exponent's digits are no part of the number's precision.
        Some(e) => number[..e].chars().filter(char::is_ascii_digit).count(),
        None => digits.len(),
    };
    let significant = digits[..mantissa].trim_matches('0').len().max(1);
    significant.div_ceil(2) + 1
}

/// The bytes a base64 text stands for.
fn base64_len(text: &str) -> usize {
    let text = text.trim_end_matches('=');
    text.len() * 3 / 4
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(operation: &str, status: u16, body: Value) -> Consumption {
        let mut consumption = Consumption::default();
        consumption.record(operation, status, body.to_string().as_bytes());
        consumption
    }

    #[test]
    fn a_transaction_s_list_is_split_by_table_and_index() {
        // As DynamoDB Local 3.3 answers a transactional put and a counter update.
        let c = record(
            "TransactWriteItems",
            200,
            json!({"ConsumedCapacity": [{"TableName": "t", "CapacityUnits": 8.0,
                "Table": {"CapacityUnits": 4.0},
                "GlobalSecondaryIndexes": {"GSI2": {"CapacityUnits": 2.0}, "GSI1": {"CapacityUnits": 2.0}}}]}),
        );
        assert_eq!(c.table_writes, 4.0);
        assert_eq!(c.index_writes["GSI1"], 2.0);
        assert_eq!(c.index_writes["GSI2"], 2.0);
        assert_eq!(c.write_units(), 8.0);
        assert_eq!(c.reads, 0.0);
    }

    #[test]
    fn explicit_read_and_write_units_win_over_the_operation() {
        let c = record(
            "ExecuteStatement",
            200,
            json!({"ConsumedCapacity": {"TableName": "t", "CapacityUnits": 1.0,
                "Table": {"CapacityUnits": 1.0, "WriteCapacityUnits": 1.0}}}),
        );
        assert_eq!((c.table_writes, c.reads), (1.0, 0.0));
        let q = record(
            "Query",
            200,
            json!({"ConsumedCapacity": {"TableName": "t", "CapacityUnits": 0.5,
                "Table": {"CapacityUnits": 0.0}, "GlobalSecondaryIndexes": {"GSI1": {"CapacityUnits": 0.5}}}}),
        );
        assert_eq!((q.reads, q.write_units()), (0.5, 0.0));
    }

    #[test]
    fn failed_conditions_count_one_per_item() {
        let single = record(
            "PutItem",
            400,
            json!({"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"}),
        );
        assert_eq!((single.failed_conditional, single.write_units()), (1, 1.0));
        assert!(single.errors.is_empty());
        let cancelled = record(
            "TransactWriteItems",
            400,
            json!({"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                "CancellationReasons": [{"Code": "ConditionalCheckFailed"}, {"Code": "None"},
                                        {"Code": "ConditionalCheckFailed"}]}),
        );
        assert_eq!(cancelled.failed_conditional, 2);
        assert!(cancelled.errors.is_empty());
        let conflict = record(
            "TransactWriteItems",
            400,
            json!({"__type": "x#TransactionCanceledException",
                "CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}]}),
        );
        assert_eq!(conflict.errors["TransactionCanceledException"], 1);
    }

    #[test]
    fn a_response_without_consumed_capacity_is_flagged() {
        assert_eq!(record("PutItem", 200, json!({})).unmetered, 1);
        assert_eq!(record("DescribeTable", 200, json!({})).unmetered, 0);
    }

    #[test]
    fn snapshots_subtract() {
        let mut before = record(
            "PutItem",
            200,
            json!({"ConsumedCapacity": {"CapacityUnits": 2.0, "Table": {"CapacityUnits": 1.0},
                "GlobalSecondaryIndexes": {"GSI1": {"CapacityUnits": 1.0}}}}),
        );
        let snapshot = before.clone();
        before.record(
            "UpdateItem",
            200,
            br#"{"ConsumedCapacity": {"CapacityUnits": 1.0, "Table": {"CapacityUnits": 1.0}}}"#,
        );
        let delta = before.since(&snapshot);
        assert_eq!(delta.requests, 1);
        assert_eq!(delta.operations["UpdateItem"], 1);
        assert_eq!(delta.operations["PutItem"], 0);
        assert_eq!(delta.write_units(), 1.0);
    }

    #[test]
    fn the_parameter_is_added_or_replaced() {
        let body = with_consumed_capacity(Bytes::from_static(
            br#"{"TableName":"t","ReturnConsumedCapacity":"TOTAL"}"#,
        ));
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["ReturnConsumedCapacity"], "INDEXES");
        assert_eq!(body["TableName"], "t");
    }

    fn schema() -> Arc<TableSchema> {
        let description = json!({
            "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            "GlobalSecondaryIndexes": [
                {"IndexName": "ALL", "KeySchema": [{"AttributeName": "A", "KeyType": "HASH"}],
                 "Projection": {"ProjectionType": "ALL"}},
                {"IndexName": "KEYS", "KeySchema": [{"AttributeName": "K", "KeyType": "HASH"}],
                 "Projection": {"ProjectionType": "KEYS_ONLY"}},
            ],
        });
        Arc::new(TableSchema::from_description(&description).unwrap())
    }

    fn item(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn transaction_item(kind: Kind, before: Option<Value>) -> TransactionItem {
        TransactionItem {
            table: "t".into(),
            schema: schema(),
            key: item(json!({"PK": {"S": "p"}, "SK": {"S": "s"}})),
            kind,
            put: None,
            before: before.map(item),
        }
    }

    #[test]
    fn a_transactional_put_costs_twice_in_the_table_and_each_index_it_enters() {
        let new = item(json!({"PK": {"S": "p"}, "SK": {"S": "s"}, "A": {"S": "a"},
                              "raw": {"S": "x".repeat(1500)}}));
        let capacity = transaction_item(Kind::Put, None).capacity(Some(&new));
        assert_eq!(capacity.table_units, 4);
        assert_eq!(capacity.indexes, BTreeMap::from([("ALL".to_owned(), 4)]));
    }

    #[test]
    fn an_update_writes_an_index_only_when_its_entry_changes() {
        let before = json!({"PK": {"S": "p"}, "SK": {"S": "s"}, "K": {"S": "k"}, "n": {"N": "1"}});
        let after =
            item(json!({"PK": {"S": "p"}, "SK": {"S": "s"}, "K": {"S": "k"}, "n": {"N": "2"}}));
        let capacity = transaction_item(Kind::Update, Some(before)).capacity(Some(&after));
        assert_eq!(capacity.table_units, 2);
        assert!(capacity.indexes.is_empty(), "{capacity:?}");
        // A new index key: the old entry is deleted and the new one written.
        let before = json!({"PK": {"S": "p"}, "SK": {"S": "s"}, "A": {"S": "1"}});
        let after = item(json!({"PK": {"S": "p"}, "SK": {"S": "s"}, "A": {"S": "2"}}));
        let capacity = transaction_item(Kind::Update, Some(before)).capacity(Some(&after));
        assert_eq!(capacity.indexes["ALL"], 4);
    }

    #[test]
    fn a_recounted_transaction_agrees_with_dynamodb_local_s_set_sum() {
        let put = ItemCapacity {
            table: "t".into(),
            table_units: 2,
            indexes: BTreeMap::from([("GSI2".to_owned(), 2)]),
        };
        let counter = ItemCapacity {
            table: "t".into(),
            table_units: 2,
            indexes: BTreeMap::new(),
        };
        // What DynamoDB Local 3.3 reports for three such puts and a counter update.
        let reported = json!({"ConsumedCapacity": [{"TableName": "t", "CapacityUnits": 6.0,
            "Table": {"CapacityUnits": 4.0}, "GlobalSecondaryIndexes": {"GSI2": {"CapacityUnits": 2.0}}}]});
        let mut c = Consumption::default();
        let items = [put.clone(), put.clone(), put, counter];
        c.record_transaction(&items, reported.to_string().as_bytes());
        assert_eq!((c.table_writes, c.index_writes["GSI2"]), (8.0, 6.0));
        assert_eq!((c.transactions_recounted, c.model_mismatches), (1, 0));
        c.record_transaction(&items[..1], reported.to_string().as_bytes());
        assert_eq!(c.model_mismatches, 1);
    }

    #[test]
    fn item_sizes_follow_dynamodb_s_rule() {
        let item = json!({
            "PK": {"S": "MSG#1"},           // 2 + 5
            "n": {"N": "1718873014"},       // 1 + 5 + 1
            "z": {"N": "-0.00100"},         // 1 + 1 + 1
            "ok": {"BOOL": true},           // 2 + 1
            "codes": {"NS": ["131026", "1"]}, // 5 + 4 + 2
            "l": {"L": [{"S": "ab"}]},      // 1 + 3 + 1 + 2
            "m": {"M": {"k": {"S": "v"}}},  // 1 + 3 + 1 + 1 + 1
        });
        let item = item.as_object().unwrap();
        assert_eq!(item_size(item), 7 + 7 + 3 + 3 + 11 + 7 + 7);
    }
}
