//! A delivery's way into the store: its events written within the receiver's budget, or, when
//! the store fails for a reason a retry may cure and a fallback queue is configured, the delivery
//! parked there ([`store_or_park`]); then stored from the queue by [`Drain`], through the same
//! write path, so that each event is stored once whichever way it came, and however often.

pub mod queue_batch;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::domain::{Event, SubProduct, parse_delivery};
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

/// A delivery's events as stored: where and when they came in.
pub fn stored_events(
    events: Vec<Event>,
    sub_product: SubProduct,
    received_at: i64,
) -> Vec<StoredEvent> {
    events
        .into_iter()
        .map(|event| StoredEvent::new(event, sub_product, received_at))
        .collect()
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
        let events = stored_events(events, delivery.sub_product, delivery.received_at);
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

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::sync::Mutex;

    use futures::future::BoxFuture;

    use super::*;
    use crate::fallback::ParkDelivery;
    use crate::store::StoreFuture;

    /// A store that always fails with the error `fail` makes.
    struct FailingStore(fn() -> StoreError);

    impl WriteEvents for FailingStore {
        fn write_events<'a>(&'a self, _: &'a [StoredEvent]) -> StoreFuture<'a, WriteReport> {
            let error = (self.0)();
            Box::pin(async move { Err(error) })
        }
    }

    /// A queue that takes what it is given, or never answers.
    #[derive(Default)]
    struct Queue {
        parked: Mutex<Vec<Vec<u8>>>,
        hangs: bool,
    }

    impl ParkDelivery for Queue {
        fn park<'a>(
            &'a self,
            delivery: &'a ParkedDelivery<'a>,
        ) -> BoxFuture<'a, Result<(), ParkError>> {
            Box::pin(async move {
                if self.hangs {
                    std::future::pending::<()>().await;
                }
                self.parked.lock().unwrap().push(delivery.body.to_vec());
                Ok(())
            })
        }
    }

    async fn deliver(store: FailingStore, queue: Arc<Queue>) -> Result<Outcome, StoreError> {
        let body = br#"{"key": "k"}"#;
        let delivery = ParkedDelivery {
            body: Cow::Borrowed(body),
            sub_product: SubProduct::Conversational,
            received_at: 1,
            principal: Cow::Borrowed("static-token"),
        };
        let events = stored_events(parse_delivery(body).unwrap(), SubProduct::Conversational, 1);
        let fallback = Fallback {
            queue,
            budget: Duration::from_millis(50),
        };
        store_or_park(
            &store,
            Duration::from_secs(1),
            Some(&fallback),
            &delivery,
            &events,
        )
        .await
    }

    #[tokio::test]
    async fn what_a_retry_may_cure_is_parked_what_it_never_will_is_not() {
        for error in [(|| StoreError::Timeout) as fn() -> StoreError, || {
            StoreError::Unavailable("throttled".into())
        }] {
            let queue = Arc::new(Queue::default());
            let outcome = deliver(FailingStore(error), Arc::clone(&queue)).await;
            assert_eq!(outcome.unwrap(), Outcome::Parked);
            assert_eq!(
                queue.parked.lock().unwrap().as_slice(),
                [br#"{"key": "k"}"#]
            );
        }
        for error in [
            (|| StoreError::Rejected("too large".into())) as fn() -> StoreError,
            || StoreError::Corrupt("bad item".into()),
        ] {
            let queue = Arc::new(Queue::default());
            let outcome = deliver(FailingStore(error), Arc::clone(&queue)).await;
            assert!(outcome.is_err());
            assert!(queue.parked.lock().unwrap().is_empty());
        }
    }

    #[tokio::test]
    async fn a_queue_that_does_not_answer_in_its_budget_leaves_the_stores_error() {
        let queue = Arc::new(Queue {
            hangs: true,
            ..Queue::default()
        });
        let started = Instant::now();
        let outcome = deliver(FailingStore(|| StoreError::Timeout), queue).await;
        assert!(matches!(outcome, Err(StoreError::Timeout)));
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
