//! The fallback queue's drain, as the `fallback-drain` Lambda runs it in AWS: receives the
//! parked deliveries from the queue (moto's SQS, or any SQS-compatible endpoint), hands them to
//! the Lambda's own handler as the SQS event Lambda would, and deletes what it stored. A
//! delivery that fails stays in the queue and comes back once its visibility timeout has passed;
//! with a redrive policy on the queue, it moves to its dead-letter queue after `maxReceiveCount`
//! receives, as in AWS.

use std::time::Duration;

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message};
use shared::fallback::lambda_event::{MessageAttribute, QueueEvent, QueueMessage};
use shared::ingest::Drain;
use shared::ingest::queue_batch::store_parked_deliveries;
use tokio::sync::watch;

/// How long a received delivery is hidden from the next receive: it then comes back if it was
/// not stored. Short, since the drain is the queue's only consumer here.
const VISIBILITY_TIMEOUT_SECS: i32 = 10;
/// Long polling: an empty queue answers after this long, so the drain notices a stop soon.
const WAIT_SECS: i32 = 1;
/// After the queue itself failed to answer.
const PAUSE_AFTER_FAILURE: Duration = Duration::from_secs(1);

pub(crate) fn spawn(
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    drain: Drain,
    mut stopped: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = drain_once(&sqs, &queue_url, &drain) => {}
                _ = stopped.changed() => return,
            }
        }
    })
}

/// One receive, and what it brought.
async fn drain_once(sqs: &aws_sdk_sqs::Client, queue_url: &str, drain: &Drain) {
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(WAIT_SECS)
        .visibility_timeout(VISIBILITY_TIMEOUT_SECS)
        .message_attribute_names("All")
        .send()
        .await;
    let messages = match received {
        Ok(received) => received.messages.unwrap_or_default(),
        Err(error) => {
            tracing::warn!(error = %DisplayErrorContext(&error), "the fallback queue did not answer");
            tokio::time::sleep(PAUSE_AFTER_FAILURE).await;
            return;
        }
    };
    if messages.is_empty() {
        return;
    }
    let event = QueueEvent {
        records: messages.iter().map(as_lambda_gives_it).collect(),
    };
    let failed = store_parked_deliveries(drain, event)
        .await
        .batch_item_failures;
    let stored: Vec<_> = messages
        .iter()
        .filter(|m| {
            !failed
                .iter()
                .any(|f| Some(f.item_identifier.as_str()) == m.message_id())
        })
        .enumerate()
        .filter_map(|(index, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(index.to_string())
                .receipt_handle(m.receipt_handle()?)
                .build()
                .ok()
        })
        .collect();
    if stored.is_empty() {
        return;
    }
    // What is not deleted comes back and is found stored: duplicates, nothing more.
    let deleted = sqs
        .delete_message_batch()
        .queue_url(queue_url)
        .set_entries(Some(stored))
        .send()
        .await;
    if let Err(error) = deleted {
        tracing::warn!(error = %DisplayErrorContext(&error), "stored parked deliveries could not be deleted from the queue");
    }
}

/// A received message as a record of the SQS event Lambda invokes the drain with.
fn as_lambda_gives_it(message: &Message) -> QueueMessage {
    QueueMessage {
        message_id: message.message_id().map(str::to_owned),
        body: message.body().map(str::to_owned),
        message_attributes: message
            .message_attributes()
            .into_iter()
            .flatten()
            .map(|(name, value)| {
                let attribute = MessageAttribute {
                    string_value: value.string_value().map(str::to_owned),
                };
                (name.clone(), attribute)
            })
            .collect(),
    }
}
