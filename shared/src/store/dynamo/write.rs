//! The write path: one conditional `PutItem` per new event, after one read of each partition.
//!
//! The read (eventually consistent, a tenth of the price of a write) finds the events already
//! stored, so a redelivery costs no write at all, and tells whether the partition is already
//! found by its tracking key and contact, so only the first event of a message carries those
//! index entries. The read decides nothing that matters for correctness: `attribute_not_exists`
//! still turns a write of a stored event into a no-op, an index entry written twice only points
//! at the same partition twice, and an entry whose carrier turns out to be stored already (a
//! concurrent delivery of the same message in another order, or a redelivery after such a race)
//! is added to that stored event instead, so a message is always found by its key and contact.

use std::collections::{BTreeMap, HashSet};

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use futures::{StreamExt, TryStreamExt, stream};

use super::erase::ERASED;
use super::errors::{classify, unless_gone};
use super::items::{
    IndexEntries, MAX_ITEM_BYTES, contact_partition, event_item_with, event_key, get_s, is_late,
    item_size, key_partition, refer_to_raw,
};
use super::schema::{CONTACT_INDEX, KEY_INDEX};
use super::{DynamoStore, Item};
use crate::domain::query::contact_key;
use crate::store::{StoreError, StoreFuture, StoredEvent, WriteEvents, WriteReport};

/// DynamoDB requests one delivery has in flight at most, so a delivery of thousands of events
/// neither opens thousands of connections nor starves the other invocations of its table.
pub(super) const MAX_CONCURRENT_REQUESTS: usize = 32;

/// What one read of a partition found.
#[derive(Default)]
struct Partition {
    sort_keys: HashSet<String>,
    key_entries: HashSet<String>,
    contact_entries: HashSet<String>,
    /// Its contact's data was erased on request: it stays out of their conversation.
    erased: bool,
}

/// One write of a delivery.
enum Write {
    /// A new event; if it was stored meanwhile, its index entries go to the stored copy.
    Put { id: String, item: Item },
    /// Index entries the partition lacks, for an event already stored.
    AddEntries { key: Item, entries: Item },
}

/// The key and contact index entries of an event item, if it carries any.
fn index_entries(item: &Item) -> Option<Item> {
    let entries: Item = [KEY_INDEX.partition, CONTACT_INDEX.partition]
        .into_iter()
        .filter_map(|name| Some((name.to_owned(), item.get(name)?.clone())))
        .collect();
    (!entries.is_empty()).then_some(entries)
}

fn table_key(item: &Item) -> Item {
    ["PK", "SK"]
        .into_iter()
        .filter_map(|name| Some((name.to_owned(), item.get(name)?.clone())))
        .collect()
}

impl WriteEvents for DynamoStore {
    fn write_events<'a>(&'a self, events: &'a [StoredEvent]) -> StoreFuture<'a, WriteReport> {
        Box::pin(async move {
            let mut seen = HashSet::new();
            let mut partitions: BTreeMap<String, Vec<(&StoredEvent, String)>> = BTreeMap::new();
            for stored in events.iter().filter(|e| seen.insert(&e.event.id)) {
                let (pk, sk) = event_key(&stored.event);
                partitions.entry(pk).or_default().push((stored, sk));
            }
            let now = self.now();
            // The futures are made before they are streamed: a closure that makes them inside
            // the stream trips the compiler's check that the whole future is `Send`.
            let reads: Vec<_> = partitions
                .iter()
                .map(|(pk, events)| async move {
                    let found = self.read_partition(pk).await?;
                    Ok::<_, StoreError>(self.new_items(&found, events, now))
                })
                .collect();
            let writes: Vec<Vec<Write>> = stream::iter(reads)
                .buffered(MAX_CONCURRENT_REQUESTS)
                .try_collect()
                .await?;
            let puts: Vec<_> = writes
                .into_iter()
                .flatten()
                .map(|write| async move {
                    match write {
                        Write::Put { id, item } => {
                            let item = self.fit_item(item).await?;
                            let entries = index_entries(&item).map(|e| (table_key(&item), e));
                            let stored = self.put_if_absent(item).await?;
                            if let (false, Some((key, entries))) = (stored, entries) {
                                self.add_entries(key, entries).await?;
                            }
                            Ok::<_, StoreError>(stored.then_some(id))
                        }
                        Write::AddEntries { key, entries } => {
                            self.add_entries(key, entries).await?;
                            Ok(None)
                        }
                    }
                })
                .collect();
            let new_event_ids: Vec<String> = stream::iter(puts)
                .buffered(MAX_CONCURRENT_REQUESTS)
                .try_collect::<Vec<_>>()
                .await?
                .into_iter()
                .flatten()
                .collect();
            Ok(WriteReport {
                stored: new_event_ids.len(),
                duplicates: events.len() - new_event_ids.len(),
                new_event_ids,
            })
        })
    }
}

