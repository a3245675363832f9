//! The production adapter: one DynamoDB table (single-table design).
//!
//! | item | `PK` | `SK` | index keys |
//! |---|---|---|---|
//! | event about a message | `MSG#<message id>` | `EVT#<occurred_at, 11 digits>#<event id>` | `GSI1`, `GSI2`, `GSI3` below |
//! | event without a message id | `EVT#<event id>` | same as above | same |
//! | status of a message | `MSG#<message id>` | `STATUS` | — |
//! | hourly counters, one shard | `STATS#<shard 0..15>` | `HOUR#<hour start, 11 digits>` | — |
//! | OAuth client minted at run time | `CLIENT#<client id>` | `CLIENT` | — |
//! | refresh token (by digest) | `REFRESH#<sha256 of the token>` | `REFRESH` | — |
//!
//! | index | partition key | sort key | holds |
//! |---|---|---|---|
//! | `GSI1` (tracking key) | `GSI1PK` = `KEY#<tracking key>` | `GSI1SK` = `SK` | events with a key |
//! | `GSI2` (time) | `GSI2PK` = `TIME#<day, YYYY-MM-DD>#<shard 0..7>` | `GSI2SK` = `<listed_at, 11 digits>#<event id>` | every event |
//! | `GSI3` (contact) | `GSI3PK` = `CONTACT#<wa_id>` | `GSI3SK` = `GSI2SK` | events with a contact |
//!
//! All three project every attribute, so a listing never reads the table after the index.
//! A message id or tracking key over 1,024 bytes enters `PK`/`GSI1PK` shortened to its first
//! 960 bytes and the SHA-256 of the whole value (DynamoDB refuses keys over 2,048 bytes); the
//! full value stays in `message_id`/`tracking_key`, and lookups shorten the same way.
//!
//! Writing:
//! - The sort key holds only what the payload says (never the arrival time), so a redelivery maps
//!   to the very same item and `attribute_not_exists(PK)` turns it into a no-op: duplicates are
//!   absorbed by conditional writes, never by a read first.
//! - New events are written with `TransactWriteItems`, in chunks of up to 100 items (all or
//!   nothing per chunk): the conditional puts of the events, and one `ADD` update per hour the
//!   chunk's events fall in, on the counter item of a shard drawn at random. A chunk cancelled
//!   because some events exist already is written again without them, so the counters count each
//!   stored event exactly once, a duplicate or a retry never. Drawing the shard anew per attempt
//!   spreads concurrent receivers over 16 counter items per hour, which keeps
//!   `TransactionConflict` rare; conflicts and throttling are retried with backoff.
//! - Status items are updated with a condition on `progress_rank` so a late, lower status never
//!   overwrites a higher one, and failures are recorded with their own update.
//!
//! Cost per event, in write units, for an item of up to 1 KB (each further KB costs as much
//! again): 2 for its transactional put, 1 per index it is in (`GSI2` always, `GSI3` with a
//! contact, `GSI1` with a tracking key), and its share of 2 for each counter item its chunk
//! updates (a lone event pays the 2, a chunk of 100 events of one hour 0.02 each); plus, as
//! before, 1 per status item update (a `failed` report 2). A lone status report with a key and a
//! recipient therefore costs 2 + 3 + 2 + 1 = 8 write units, one of a 100-event batch about 6.
//!
//! Reading, never with a `Scan` (the query Lambda may only `Query`):
//! - One strongly consistent `Query` on `PK = MSG#<id>` returns a message's events in time order
//!   and its status item.
//! - A tracking key's events: a `Query` on `GSI1`; a contact's conversation: a `Query` on `GSI3`;
//!   a window: for each day it touches, 8 `Query`s on `GSI2` (one per shard) in parallel, merged
//!   by sort key. The time bounds of a window or a contact are key conditions (of a tracking key,
//!   whose events are few, a filter); family, status, sub-product and error code are
//!   `FilterExpression`s evaluated inside that key range, so a filtered listing reads the events
//!   of its range, never the table. One page reads at most [`MAX_ITEMS_READ_PER_PAGE`] items and
//!   then stops early with a cursor, so a rare filter over a busy window costs several short
//!   pages instead of one unbounded one. Index reads are eventually consistent (0.5 read unit per
//!   4 KB): an event shows up in a listing a moment after it is stored.
//! - `/stats`: 16 `Query`s, one per counter shard, over the hours of the window (at most 744
//!   hours), about 0.3 KB per hour and shard: a day costs ~30 read units, 31 days ~900.
//! - Every `Query` logs, at debug level, its index, the items it read (`ScannedCount`), the items
//!   it returned and the read units it consumed.
//!
//! Throughput: a day of `GSI2` is spread over 8 partitions of up to 1,000 write units a second
//! each, about 8,000 events a second for a campaign burst (an index that cannot keep up
//! throttles the table's writes); the counters take 16 items of 1,000 write units each, ~8,000
//! transactions a second; a contact or a tracking key is one partition of 1,000 write units,
//! far above what one customer or message produces.
//!
//! Every item carries `expires_at` (epoch seconds), the table's TTL attribute; counter items
//! expire a retention after their hour ends.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CreateGlobalSecondaryIndexAction, Delete,
    GlobalSecondaryIndex, GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType,
    Projection, ProjectionType, Put, ReturnConsumedCapacity, ReturnValue, ScalarAttributeType,
    TableStatus, TransactWriteItem, Update,
};
use futures::future::try_join_all;
use sha2::{Digest, Sha256};

use super::{
    ClientStore, EventPage, EventsByContact, ListEvents, MessageRecord, ReadMessage, ReadStats,
    RefreshGrant, StoreError, StoreFuture, StoredEvent, WriteEvents, WriteReport, expiry,
    time_order,
};
use crate::auth::oauth::OAuthClient;
use crate::domain::query::{
    DAY, EventFilter, EventScope, HOUR, HourWindow, PageRequest, Position, Range, Stats,
    contact_key, format_time, hour_of, tallies,
};
use crate::domain::{
    DeliveryStatus, Event, EventFamily, MessageState, StatusChange, SubProduct, status_changes,
};

/// A global secondary index: its name, key attributes, and what its sort key holds before the
/// position (`<at, 11 digits>#<event id>`).
struct Index {
    name: &'static str,
    partition: &'static str,
    sort: &'static str,
    sort_prefix: &'static str,
}

