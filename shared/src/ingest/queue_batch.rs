//! The drain Lambda's handler: a batch of the fallback queue's messages, each a parked delivery,
//! stored through [`Drain`]; those that fail are reported in `batchItemFailures`, so SQS gives
//! only them again (after the queue's visibility timeout) and, after the queue's
//! `maxReceiveCount`, moves them to its dead-letter queue.

use std::time::Instant;

use futures::StreamExt;

use super::Drain;
use crate::fallback::lambda_event::{BatchItemFailure, BatchResponse, QueueEvent};
use crate::telemetry::take_cold_start;

/// Parked deliveries stored at once: enough to overlap their round trips, few enough not to
/// press a table that has only just come back.
pub const DRAIN_CONCURRENCY: usize = 4;

pub async fn store_parked_deliveries(drain: &Drain, event: QueueEvent) -> BatchResponse {
    let started = Instant::now();
    let cold_start = take_cold_start();
    let messages = event.records.len();
    let failed: Vec<String> = futures::stream::iter(event.records)
        .map(|message| async move {
            let delivery = message.parked_delivery();
            let stored = drain
                .store_message(message.message_id.as_deref(), delivery)
                .await;
            // Without its id a failure cannot be named; an empty identifier makes Lambda count
            // the whole batch as failed, which gives this message again too.
            (!stored).then(|| message.message_id.unwrap_or_default())
        })
        .buffer_unordered(DRAIN_CONCURRENCY)
        .filter_map(std::future::ready)
        .collect()
        .await;
    tracing::info!(
        cold_start,
        messages,
        failed = failed.len(),
        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0
    );
    BatchResponse {
        batch_item_failures: failed
            .into_iter()
            .map(|item_identifier| BatchItemFailure { item_identifier })
            .collect(),
    }
}
