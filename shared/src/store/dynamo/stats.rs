//! `/stats`, counted when read rather than on every write: from the time index's entries, which
//! hold what the counts need. An hour's entries in the day's shards stop changing once the hour
//! has settled (an event written later is late and goes to the day's late partition), so a
//! settled hour is counted once and its counts kept as a `STATS#<day>` item; late entries, few,
//! are counted at every read. Each stored event has exactly one index entry, so each counts
//! exactly once, whatever retries and redeliveries did.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
use futures::future::try_join_all;
use futures::{StreamExt, TryStreamExt, stream};

use super::DynamoStore;
use super::errors::classify;
use super::items::{
    LATE_AFTER_SECS, day_label, error_codes, get_s, late_partition, n, parse_n, s,
    shard_partitions, time_bound,
};
use super::listing::log_read;
use super::schema::{TIME_INDEX, TIME_SORT};
use crate::domain::query::{DAY, HOUR, HourWindow, Stats, tally_names};
use crate::domain::{DeliveryStatus, EventFamily};
use crate::store::{ReadStats, StoreError, StoreFuture, expiry};

/// An hour is counted for good this long after it ended: later than any write that was not late
/// ([`LATE_AFTER_SECS`]) can have reached the index, with ten minutes to spare.
const SETTLED_AFTER_SECS: i64 = LATE_AFTER_SECS + 600;
/// Hours counted at once; each reads the day's shards in parallel.
const HOURS_IN_PARALLEL: usize = 4;
const STATS_PREFIX: &str = "STATS#";

type Counts = BTreeMap<String, u64>;

impl ReadStats for DynamoStore {
    fn read_stats<'a>(&'a self, hours: &'a HourWindow) -> StoreFuture<'a, Stats> {
        Box::pin(async move {
            let now = self.now();
            let days: Vec<i64> =
                (hours.since().div_euclid(DAY)..=(hours.until() - 1).div_euclid(DAY)).collect();
            let mut cached: HashMap<i64, Counts> =
                try_join_all(days.iter().map(|day| self.cached_hours(*day, hours)))
                    .await?
                    .into_iter()
                    .flatten()
                    .collect();
            let starts = (hours.since()..hours.until()).step_by(HOUR as usize);
            let counted: Vec<Counts> = stream::iter(starts)
                .map(|hour| {
                    let cached = cached.remove(&hour);
                    async move {
                        match cached {
                            Some(counts) => Ok(counts),
                            None => self.count_hour(hour, now).await,
                        }
                    }
                })
                .buffered(HOURS_IN_PARALLEL)
                .try_collect()
                .await?;
            let late = try_join_all(days.iter().map(|day| {
                let low = hours.since().max(day * DAY);
                let high = hours.until().min((day + 1) * DAY);
                async move { self.count_entries(&late_partition(*day), low, high).await }
            }))
            .await?;
            let totals = counted.into_iter().chain(late).flatten();
            Ok(Stats::from_counts(*hours, totals))
        })
    }
}

impl DynamoStore {
    /// The shard entries of one hour, counted; kept for later reads once the hour has settled.
    async fn count_hour(&self, hour: i64, now: i64) -> Result<Counts, StoreError> {
        let day = hour.div_euclid(DAY);
        let shards: Vec<Counts> = try_join_all(shard_partitions(day).map(|partition| async move {
            self.count_entries(&partition, hour, hour + HOUR).await
        }))
        .await?;
        let mut counts = Counts::new();
        for (name, count) in shards.into_iter().flatten() {
            *counts.entry(name).or_default() += count;
        }
        if now > hour + HOUR + SETTLED_AFTER_SECS {
            self.keep_hour(hour, &counts).await?;
        }
        Ok(counts)
    }

    /// The counts of the time index entries of `partition` listed in `[low, high)`.
    async fn count_entries(
        &self,
        partition: &str,
        low: i64,
        high: i64,
    ) -> Result<Counts, StoreError> {
        let mut counts = Counts::new();
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(TIME_INDEX.name)
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :low AND :high")
            .projection_expression("#family, #status, #codes, #type")
            .expression_attribute_names("#pk", TIME_INDEX.partition)
            .expression_attribute_names("#sk", TIME_SORT)
            .expression_attribute_names("#family", "family")
            .expression_attribute_names("#status", "delivery_status")
            .expression_attribute_names("#codes", "error_codes")
            .expression_attribute_names("#type", "message_type")
            .expression_attribute_values(":pk", s(partition))
            // A bare time sorts before every entry of that second.
            .expression_attribute_values(":low", s(&time_bound(low)))
            .expression_attribute_values(":high", s(&time_bound(high)))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(classify)?;
            log_read(TIME_INDEX.name, &page);
            for entry in page.items() {
                let family = get_s(entry, "family")
                    .and_then(|f| EventFamily::parse(&f))
                    .ok_or_else(|| StoreError::Corrupt("index entry without a family".into()))?;
                let status = get_s(entry, "delivery_status").map(|s| DeliveryStatus::parse(&s));
                let names = tally_names(
                    family,
                    status.as_ref(),
                    &error_codes(entry),
                    get_s(entry, "message_type").as_deref(),
                );
                for name in names {
                    *counts.entry(name).or_default() += 1;
                }
            }
        }
        Ok(counts)
    }

    /// The kept counts of the hours of `day` within `hours`, by hour start.
    async fn cached_hours(
        &self,
        day: i64,
        hours: &HourWindow,
    ) -> Result<HashMap<i64, Counts>, StoreError> {
        let low = hours.since().max(day * DAY);
        let high = hours.until().min((day + 1) * DAY) - HOUR;
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND SK BETWEEN :low AND :high")
            .expression_attribute_values(":pk", s(&stats_partition(day)))
            .expression_attribute_values(":low", s(&hour_sort_key(low)))
            .expression_attribute_values(":high", s(&hour_sort_key(high)))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(classify)?;
        log_read("table", &page);
        // At most 24 small items: one page.
        page.items()
            .iter()
            .map(|item| {
                let hour = get_s(item, "SK")
                    .and_then(|sk| sk.strip_prefix("HOUR#")?.parse().ok())
                    .ok_or_else(|| StoreError::Corrupt("hour counts without their hour".into()))?;
                let counts = item
                    .iter()
                    .filter(|(name, _)| name.contains(':'))
                    .filter_map(|(name, value)| {
                        Some((name.clone(), u64::try_from(parse_n(value)?).ok()?))
                    })
                    .collect();
                Ok((hour, counts))
            })
            .collect()
    }

    /// Keeps a settled hour's counts. Concurrent readers compute the same counts, so the last
    /// write wins harmlessly.
    async fn keep_hour(&self, hour: i64, counts: &Counts) -> Result<(), StoreError> {
        let mut item = HashMap::from([
            ("PK".to_owned(), s(&stats_partition(hour.div_euclid(DAY)))),
            ("SK".to_owned(), s(&hour_sort_key(hour))),
            (
                "expires_at".to_owned(),
                n(expiry((hour + HOUR) * 1000, self.retention)),
            ),
        ]);
        // Counter names carry a colon, which tells them apart from the item's other attributes.
        item.extend(counts.iter().map(|(name, count)| (name.clone(), n(count))));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}

fn stats_partition(day: i64) -> String {
    format!("{STATS_PREFIX}{}", day_label(day))
}

fn hour_sort_key(hour: i64) -> String {
    format!("HOUR#{hour:011}")
}