const KEY_INDEX: Index = Index {
    name: "GSI1",
    partition: "GSI1PK",
    sort: "GSI1SK",
    sort_prefix: "EVT#",
};
const TIME_INDEX: Index = Index {
    name: "GSI2",
    partition: "GSI2PK",
    sort: "GSI2SK",
    sort_prefix: "",
};
const CONTACT_INDEX: Index = Index {
    name: "GSI3",
    partition: "GSI3PK",
    sort: "GSI3SK",
    sort_prefix: "",
};
const INDEXES: [&Index; 3] = [&KEY_INDEX, &TIME_INDEX, &CONTACT_INDEX];
/// Partitions a day of the time index is spread over.
const TIME_SHARDS: u32 = 8;
/// Counter items per hour, so concurrent transactions rarely meet on one.
const COUNTER_SHARDS: u32 = 16;
/// Items one listing page may read before it stops early with a cursor.
pub const MAX_ITEMS_READ_PER_PAGE: i64 = 5_000;
const STATUS_SK: &str = "STATUS";
const CLIENT_SK: &str = "CLIENT";
const REFRESH_SK: &str = "REFRESH";
/// TransactWriteItems takes at most 100 items and 4 MB; stay under both.
const MAX_TRANSACTION_ITEMS: usize = 100;
const MAX_TRANSACTION_BYTES: usize = 3_500_000;
const TRANSACTION_ATTEMPTS: u32 = 5;

