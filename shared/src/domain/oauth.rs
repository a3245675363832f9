//! The OAuth 2.0 vocabulary our token endpoint, the client stores and the management rules share:
//! grant types, the clients we authorise and how their secrets are kept, the scopes a delivery
//! needs and how long an access token may live.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Scopes that allow delivering webhooks; a token needs one of them. `webhook.write` is the scope
/// in the vendor's settings example, `whatsapp.write` the one in its V2 webhook example.
pub const DELIVERY_SCOPES: [&str; 2] = ["webhook.write", "whatsapp.write"];

/// The longest life of an access token we mint a client for (`expiresIn`), in seconds; the token
/// endpoint clamps every lifetime to it as well.
pub const MAX_TOKEN_LIFETIME_SECS: u64 = 86_400;

/// The scopes a client gets unless configured otherwise: those of a delivery.
pub fn default_scopes() -> Vec<String> {
    DELIVERY_SCOPES.iter().map(|s| (*s).to_owned()).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    ClientCredentials,
    RefreshToken,
}

impl GrantType {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "client_credentials" => Some(Self::ClientCredentials),
            "refresh_token" => Some(Self::RefreshToken),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientCredentials => "client_credentials",
            Self::RefreshToken => "refresh_token",
        }
    }
}

/// A salted SHA-256 digest of a client secret: `sha256$<salt hex>$<digest hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretHash(String);

impl SecretHash {
    pub fn new(secret: &str) -> Self {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).expect("the operating system provides randomness");
        Self(format!(
            "sha256${}${}",
            hex::encode(salt),
            hex::encode(salted(&salt, secret))
        ))
    }

    pub fn matches(&self, secret: &str) -> bool {
        let Some((salt, digest)) = self.salt_and_digest() else {
            return false;
        };
        bool::from(salted(&salt, secret).as_slice().ct_eq(&digest))
    }

    /// The decoded salt and digest; `None` for a hash not in our format.
    pub(crate) fn salt_and_digest(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        let mut parts = self.0.split('$');
        let (Some("sha256"), Some(salt), Some(digest), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        Some((hex::decode(salt).ok()?, hex::decode(digest).ok()?))
    }
}

fn salted(salt: &[u8], secret: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(secret.as_bytes());
    hasher.finalize().into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthClient {
    pub client_id: String,
    pub secret_hash: SecretHash,
    pub grants: Vec<GrantType>,
    pub scopes: Vec<String>,
    pub token_lifetime_secs: u64,
    /// Whether a refresh token is consumed on use and replaced (see [`crate::auth::oauth`]).
    #[serde(default)]
    pub rotate_refresh_tokens: bool,
}

/// What a client minted by the management routes was minted for, so that it is withdrawn with
/// it: when the webhook is deleted, or its credentials or the settings are replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MintedFor {
    /// A V2 webhook of the sender `phone_number`; its id is known once Insider One created it.
    Webhook {
        phone_number: String,
        #[serde(default)]
        webhook_id: Option<u64>,
    },
    /// The V2 settings of an API type (`transactional` or `conversational`).
    Settings { sub_product: String },
}

/// A minted client as the ledger of minted credentials keeps it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MintedClient {
    pub client_id: String,
    pub minted_for: MintedFor,
    /// Epoch milliseconds.
    pub minted_at: i64,
    pub grants: Vec<GrantType>,
    pub scopes: Vec<String>,
}

impl MintedClient {
    /// The ledger entry of `client`, minted at `minted_at` (epoch milliseconds) for
    /// `minted_for`.
    pub fn of(client: &OAuthClient, minted_for: MintedFor, minted_at: i64) -> Self {
        Self {
            client_id: client.client_id.clone(),
            minted_for,
            minted_at,
            grants: client.grants.clone(),
            scopes: client.scopes.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_hashes_match_only_their_secret_and_are_salted() {
        let hash = SecretHash::new("a-long-enough-client-secret");
        assert!(hash.matches("a-long-enough-client-secret"));
        assert!(!hash.matches("a-long-enough-client-secreT"));
        assert!(!hash.matches(""));
        assert_ne!(hash, SecretHash::new("a-long-enough-client-secret"));
        assert!(!hash.0.contains("a-long-enough"));
        assert!(!SecretHash("garbage".into()).matches("garbage"));
    }
}
