//! A delivery's way into the store: its events written within the receiver's budget, or, when
//! the store fails for a reason a retry may cure and a fallback queue is configured, the delivery
//! parked there ([`store_or_park`]); then stored from the queue by [`Drain`], through the same
//! write path, so that each event is stored once whichever way it came, and however often.

pub mod queue_batch;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::domain::parse_delivery;
use crate::fallback::sqs::DecodeError;
use crate::fallback::{Fallback, ParkError, ParkedDelivery};
use crate::store::{StoreError, StoredEvent, WriteEvents, WriteReport};
use crate::telemetry::record;

/// Where a delivery went.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Stored(WriteReport),
    /// In the fallback queue, to be stored by the drain.
    Parked,
}

/// Writes `events`, all their store calls within `budget`; past it, [`StoreError::Timeout`].
pub async fn write_within(
    store: &dyn WriteEvents,
    budget: Duration,
    events: &[StoredEvent],
) -> Result<WriteReport, StoreError> {
    let started = Instant::now();
    let written = tokio::time::timeout(budget, store.write_events(events))
        .await
        .unwrap_or(Err(StoreError::Timeout));
    record::store_call(started.elapsed(), written.is_ok());
    written
}

/// Stores the `events` of `delivery`; when the store fails for a reason a retry may cure, parks
/// the delivery in `fallback` instead. The store's error is returned only when there is no
/// fallback, the failure is one no retry cures, or parking failed too.
pub async fn store_or_park(
    store: &dyn WriteEvents,
    budget: Duration,
    fallback: Option<&Fallback>,
    delivery: &ParkedDelivery<'_>,
    events: &[StoredEvent],
) -> Result<Outcome, StoreError> {
    let error = match write_within(store, budget, events).await {
        Ok(report) => return Ok(Outcome::Stored(report)),
        Err(error) => error,
    };
    let Some(fallback) = fallback.filter(|_| error.may_pass()) else {
        tracing::error!(%error, events = events.len(), "storing a delivery failed");
        return Err(error);
    };
    let parked = tokio::time::timeout(fallback.budget, fallback.queue.park(delivery))
        .await
        .unwrap_or(Err(ParkError::Timeout));
    match parked {
        Ok(()) => {
            tracing::warn!(%error, events = events.len(), "storing a delivery failed; parked it in the fallback queue");
            record::parked(events.len());
            Ok(Outcome::Parked)
        }
        Err(park_error) => {
            tracing::error!(%error, %park_error, events = events.len(), "storing a delivery failed, and parking it failed too");
            record::park_failure();
            Err(error)
        }
    }
}

/// Stores parked deliveries, as the receiver would have.
#[derive(Clone)]
pub struct Drain {
    pub store: Arc<dyn WriteEvents>,
    /// Bound on storing one parked delivery, all its store calls together.
    pub budget: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    /// Not a delivery the receiver parked, or no longer readable: no retry will store it.
    #[error("the parked delivery cannot be read: {0}")]
    Unreadable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DrainError {
    /// The `Reason` of the `DrainFailures` metric.
    pub fn reason(&self) -> &'static str {
        match self {
            DrainError::Unreadable(_) => "unreadable",
            DrainError::Store(error) if error.may_pass() => "unavailable",
            DrainError::Store(_) => "refused",
        }
    }
}

impl Drain {
    /// Stores the events of `delivery` with the time it was received at, so they are the very
    /// items the receiver would have written: those stored before it was parked (or by an
    /// earlier attempt of the drain) count as duplicates, the rest are stored once.
    pub async fn store(&self, delivery: &ParkedDelivery<'_>) -> Result<WriteReport, DrainError> {
        let events = parse_delivery(&delivery.body)
            .map_err(|error| DrainError::Unreadable(error.to_string()))?;
        let events: Vec<StoredEvent> = events
            .into_iter()
            .map(|event| StoredEvent::new(event, delivery.sub_product, delivery.received_at))
            .collect();
        let report = write_within(self.store.as_ref(), self.budget, &events).await?;
        let parsed: Vec<_> = events.into_iter().map(|e| e.event).collect();
        record::delivery(delivery.sub_product, &parsed, &report);
        record::drained();
        Ok(report)
    }

    /// Stores the delivery one message of the queue holds, and logs and counts what became of
    /// it; `true` when it is stored (and the message may go).
    pub async fn store_message(
        &self,
        message_id: Option<&str>,
        delivery: Result<ParkedDelivery<'_>, DecodeError>,
    ) -> bool {
        let stored = match delivery {
            Ok(delivery) => self.store(&delivery).await,
            Err(error) => Err(DrainError::Unreadable(error.to_string())),
        };
        match stored {
            Ok(report) => {
                tracing::info!(
                    message_id,
                    stored = report.stored,
                    duplicates = report.duplicates,
                    "parked delivery stored"
                );
                true
            }
            Err(error) => {
                let reason = error.reason();
                tracing::error!(
                    message_id,
                    reason,
                    %error,
                    "a parked delivery could not be stored; it stays in the queue"
                );
                record::drain_failure(reason);
                false
            }
        }
    }
}
