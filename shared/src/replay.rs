//! Replay: stored events published to the downstream targets again (the EventBridge bus in
//! AWS), for a consumer that was down or a rule added late. One message, or one page of a
//! listing (a window or a tracking key, with the `/events` filters), per call: bounded, and
//! resumable with the listing's cursor. Each event goes out with the `event_id` it was first
//! published with, so consumers that dedupe on it see nothing twice.

use std::sync::Arc;

use crate::domain::downstream::DetailError;
use crate::domain::query::{ListRequest, PageRequest, Position};
use crate::publish::{PublishEvents, PublishFailure, downstream, publish};
use crate::store::{ReadEvents, StoreError, StoredEvent, list_page};

/// Events one call publishes at most (a page of the listing): within the replay function's
/// time, some 50 `PutEvents` calls of 10.
pub const MAX_REPLAY_EVENTS: usize = 500;

pub struct Replay {
    pub store: Arc<dyn ReadEvents>,
    /// Where events go; none, and replay is refused as not configured.
    pub publishers: Vec<Arc<dyn PublishEvents>>,
}

/// What one call published, and where the listing continues (`None` when it is done).
#[derive(Debug)]
pub struct Replayed {
    pub published: usize,
    pub next: Option<Position>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("there is no downstream target to publish to")]
    NotConfigured,
    #[error("no event has been stored for message {0}")]
    MessageNotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("event {event_id} cannot be published: {error}")]
    Unpublishable {
        event_id: String,
        error: DetailError,
    },
    /// The events before `published` went out; the call may be made again as it was.
    #[error("{published} events were published, then: {failure}")]
    Publish {
        published: usize,
        failure: PublishFailure,
    },
}

impl Replay {
    /// Every event of one message, in time order.
    pub async fn message(&self, message_id: &str) -> Result<usize, ReplayError> {
        self.configured()?;
        let record = self
            .store
            .read_message(message_id)
            .await?
            .ok_or_else(|| ReplayError::MessageNotFound(message_id.to_owned()))?;
        self.publish(&record.events).await
    }

    /// One page of `request`'s listing, at most [`MAX_REPLAY_EVENTS`] events.
    pub async fn listing(&self, request: &ListRequest) -> Result<Replayed, ReplayError> {
        self.configured()?;
        let page = PageRequest {
            after: request.page.after.clone(),
            limit: request.page.limit.min(MAX_REPLAY_EVENTS),
        };
        let listed = list_page(
            self.store.as_ref(),
            &request.listing,
            &request.filter,
            &page,
        )
        .await?;
        let published = self.publish(&listed.events).await?;
        Ok(Replayed {
            published,
            next: listed.next,
        })
    }

    fn configured(&self) -> Result<(), ReplayError> {
        match self.publishers.is_empty() {
            true => Err(ReplayError::NotConfigured),
            false => Ok(()),
        }
    }

    async fn publish(&self, events: &[StoredEvent]) -> Result<usize, ReplayError> {
        let downstream_events = events
            .iter()
            .map(|stored| {
                downstream(stored).map_err(|error| ReplayError::Unpublishable {
                    event_id: stored.event.id.clone(),
                    error,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for publisher in &self.publishers {
            publish(publisher.as_ref(), &downstream_events)
                .await
                .map_err(|failure| ReplayError::Publish {
                    published: failure.index,
                    failure,
                })?;
        }
        tracing::info!(events = downstream_events.len(), "events replayed");
        Ok(downstream_events.len())
    }
}