type Item = HashMap<String, AttributeValue>;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    retention: Duration,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>, retention: Duration) -> Self {
        Self {
            client,
            table: table.into(),
            retention,
        }
    }

    /// Creates the table as the SAM template does, for DynamoDB Local and the local stack; on a
    /// table an older version created, adds the indexes it lacks (events stored before are not
    /// in them).
    pub async fn create_table_if_missing(&self) -> Result<(), StoreError> {
        let described = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await;
        if let Ok(described) = described {
            let existing: HashSet<&str> = described
                .table()
                .map(|t| t.global_secondary_indexes())
                .unwrap_or_default()
                .iter()
                .filter_map(|i| i.index_name())
                .collect();
            for index in INDEXES.iter().filter(|i| !existing.contains(i.name)) {
                // DynamoDB builds one new index at a time, on an active table.
                self.wait_until_active().await?;
                let create = CreateGlobalSecondaryIndexAction::builder()
                    .index_name(index.name)
                    .set_key_schema(Some(index_key_schema(index)?))
                    .projection(all_attributes())
                    .build()
                    .map_err(rejected)?;
                self.client
                    .update_table()
                    .table_name(&self.table)
                    .set_attribute_definitions(Some(index_attributes(index)?))
                    .global_secondary_index_updates(
                        GlobalSecondaryIndexUpdate::builder().create(create).build(),
                    )
                    .send()
                    .await
                    .map_err(classify)?;
            }
            return self.wait_until_active().await;
        }
        let mut attributes = vec![string_attribute("PK")?, string_attribute("SK")?];
        let mut indexes = Vec::new();
        for index in INDEXES {
            attributes.extend(index_attributes(index)?);
            indexes.push(
                GlobalSecondaryIndex::builder()
                    .index_name(index.name)
                    .set_key_schema(Some(index_key_schema(index)?))
                    .projection(all_attributes())
                    .build()
                    .map_err(rejected)?,
            );
        }
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(attributes))
            .key_schema(key_element("PK", KeyType::Hash)?)
            .key_schema(key_element("SK", KeyType::Range)?)
            .set_global_secondary_indexes(Some(indexes))
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ResourceInUseException") => Ok(()),
            Err(e) => Err(classify(e)),
        }
    }

    /// Waits, a minute at most, until the table and every index of it are active.
    async fn wait_until_active(&self) -> Result<(), StoreError> {
        for _ in 0..300 {
            let described = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(classify)?;
            let active = described.table().is_some_and(|table| {
                table.table_status() == Some(&TableStatus::Active)
                    && table
                        .global_secondary_indexes()
                        .iter()
                        .all(|index| index.index_status() == Some(&IndexStatus::Active))
            });
            if active {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(StoreError::Unavailable(format!(
            "table {} did not become active with its indexes within a minute",
            self.table
        )))
    }

    async fn put_one(&self, item: Item) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(false)
            }
            Err(e) => Err(classify(e)),
        }
    }

    /// Writes one chunk in a transaction, with the counters of its events; returns the ids of the
    /// events that were new. Events already stored make the transaction cancel (writing nothing) with
    /// `ConditionalCheckFailed` for them; they are dropped and the rest is written again with
    /// counters of the rest only, so the outcome is that of one conditional put per event plus
    /// exactly one count per stored event, without ever leaving half a chunk behind.
    async fn put_chunk(&self, mut events: Vec<NewEvent>) -> Result<Vec<String>, StoreError> {
        for attempt in 0..TRANSACTION_ATTEMPTS {
            if events.is_empty() {
                return Ok(Vec::new());
            }
            let mut transaction = events
                .iter()
                .map(|event| self.conditional_put(&event.item))
                .collect::<Result<Vec<_>, _>>()?;
            // A new shard per attempt: a conflict on a counter item is not met again.
            let shard = fastrand::u32(..COUNTER_SHARDS);
            for (hour, counts) in hourly_counts(&events) {
                transaction.push(self.counter_update(shard, hour, &counts)?);
            }
            let attempted = transaction.len();
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(transaction))
                .send()
                .await;
            let reasons = match result {
                Ok(_) => {
                    return Ok(events
                        .iter()
                        .filter_map(|e| get_s(&e.item, "event_id"))
                        .collect());
                }
                Err(SdkError::ServiceError(e)) => match e.into_err() {
                    TransactWriteItemsError::TransactionCanceledException(cancelled) => cancelled
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code().unwrap_or("None").to_owned())
                        .collect::<Vec<_>>(),
                    other => return Err(service_error(other)),
                },
                Err(e) => return Err(classify(e)),
            };
            if reasons.len() != attempted {
                return Err(StoreError::Unavailable(
                    "transaction cancelled without a reason per item".into(),
                ));
            }
            if let Some(fatal) = reasons.iter().find(|r| r.as_str() == "ValidationError") {
                return Err(StoreError::Rejected(format!(
                    "transaction cancelled: {fatal}"
                )));
            }
            let contended = reasons
                .iter()
                .any(|r| r != "None" && r != "ConditionalCheckFailed");
            // The events come first in the transaction, so the first reasons are theirs.
            events = events
                .into_iter()
                .zip(&reasons)
                .filter(|(_, reason)| reason.as_str() != "ConditionalCheckFailed")
                .map(|(event, _)| event)
                .collect();
            if contended {
                // Conflicts and throttling clear up after a short, jittered wait.
                let jitter = getrandom::u64().unwrap_or(0) % 256;
                tokio::time::sleep(Duration::from_millis(25 * 2u64.pow(attempt) + jitter)).await;
            }
        }
        Err(StoreError::Unavailable(
            "the write kept conflicting with other writes; retry".into(),
        ))
    }

    fn conditional_put(&self, item: &Item) -> Result<TransactWriteItem, StoreError> {
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(item.clone()))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map(|put| TransactWriteItem::builder().put(put).build())
            .map_err(rejected)
    }

    /// Adds `counts` to one shard's counter item of `hour`, creating it when missing.
    fn counter_update(
        &self,
        shard: u32,
        hour: i64,
        counts: &BTreeMap<&str, u64>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut names = HashMap::new();
        let mut values = HashMap::from([(
            ":expires_at".to_owned(),
            n(expiry((hour + HOUR) * 1000, self.retention)),
        )]);
        let mut additions = Vec::new();
        // Counter names carry a colon, so they go through placeholders.
        for (i, (name, count)) in counts.iter().enumerate() {
            names.insert(format!("#c{i}"), (*name).to_owned());
            values.insert(format!(":c{i}"), n(count));
            additions.push(format!("#c{i} :c{i}"));
        }
        Update::builder()
            .table_name(&self.table)
            .key("PK", s(&format!("{COUNTER_PREFIX}{shard}")))
            .key("SK", s(&hour_sort_key(hour)))
            .update_expression(format!(
                "SET expires_at = :expires_at ADD {}",
                additions.join(", ")
            ))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map(|update| TransactWriteItem::builder().update(update).build())
            .map_err(rejected)
    }

    async fn apply_status(&self, change: &StatusChange, expires_at: i64) -> Result<(), StoreError> {
        let progress = change.progress.as_ref().map(|(status, at)| {
            let mut update = StatusUpdate::new(change, expires_at);
            update.set("progress", s(status.as_str()));
            update.set("progress_rank", n(status.progress_rank().unwrap_or(0)));
            if let Some(at) = at {
                update.set("progress_at", n(at));
            }
            update.condition =
                Some("attribute_not_exists(progress_rank) OR progress_rank < :progress_rank");
            update
        });
        let failure = change.failure.as_ref().map(|failure| {
            let mut update = StatusUpdate::new(change, expires_at);
            update.set("failed", AttributeValue::Bool(true));
            if let Some(at) = failure.at {
                update.set_if_absent("failed_at", n(at));
            }
            if !failure.error_codes.is_empty() {
                update.add(
                    "error_codes",
                    AttributeValue::Ns(failure.error_codes.iter().map(i64::to_string).collect()),
                );
            }
            update
        });
        for update in [progress, failure].into_iter().flatten() {
            let request = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("PK", s(&message_partition(&change.message_id)))
                .key("SK", s(STATUS_SK))
                .update_expression(update.expression())
                .set_expression_attribute_values(Some(update.values))
                .set_condition_expression(update.condition.map(Into::into));
            match request.send().await {
                Ok(_) => {}
                // The stored status is already higher: a late report must not move it back.
                Err(SdkError::ServiceError(e))
                    if e.err().is_conditional_check_failed_exception() => {}
                Err(e) => return Err(classify(e)),
            }
        }
        Ok(())
    }

    /// Every item of one table partition within the key condition, strongly consistent.
    async fn query_table(
        &self,
        key_condition: &str,
        values: Item,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(key_condition)
                .set_expression_attribute_values(Some(values.clone()))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(classify)?;
            log_read("table", &page);
            items.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(last) => start = Some(last.clone()),
                None => return Ok(items),
            }
        }
    }

    /// One page of a listing: the lanes of each bucket (a day of the time index, or the one
    /// partition of a key or contact) merged in sort key order, bucket after bucket.
    async fn read_page(
        &self,
        buckets: Vec<Vec<Lane>>,
        conditions: &Conditions,
        limit: usize,
    ) -> Result<EventPage, StoreError> {
        let mut page = Vec::new();
        let mut budget = MAX_ITEMS_READ_PER_PAGE;
        let count = buckets.len();
        for (i, mut lanes) in buckets.into_iter().enumerate() {
            match self
                .merge(&mut lanes, conditions, limit, &mut page, &mut budget)
                .await?
            {
                Merged::Done => {}
                Merged::Full => {
                    let more = i + 1 < count || lanes.iter().any(Lane::has_more);
                    let next = more.then(|| page.last().map(|(p, _)| p.clone())).flatten();
                    return finish_page(page, next);
                }
                Merged::OutOfBudget(read_up_to) => return finish_page(page, Some(read_up_to)),
            }
        }
        finish_page(page, None)
    }

    /// Moves entries from the lanes into `page` in sort key order until it holds `limit`, the
    /// lanes are done, or `budget` (items read) is spent. A lane is read again only once its
    /// buffer is empty, so the merge reads little more than it returns.
    async fn merge(
        &self,
        lanes: &mut [Lane],
        conditions: &Conditions,
        limit: usize,
        page: &mut Vec<(Position, Item)>,
        budget: &mut i64,
    ) -> Result<Merged, StoreError> {
        loop {
            if page.len() >= limit {
                return Ok(Merged::Full);
            }
            if lanes.iter().any(Lane::needs_reading) {
                if *budget <= 0 {
                    // Everything up to the least position read in every lane has been read, so
                    // the page may end there.
                    let Some(read_up_to) = lanes
                        .iter()
                        .filter(|lane| !lane.exhausted)
                        .map(|lane| lane.read_up_to.clone())
                        .min()
                    else {
                        return Ok(Merged::Done);
                    };
                    while page.len() < limit {
                        match least_head(lanes) {
                            Some(i) if lanes[i].buffer[0].0 <= read_up_to => {
                                page.extend(lanes[i].buffer.pop_front());
                            }
                            _ => break,
                        }
                    }
                    return Ok(if page.len() >= limit {
                        Merged::Full
                    } else {
                        Merged::OutOfBudget(read_up_to)
                    });
                }
                let per_lane = (limit - page.len()).div_ceil(lanes.len()) + 1;
                // Filters drop entries after they are read: read more at a time.
                let per_lane = if conditions.is_empty() {
                    per_lane
                } else {
                    per_lane * 4
                };
                let per_lane = i32::try_from(per_lane.min(1000)).unwrap_or(1000);
                let read = try_join_all(
                    lanes
                        .iter_mut()
                        .filter(|lane| lane.needs_reading())
                        .map(|lane| self.read_lane(lane, conditions, per_lane)),
                )
                .await?;
                *budget -= read.iter().sum::<i64>();
                continue;
            }
            match least_head(lanes) {
                Some(i) => page.extend(lanes[i].buffer.pop_front()),
                None => return Ok(Merged::Done),
            }
        }
    }

    /// One `Query` of a lane; returns the items it read (before filtering).
    async fn read_lane(
        &self,
        lane: &mut Lane,
        conditions: &Conditions,
        limit: i32,
    ) -> Result<i64, StoreError> {
        let mut names = conditions.names.clone();
        names.insert("#pk".into(), lane.index.partition.into());
        names.insert("#sk".into(), lane.index.sort.into());
        let mut values = conditions.values.clone();
        values.insert(":pk".into(), s(&lane.partition));
        values.insert(":low".into(), s(&lane.low));
        values.insert(":high".into(), s(&lane.high));
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(lane.index.name)
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :low AND :high")
            .set_filter_expression(conditions.expression())
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .set_exclusive_start_key(lane.start.take())
            .limit(limit)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(classify)?;
        log_read(lane.index.name, &output);
        for item in output.items() {
            let sort_key = get_s(item, lane.index.sort).ok_or_else(|| {
                StoreError::Corrupt(format!("index entry without {}", lane.index.sort))
            })?;
            // BETWEEN includes the entry the page continues after.
            if lane.skip.as_deref() == Some(sort_key.as_str()) {
                continue;
            }
            let position = lane.index.position(&sort_key)?;
            lane.buffer.push_back((position, item.clone()));
        }
        match output.last_evaluated_key() {
            Some(last) => {
                let sort_key = get_s(last, lane.index.sort).ok_or_else(|| {
                    StoreError::Corrupt("LastEvaluatedKey without the index sort key".into())
                })?;
                lane.read_up_to = lane.index.position(&sort_key)?;
                lane.start = Some(last.clone());
            }
            None => lane.exhausted = true,
        }
        Ok(i64::from(output.scanned_count()))
    }
}

