//! Message status rules.
//!
//! A message moves forward through `accepted < sent < delivered < read`; a report of a lower step
//! that arrives late never moves it back. `failed` is not a step on that line: WhatsApp may report
//! both `delivered` and `failed` for one message (several devices), so a failure is recorded on its
//! own and stays visible whatever arrives after it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::events::Event;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    Accepted,
    Sent,
    Delivered,
    Read,
    Failed,
    /// A status name this model does not know (Meta adds some from time to time); kept by name.
    Other(String),
}

impl DeliveryStatus {
    pub fn parse(name: &str) -> Self {
        match name {
            "accepted" => Self::Accepted,
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "read" => Self::Read,
            "failed" => Self::Failed,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Accepted => "accepted",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
            Self::Other(name) => name,
        }
    }

    /// Position on the forward-only line, for the statuses that are on it.
    pub fn progress_rank(&self) -> Option<u8> {
        match self {
            Self::Accepted => Some(0),
            Self::Sent => Some(1),
            Self::Delivered => Some(2),
            Self::Read => Some(3),
            Self::Failed | Self::Other(_) => None,
        }
    }

    /// The status at a rank returned by [`Self::progress_rank`].
    pub fn from_progress_rank(rank: u8) -> Option<Self> {
        [Self::Accepted, Self::Sent, Self::Delivered, Self::Read]
            .into_iter()
            .nth(usize::from(rank))
    }
}

impl Serialize for DeliveryStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DeliveryStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<str>::deserialize(d)?;
        Ok(Self::parse(&name))
    }
}

/// What one batch of events says about one message's status; applied to the stored state with
/// [`MessageState::apply`] (embedded store) or an equivalent conditional write (DynamoDB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub message_id: String,
    pub key: Option<String>,
    pub contact: Option<String>,
    /// Highest step of the forward line seen in the batch, with when it happened.
    pub progress: Option<(DeliveryStatus, Option<i64>)>,
    /// Set when the batch holds a `failed` report: its time and its error codes.
    pub failure: Option<Failure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Failure {
    pub at: Option<i64>,
    pub error_codes: Vec<i64>,
}

/// The stored status of one message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MessageState {
    /// Highest step reached on `accepted < sent < delivered < read`.
    pub progress: Option<DeliveryStatus>,
    pub progress_at: Option<i64>,
    pub failed: bool,
    pub failed_at: Option<i64>,
    /// Error codes of every failure report, without repeats, in ascending order.
    pub error_codes: Vec<i64>,
}

impl MessageState {
    /// The one word to show for the message: `failed` wins so a failure is never hidden by a
    /// later `delivered`; otherwise the highest step reached.
    pub fn status(&self) -> Option<&str> {
        if self.failed {
            Some("failed")
        } else {
            self.progress.as_ref().map(DeliveryStatus::as_str)
        }
    }

    pub fn apply(&mut self, change: &StatusChange) {
        if let Some((status, at)) = &change.progress {
            let current = self
                .progress
                .as_ref()
                .and_then(DeliveryStatus::progress_rank);
            if current < status.progress_rank() {
                self.progress = Some(status.clone());
                self.progress_at = *at;
            }
        }
        if let Some(failure) = &change.failure {
            self.failed = true;
            self.failed_at = self.failed_at.or(failure.at);
            self.error_codes.extend(&failure.error_codes);
            self.error_codes.sort_unstable();
            self.error_codes.dedup();
        }
    }
}

/// Folds the status-bearing events of a batch into one change per message, in first-seen order.
pub fn status_changes<'a>(events: impl IntoIterator<Item = &'a Event>) -> Vec<StatusChange> {
    let mut changes: Vec<StatusChange> = Vec::new();
    for event in events {
        let (Some(message_id), Some(status)) = (&event.message_id, &event.status) else {
            continue;
        };
        let is_progress = status.progress_rank().is_some();
        if !is_progress && *status != DeliveryStatus::Failed {
            continue;
        }
        let index = match changes.iter().position(|c| &c.message_id == message_id) {
            Some(i) => i,
            None => {
                changes.push(StatusChange {
                    message_id: message_id.clone(),
                    key: None,
                    contact: None,
                    progress: None,
                    failure: None,
                });
                changes.len() - 1
            }
        };
        let change = &mut changes[index];
        change.key = change.key.take().or_else(|| event.key.clone());
        change.contact = change.contact.take().or_else(|| event.contact.clone());
        if is_progress {
            let higher = change
                .progress
                .as_ref()
                .is_none_or(|(current, _)| current.progress_rank() < status.progress_rank());
            if higher {
                change.progress = Some((status.clone(), event.occurred_at));
            }
        } else {
            let failure = change.failure.get_or_insert_with(Failure::default);
            failure.at = failure.at.or(event.occurred_at);
            failure.error_codes.extend(&event.error_codes);
            failure.error_codes.sort_unstable();
            failure.error_codes.dedup();
        }
    }
    changes
}
