//! The vendor's closed vocabularies, spelled as on the wire.
//!
//! Request bodies read these as plain strings first and convert them with [`Named::parse`], so a
//! wrong value is answered with a message that names the field and lists the accepted values
//! instead of serde's generic "unknown variant".

use serde::{Deserialize, Serialize};

/// A closed set of wire names.
pub trait Named: Sized + Copy + 'static {
    const ALL: &'static [Self];
    fn as_str(self) -> &'static str;

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.as_str() == name)
    }

    /// `a|b|c`, for error messages.
    fn choices() -> String {
        Self::ALL
            .iter()
            .map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join("|")
    }
}

/// Insider One's API types; every webhook belongs to exactly one, for good.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum SubProduct {
    Conversational,
    Transactional,
    Verify,
}

impl Named for SubProduct {
    const ALL: &'static [Self] = &[Self::Conversational, Self::Transactional, Self::Verify];
    fn as_str(self) -> &'static str {
        match self {
            Self::Conversational => "conversational",
            Self::Transactional => "transactional",
            Self::Verify => "verify",
        }
    }
}

/// The event names a V2 webhook subscribes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventName {
    Sent,
    Delivered,
    Read,
    Failed,
    Reply,
}

impl Named for EventName {
    const ALL: &'static [Self] = &[
        Self::Sent,
        Self::Delivered,
        Self::Read,
        Self::Failed,
        Self::Reply,
    ];
    fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
            Self::Reply => "reply",
        }
    }
}

/// How a webhook authenticates Insider One's deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthType {
    Bearer,
    Oauth2,
}

impl Named for AuthType {
    const ALL: &'static [Self] = &[Self::Bearer, Self::Oauth2];
    fn as_str(self) -> &'static str {
        match self {
            Self::Bearer => "bearer",
            Self::Oauth2 => "oauth2",
        }
    }
}

/// The OAuth 2.0 grants Insider One can use against the receiver's token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    #[value(name = "client_credentials")]
    ClientCredentials,
    #[value(name = "refresh_token")]
    RefreshToken,
}

impl Named for GrantType {
    const ALL: &'static [Self] = &[Self::ClientCredentials, Self::RefreshToken];
    fn as_str(self) -> &'static str {
        match self {
            Self::ClientCredentials => "client_credentials",
            Self::RefreshToken => "refresh_token",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_through_serde_and_parse() {
        for sub in SubProduct::ALL {
            let json = serde_json::to_string(sub).unwrap();
            assert_eq!(json, format!("\"{}\"", sub.as_str()));
            assert_eq!(SubProduct::parse(sub.as_str()), Some(*sub));
        }
        assert_eq!(GrantType::choices(), "client_credentials|refresh_token");
        assert_eq!(EventName::parse("reply"), Some(EventName::Reply));
        assert_eq!(AuthType::parse("OAUTH2"), None);
    }
}