/// An event item about to be written, with the counters it adds one to.
struct NewEvent {
    item: Item,
    hour: i64,
    tallies: Vec<String>,
}

/// The counts a chunk adds, per hour.
fn hourly_counts(events: &[NewEvent]) -> BTreeMap<i64, BTreeMap<&str, u64>> {
    let mut hours: BTreeMap<i64, BTreeMap<&str, u64>> = BTreeMap::new();
    for event in events {
        let counts = hours.entry(event.hour).or_default();
        for name in &event.tallies {
            *counts.entry(name.as_str()).or_default() += 1;
        }
    }
    hours
}

const COUNTER_PREFIX: &str = "STATS#";

fn hour_sort_key(hour: i64) -> String {
    format!("HOUR#{hour:011}")
}

impl Index {
    fn sort_key(&self, position: &Position) -> String {
        format!(
            "{}{:011}#{}",
            self.sort_prefix, position.at, position.event_id
        )
    }

    fn position(&self, sort_key: &str) -> Result<Position, StoreError> {
        sort_key
            .strip_prefix(self.sort_prefix)
            .and_then(|rest| rest.split_once('#'))
            .and_then(|(at, id)| {
                Some(Position {
                    at: at.parse().ok()?,
                    event_id: id.to_owned(),
                })
            })
            .ok_or_else(|| StoreError::Corrupt(format!("index sort key {sort_key:?}")))
    }
}

/// One sorted run of index entries: a partition of an index, between two sort keys.
struct Lane {
    index: &'static Index,
    partition: String,
    low: String,
    high: String,
    /// The sort key of the entry a page continues after, which `BETWEEN` includes again.
    skip: Option<String>,
    start: Option<Item>,
    buffer: VecDeque<(Position, Item)>,
    /// Every entry of the lane up to here has been read.
    read_up_to: Position,
    exhausted: bool,
}

impl Lane {
    /// The entries of `partition` after `after`, up to the sort key `high` (inclusive; a bare
    /// time such as `00000000100` ends before every entry of that second).
    fn new(index: &'static Index, partition: String, after: &Position, high: String) -> Self {
        let low = index.sort_key(after);
        Self {
            index,
            partition,
            skip: (!after.event_id.is_empty()).then(|| low.clone()),
            exhausted: low > high,
            low,
            high,
            start: None,
            buffer: VecDeque::new(),
            read_up_to: after.clone(),
        }
    }

    fn needs_reading(&self) -> bool {
        self.buffer.is_empty() && !self.exhausted
    }

    fn has_more(&self) -> bool {
        !self.buffer.is_empty() || !self.exhausted
    }
}

/// The lane whose next entry comes first.
fn least_head(lanes: &[Lane]) -> Option<usize> {
    lanes
        .iter()
        .enumerate()
        .filter_map(|(i, lane)| lane.buffer.front().map(|(position, _)| (position, i)))
        .min()
        .map(|(_, i)| i)
}

enum Merged {
    /// The page holds its limit.
    Full,
    /// Every lane is read.
    Done,
    /// The page's read budget is spent; everything up to here has been read.
    OutOfBudget(Position),
}

fn finish_page(
    page: Vec<(Position, Item)>,
    next: Option<Position>,
) -> Result<EventPage, StoreError> {
    Ok(EventPage {
        events: page
            .iter()
            .map(|(_, item)| event_from_item(item))
            .collect::<Result<_, _>>()?,
        next,
    })
}

/// A `FilterExpression` with its names and values.
#[derive(Default)]
struct Conditions {
    clauses: Vec<&'static str>,
    names: HashMap<String, String>,
    values: Item,
}