impl DynamoStore {
    /// The sort keys and index entries of one partition, eventually consistent.
    async fn read_partition(&self, pk: &str) -> Result<Partition, StoreError> {
        let mut found = Partition::default();
        let mut pages = self
            .partition_query(pk)
            .projection_expression("SK, #key, #contact, #erased")
            .expression_attribute_names("#key", KEY_INDEX.partition)
            .expression_attribute_names("#contact", CONTACT_INDEX.partition)
            .expression_attribute_names("#erased", ERASED)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for item in page.map_err(classify)?.items() {
                found.sort_keys.extend(get_s(item, "SK"));
                found.key_entries.extend(get_s(item, KEY_INDEX.partition));
                found
                    .contact_entries
                    .extend(get_s(item, CONTACT_INDEX.partition));
                found.erased |= item.contains_key(ERASED);
            }
        }
        Ok(found)
    }

    /// The items of the events not found in their partition, and the index entries the
    /// partition still lacks, each carried by the first event that has it (the first event of a
    /// message with a key carries the key's); an entry whose first event is already stored is
    /// added to that event.
    fn new_items(
        &self,
        found: &Partition,
        events: &[(&StoredEvent, String)],
        now: i64,
    ) -> Vec<Write> {
        let mut keys = found.key_entries.clone();
        let mut contacts = found.contact_entries.clone();
        events
            .iter()
            .filter_map(|(stored, sk)| {
                let event = &stored.event;
                let entries = IndexEntries {
                    late: is_late(stored.listed_at(), now),
                    key: event
                        .key
                        .as_deref()
                        .is_some_and(|key| keys.insert(key_partition(key))),
                    contact: !found.erased
                        && event
                            .contact
                            .as_deref()
                            .and_then(contact_key)
                            .is_some_and(|contact| contacts.insert(contact_partition(contact))),
                };
                let is_new = !found.sort_keys.contains(sk);
                if !is_new && !entries.key && !entries.contact {
                    return None;
                }
                let item = match found.erased {
                    // A late event of a message whose contact was erased is kept redacted.
                    true => {
                        let mut redacted = (*stored).clone();
                        redacted.event.erase_personal_data();
                        let mut item = event_item_with(&redacted, self.retention, entries);
                        item.insert(ERASED.to_owned(), AttributeValue::Bool(true));
                        item
                    }
                    false => event_item_with(stored, self.retention, entries),
                };
                if is_new {
                    return Some(Write::Put {
                        id: event.id.clone(),
                        item,
                    });
                }
                Some(Write::AddEntries {
                    entries: index_entries(&item)?,
                    key: table_key(&item),
                })
            })
            .collect()
    }

    /// Adds index entries to a stored event, keeping those it has.
    async fn add_entries(&self, key: Item, entries: Item) -> Result<(), StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .condition_expression("attribute_exists(PK)");
        let mut sets = Vec::new();
        for (i, (name, value)) in entries.into_iter().enumerate() {
            sets.push(format!("#e{i} = if_not_exists(#e{i}, :e{i})"));
            update = update
                .expression_attribute_names(format!("#e{i}"), name)
                .expression_attribute_values(format!(":e{i}"), value);
        }
        let result = update
            .update_expression(format!("SET {}", sets.join(", ")))
            .send()
            .await;
        unless_gone(result)
    }

    /// The item as DynamoDB takes it: its raw fragment kept in S3 first when the item would be
    /// over 400 KB, so the item never points at an object that is not there.
    async fn fit_item(&self, mut item: Item) -> Result<Item, StoreError> {
        let size = item_size(&item);
        if size <= MAX_ITEM_BYTES {
            return Ok(item);
        }
        let bucket = self.raw_bucket.as_ref().ok_or_else(|| {
            StoreError::Rejected(format!(
                "an event item of {size} bytes is over DynamoDB's 400 KB and no RAW_BUCKET is configured for its raw fragment"
            ))
        })?;
        let raw = get_s(&item, "raw").unwrap_or_default();
        let reference = bucket.put(&raw).await?;
        refer_to_raw(&mut item, &reference);
        match item_size(&item) {
            size if size > MAX_ITEM_BYTES => Err(StoreError::Rejected(format!(
                "an event item of {size} bytes is over DynamoDB's 400 KB even with its raw fragment in S3: its other attributes (ids, key, names) are too long"
            ))),
            _ => Ok(item),
        }
    }

    /// Stores an item unless one with its key exists: `true` when it was written.
    pub(super) async fn put_if_absent(&self, item: Item) -> Result<bool, StoreError> {
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
}
