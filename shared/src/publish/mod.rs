//! The publisher port: where newly stored events go for downstream consumers, as
//! [`DownstreamEvent`]s.
//!
//! An adapter sends one batch within its limits and says, per event, whether it went out
//! ([`PublishEvents`]); [`publish`] drives it over any number of events: batches within the
//! limits, in order, resending only the events the target failed to take (when the failure is
//! worth another try), and stopping at the first batch it cannot complete, so that nothing after
//! the first failure is sent in vain by a caller that will retry from there.
//!
//! Adapters: [`eventbridge::EventBridgePublisher`] in AWS; [`local::PrintEvents`] and
//! [`local::PostEvents`] for the local stack. [`stream`] is the DynamoDB stream consumer that
//! publishes every event as it is stored.

#[cfg(feature = "eventbridge")]
pub mod eventbridge;
pub mod local;
pub mod stream;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

use crate::domain::downstream::{DetailError, DownstreamEvent};
use crate::store::StoredEvent;
use crate::telemetry::record;

/// Sends of one batch that fail only for some of its events: the failed ones are sent again
/// after these waits, 100 ms then 200 ms, each plus up to as much again in jitter (three
/// attempts in all), before the batch counts as failed.
const RESEND_BACKOFF: ExponentialBuilder = ExponentialBuilder::new()
    .with_min_delay(Duration::from_millis(100))
    .with_max_delay(Duration::from_millis(200))
    .with_max_times(2)
    .with_jitter();

/// What one call to the target may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Events per call.
    pub entries: usize,
    /// Sum of [`entry_bytes`] over the events of one call.
    pub bytes: usize,
}

/// What one `put_batch` returns: one outcome per event given, in the same order.
pub type PublishFuture<'a> =
    Pin<Box<dyn Future<Output = Vec<Result<(), PublishError>>> + Send + 'a>>;

/// A target of downstream events (an EventBridge bus, stdout, a URL).
pub trait PublishEvents: Send + Sync {
    fn limits(&self) -> BatchLimits;
    /// Sends `events` (within [`Self::limits`]) in one call where the target allows it.
    fn put_batch<'a>(&'a self, events: &'a [&'a DownstreamEvent]) -> PublishFuture<'a>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The target refused the event; sending it again unchanged will not help.
    #[error("the target refused the event: {0}")]
    Refused(String),
    /// The target could not take it now (throttling, an internal error, no connection).
    #[error("the target is unavailable: {0}")]
    Unavailable(String),
}

impl PublishError {
    fn kind(&self) -> &'static str {
        match self {
            PublishError::Refused(_) => "refused",
            PublishError::Unavailable(_) => "unavailable",
        }
    }
}

/// The first event that could not be published. Every event before it was; events after it
/// may have been too (those in the same batch, when the target takes a batch per call), but
/// no batch after its own was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {index} was not published: {error}")]
pub struct PublishFailure {
    pub index: usize,
    pub error: PublishError,
}

/// The downstream event of a stored event.
pub fn downstream(stored: &StoredEvent) -> Result<DownstreamEvent, DetailError> {
    DownstreamEvent::new(
        &stored.event,
        stored.sub_product,
        stored.received_at,
        stored.raw_ref.as_ref(),
    )
}

/// What an event weighs against [`BatchLimits::bytes`]: EventBridge's own measure of an entry
/// (`Time` counts 14 bytes, then the UTF-8 bytes of `DetailType` and `Detail`), without the
/// `Source`, which is the same for every event and which the adapter subtracts from its limit.
pub fn entry_bytes(event: &DownstreamEvent) -> usize {
    14 + event.detail_type.as_str().len() + event.detail.get().len()
}

/// Publishes `events` in batches within the publisher's limits, one batch after the other.
pub async fn publish(
    publisher: &dyn PublishEvents,
    events: &[DownstreamEvent],
) -> Result<(), PublishFailure> {
    let limits = publisher.limits();
    let mut start = 0;
    while start < events.len() {
        let end = batch_end(events, start, limits);
        publish_batch(publisher, events, start..end).await?;
        start = end;
    }
    Ok(())
}

/// The end of the batch that starts at `start`: as many events as the limits allow, and at
/// least one (an event over the byte limit alone is the target's to refuse).
fn batch_end(events: &[DownstreamEvent], start: usize, limits: BatchLimits) -> usize {
    let mut bytes = 0;
    let mut end = start;
    while end < events.len() && end - start < limits.entries.max(1) {
        bytes += entry_bytes(&events[end]);
        if end > start && bytes > limits.bytes {
            break;
        }
        end += 1;
    }
    end
}

async fn publish_batch(
    publisher: &dyn PublishEvents,
    events: &[DownstreamEvent],
    batch: std::ops::Range<usize>,
) -> Result<(), PublishFailure> {
    let mut pending: Vec<usize> = batch.collect();
    let mut failed: Option<PublishFailure> = None;
    let mut waits = RESEND_BACKOFF.build();
    let mut attempt = 1;
    loop {
        let sent: Vec<&DownstreamEvent> = pending.iter().map(|&i| &events[i]).collect();
        let mut outcomes = publisher.put_batch(&sent).await;
        // An adapter that answers for fewer events than it was given has not published the rest.
        outcomes.resize_with(sent.len(), || {
            Err(PublishError::Unavailable(
                "the target did not answer for this event".into(),
            ))
        });
        // The wait before another attempt; none once the attempts are used up.
        let wait = waits.next();
        let mut retry = Vec::new();
        for (index, outcome) in pending.into_iter().zip(outcomes) {
            match outcome {
                Ok(()) => record::event_published(events[index].detail_type.as_str()),
                Err(PublishError::Unavailable(reason)) if wait.is_some() => {
                    tracing::warn!(event_id = %events[index].event_id, %reason, attempt, "publishing again");
                    retry.push(index);
                }
                Err(error) => {
                    record::publish_failure(error.kind());
                    if failed.as_ref().is_none_or(|f| index < f.index) {
                        failed = Some(PublishFailure { index, error });
                    }
                }
            }
        }
        pending = retry;
        match wait {
            Some(wait) if !pending.is_empty() => tokio::time::sleep(wait).await,
            _ => break,
        }
        attempt += 1;
    }
    failed.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{SubProduct, parse_delivery};

    fn event(fill: usize) -> DownstreamEvent {
        let body = format!(r#"{{"fill":"{}"}}"#, "x".repeat(fill));
        let event = parse_delivery(body.as_bytes()).unwrap().remove(0);
        DownstreamEvent::new(&event, SubProduct::Verify, 0, None).unwrap()
    }

    #[test]
    fn batches_are_cut_by_count_and_by_bytes() {
        let small: Vec<_> = (0..23).map(|_| event(10)).collect();
        let limits = BatchLimits {
            entries: 10,
            bytes: 256 * 1024,
        };
        assert_eq!(batch_end(&small, 0, limits), 10);
        assert_eq!(batch_end(&small, 20, limits), 23);

        let big: Vec<_> = (0..3).map(|_| event(100 * 1024)).collect();
        assert_eq!(
            batch_end(&big, 0, limits),
            2,
            "two fit in 256 KiB, three do not"
        );
        let tiny = BatchLimits {
            entries: 10,
            bytes: 10,
        };
        assert_eq!(
            batch_end(&big, 0, tiny),
            1,
            "an event over the limit goes alone"
        );
    }
}