impl Conditions {
    fn new(filter: &EventFilter, range: Option<&Range>) -> Self {
        let mut conditions = Self::default();
        if let Some(family) = filter.family {
            conditions.add("#family = :family", "family", ":family", s(family.as_str()));
        }
        if let Some(status) = &filter.status {
            conditions.add(
                "#delivery_status = :status",
                "delivery_status",
                ":status",
                s(status.as_str()),
            );
        }
        if let Some(sub_product) = filter.sub_product {
            conditions.add(
                "#sub_product = :sub_product",
                "sub_product",
                ":sub_product",
                s(sub_product.as_str()),
            );
        }
        if let Some(code) = filter.error_code {
            conditions.add(
                "contains(#error_codes, :error_code)",
                "error_codes",
                ":error_code",
                n(code),
            );
        }
        if let Some(range) = range {
            if let Some(since) = range.since {
                conditions.add("#listed_at >= :since", "listed_at", ":since", n(since));
            }
            if let Some(until) = range.until {
                conditions.add("#listed_at < :until", "listed_at", ":until", n(until));
            }
        }
        conditions
    }

    fn add(&mut self, clause: &'static str, name: &str, placeholder: &str, value: AttributeValue) {
        self.clauses.push(clause);
        self.names.insert(format!("#{name}"), name.to_owned());
        self.values.insert(placeholder.to_owned(), value);
    }

    fn is_empty(&self) -> bool {
        self.clauses.is_empty()
    }

    fn expression(&self) -> Option<String> {
        (!self.is_empty()).then(|| self.clauses.join(" AND "))
    }
}

/// What one `Query` cost: the evidence that listings read their range, never the table.
fn log_read(index: &str, output: &QueryOutput) {
    tracing::debug!(
        index,
        scanned = output.scanned_count(),
        returned = output.count(),
        read_units = output
            .consumed_capacity()
            .and_then(|c| c.capacity_units())
            .unwrap_or(0.0),
        "dynamodb query"
    );
}

/// The time index partition of `day` (days since 1970) and `shard`.
fn time_partition(day: i64, shard: u32) -> String {
    let date = format_time(day * DAY);
    format!("TIME#{}#{shard}", date.get(..10).unwrap_or(&date))
}

/// Events spread over the shards of a day by their id (a content hash).
fn time_shard(event_id: &str) -> u32 {
    event_id.bytes().fold(0u32, |hash, byte| {
        hash.wrapping_mul(31).wrapping_add(u32::from(byte))
    }) % TIME_SHARDS
}

impl WriteEvents for DynamoStore {
    fn write_events<'a>(&'a self, events: &'a [StoredEvent]) -> StoreFuture<'a, WriteReport> {
        Box::pin(async move {
            let mut seen = HashSet::new();
            let unique: Vec<&StoredEvent> =
                events.iter().filter(|e| seen.insert(&e.event.id)).collect();

            let mut chunks: Vec<Vec<NewEvent>> = Vec::new();
            let mut chunk: Vec<NewEvent> = Vec::new();
            let (mut chunk_bytes, mut chunk_hours) = (0, HashSet::new());
            for stored in &unique {
                let bytes = stored.event.raw.get().len() + 1024;
                let hour = hour_of(stored.listed_at());
                // Each hour of a chunk adds a counter update to its transaction.
                let items =
                    chunk.len() + 1 + chunk_hours.len() + usize::from(!chunk_hours.contains(&hour));
                if !chunk.is_empty()
                    && (items > MAX_TRANSACTION_ITEMS
                        || chunk_bytes + bytes > MAX_TRANSACTION_BYTES)
                {
                    chunks.push(std::mem::take(&mut chunk));
                    chunk_bytes = 0;
                    chunk_hours.clear();
                }
                chunk_hours.insert(hour);
                chunk.push(NewEvent {
                    item: event_item(stored, self.retention),
                    hour,
                    tallies: tallies(&stored.event),
                });
                chunk_bytes += bytes;
            }
            chunks.push(chunk);
            let new_event_ids: Vec<String> =
                try_join_all(chunks.into_iter().map(|chunk| self.put_chunk(chunk)))
                    .await?
                    .into_iter()
                    .flatten()
                    .collect();

            let expires_at = expiry(
                events.iter().map(|e| e.received_at).max().unwrap_or(0),
                self.retention,
            );
            try_join_all(
                status_changes(unique.iter().map(|e| &e.event))
                    .iter()
                    .map(|c| self.apply_status(c, expires_at)),
            )
            .await?;

            Ok(WriteReport {
                stored: new_event_ids.len(),
                duplicates: events.len() - new_event_ids.len(),
                new_event_ids,
            })
        })
    }
}

impl ReadMessage for DynamoStore {
    fn read_message<'a>(&'a self, message_id: &'a str) -> StoreFuture<'a, Option<MessageRecord>> {
        Box::pin(async move {
            let items = self
                .query_table(
                    "PK = :pk",
                    HashMap::from([(":pk".to_owned(), s(&message_partition(message_id)))]),
                )
                .await?;
            if items.is_empty() {
                return Ok(None);
            }
            let mut state = None;
            let mut status_key = None;
            let mut events = Vec::new();
            for item in &items {
                if get_s(item, "SK").as_deref() == Some(STATUS_SK) {
                    status_key = get_s(item, "tracking_key");
                    state = Some(state_from_item(item)?);
                } else {
                    events.push(event_from_item(item)?);
                }
            }
            events.sort_by(time_order);
            let key = status_key.or_else(|| events.iter().find_map(|e| e.event.key.clone()));
            Ok(Some(MessageRecord {
                message_id: message_id.to_owned(),
                key,
                state,
                events,
            }))
        })
    }
}

impl ListEvents for DynamoStore {
    fn list_events<'a>(
        &'a self,
        scope: &'a EventScope,
        filter: &'a EventFilter,
        page: &'a PageRequest,
    ) -> StoreFuture<'a, EventPage> {
        Box::pin(async move {
            match scope {
                EventScope::Window(window) => {
                    let after = page
                        .after
                        .clone()
                        .unwrap_or_default()
                        .max(Position::before(window.since()));
                    let until = window.until();
                    let buckets = (after.at.div_euclid(DAY)..=(until - 1).div_euclid(DAY))
                        .map(|day| {
                            let from = after.clone().max(Position::before(day * DAY));
                            let high = format!("{:011}", until.min((day + 1) * DAY));
                            (0..TIME_SHARDS)
                                .map(|shard| {
                                    Lane::new(
                                        &TIME_INDEX,
                                        time_partition(day, shard),
                                        &from,
                                        high.clone(),
                                    )
                                })
                                .collect()
                        })
                        .collect();
                    self.read_page(buckets, &Conditions::new(filter, None), page.limit)
                        .await
                }
                EventScope::Key { key, range } => {
                    let lane = Lane::new(
                        &KEY_INDEX,
                        key_partition(key),
                        &page.after.clone().unwrap_or_default(),
                        format!("{}~", KEY_INDEX.sort_prefix),
                    );
                    let conditions = Conditions::new(filter, Some(range));
                    self.read_page(vec![vec![lane]], &conditions, page.limit)
                        .await
                }
            }
        })
    }
}

