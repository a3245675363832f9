//! Downstream events without AWS: what the DynamoDB stream and the event-publisher Lambda do in
//! AWS, the local stack does around its store. Every event a write stores for the first time
//! (never a duplicate: the store's [`WriteReport::new_event_ids`] names them) is printed and/or
//! POSTed in the shape EventBridge delivers it.
//!
//! Publishing happens after the webhook is answered, in a task of its own that takes the writes'
//! events in the order they were stored, so a slow or absent receiver never slows or fails a
//! delivery: its failures are logged, and the event stays stored.

use std::collections::HashSet;
use std::sync::Arc;

use shared::domain::downstream::DownstreamEvent;
use shared::publish::local::{PostEvents, PrintEvents};
use shared::publish::{PublishError, PublishEvents, downstream, publish};
use shared::store::{StoreFuture, StoredEvent, WriteEvents, WriteReport};
use tokio::sync::mpsc;

/// Writes waiting to be published; beyond that, new events are logged and not published, so a
/// stuck receiver cannot make the local stack grow without bound.
const QUEUED_WRITES: usize = 1024;

/// Where the local stack sends new events.
#[derive(Debug, Clone)]
pub struct Downstream {
    /// Print each new event to stdout, one JSON line each.
    pub print: bool,
    /// POST each new event to this URL.
    pub post_to: Option<String>,
    /// The events' `source`.
    pub source: String,
}

impl Default for Downstream {
    /// Nowhere: new events are only stored.
    fn default() -> Self {
        Self {
            print: false,
            post_to: None,
            source: shared::config::DEFAULT_EVENT_SOURCE.into(),
        }
    }
}

impl Downstream {
    /// The targets this says, one publisher each: what new events go to, and what
    /// `/replay/...` publishes to.
    pub(crate) fn publishers(&self) -> Result<Vec<Arc<dyn PublishEvents>>, PublishError> {
        let mut publishers: Vec<Arc<dyn PublishEvents>> = Vec::new();
        if self.print {
            publishers.push(Arc::new(PrintEvents {
                source: self.source.clone(),
            }));
        }
        if let Some(url) = &self.post_to {
            publishers.push(Arc::new(PostEvents::new(url, &self.source)?));
        }
        Ok(publishers)
    }
}

/// `store`, publishing the new events of every write to `publishers`; `store` itself when there
/// are none.
pub(crate) fn around(
    store: Arc<dyn WriteEvents>,
    publishers: Vec<Arc<dyn PublishEvents>>,
) -> Arc<dyn WriteEvents> {
    if publishers.is_empty() {
        return store;
    }
    let (queue, writes) = mpsc::channel(QUEUED_WRITES);
    tokio::spawn(publish_in_order(writes, publishers));
    Arc::new(PublishingStore { store, queue })
}

/// Runs until every [`PublishingStore`] is gone, publishing what was queued before.
async fn publish_in_order(
    mut writes: mpsc::Receiver<Vec<DownstreamEvent>>,
    publishers: Vec<Arc<dyn PublishEvents>>,
) {
    while let Some(events) = writes.recv().await {
        for publisher in &publishers {
            if let Err(failure) = publish(publisher.as_ref(), &events).await {
                tracing::warn!(
                    event_id = events.get(failure.index).map(|e| e.event_id.as_str()),
                    error = %failure.error,
                    "a new event was not published (it is stored; the webhook was answered)"
                );
            }
        }
    }
}

struct PublishingStore {
    store: Arc<dyn WriteEvents>,
    queue: mpsc::Sender<Vec<DownstreamEvent>>,
}

impl PublishingStore {
    fn enqueue(&self, events: &[StoredEvent], report: &WriteReport) {
        let new: HashSet<&str> = report.new_event_ids.iter().map(String::as_str).collect();
        // A batch may hold one event twice; it was stored, and is published, once.
        let mut taken = HashSet::new();
        let downstream_events: Vec<DownstreamEvent> = events
            .iter()
            .filter(|e| new.contains(e.event.id.as_str()) && taken.insert(e.event.id.as_str()))
            .filter_map(|e| {
                downstream(e)
                    .inspect_err(|error| {
                        tracing::warn!(event_id = %e.event.id, %error, "a new event cannot be published");
                    })
                    .ok()
            })
            .collect();
        if downstream_events.is_empty() {
            return;
        }
        let count = downstream_events.len();
        if let Err(error) = self.queue.try_send(downstream_events) {
            tracing::warn!(%error, events = count, "new events were not published: the publishing queue is full");
        }
    }
}

impl WriteEvents for PublishingStore {
    fn write_events<'a>(&'a self, events: &'a [StoredEvent]) -> StoreFuture<'a, WriteReport> {
        Box::pin(async move {
            let report = self.store.write_events(events).await?;
            self.enqueue(events, &report);
            Ok(report)
        })
    }
}
