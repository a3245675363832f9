//! A window's events: the time index's partitions of each day (its shards and its late
//! entries) read in parallel, merged by sort key, filtered inside the key range, and the page's
//! events then read from the table in one `BatchGetItem` per 100.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnConsumedCapacity};
use backon::{BackoffBuilder, ExponentialBuilder};
use futures::future::try_join_all;

use super::errors::classify;
use super::items::{
    day_partitions, event_from_item, get_s, n, parse_position, position_key, s, time_bound,
};
use super::schema::{TIME_INDEX, TIME_SORT};
use super::{DynamoStore, Item};
use crate::domain::query::{DAY, EventFilter, Position, Window};
use crate::store::{EventPage, StoreError};

/// Items one listing page may read before it stops early with a cursor.
const MAX_ITEMS_READ_PER_PAGE: i64 = 5_000;
/// `BatchGetItem` takes at most 100 keys.
const MAX_BATCH_GET_KEYS: usize = 100;

impl DynamoStore {
    /// One page of the events of `window` after `after` that pass `filter`.
    pub(super) async fn list_window(
        &self,
        window: Window,
        after: Option<Position>,
        filter: &EventFilter,
        limit: usize,
    ) -> Result<EventPage, StoreError> {
        let after = after
            .unwrap_or_default()
            .max(Position::before(window.since()));
        let until = window.until();
        let buckets = (after.at.div_euclid(DAY)..=(until - 1).div_euclid(DAY))
            .map(|day| {
                let from = after.clone().max(Position::before(day * DAY));
                let high = time_bound(until.min((day + 1) * DAY));
                day_partitions(day)
                    .map(|partition| Lane::new(partition, &from, high.clone()))
                    .collect()
            })
            .collect();
        self.read_page(buckets, &Conditions::new(filter), limit)
            .await
    }

    /// The lanes of each bucket (a day) merged in sort key order, bucket after bucket.
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
                    return self.finish_page(page, next).await;
                }
                Merged::OutOfBudget(read_up_to) => {
                    return self.finish_page(page, Some(read_up_to)).await;
                }
            }
        }
        self.finish_page(page, None).await
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
                // The budget bounds what a round reads too, not only whether it starts.
                let reading = lanes.iter().filter(|lane| lane.needs_reading()).count();
                let affordable = usize::try_from(*budget)
                    .unwrap_or(0)
                    .div_ceil(reading.max(1));
                let per_lane =
                    i32::try_from(per_lane.min(affordable).clamp(1, 1000)).unwrap_or(1000);
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

    /// One `Query` of a lane; returns the entries it read (before filtering).
    async fn read_lane(
        &self,
        lane: &mut Lane,
        conditions: &Conditions,
        limit: i32,
    ) -> Result<i64, StoreError> {
        let mut names = conditions.names.clone();
        names.insert("#pk".into(), TIME_INDEX.partition.into());
        names.insert("#sk".into(), TIME_SORT.into());
        let mut values = conditions.values.clone();
        values.insert(":pk".into(), s(&lane.partition));
        values.insert(":low".into(), s(&lane.low));
        values.insert(":high".into(), s(&lane.high));
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(TIME_INDEX.name)
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
        log_read(TIME_INDEX.name, &output);
        for item in output.items() {
            let sort_key = get_s(item, TIME_SORT)
                .ok_or_else(|| StoreError::Corrupt(format!("index entry without {TIME_SORT}")))?;
            // BETWEEN includes the entry the page continues after.
            if lane.skip.as_deref() == Some(sort_key.as_str()) {
                continue;
            }
            lane.buffer
                .push_back((parse_position(&sort_key)?, item.clone()));
        }
        match output.last_evaluated_key() {
            Some(last) => {
                let sort_key = get_s(last, TIME_SORT).ok_or_else(|| {
                    StoreError::Corrupt("LastEvaluatedKey without the index sort key".into())
                })?;
                lane.read_up_to = parse_position(&sort_key)?;
                lane.start = Some(last.clone());
            }
            None => lane.exhausted = true,
        }
        Ok(i64::from(output.scanned_count()))
    }

    /// The page's events, read from the table by the keys its index entries hold.
    async fn finish_page(
        &self,
        page: Vec<(Position, Item)>,
        next: Option<Position>,
    ) -> Result<EventPage, StoreError> {
        let keys = page
            .iter()
            .map(|(_, entry)| table_key(entry))
            .collect::<Result<Vec<_>, _>>()?;
        let mut items = HashMap::new();
        for batch in
            try_join_all(keys.chunks(MAX_BATCH_GET_KEYS).map(|k| self.get_items(k))).await?
        {
            for item in batch {
                items.insert(table_key(&item)?, item);
            }
        }
        let events = keys
            .iter()
            // An entry whose item is gone (expired by TTL between the two reads) is left out.
            .filter_map(|key| items.get(key))
            .map(event_from_item)
            .collect::<Result<_, _>>()?;
        Ok(EventPage { events, next })
    }

    /// The items of up to 100 keys; keys DynamoDB leaves unprocessed (throttling) are asked
    /// again after a backoff.
    async fn get_items(&self, keys: &[(String, String)]) -> Result<Vec<Item>, StoreError> {
        let mut pending: Vec<Item> = keys
            .iter()
            .map(|(pk, sk)| HashMap::from([("PK".to_owned(), s(pk)), ("SK".to_owned(), s(sk))]))
            .collect();
        let mut items = Vec::with_capacity(keys.len());
        // Short waits: a page's reader is waiting. DynamoDB also leaves keys unprocessed past
        // 16 MB an answer, which is no throttle: those are asked for again at once.
        let mut backoff = ExponentialBuilder::new()
            .with_min_delay(Duration::from_millis(50))
            .with_max_delay(Duration::from_secs(1))
            .with_max_times(5)
            .with_jitter()
            .build();
        loop {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(pending))
                .build()
                .map_err(super::errors::rejected)?;
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(classify)?;
            let answered = output
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default();
            let progressed = !answered.is_empty();
            items.extend(answered);
            pending = output
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .map(|k| k.keys)
                .unwrap_or_default();
            if pending.is_empty() {
                return Ok(items);
            }
            if progressed {
                continue;
            }
            match backoff.next() {
                Some(delay) => tokio::time::sleep(delay).await,
                None => {
                    return Err(StoreError::Unavailable(
                        "DynamoDB kept keys of a page unprocessed; retry".into(),
                    ));
                }
            }
        }
    }
}

fn table_key(item: &Item) -> Result<(String, String), StoreError> {
    match (get_s(item, "PK"), get_s(item, "SK")) {
        (Some(pk), Some(sk)) => Ok((pk, sk)),
        _ => Err(StoreError::Corrupt(
            "an entry without the table's key".into(),
        )),
    }
}

/// One sorted run of index entries: a partition of the time index, between two sort keys.
struct Lane {
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
    fn new(partition: String, after: &Position, high: String) -> Self {
        let low = position_key(after);
        Self {
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

/// A `FilterExpression` on the attributes the time index projects, with its names and values.
#[derive(Default)]
struct Conditions {
    clauses: Vec<&'static str>,
    names: HashMap<String, String>,
    values: Item,
}

impl Conditions {
    fn new(filter: &EventFilter) -> Self {
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
pub(super) fn log_read(index: &str, output: &QueryOutput) {
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