impl EventsByContact for DynamoStore {
    fn events_by_contact<'a>(
        &'a self,
        contact: &'a str,
        range: &'a Range,
        filter: &'a EventFilter,
        page: &'a PageRequest,
    ) -> StoreFuture<'a, EventPage> {
        Box::pin(async move {
            let Some(contact) = contact_key(contact) else {
                return Ok(EventPage {
                    events: Vec::new(),
                    next: None,
                });
            };
            let after = page
                .after
                .clone()
                .unwrap_or_default()
                .max(Position::before(range.since.unwrap_or(0)));
            let high = range
                .until
                .map_or_else(|| "~".to_owned(), |until| format!("{until:011}"));
            let lane = Lane::new(&CONTACT_INDEX, format!("CONTACT#{contact}"), &after, high);
            self.read_page(vec![vec![lane]], &Conditions::new(filter, None), page.limit)
                .await
        })
    }
}

impl ReadStats for DynamoStore {
    fn read_stats<'a>(&'a self, hours: &'a HourWindow) -> StoreFuture<'a, Stats> {
        Box::pin(async move {
            let shards = try_join_all((0..COUNTER_SHARDS).map(|shard| {
                self.query_table(
                    "PK = :pk AND SK BETWEEN :low AND :high",
                    HashMap::from([
                        (":pk".to_owned(), s(&format!("{COUNTER_PREFIX}{shard}"))),
                        (":low".to_owned(), s(&hour_sort_key(hours.since()))),
                        (":high".to_owned(), s(&hour_sort_key(hours.until() - HOUR))),
                    ]),
                )
            }))
            .await?;
            let counts = shards.iter().flatten().flat_map(|item| {
                item.iter()
                    .filter(|(name, _)| name.contains(':'))
                    .filter_map(|(name, value)| {
                        Some((name.clone(), u64::try_from(parse_n(value)?).ok()?))
                    })
            });
            Ok(Stats::from_counts(*hours, counts))
        })
    }
}

impl ClientStore for DynamoStore {
    fn find_client<'a>(&'a self, client_id: &'a str) -> StoreFuture<'a, Option<OAuthClient>> {
        Box::pin(async move {
            let item = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("PK", s(&format!("CLIENT#{client_id}")))
                .key("SK", s(CLIENT_SK))
                .consistent_read(true)
                .send()
                .await
                .map_err(classify)?;
            item.item()
                .and_then(|item| get_s(item, "client"))
                .map(|json| {
                    serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))
                })
                .transpose()
        })
    }

    fn create_client<'a>(&'a self, client: &'a OAuthClient) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let json =
                serde_json::to_string(client).map_err(|e| StoreError::Rejected(e.to_string()))?;
            self.put_one(HashMap::from([
                ("PK".to_owned(), s(&format!("CLIENT#{}", client.client_id))),
                ("SK".to_owned(), s(CLIENT_SK)),
                ("client".to_owned(), s(&json)),
            ]))
            .await
        })
    }

    fn delete_client<'a>(&'a self, client_id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let deleted = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("PK", s(&format!("CLIENT#{client_id}")))
                .key("SK", s(CLIENT_SK))
                .return_values(ReturnValue::AllOld)
                .send()
                .await
                .map_err(classify)?;
            Ok(deleted.attributes.is_some())
        })
    }

    fn save_refresh_token<'a>(&'a self, grant: &'a RefreshGrant) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(refresh_token_item(grant)))
                .send()
                .await
                .map_err(classify)?;
            Ok(())
        })
    }

    fn find_refresh_token<'a>(
        &'a self,
        digest: &'a str,
        client_id: &'a str,
    ) -> StoreFuture<'a, Option<RefreshGrant>> {
        Box::pin(async move {
            let found = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("PK", s(&format!("REFRESH#{digest}")))
                .key("SK", s(REFRESH_SK))
                .consistent_read(true)
                .send()
                .await
                .map_err(classify)?;
            Ok(found
                .item
                .filter(|item| get_s(item, "client_id").as_deref() == Some(client_id))
                .map(|item| refresh_grant(digest, client_id, &item)))
        })
    }

    fn take_refresh_token<'a>(
        &'a self,
        digest: &'a str,
        client_id: &'a str,
    ) -> StoreFuture<'a, Option<RefreshGrant>> {
        Box::pin(async move {
            let deleted = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("PK", s(&format!("REFRESH#{digest}")))
                .key("SK", s(REFRESH_SK))
                .condition_expression("client_id = :client_id")
                .expression_attribute_values(":client_id", s(client_id))
                .return_values(ReturnValue::AllOld)
                .send()
                .await;
            let old = match deleted {
                Ok(output) => output.attributes,
                // Missing, or another client's: nothing to take.
                Err(SdkError::ServiceError(e))
                    if e.err().is_conditional_check_failed_exception() =>
                {
                    None
                }
                Err(e) => return Err(classify(e)),
            };
            Ok(old.map(|item| refresh_grant(digest, client_id, &item)))
        })
    }

    /// One `TransactWriteItems`: the conditional delete of the old token and the put of the new
    /// one, so either both happen or neither.
    fn rotate_refresh_token<'a>(
        &'a self,
        digest: &'a str,
        client_id: &'a str,
        replacement: &'a RefreshGrant,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let take_old = Delete::builder()
                .table_name(&self.table)
                .key("PK", s(&format!("REFRESH#{digest}")))
                .key("SK", s(REFRESH_SK))
                .condition_expression("client_id = :client_id")
                .expression_attribute_values(":client_id", s(client_id))
                .build()
                .map_err(rejected)?;
            let put_new = Put::builder()
                .table_name(&self.table)
                .set_item(Some(refresh_token_item(replacement)))
                .condition_expression("attribute_not_exists(PK)")
                .build()
                .map_err(rejected)?;
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().delete(take_old).build())
                .transact_items(TransactWriteItem::builder().put(put_new).build())
                .send()
                .await;
            let cancelled = match result {
                Ok(_) => return Ok(true),
                Err(SdkError::ServiceError(e)) => match e.into_err() {
                    TransactWriteItemsError::TransactionCanceledException(cancelled) => cancelled,
                    other => return Err(service_error(other)),
                },
                Err(e) => return Err(classify(e)),
            };
            let reasons: Vec<&str> = cancelled
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None"))
                .collect();
            match reasons.as_slice() {
                // Missing, or another client's: nothing to rotate.
                ["ConditionalCheckFailed", _] => Ok(false),
                [_, "ConditionalCheckFailed"] => Err(StoreError::Rejected(
                    "a refresh token with this digest is already stored".into(),
                )),
                // A racing rotation of the same token (TransactionConflict) or throttling: the
                // caller may retry, and then learns whether the token is still there.
                _ => Err(StoreError::Unavailable(format!(
                    "the refresh token rotation was cancelled: {reasons:?}"
                ))),
            }
        })
    }
}

