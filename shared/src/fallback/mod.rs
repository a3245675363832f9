//! The fallback port: where the receiver parks a delivery the event store could not take for a
//! reason a retry may cure (throttled, unavailable, too slow), so that it is stored later
//! ([`crate::ingest::Drain`]) even if Insider One never sends it again. [`sqs::SqsQueue`] is the
//! adapter, in AWS and in the local stack (moto's SQS).

pub mod lambda_event;
pub mod sqs;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::domain::SubProduct;

/// A delivery as parked: its body exactly as received, and what the receiver knew of it.
/// Borrowed when the receiver parks it (nothing is copied unless the store fails), owned when
/// read back from the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedDelivery<'a> {
    pub body: Cow<'a, [u8]>,
    pub sub_product: SubProduct,
    /// When the receiver received it, in epoch milliseconds: the drain stores its events with
    /// this time, so they are the items the receiver would have written.
    pub received_at: i64,
    /// Who it was authenticated as ([`crate::auth::Principal::subject`]): never a credential.
    pub principal: Cow<'a, str>,
}

#[derive(Debug, thiserror::Error)]
pub enum ParkError {
    #[error(
        "the delivery takes {size} bytes as a message; the fallback queue takes at most {limit}"
    )]
    TooLarge { size: usize, limit: usize },
    #[error("the fallback queue is unavailable: {0}")]
    Unavailable(String),
    #[error("the fallback queue did not answer in time")]
    Timeout,
}

pub trait ParkDelivery: Send + Sync {
    /// Returns once the queue has durably accepted the delivery.
    fn park<'a>(&'a self, delivery: &'a ParkedDelivery<'a>)
    -> BoxFuture<'a, Result<(), ParkError>>;
}

/// The receiver's fallback: the queue, and the time parking one delivery may take (its calls
/// and retries together), which the receiver's time budget keeps beside the store's.
#[derive(Clone)]
pub struct Fallback {
    pub queue: Arc<dyn ParkDelivery>,
    pub budget: Duration,
}

/// What `FALLBACK_BUDGET_MS` defaults to.
pub const DEFAULT_FALLBACK_BUDGET: Duration = Duration::from_secs(2);
