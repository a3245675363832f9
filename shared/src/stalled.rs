//! Messages with no delivery report (Insider One's "Delivery Report Missing"): accepted or sent,
//! and nothing after that (no delivered, read or failed) for some hours. Found when asked, from
//! what is stored: the `accepted` or `sent` events of a window, then each of their messages'
//! status as `/messages/{id}` folds it. Nothing is written for it, so it costs the write path
//! nothing; a page reads its events' index entries and one partition per message.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::domain::DeliveryStatus;
use crate::domain::query::{
    EventFilter, EventScope, Format, ListRequest, Listing, MAX_LIMIT, PageRequest, Position, Window,
};
use crate::store::{ReadEvents, StoreError, list_page};
use crate::telemetry::record;

/// Message partitions read at once for one page.
const READS_AT_ONCE: usize = 8;

/// A message whose last report is `status`, received `since` (epoch seconds) and nothing after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StalledMessage {
    pub message_id: String,
    pub status: &'static str,
    pub since: i64,
    pub key: Option<String>,
}

#[derive(Debug)]
pub struct StalledPage {
    pub messages: Vec<StalledMessage>,
    /// Where the listing of the window continues (`None` when it is done).
    pub next: Option<Position>,
}

/// The stalled messages among those of one page of `listing` (a window's `accepted` or `sent`
/// events), stalled meaning: the listed step is still their highest, they have not failed, and
/// it was reached at or before `cutoff` (epoch seconds).
pub async fn stalled_page(
    store: &dyn ReadEvents,
    listing: &ListRequest,
    cutoff: i64,
) -> Result<StalledPage, StoreError> {
    let page = PageRequest {
        after: listing.page.after.clone(),
        limit: listing.page.limit,
    };
    let listed = list_page(store, &listing.listing, &listing.filter, &page).await?;
    let step = &listing.filter.status;
    // Each message with the time of its listed event (an accepted report has no time of its
    // own: the time it arrived).
    let mut candidates: BTreeMap<String, i64> = BTreeMap::new();
    for stored in &listed.events {
        let at = stored
            .event
            .occurred_at
            .unwrap_or(stored.received_at / 1000);
        if let (Some(message_id), true) = (&stored.event.message_id, at <= cutoff) {
            let latest = candidates.entry(message_id.clone()).or_insert(at);
            *latest = (*latest).max(at);
        }
    }
    let messages: Vec<Option<StalledMessage>> = futures::stream::iter(candidates)
        .map(|(message_id, listed_at)| async move {
            let Some(record) = store.read_message(&message_id).await? else {
                return Ok(None);
            };
            let state = record.state.unwrap_or_default();
            // Only messages still at the listed step: one that went on (an accepted message
            // since sent) is the next step's listing's, so the two are never counted twice.
            if &state.progress != step {
                return Ok(None);
            }
            let status = match state.progress {
                Some(DeliveryStatus::Accepted) => "accepted",
                Some(DeliveryStatus::Sent) => "sent",
                _ => return Ok(None),
            };
            let since = state.progress_at.unwrap_or(listed_at);
            Ok(
                (!state.failed && since <= cutoff).then_some(StalledMessage {
                    message_id,
                    status,
                    since,
                    key: record.key,
                }),
            )
        })
        .buffered(READS_AT_ONCE)
        .try_collect()
        .await?;
    Ok(StalledPage {
        messages: messages.into_iter().flatten().collect(),
        next: listed.next,
    })
}

/// Whether `listing` is one [`stalled_page`] can read: a window's events of one step that a
/// delivery report would follow.
pub fn is_stalled_listing(listing: &ListRequest) -> bool {
    matches!(listing.listing, Listing::Events(_))
        && matches!(
            listing.filter.status,
            Some(DeliveryStatus::Accepted | DeliveryStatus::Sent)
        )
}

/// The hourly count behind the `StalledMessages` metric and its alarm: the messages accepted or
/// sent in the `lookback` before `hours` ago that have had no report since.
pub struct StalledCount {
    pub store: Arc<dyn ReadEvents>,
    pub hours: i64,
    pub lookback: Duration,
    /// Bound on one count, inside the function's timeout; a count cut short is still emitted
    /// (and logged as such).
    pub budget: Duration,
}

/// What `STALLED_HOURS` defaults to: a day without a delivery report.
pub const DEFAULT_STALLED_HOURS: i64 = 24;

impl StalledCount {
    /// Counts, emits the metric, and returns the count and whether it covered the whole window.
    pub async fn count(&self, now: i64) -> Result<(usize, bool), StoreError> {
        let cutoff = now - self.hours * 3600;
        let lookback = i64::try_from(self.lookback.as_secs()).unwrap_or(i64::MAX);
        let window = Window::new((cutoff - lookback).max(0), cutoff + 1)
            .map_err(|error| StoreError::Rejected(format!("the count's window: {error}")))?;
        let started = Instant::now();
        let mut count = 0;
        let mut complete = true;
        'steps: for step in [DeliveryStatus::Accepted, DeliveryStatus::Sent] {
            let mut listing = ListRequest {
                listing: Listing::Events(EventScope::Window(window)),
                filter: EventFilter {
                    status: Some(step),
                    ..EventFilter::default()
                },
                page: PageRequest {
                    after: None,
                    limit: MAX_LIMIT,
                },
                format: Format::Json,
            };
            loop {
                let remaining = self.budget.saturating_sub(started.elapsed());
                let Ok(page) = tokio::time::timeout(
                    remaining,
                    stalled_page(self.store.as_ref(), &listing, cutoff),
                )
                .await
                else {
                    complete = false;
                    break 'steps;
                };
                let page = page?;
                count += page.messages.len();
                match page.next {
                    Some(next) => listing.page.after = Some(next),
                    None => break,
                }
            }
        }
        record::stalled_messages(count);
        tracing::info!(
            count,
            complete,
            hours = self.hours,
            "stalled messages counted"
        );
        Ok((count, complete))
    }
}

/// The counting Lambda's handler, invoked by its schedule (the event itself says nothing).
pub async fn count_on_schedule(counter: &StalledCount, _event: serde_json::Value) {
    let now = crate::clock::now_millis() / 1000;
    if let Err(error) = counter.count(now).await {
        // No metric this hour: the alarm treats the missing point as missing, and the next
        // hour counts again.
        tracing::error!(%error, "counting stalled messages failed");
    }
}
