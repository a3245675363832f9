//! The DynamoDB stream consumer: every event item the receiver inserts becomes one downstream
//! event.
//!
//! Which records count: `INSERT`s whose new image is an event item (its `SK` begins with
//! `EVT#`, see [`crate::store::dynamo::event_from_image`]). Updates (`MODIFY`, which the store
//! makes of no event item), TTL deletions (`REMOVE`) and inserts of any other item (hour counts,
//! OAuth client, refresh token, or items added later) are skipped. A duplicate delivery never reaches the stream at all: the
//! receiver's conditional puts leave an existing event untouched, so there is no record of it.
//! The event source mapping's filter says the same in the template, so such records usually
//! never reach the function; this check keeps it right without the filter.
//!
//! Failures: the answer reports the first record that was not published in
//! `batchItemFailures`, and Lambda (with `ReportBatchItemFailures`) retries the shard from that
//! record on. Since every record after it will come again, publishing stops at the failed batch
//! of [`super::publish`] rather than go on: only the other events of that one `PutEvents` call
//! (at most nine) can be published twice. The guarantee downstream is at least once;
//! `detail.event_id` is stable across retries, to dedupe on.

use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};

use super::{PublishEvents, PublishFailure, downstream, publish};
use crate::domain::downstream::DownstreamEvent;
use crate::store::dynamo::event_from_image;
use crate::telemetry::take_cold_start;

/// Dependencies of the stream consumer Lambda.
pub struct StreamPublisher {
    pub publisher: Arc<dyn PublishEvents>,
}

/// What a record of the stream is to the consumer.
enum Record {
    /// Not a newly stored event.
    Skipped,
    Event(DownstreamEvent),
    /// An event item that cannot be read or turned into a downstream event: it will fail the
    /// same way every time, so it goes the way of a failed publish (retries, then the
    /// dead-letter queue), and the operators see it.
    Unreadable(String),
}

/// Publishes the new events of one batch of stream records and reports the first record that
/// did not make it, if any.
pub async fn publish_new_events(
    consumer: &StreamPublisher,
    event: StreamEvent,
) -> DynamoDbEventResponse {
    let started = Instant::now();
    let cold_start = take_cold_start();
    let records = event.records.len();

    // Records up to the first unreadable one: what comes after it waits for its retry.
    let mut events = Vec::new();
    let mut sequence_numbers = Vec::new();
    let mut unreadable = None;
    let mut skipped = 0;
    for record in event.records {
        let sequence_number = record.change.sequence_number.clone();
        match classify(record) {
            Record::Skipped => skipped += 1,
            Record::Event(event) => {
                events.push(event);
                sequence_numbers.push(sequence_number);
            }
            Record::Unreadable(reason) => {
                unreadable = Some((sequence_number, reason));
                break;
            }
        }
    }

    // `published`: the events published for sure (those after a failure may have been too).
    let (published, failed_at) = match publish(consumer.publisher.as_ref(), &events).await {
        Ok(()) => (
            events.len(),
            unreadable.map(|(sequence_number, reason)| {
                tracing::error!(
                    sequence_number = sequence_number.as_deref(),
                    %reason,
                    "an event item of the stream cannot be published"
                );
                sequence_number
            }),
        ),
        Err(PublishFailure { index, error }) => {
            let sequence_number = sequence_numbers.get(index).cloned().flatten();
            tracing::error!(
                event_id = events.get(index).map(|e| e.event_id.as_str()),
                sequence_number = sequence_number.as_deref(),
                %error,
                "publishing stopped at this event; Lambda retries from its record"
            );
            (index, Some(sequence_number))
        }
    };
    tracing::info!(
        cold_start,
        records,
        skipped,
        published,
        failed = failed_at.is_some(),
        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0
    );

    let mut response = DynamoDbEventResponse::default();
    if let Some(sequence_number) = failed_at {
        // Lambda resumes from the lowest sequence number reported. One without a sequence
        // number (never seen from DynamoDB) makes Lambda retry the whole batch, which is right.
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = sequence_number;
        response.batch_item_failures.push(failure);
    }
    response
}

fn classify(mut record: EventRecord) -> Record {
    if record.event_name != "INSERT" {
        return Record::Skipped;
    }
    let image = std::mem::take(&mut record.change.new_image).into();
    match event_from_image(&image) {
        None => Record::Skipped,
        Some(Err(error)) => Record::Unreadable(error.to_string()),
        Some(Ok(stored)) => match downstream(&stored) {
            Ok(event) => Record::Event(event),
            Err(error) => Record::Unreadable(error.to_string()),
        },
    }
}
