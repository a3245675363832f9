//! The production adapter: one DynamoDB table (single-table design).
//!
//! | item | `PK` | `SK` | `GSI1PK` / `GSI1SK` |
//! |---|---|---|---|
//! | event about a message | `MSG#<message id>` | `EVT#<occurred_at, 11 digits>#<event id>` | `KEY#<tracking key>` / `SK` |
//! | event without a message id | `EVT#<event id>` | same as above | same as above |
//! | status of a message | `MSG#<message id>` | `STATUS` | — |
//! | OAuth client minted at run time | `CLIENT#<client id>` | `CLIENT` | — |
//! | refresh token (by digest) | `REFRESH#<sha256 of the token>` | `REFRESH` | — |
//!
//! - One `Query` on `PK = MSG#<id>` returns a message's events in time order and its status item.
//! - `GSI1` (sparse: only events with a tracking key) answers "every event of this key".
//! - Every item carries `expires_at` (epoch seconds), the table's TTL attribute.
//! - The sort key holds only what the payload says (never the arrival time), so a redelivery maps
//!   to the very same item and `attribute_not_exists(PK)` turns it into a no-op: duplicates are
//!   absorbed by conditional writes, never by a read first.
//! - A batch of several new events is written with `TransactWriteItems` (all or nothing per chunk
//!   of 100, so a failure leaves no half batch); a lone event with a conditional `PutItem`, which
//!   costs half. Status items are updated with a condition on `progress_rank` so a late, lower
//!   status never overwrites a higher one, and failures are recorded with their own update.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, Put, ReturnValue, ScalarAttributeType, TransactWriteItem,
};
use futures::future::try_join_all;

use super::{
    ClientStore, EventsByKey, MessageRecord, ReadMessage, RefreshGrant, StoreError, StoreFuture,
    StoredEvent, WriteEvents, WriteReport, expiry, time_order,
};
use crate::auth::oauth::OAuthClient;
use crate::domain::{
    DeliveryStatus, Event, EventFamily, MessageState, StatusChange, SubProduct, status_changes,
};

