//! A message, a tracking key's events and a contact's conversation: each read from the table
//! partitions that hold them (the key and contact indexes lead to those partitions), with the
//! message's status folded from its events as they are read.

use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
use futures::{StreamExt, TryStreamExt, stream};

use super::errors::classify;
use super::items::{
    EVENT_SK_PREFIX, contact_partition, event_from_item, get_s, key_partition, message_partition, s,
};
use super::listing::log_read;
use super::schema::{CONTACT_INDEX, Index, KEY_INDEX};
use super::write::MAX_CONCURRENT_REQUESTS;
use super::{DynamoStore, Item};
use crate::domain::query::{EventFilter, EventScope, PageRequest, Range, SortOrder, contact_key};
use crate::domain::{MessageState, status_changes};
use crate::store::{
    EventPage, EventsByContact, ListEvents, MAX_RAW_BYTES_PER_ANSWER, MessageRecord, ReadMessage,
    StoreError, StoreFuture, StoredEvent, time_order,
};

impl DynamoStore {
    /// Every item of one table partition, in sort key order.
    pub(super) async fn query_partition(
        &self,
        pk: &str,
        consistent: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut pages = self
            .partition_query(pk)
            .consistent_read(consistent)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(classify)?;
            log_read("table", &page);
            items.extend(page.items.unwrap_or_default());
        }
        Ok(items)
    }

    /// The events of one partition (other items, such as a previous layout's status item, are
    /// left out).
    async fn partition_events(
        &self,
        pk: &str,
        consistent: bool,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let items = self.query_partition(pk, consistent).await?;
        items
            .iter()
            .filter(|item| get_s(item, "SK").is_some_and(|sk| sk.starts_with(EVENT_SK_PREFIX)))
            .map(event_from_item)
            .collect()
    }

    /// The events of every partition an index entry of `value` points at.
    async fn indexed_events(
        &self,
        index: &Index,
        value: &str,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut partitions = Vec::new();
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index.name)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", index.partition)
            .expression_attribute_values(":pk", s(value))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(classify)?;
            log_read(index.name, &page);
            partitions.extend(page.items().iter().filter_map(|entry| get_s(entry, "PK")));
        }
        partitions.sort_unstable();
        partitions.dedup();
        let events: Vec<Vec<StoredEvent>> = stream::iter(partitions)
            .map(|pk| async move { self.partition_events(&pk, false).await })
            .buffered(MAX_CONCURRENT_REQUESTS)
            .try_collect()
            .await?;
        Ok(events.into_iter().flatten().collect())
    }

    /// Reads the raw fragments kept in S3 back into `events`, in their order, while the answer's
    /// fragments stay within [`MAX_RAW_BYTES_PER_ANSWER`]; the others stay left out.
    async fn read_kept_raw(&self, events: &mut [StoredEvent]) -> Result<(), StoreError> {
        let mut total: usize = 0;
        for event in events.iter_mut() {
            match (&event.raw_ref, &self.raw_bucket) {
                (Some(reference), Some(bucket)) => {
                    let bytes = usize::try_from(reference.bytes).unwrap_or(usize::MAX);
                    if total.saturating_add(bytes) > MAX_RAW_BYTES_PER_ANSWER {
                        continue;
                    }
                    if let Some(raw) = bucket.get(reference).await? {
                        event.event.raw = raw;
                        event.raw_omitted = false;
                        total += bytes;
                    }
                }
                (Some(_), None) => {}
                (None, _) => total += event.event.raw.get().len(),
            }
        }
        Ok(())
    }
}

/// The page of `events` after `page.after` in `order`.
fn page_of(mut events: Vec<StoredEvent>, order: SortOrder, page: &PageRequest) -> EventPage {
    let position =
        |e: &StoredEvent| order.position(e.event.occurred_at, e.received_at, &e.event.id);
    events.sort_by_cached_key(position);
    let after = page.after.clone().unwrap_or_default();
    let mut rest = events.into_iter().filter(|e| position(e) > after);
    let events: Vec<StoredEvent> = rest.by_ref().take(page.limit).collect();
    let next = if rest.next().is_some() {
        events.last().map(position)
    } else {
        None
    };
    EventPage { events, next }
}

impl ReadMessage for DynamoStore {
    fn read_message<'a>(&'a self, message_id: &'a str) -> StoreFuture<'a, Option<MessageRecord>> {
        Box::pin(async move {
            let mut events = self
                .partition_events(&message_partition(message_id), true)
                .await?;
            if events.is_empty() {
                return Ok(None);
            }
            events.sort_by(time_order);
            self.read_kept_raw(&mut events).await?;
            let changes = status_changes(events.iter().map(|e| &e.event));
            let state = (!changes.is_empty()).then(|| {
                let mut state = MessageState::default();
                for change in &changes {
                    state.apply(change);
                }
                state
            });
            Ok(Some(MessageRecord {
                message_id: message_id.to_owned(),
                key: events.iter().find_map(|e| e.event.key.clone()),
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
                    self.list_window(*window, page.after.clone(), filter, page.limit)
                        .await
                }
                EventScope::Key { key, range } => {
                    let events = self
                        .indexed_events(&KEY_INDEX, &key_partition(key))
                        .await?
                        .into_iter()
                        .filter(|e| {
                            e.event.key.as_deref() == Some(key.as_str()) && passes(e, range, filter)
                        })
                        .collect();
                    Ok(page_of(events, SortOrder::KeyIndex, page))
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
            let events = self
                .indexed_events(&CONTACT_INDEX, &contact_partition(contact))
                .await?
                .into_iter()
                .filter(|e| {
                    e.event.contact.as_deref().and_then(contact_key) == Some(contact)
                        && passes(e, range, filter)
                })
                .collect();
            Ok(page_of(events, SortOrder::Listed, page))
        })
    }
}

fn passes(event: &StoredEvent, range: &Range, filter: &EventFilter) -> bool {
    range.contains(event.listed_at()) && filter.matches(&event.event, event.sub_product)
}
