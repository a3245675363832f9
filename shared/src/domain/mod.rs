//! The pure core: what Insider One sends and the rules we apply to it. No AWS, no HTTP.

pub mod canonical;
pub mod downstream;
mod envelope;
pub mod error_codes;
pub mod events;
pub mod management;
pub mod oauth;
pub mod query;
pub mod raw_ref;
pub mod status;

use serde::{Deserialize, Serialize};

pub use events::{Event, EventFamily, PayloadError, parse_delivery};
pub use raw_ref::RawRef;
pub use status::{DeliveryStatus, MessageState, StatusChange, status_changes};

/// Insider One's API types; each gets its own webhook URL (`/webhooks/{sub_product}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubProduct {
    Conversational,
    Transactional,
    Verify,
}

impl SubProduct {
    pub const ALL: [SubProduct; 3] = [
        SubProduct::Conversational,
        SubProduct::Transactional,
        SubProduct::Verify,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SubProduct::Conversational => "conversational",
            SubProduct::Transactional => "transactional",
            SubProduct::Verify => "verify",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}
