//! The event store port: one small trait per operation, and the two adapters that implement them
//! ([`dynamo::DynamoStore`] in AWS, `embedded::EmbeddedStore` for the local stack). The embedded
//! adapter, on SQLite, is behind the `embedded-store` feature, which the local stack and the tests
//! enable and the Lambda binaries do not, so that they do not link SQLite.
//!
//! Every adapter obeys the same contract, checked by one test suite run against both:
//! - writing an event that is already stored changes nothing and counts as a duplicate, even when
//!   the same event is written concurrently;
//! - a write either reports success after every new event is durable, or fails so the caller can
//!   retry; a retry never stores an event twice;
//! - the per-message status only moves forward (see [`crate::domain::status`]), whatever order
//!   the reports arrive in and however often;
//! - every stored event counts in `/stats` exactly once, so neither a duplicate nor a retry
//!   counts twice (the embedded store adds to hourly counters in the transaction that stores
//!   the event; the DynamoDB store counts the one time index entry each stored event has);
//! - a listing returns events in its order ([`crate::domain::query::SortOrder`]), each page
//!   strictly after the position it was asked to continue from, at most `limit` events; a page
//!   may hold fewer even when more follow (a store bounds the work of one page), and only a
//!   page without `next` is the last. No listing reads outside the index range it selects.

pub mod dynamo;
#[cfg(feature = "embedded-store")]
pub mod embedded;

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

use crate::domain::oauth::{MintedClient, MintedFor, OAuthClient};
use crate::domain::query::{
    EventFilter, EventScope, HourWindow, Listing, PageRequest, Position, Range, Stats,
};
use crate::domain::{Event, MessageState, RawRef, SubProduct};

fn null_raw() -> Box<serde_json::value::RawValue> {
    serde_json::value::RawValue::from_string("null".into()).expect("null is JSON")
}

/// An event as kept: what was parsed, where it came in, and when. Serialized flat, as the
/// read-back routes show it.
#[derive(Debug, Clone, Serialize)]
pub struct StoredEvent {
    #[serde(flatten)]
    pub event: Event,
    pub sub_product: SubProduct,
    /// When we received it, in epoch milliseconds.
    pub received_at: i64,
    /// Where the raw fragment is kept when it was too large for the event's own item; until it
    /// is read from there, `event.raw` is `null` and `raw_omitted` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_ref: Option<RawRef>,
    /// The raw fragment is not in this answer (`event.raw` is `null`): kept apart
    /// (`raw_ref`), or left out to keep an answer within its size limit.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub raw_omitted: bool,
}

/// Raw fragments one answer holds at most, in bytes, so that it stays well within Lambda's 6 MB
/// response limit; past it, fragments are left out (`raw_omitted`).
pub const MAX_RAW_BYTES_PER_ANSWER: usize = 4 * 1024 * 1024;

impl StoredEvent {
    /// An event as received, with its raw fragment.
    pub fn new(event: Event, sub_product: SubProduct, received_at: i64) -> Self {
        Self {
            event,
            sub_product,
            received_at,
            raw_ref: None,
            raw_omitted: false,
        }
    }

    /// Leaves the raw fragment out of this copy (it stays stored).
    fn omit_raw(&mut self) {
        self.event.raw = null_raw();
        self.raw_omitted = true;
    }

    /// Keeps at most [`MAX_RAW_BYTES_PER_ANSWER`] of raw fragments in `events`, in their order,
    /// and leaves the rest out.
    pub fn bound_raw(events: &mut [StoredEvent]) {
        let mut kept = 0;
        for event in events.iter_mut().filter(|e| !e.raw_omitted) {
            kept += event.event.raw.get().len();
            if kept > MAX_RAW_BYTES_PER_ANSWER {
                event.omit_raw();
            }
        }
    }