/// A refresh grant as the table keeps it, keyed by its digest.
fn refresh_token_item(grant: &RefreshGrant) -> Item {
    HashMap::from([
        ("PK".to_owned(), s(&format!("REFRESH#{}", grant.digest))),
        ("SK".to_owned(), s(REFRESH_SK)),
        ("client_id".to_owned(), s(&grant.client_id)),
        (
            "scopes".to_owned(),
            AttributeValue::L(grant.scopes.iter().map(|x| s(x)).collect()),
        ),
        ("expires_at".to_owned(), n(grant.expires_at)),
    ])
}

fn refresh_grant(digest: &str, client_id: &str, item: &Item) -> RefreshGrant {
    RefreshGrant {
        digest: digest.to_owned(),
        client_id: client_id.to_owned(),
        scopes: match item.get("scopes") {
            Some(AttributeValue::L(list)) => {
                list.iter().filter_map(|v| v.as_s().ok().cloned()).collect()
            }
            _ => Vec::new(),
        },
        expires_at: item.get("expires_at").and_then(parse_n).unwrap_or(0),
    }
}

/// An `UpdateItem` on a status item, assembled from the fields a change actually has.
struct StatusUpdate {
    sets: Vec<String>,
    adds: Vec<String>,
    values: Item,
    condition: Option<&'static str>,
}

impl StatusUpdate {
    fn new(change: &StatusChange, expires_at: i64) -> Self {
        let mut update = Self {
            sets: Vec::new(),
            adds: Vec::new(),
            values: HashMap::new(),
            condition: None,
        };
        update.set("expires_at", n(expires_at));
        if let Some(key) = &change.key {
            update.set_if_absent("tracking_key", s(key));
        }
        if let Some(contact) = &change.contact {
            update.set_if_absent("contact", s(contact));
        }
        update
    }

    fn set(&mut self, name: &'static str, value: AttributeValue) {
        self.sets.push(format!("{name} = :{name}"));
        self.values.insert(format!(":{name}"), value);
    }

    fn set_if_absent(&mut self, name: &'static str, value: AttributeValue) {
        self.sets
            .push(format!("{name} = if_not_exists({name}, :{name})"));
        self.values.insert(format!(":{name}"), value);
    }

    fn add(&mut self, name: &'static str, value: AttributeValue) {
        self.adds.push(format!("{name} :{name}"));
        self.values.insert(format!(":{name}"), value);
    }

    fn expression(&self) -> String {
        let mut expression = format!("SET {}", self.sets.join(", "));
        if !self.adds.is_empty() {
            expression.push_str(&format!(" ADD {}", self.adds.join(", ")));
        }
        expression
    }
}

/// The longest payload value a partition key holds as it is. DynamoDB refuses a partition key
/// over 2,048 bytes at every retry, so a longer message id or tracking key would never be
/// stored; past this length the key keeps the value's start and the SHA-256 of all of it
/// (the full value stays in its own attribute). A shortened value is always longer than this
/// bound, so it never equals a value kept as it is.
const MAX_VERBATIM_KEY_BYTES: usize = 1024;
const SHORTENED_PREFIX_BYTES: usize = 960;

fn message_partition(message_id: &str) -> String {
    format!("MSG#{}", bounded_key_value(message_id))
}

fn key_partition(tracking_key: &str) -> String {
    format!("KEY#{}", bounded_key_value(tracking_key))
}

fn bounded_key_value(value: &str) -> Cow<'_, str> {
    if value.len() <= MAX_VERBATIM_KEY_BYTES {
        return Cow::Borrowed(value);
    }
    let mut end = SHORTENED_PREFIX_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let digest = hex::encode(Sha256::digest(value.as_bytes()));
    Cow::Owned(format!("{}#~sha256:{digest}", &value[..end]))
}

/// The table item of one event (see the table at the top of this module).
pub fn event_item(stored: &StoredEvent, retention: Duration) -> Item {
    let event = &stored.event;
    let pk = match &event.message_id {
        Some(id) => message_partition(id),
        None => format!("EVT#{}", event.id),
    };
    let sk = format!(
        "EVT#{:011}#{}",
        event.occurred_at.unwrap_or(0).max(0),
        event.id
    );
    let mut item = HashMap::from([
        ("PK".to_owned(), s(&pk)),
        ("SK".to_owned(), s(&sk)),
        ("event_id".to_owned(), s(&event.id)),
        ("family".to_owned(), s(event.family.as_str())),
        ("sub_product".to_owned(), s(stored.sub_product.as_str())),
        ("received_at".to_owned(), n(stored.received_at)),
        (
            "expires_at".to_owned(),
            n(expiry(stored.received_at, retention)),
        ),
        ("raw".to_owned(), s(event.raw.get())),
    ]);
    if let Some(key) = &event.key {
        item.insert(KEY_INDEX.partition.to_owned(), s(&key_partition(key)));
        item.insert(KEY_INDEX.sort.to_owned(), s(&sk));
    }
    let at = stored.listed_at();
    let listed = Position {
        at,
        event_id: event.id.clone(),
    };
    item.insert("listed_at".to_owned(), n(at));
    item.insert(
        TIME_INDEX.partition.to_owned(),
        s(&time_partition(at.div_euclid(DAY), time_shard(&event.id))),
    );
    item.insert(TIME_INDEX.sort.to_owned(), s(&TIME_INDEX.sort_key(&listed)));
    if let Some(contact) = event.contact.as_deref().and_then(contact_key) {
        item.insert(
            CONTACT_INDEX.partition.to_owned(),
            s(&format!("CONTACT#{contact}")),
        );
        item.insert(
            CONTACT_INDEX.sort.to_owned(),
            s(&CONTACT_INDEX.sort_key(&listed)),
        );
    }
    let optional = [
        ("message_id", event.message_id.as_deref()),
        ("tracking_key", event.key.as_deref()),
        (
            "delivery_status",
            event.status.as_ref().map(DeliveryStatus::as_str),
        ),
        ("message_type", event.message_type.as_deref()),
        ("contact", event.contact.as_deref()),
        ("contact_name", event.contact_name.as_deref()),
        ("phone_number_id", event.phone_number_id.as_deref()),
        ("in_reply_to", event.in_reply_to.as_deref()),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            item.insert(name.to_owned(), s(value));
        }
    }
    if let Some(at) = event.occurred_at {
        item.insert("occurred_at".to_owned(), n(at));
    }
    if !event.error_codes.is_empty() {
        item.insert(
            "error_codes".to_owned(),
            AttributeValue::L(event.error_codes.iter().map(n).collect()),
        );
    }
    item
}

