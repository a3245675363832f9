//! The production publisher: `PutEvents` on one EventBridge bus.
//!
//! One call takes at most 10 entries, and entries must stay under 256 KiB (EventBridge measures
//! `Time`, `Source`, `DetailType` and `Detail`); a batch is kept under 256 KiB in all as well, so
//! a request is never refused for its size. EventBridge answers per entry: the call succeeds
//! while some entries fail (`FailedEntryCount`, an `ErrorCode` on the entry), and those entries
//! alone are reported as failed.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::{PutEventsRequestEntry, PutEventsResultEntry};

use super::{BatchLimits, PublishError, PublishEvents, PublishFuture};
use crate::domain::downstream::DownstreamEvent;

/// Entries per `PutEvents` call.
pub const MAX_ENTRIES: usize = 10;
/// Entries (and, to be safe, a whole request) must be smaller than 256 KiB.
const MAX_REQUEST_BYTES: usize = 256 * 1024 - 1;

/// Entry error codes that say "not now" rather than "never": the entry is worth sending again.
const PASSING_ERRORS: [&str; 4] = [
    "InternalFailure",
    "InternalException",
    "ThrottlingException",
    "ServiceUnavailable",
];

pub struct EventBridgePublisher {
    client: Client,
    bus: String,
    source: String,
}

impl EventBridgePublisher {
    /// Publishes to `bus` (name or ARN) with `source` as every event's `source`.
    pub fn new(client: Client, bus: impl Into<String>, source: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
            source: source.into(),
        }
    }

    fn entry(&self, event: &DownstreamEvent) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(&self.source)
            .detail_type(event.detail_type.as_str())
            .detail(event.detail.get())
            .time(DateTime::from_secs(event.time))
            .build()
    }
}

impl PublishEvents for EventBridgePublisher {
    fn limits(&self) -> BatchLimits {
        BatchLimits {
            entries: MAX_ENTRIES,
            // The source is not part of super::entry_bytes: it counts once per entry.
            bytes: MAX_REQUEST_BYTES.saturating_sub(MAX_ENTRIES * self.source.len()),
        }
    }

    fn put_batch<'a>(&'a self, events: &'a [&'a DownstreamEvent]) -> PublishFuture<'a> {
        Box::pin(async move {
            let entries = events.iter().map(|e| self.entry(e)).collect();
            match self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(output) => outcomes(output.entries(), events.len()),
                Err(error) => vec![Err(call_error(error)); events.len()],
            }
        })
    }
}

/// One outcome per entry sent, from `PutEvents`' answer (whose entries follow the request's
/// order). An entry the answer does not cover counts as not published.
pub fn outcomes(entries: &[PutEventsResultEntry], sent: usize) -> Vec<Result<(), PublishError>> {
    (0..sent)
        .map(|i| match entries.get(i) {
            Some(entry) => match entry.error_code() {
                None if entry.event_id().is_some() => Ok(()),
                None => Err(PublishError::Unavailable(
                    "no event id and no error code for this entry".into(),
                )),
                Some(code) => {
                    let reason = format!("{code}: {}", entry.error_message().unwrap_or(""));
                    if PASSING_ERRORS.contains(&code) {
                        Err(PublishError::Unavailable(reason))
                    } else {
                        Err(PublishError::Refused(reason))
                    }
                }
            },
            None => Err(PublishError::Unavailable(
                "the answer has no entry for this event".into(),
            )),
        })
        .collect()
}

/// A failed call (the SDK has already retried what it retries): refused when the service says
/// the request is wrong or not allowed, else unavailable.
fn call_error<E, R>(error: SdkError<E, R>) -> PublishError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let refused = matches!(
        error.code(),
        Some(
            "AccessDeniedException"
                | "ValidationException"
                | "ResourceNotFoundException"
                | "NotAuthorizedForSourceException"
                | "UnrecognizedClientException"
        )
    );
    let reason = DisplayErrorContext(&error).to_string();
    if refused {
        PublishError::Refused(reason)
    } else {
        PublishError::Unavailable(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn published(id: &str) -> PutEventsResultEntry {
        PutEventsResultEntry::builder().event_id(id).build()
    }

    fn failed(code: &str) -> PutEventsResultEntry {
        PutEventsResultEntry::builder()
            .error_code(code)
            .error_message("why")
            .build()
    }

    #[test]
    fn each_entry_has_its_own_outcome() {
        let answer = [
            published("a"),
            failed("ThrottlingException"),
            published("c"),
            failed("MalformedDetail"),
        ];
        let outcomes = outcomes(&answer, 5);
        assert_eq!(outcomes[0], Ok(()));
        assert_eq!(
            outcomes[1],
            Err(PublishError::Unavailable("ThrottlingException: why".into()))
        );
        assert_eq!(outcomes[2], Ok(()));
        assert_eq!(
            outcomes[3],
            Err(PublishError::Refused("MalformedDetail: why".into()))
        );
        assert!(
            matches!(outcomes[4], Err(PublishError::Unavailable(_))),
            "an entry the answer leaves out was not published"
        );
    }
}
