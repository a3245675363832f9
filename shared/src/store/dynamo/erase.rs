//! Erasure on request: a contact's messages, found through the `ByContact` index as their
//! conversation is, each event redacted in place (`raw` set to `null`, the contact's number and
//! name removed, a raw fragment kept in S3 deleted first). The item carrying the partition's
//! `ByContact` entry is updated last and loses it, so the conversation forgets the message only
//! once every event of it is erased: a call that fails part way leaves the message to the next.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};

use super::errors::{classify, unless_gone};
use super::items::{EVENT_SK_PREFIX, contact_partition, get_s, s};
use super::listing::log_read;
use super::schema::CONTACT_INDEX;
use super::{DynamoStore, Item};
use crate::domain::query::contact_key;
use crate::store::{EraseContact, Erased, StoreError, StoreFuture};

/// Marks an erased event, so that a redelivery of its message does not put the partition back
/// in the contact's conversation (the write path adds a `ByContact` entry to a partition that
/// has none).
pub(super) const ERASED: &str = "erased";

/// The attributes an erased event loses; `raw` is set to `null` instead.
const PERSONAL: [&str; 5] = [
    "contact",
    "contact_name",
    "raw_uri",
    "raw_sha256",
    "raw_bytes",
];

impl EraseContact for DynamoStore {
    fn erase_contact<'a>(&'a self, contact: &'a str, limit: usize) -> StoreFuture<'a, Erased> {
        Box::pin(async move {
            let Some(contact) = contact_key(contact) else {
                return Ok(Erased {
                    done: true,
                    ..Erased::default()
                });
            };
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(CONTACT_INDEX.name)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", CONTACT_INDEX.partition)
                .expression_attribute_values(":pk", s(&contact_partition(contact)))
                .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(classify)?;
            log_read(CONTACT_INDEX.name, &page);
            let mut partitions: Vec<String> = page
                .items()
                .iter()
                .filter_map(|entry| get_s(entry, "PK"))
                .collect();
            partitions.sort_unstable();
            partitions.dedup();
            let mut erased = Erased {
                messages: partitions.len(),
                done: page.last_evaluated_key().is_none(),
                ..Erased::default()
            };
            for pk in &partitions {
                erased.events += self.erase_partition(pk).await?;
            }
            Ok(erased)
        })
    }
}

impl DynamoStore {
    /// Redacts every event of one partition; the one with the `ByContact` entry last. Returns
    /// how many.
    async fn erase_partition(&self, pk: &str) -> Result<usize, StoreError> {
        let mut events: Vec<Item> = self
            .query_partition(pk, true)
            .await?
            .into_iter()
            .filter(|item| get_s(item, "SK").is_some_and(|sk| sk.starts_with(EVENT_SK_PREFIX)))
            .collect();
        events.sort_by_key(|item| item.contains_key(CONTACT_INDEX.partition));
        for item in &events {
            self.erase_event(item).await?;
        }
        Ok(events.len())
    }

    async fn erase_event(&self, item: &Item) -> Result<(), StoreError> {
        if let (Some(uri), Some(bucket)) = (get_s(item, "raw_uri"), &self.raw_bucket) {
            bucket.delete(&uri).await?;
        }
        let mut removed: Vec<&str> = PERSONAL.to_vec();
        if item.contains_key(CONTACT_INDEX.partition) {
            removed.push(CONTACT_INDEX.partition);
        }
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", item["PK"].clone())
            .key("SK", item["SK"].clone())
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#raw", "raw")
            .expression_attribute_values(":null", s("null"))
            .expression_attribute_values(":erased", AttributeValue::Bool(true));
        let mut names = Vec::new();
        for (i, name) in removed.iter().enumerate() {
            update = update.expression_attribute_names(format!("#r{i}"), *name);
            names.push(format!("#r{i}"));
        }
        let result = update
            .update_expression(format!(
                "SET #raw = :null, {ERASED} = :erased REMOVE {}",
                names.join(", ")
            ))
            .send()
            .await;
        unless_gone(result)
    }
}