    /// When this event is listed: see [`crate::domain::query::listed_at`].
    pub fn listed_at(&self) -> i64 {
        crate::domain::query::listed_at(self.event.occurred_at, self.received_at)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct WriteReport {
    pub stored: usize,
    pub duplicates: usize,
    /// The ids of the events this write stored (`stored` of them, each once), for callers that
    /// act on new events only: the local stack publishes them, as the DynamoDB stream does in
    /// AWS. Not part of the webhook's answer.
    #[serde(skip)]
    pub new_event_ids: Vec<String>,
}

/// One message with its status and every event stored for it, in time order.
#[derive(Debug, Clone)]
pub struct MessageRecord {
    pub message_id: String,
    pub key: Option<String>,
    pub state: Option<MessageState>,
    pub events: Vec<StoredEvent>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the event store is unavailable: {0}")]
    Unavailable(String),
    #[error("the event store did not answer in time")]
    Timeout,
    #[error("the event store refused the data: {0}")]
    Rejected(String),
    #[error("a stored item could not be read: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// A failure that a later attempt may not meet: the store was unavailable or too slow; it
    /// did not refuse the data.
    pub fn may_pass(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Timeout)
    }
}

/// What every store operation returns: boxed, so the traits work behind `dyn` (the local stack
/// chooses its store at run time) without a macro.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

pub trait WriteEvents: Send + Sync {
    /// Stores every event not stored yet and applies their status changes.
    fn write_events<'a>(&'a self, events: &'a [StoredEvent]) -> StoreFuture<'a, WriteReport>;
}

pub trait ReadMessage: Send + Sync {
    fn read_message<'a>(&'a self, message_id: &'a str) -> StoreFuture<'a, Option<MessageRecord>>;
}

/// One page of a listing: its events in order, and where the next page starts (`None` on the
/// last page).
#[derive(Debug, Clone)]
pub struct EventPage {
    pub events: Vec<StoredEvent>,
    pub next: Option<Position>,
}

pub trait ListEvents: Send + Sync {
    /// The events of a time window (time index) or of a tracking key (key index) that pass
    /// `filter`.
    fn list_events<'a>(
        &'a self,
        scope: &'a EventScope,
        filter: &'a EventFilter,
        page: &'a PageRequest,
    ) -> StoreFuture<'a, EventPage>;
}

pub trait EventsByContact: Send + Sync {
    /// One customer's events (statuses of our messages to them, their replies, ...) that pass
    /// `filter`, in time order; `contact` is matched as [`crate::domain::query::contact_key`]
    /// reads it.
    fn events_by_contact<'a>(
        &'a self,
        contact: &'a str,
        range: &'a Range,
        filter: &'a EventFilter,
        page: &'a PageRequest,
    ) -> StoreFuture<'a, EventPage>;
}

/// What one erasure call did: messages (and lone events) of the contact erased, their events,
/// and whether none is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Erased {
    pub messages: usize,
    pub events: usize,
    pub done: bool,
}

pub trait EraseContact: Send + Sync {
    /// Erases the personal data of up to `limit` of the messages in `contact`'s conversation
    /// (as [`EventsByContact`] finds them): every event of each message loses its raw fragment
    /// (a copy kept outside the table included) and the contact's number and name, and leaves
    /// the conversation. Each event stays as a redacted record, so counts and listings keep it
    /// and a redelivery of it is a duplicate, never stored again; an event of an erased message
    /// that arrives later is stored redacted. Safe to repeat; a call that fails part way leaves
    /// the rest for the next.
    fn erase_contact<'a>(&'a self, contact: &'a str, limit: usize) -> StoreFuture<'a, Erased>;
}

pub trait ReadStats: Send + Sync {
    /// The counters of these hours, added up.
    fn read_stats<'a>(&'a self, hours: &'a HourWindow) -> StoreFuture<'a, Stats>;
}

/// A refresh token as kept: only its digest, whose it is and what it may grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshGrant {
    pub digest: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    /// Epoch seconds.
    pub expires_at: i64,
    /// The chain of rotations it belongs to: the digest of the chain's first token.
    pub family: String,
    /// Rotated already: kept until it expires only so that presenting it again is seen as the
    /// replay it is (RFC 9700 4.14.2), and its family revoked.
    pub used: bool,
}

impl RefreshGrant {
    /// The grant of a new token, the first of its family.
    pub fn new(digest: String, client_id: String, scopes: Vec<String>, expires_at: i64) -> Self {
        Self {
            family: digest.clone(),
            digest,
            client_id,
            scopes,
            expires_at,
            used: false,
        }
    }
}

