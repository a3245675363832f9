//! The production adapter: one DynamoDB table (single-table design). The layout, what each
//! write and read costs and why, is in the README ("The store"); in short:
//!
//! | item | `PK` | `SK` |
//! |---|---|---|
//! | event about a message | `MSG#<message id>` | `EVT#<occurred_at, 11 digits>#<event id>` |
//! | event without a message id | `EVT#<event id>` | same |
//! | counts of one settled hour | `STATS#<YYYY-MM-DD>` | `HOUR#<hour start, 11 digits>` |
//! | OAuth client minted at run time | `CLIENT#<client id>` | `CLIENT` |
//! | refresh token (by digest) | `REFRESH#<sha256 of the token>` | `REFRESH` |
//!
//! | index | keys | projection | written |
//! |---|---|---|---|
//! | `ByTime` | `TPK` = `TIME#<day>#<shard 0..7, or L>`, `TSK` = `<listed_at, 11 digits>#<event id>` | the few attributes filters and counts read | once per event |
//! | `ByKey` | `KPK` = `KEY#<tracking key>` | keys only | once per partition and key |
//! | `ByContact` | `CPK` = `CONTACT#<wa_id>` | keys only | once per partition and contact |
//!
//! A raw fragment that would make its item larger than DynamoDB's 400 KB goes to S3
//! ([`RawBucket`]); the item keeps `raw_uri`, `raw_sha256` and `raw_bytes` instead.
//!
//! An event is one conditional `PutItem`, nothing else: no transaction, no counter, no status
//! item. A message's status is folded from its events when it is read, `/stats` counts index
//! entries (cached per settled hour), and a tracking key or a contact leads to the partitions
//! that hold their events.

mod clients;
mod erase;
mod errors;
mod items;
mod listing;
mod raw_s3;
mod read;
mod schema;
mod stats;
mod write;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;

pub use items::{event_from_image, event_item};
pub use raw_s3::RawBucket;

type Item = HashMap<String, AttributeValue>;

/// Epoch milliseconds: what decides whether a write is late and an hour settled.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    retention: Duration,
    clock: Clock,
    /// Where raw fragments too large for an item go; without it such an event is refused.
    raw_bucket: Option<RawBucket>,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>, retention: Duration) -> Self {
        Self {
            client,
            table: table.into(),
            retention,
            clock: Arc::new(crate::clock::now_millis),
            raw_bucket: None,
        }
    }

    /// Keeps raw fragments too large for an item in this bucket.
    pub fn with_raw_bucket(self, raw_bucket: RawBucket) -> Self {
        Self {
            raw_bucket: Some(raw_bucket),
            ..self
        }
    }

    /// The same store on another clock, for tests of what time changes (late writes, settled
    /// hours) without waiting for it.
    pub fn with_clock(self, clock: Clock) -> Self {
        Self { clock, ..self }
    }

    /// Now, in epoch seconds.
    fn now(&self) -> i64 {
        (self.clock)().div_euclid(1000)
    }

    /// A `Query` of every item of the table partition `pk`.
    fn partition_query(&self, pk: &str) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", items::s(pk))
    }
}