pub const KEY_INDEX: &str = "GSI1";
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

    /// Creates the table as the SAM template does, for DynamoDB Local and the local stack.
    pub async fn create_table_if_missing(&self) -> Result<(), StoreError> {
        let exists = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await;
        if exists.is_ok() {
            return Ok(());
        }
        let string_attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::Rejected(e.to_string()))
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(|e| StoreError::Rejected(e.to_string()))
        };
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(string_attribute("PK")?)
            .attribute_definitions(string_attribute("SK")?)
            .attribute_definitions(string_attribute("GSI1PK")?)
            .attribute_definitions(string_attribute("GSI1SK")?)
            .key_schema(key("PK", KeyType::Hash)?)
            .key_schema(key("SK", KeyType::Range)?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(KEY_INDEX)
                    .key_schema(key("GSI1PK", KeyType::Hash)?)
                    .key_schema(key("GSI1SK", KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(|e| StoreError::Rejected(e.to_string()))?,
            )
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ResourceInUseException") => Ok(()),
            Err(e) => Err(classify(e)),
        }
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

    /// Writes one chunk in a transaction; returns the event ids of the new items. Items already stored
    /// make the transaction cancel (writing nothing) with `ConditionalCheckFailed` for them; they
    /// are dropped and the rest is written again, so the outcome is that of one conditional put
    /// per item, without ever leaving half a chunk behind.
    async fn put_chunk(&self, mut items: Vec<Item>) -> Result<Vec<String>, StoreError> {
        for attempt in 0..TRANSACTION_ATTEMPTS {
            match items.len() {
                0 => return Ok(Vec::new()),
                1 => {
                    let item = items.remove(0);
                    let id = get_s(&item, "event_id");
                    let stored = self.put_one(item).await?;
                    return Ok(id.filter(|_| stored).into_iter().collect());
                }
                _ => {}
            }
            let transaction = items
                .iter()
                .map(|item| {
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(item.clone()))
                        .condition_expression("attribute_not_exists(PK)")
                        .build()
                        .map(|put| TransactWriteItem::builder().put(put).build())
                        .map_err(|e| StoreError::Rejected(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(transaction))
                .send()
                .await;
            let reasons = match result {
                Ok(_) => return Ok(items.iter().filter_map(|i| get_s(i, "event_id")).collect()),
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
            if reasons.len() != items.len() {
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
            items = items
                .into_iter()
                .zip(&reasons)
                .filter(|(_, reason)| reason.as_str() != "ConditionalCheckFailed")
                .map(|(item, _)| item)
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
                .key("PK", s(&format!("MSG#{}", change.message_id)))
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

    async fn query_all(
        &self,
        index: Option<&str>,
        key_condition: &str,
        values: Item,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(Into::into))
                .key_condition_expression(key_condition)
                .set_expression_attribute_values(Some(values.clone()))
                .consistent_read(index.is_none())
                .set_exclusive_start_key(start.take())
                .limit(i32::try_from(limit.saturating_sub(items.len()).min(1000)).unwrap_or(1000))
                .send()
                .await
                .map_err(classify)?;
            items.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(last) if items.len() < limit => start = Some(last.clone()),
                _ => return Ok(items),
            }
        }
    }
}

impl WriteEvents for DynamoStore {
    fn write_events<'a>(&'a self, events: &'a [StoredEvent]) -> StoreFuture<'a, WriteReport> {
        Box::pin(async move {
            let mut seen = HashSet::new();
            let unique: Vec<&StoredEvent> =
                events.iter().filter(|e| seen.insert(&e.event.id)).collect();

            let mut chunks: Vec<Vec<Item>> = vec![Vec::new()];
            let mut chunk_bytes = 0;
            for stored in &unique {
                let bytes = stored.event.raw.get().len() + 1024;
                let current = chunks.last_mut().expect("chunks is never empty");
                if !current.is_empty()
                    && (current.len() == MAX_TRANSACTION_ITEMS
                        || chunk_bytes + bytes > MAX_TRANSACTION_BYTES)
                {
                    chunks.push(Vec::new());
                    chunk_bytes = 0;
                }
                chunks
                    .last_mut()
                    .expect("chunks is never empty")
                    .push(event_item(stored, self.retention));
                chunk_bytes += bytes;
            }
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
                .query_all(
                    None,
                    "PK = :pk",
                    HashMap::from([(":pk".to_owned(), s(&format!("MSG#{message_id}")))]),
                    usize::MAX,
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

impl EventsByKey for DynamoStore {
    fn events_by_key<'a>(
        &'a self,
        key: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, Vec<StoredEvent>> {
        Box::pin(async move {
            let items = self
                .query_all(
                    Some(KEY_INDEX),
                    "GSI1PK = :pk",
                    HashMap::from([(":pk".to_owned(), s(&format!("KEY#{key}")))]),
                    limit,
                )
                .await?;
            let mut events = items
                .iter()
                .map(event_from_item)
                .collect::<Result<Vec<_>, _>>()?;
            events.sort_by(time_order);
            Ok(events)
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

    fn save_refresh_token<'a>(&'a self, grant: &'a RefreshGrant) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.client
                .put_item()
                .table_name(&self.table)
                .item("PK", s(&format!("REFRESH#{}", grant.digest)))
                .item("SK", s(REFRESH_SK))
                .item("client_id", s(&grant.client_id))
                .item(
                    "scopes",
                    AttributeValue::L(grant.scopes.iter().map(|x| s(x)).collect()),
                )
                .item("expires_at", n(grant.expires_at))
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

fn event_item(stored: &StoredEvent, retention: Duration) -> Item {
    let event = &stored.event;
    let pk = match &event.message_id {
        Some(id) => format!("MSG#{id}"),
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
        item.insert("GSI1PK".to_owned(), s(&format!("KEY#{key}")));
        item.insert("GSI1SK".to_owned(), s(&sk));
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