/// OAuth clients minted at run time, and refresh tokens.
pub trait ClientStore: Send + Sync {
    fn find_client<'a>(&'a self, client_id: &'a str) -> StoreFuture<'a, Option<OAuthClient>>;
    /// Adds a client with its entry in the ledger of minted clients, in one step; `false` when
    /// the id is already taken (nothing is written).
    fn create_client<'a>(
        &'a self,
        client: &'a OAuthClient,
        minted: &'a MintedClient,
    ) -> StoreFuture<'a, bool>;
    /// Removes a client minted at run time and its ledger entry, so its secret no longer gets
    /// tokens (its refresh tokens need it too); `false` when there was neither.
    fn delete_client<'a>(&'a self, client_id: &'a str) -> StoreFuture<'a, bool>;
    /// The ledger: every minted client, by id.
    fn minted_clients(&self) -> StoreFuture<'_, Vec<MintedClient>>;
    /// Records what a minted client is for once it is known (the id of the webhook Insider One
    /// created); `false` when the ledger has no such client.
    fn set_minted_for<'a>(
        &'a self,
        client_id: &'a str,
        minted_for: &'a MintedFor,
    ) -> StoreFuture<'a, bool>;
    fn save_refresh_token<'a>(&'a self, grant: &'a RefreshGrant) -> StoreFuture<'a, ()>;
    /// The grant, if it exists and belongs to `client_id` (also a `used` one); it stays as it is.
    fn find_refresh_token<'a>(
        &'a self,
        digest: &'a str,
        client_id: &'a str,
    ) -> StoreFuture<'a, Option<RefreshGrant>>;
    /// Removes the grant and returns it, atomically, if it exists and belongs to `client_id`;
    /// so a refresh token is revoked at most once even when presented twice at the same time.
    fn take_refresh_token<'a>(
        &'a self,
        digest: &'a str,
        client_id: &'a str,
    ) -> StoreFuture<'a, Option<RefreshGrant>>;
    /// Marks the grant `digest` of `client_id` used and stores `replacement` (of the same
    /// family) in one atomic write, so a rotating refresh token is used at most once and is
    /// never lost: `true` when it was rotated; `false` when there was no such unused grant
    /// (used, revoked, or another client's) and nothing was written. On an error nothing changed
    /// either, and the old token still works; a `replacement` whose digest is already stored is
    /// refused that way ([`StoreError::Rejected`]) rather than overwriting another token.
    fn rotate_refresh_token<'a>(
        &'a self,
        digest: &'a str,
        client_id: &'a str,
        replacement: &'a RefreshGrant,
    ) -> StoreFuture<'a, bool>;
    /// Revokes the unused token of `family` (of `client_id`): a token of the family was
    /// replayed after its rotation. `true` when there was one.
    fn revoke_refresh_family<'a>(
        &'a self,
        family: &'a str,
        client_id: &'a str,
    ) -> StoreFuture<'a, bool>;
}

/// Everything the read-back routes need, for handlers that take one store.
pub trait ReadEvents: ReadMessage + ListEvents + EventsByContact + ReadStats {}
impl<T: ReadMessage + ListEvents + EventsByContact + ReadStats> ReadEvents for T {}

/// One page of `listing`: a window's or a tracking key's events, or a conversation.
pub fn list_page<'a>(
    store: &'a dyn ReadEvents,
    listing: &'a Listing,
    filter: &'a EventFilter,
    page: &'a PageRequest,
) -> StoreFuture<'a, EventPage> {
    match listing {
        Listing::Events(scope) => store.list_events(scope, filter, page),
        Listing::Contact { contact, range } => {
            store.events_by_contact(contact, range, filter, page)
        }
    }
}

/// The order events are shown in: when they happened by the payload, then when they arrived.
pub(crate) fn time_order(a: &StoredEvent, b: &StoredEvent) -> std::cmp::Ordering {
    (a.event.occurred_at.unwrap_or(0), a.received_at, &a.event.id).cmp(&(
        b.event.occurred_at.unwrap_or(0),
        b.received_at,
        &b.event.id,
    ))
}

/// A value the store keeps as JSON text (a client, a ledger entry, a message's state).
pub(crate) fn to_json_text(value: &impl Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Rejected(e.to_string()))
}

/// A value the store kept as JSON text; text that does not read back is corrupt.
pub(crate) fn from_json_text<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Epoch seconds after which a stored item may be deleted by the store's TTL.
pub(crate) fn expiry(received_at_ms: i64, retention: std::time::Duration) -> i64 {
    received_at_ms / 1000 + i64::try_from(retention.as_secs()).unwrap_or(i64::MAX / 2)
}
