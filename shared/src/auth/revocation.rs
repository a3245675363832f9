//! Whether the client of an access token still exists. Our access tokens are verified without a
//! store read, so a withdrawn client's tokens would live out their (at most a day's) life; the
//! tokens of minted clients say so (`minted`), and for them the receiver asks the client store,
//! at most once per client per [`REVOCATION_CHECK_INTERVAL`]: a withdrawn client's tokens stop
//! being accepted within that long.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::store::ClientStore;

/// How long an answer of the client store is used before it is asked again.
pub const REVOCATION_CHECK_INTERVAL: Duration = Duration::from_secs(60);
/// Clients remembered at once; more, and the memory starts over (a store read per client).
const MAX_REMEMBERED: usize = 10_000;

pub struct Revocations {
    clients: Arc<dyn ClientStore>,
    interval: Duration,
    /// Client id → (when the store was asked, whether the client existed).
    answers: Mutex<HashMap<String, (Instant, bool)>>,
}

impl Revocations {
    pub fn new(clients: Arc<dyn ClientStore>) -> Self {
        Self {
            clients,
            interval: REVOCATION_CHECK_INTERVAL,
            answers: Mutex::default(),
        }
    }

    /// How long an answer is used (tests shorten it).
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Whether `client_id` has not been withdrawn. When the store cannot answer, the last answer
    /// stands, and a client never asked about counts as not withdrawn: the delivery it carries
    /// then fails to be stored anyway, and is retried.
    pub async fn is_current(&self, client_id: &str) -> bool {
        let remembered = self.remembered(client_id);
        if let Some((asked, exists)) = remembered
            && asked.elapsed() < self.interval
        {
            return exists;
        }
        let exists = match self.clients.find_client(client_id).await {
            Ok(found) => found.is_some(),
            Err(error) => {
                tracing::warn!(client_id, %error, "could not check whether a client was withdrawn; its last known state is used");
                return remembered.is_none_or(|(_, exists)| exists);
            }
        };
        let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        if answers.len() >= MAX_REMEMBERED {
            answers.clear();
        }
        answers.insert(client_id.to_owned(), (Instant::now(), exists));
        exists
    }

    fn remembered(&self, client_id: &str) -> Option<(Instant, bool)> {
        let answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        answers.get(client_id).copied()
    }
}