/// The stored event in an item image as a DynamoDB stream delivers it (`NEW_IMAGE`); `None` for
/// the table's other items (status, OAuth client, refresh token, and any kind added later), told
/// apart by the event items' sort key prefix.
pub fn event_from_image(
    item: &HashMap<String, AttributeValue>,
) -> Option<Result<StoredEvent, StoreError>> {
    get_s(item, "SK")?
        .starts_with("EVT#")
        .then(|| event_from_item(item))
}

fn event_from_item(item: &Item) -> Result<StoredEvent, StoreError> {
    let required = |name: &str| {
        get_s(item, name).ok_or_else(|| StoreError::Corrupt(format!("event item without {name}")))
    };
    let family = required("family")?;
    let sub_product = required("sub_product")?;
    let raw = serde_json::value::RawValue::from_string(required("raw")?)
        .map_err(|e| StoreError::Corrupt(format!("raw fragment is not JSON: {e}")))?;
    let error_codes = match item.get("error_codes") {
        Some(AttributeValue::L(codes)) => codes.iter().filter_map(parse_n).collect(),
        _ => Vec::new(),
    };
    Ok(StoredEvent {
        event: Event {
            id: required("event_id")?,
            family: EventFamily::parse(&family)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown family {family}")))?,
            message_id: get_s(item, "message_id"),
            key: get_s(item, "tracking_key"),
            status: get_s(item, "delivery_status").map(|s| DeliveryStatus::parse(&s)),
            message_type: get_s(item, "message_type"),
            contact: get_s(item, "contact"),
            contact_name: get_s(item, "contact_name"),
            phone_number_id: get_s(item, "phone_number_id"),
            in_reply_to: get_s(item, "in_reply_to"),
            occurred_at: item.get("occurred_at").and_then(parse_n),
            error_codes,
            raw,
        },
        sub_product: SubProduct::parse(&sub_product)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown sub-product {sub_product}")))?,
        received_at: item.get("received_at").and_then(parse_n).unwrap_or(0),
    })
}

fn state_from_item(item: &Item) -> Result<MessageState, StoreError> {
    let mut error_codes: Vec<i64> = match item.get("error_codes") {
        Some(AttributeValue::Ns(codes)) => codes.iter().filter_map(|c| c.parse().ok()).collect(),
        _ => Vec::new(),
    };
    error_codes.sort_unstable();
    Ok(MessageState {
        progress: item
            .get("progress_rank")
            .and_then(parse_n)
            .and_then(|rank| u8::try_from(rank).ok())
            .and_then(DeliveryStatus::from_progress_rank),
        progress_at: item.get("progress_at").and_then(parse_n),
        failed: matches!(item.get("failed"), Some(AttributeValue::Bool(true))),
        failed_at: item.get("failed_at").and_then(parse_n),
        error_codes,
    })
}

fn rejected(error: impl std::fmt::Display) -> StoreError {
    StoreError::Rejected(error.to_string())
}

fn string_attribute(name: &str) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(rejected)
}

fn key_element(name: &str, kind: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(rejected)
}

fn index_attributes(index: &Index) -> Result<Vec<AttributeDefinition>, StoreError> {
    Ok(vec![
        string_attribute(index.partition)?,
        string_attribute(index.sort)?,
    ])
}

fn index_key_schema(index: &Index) -> Result<Vec<KeySchemaElement>, StoreError> {
    Ok(vec![
        key_element(index.partition, KeyType::Hash)?,
        key_element(index.sort, KeyType::Range)?,
    ])
}

fn all_attributes() -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::All)
        .build()
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn get_s(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn parse_n(value: &AttributeValue) -> Option<i64> {
    value.as_n().ok().and_then(|n| n.parse().ok())
}

fn service_error<E: ProvideErrorMetadata + std::error::Error>(error: E) -> StoreError {
    let message = format!(
        "{}: {}",
        error.code().unwrap_or("error"),
        error.message().unwrap_or("")
    );
    match error.code() {
        Some("ValidationException") => StoreError::Rejected(message),
        _ => StoreError::Unavailable(message),
    }
}

fn classify<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error {
        SdkError::TimeoutError(_) => StoreError::Timeout,
        SdkError::ServiceError(e) => service_error(e.into_err()),
        other => StoreError::Unavailable(DisplayErrorContext(&other).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_up_to_the_bound_are_kept_as_they_are() {
        let at_bound = "x".repeat(MAX_VERBATIM_KEY_BYTES);
        assert_eq!(bounded_key_value(&at_bound), at_bound.as_str());
        assert_eq!(message_partition("wamid.1"), "MSG#wamid.1");
        assert_eq!(key_partition("whatsapp-1"), "KEY#whatsapp-1");
    }

    #[test]
    fn longer_values_keep_their_start_and_a_digest_of_all_of_it() {
        // Two-byte characters put the cut inside one: it moves back to a character boundary.
        let long = format!(
            "{}{}",
            "x".repeat(SHORTENED_PREFIX_BYTES - 1),
            "ğ".repeat(2_000)
        );
        let shortened = bounded_key_value(&long);
        assert!(shortened.starts_with(&long[..SHORTENED_PREFIX_BYTES - 1]));
        assert!(
            shortened.len() > MAX_VERBATIM_KEY_BYTES,
            "never equal to a kept value"
        );
        assert!(message_partition(&long).len() < 2_048);
        let other = format!("{long}!");
        assert_ne!(bounded_key_value(&other), shortened);
    }
}
