//! Who may deliver webhooks. The receiver asks an [`Authenticator`], which asks each configured
//! verifier in turn: static bearer tokens, the access tokens our token endpoint signs, and those
//! of the external issuers the deployment trusts.

pub mod access_tokens;
pub mod oauth;
pub mod revocation;
mod static_tokens;
pub mod trusted_issuers;

use futures::future::BoxFuture;
use jsonwebtoken::errors::ErrorKind;

pub use static_tokens::StaticTokens;
pub use trusted_issuers::TrustedIssuers;

/// Who a request was authenticated as; never holds the credential itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
}

/// What one verifier makes of a bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accepted(Principal),
    /// The token is of this verifier's kind but not valid; the reason is safe to show the caller.
    Rejected(&'static str),
    /// Not a token this verifier knows; another verifier may accept it.
    NotMine,
}

/// Asynchronous because an external issuer's keys may have to be fetched first.
pub trait VerifyBearer: Send + Sync {
    fn verify<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Verdict>;
}

/// One verifier can serve several routes (the receiver and the management routes share the
/// trusted issuers' keys).
impl<T: VerifyBearer + ?Sized> VerifyBearer for std::sync::Arc<T> {
    fn verify<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Verdict> {
        (**self).verify(token)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no credentials are configured, so every delivery is refused")]
    NotConfigured,
    #[error("the request has no Authorization: Bearer header")]
    MissingCredentials,
    #[error("{0}")]
    InvalidToken(&'static str),
}

#[derive(Default)]
pub struct Authenticator {
    verifiers: Vec<Box<dyn VerifyBearer>>,
}

impl Authenticator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, verifier: impl VerifyBearer + 'static) -> Self {
        self.verifiers.push(Box::new(verifier));
        self
    }

    pub fn is_configured(&self) -> bool {
        !self.verifiers.is_empty()
    }

    /// Checks an `Authorization` header value.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        if !self.is_configured() {
            return Err(AuthError::NotConfigured);
        }
        let token = authorization
            .and_then(bearer_token)
            .ok_or(AuthError::MissingCredentials)?;
        let mut rejection = None;
        for verifier in &self.verifiers {
            match verifier.verify(token).await {
                Verdict::Accepted(principal) => return Ok(principal),
                Verdict::Rejected(reason) => rejection = rejection.or(Some(reason)),
                Verdict::NotMine => {}
            }
        }
        Err(AuthError::InvalidToken(
            rejection.unwrap_or("the bearer token is not valid"),
        ))
    }
}

/// Why a JWT failed `jsonwebtoken`'s checks, in words safe to show the caller.
fn jwt_rejection(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "the access token has expired",
        ErrorKind::ImmatureSignature => "the access token is not valid yet",
        ErrorKind::InvalidSignature => "the access token's signature is not valid",
        ErrorKind::InvalidAudience => "the access token is for another audience",
        ErrorKind::InvalidIssuer => "the access token is from another issuer",
        ErrorKind::InvalidAlgorithm => "the access token uses another algorithm",
        _ => "the access token is not valid",
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, RFC 6750).
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A random token of 32 bytes, URL-safe, for generated credentials.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    hex::encode(bytes)
}

/// A secret as the vendor shows it: the first few characters, then asterisks, so it can be
/// recognised but not used. The vendor's one sample shows 14 characters of a 23-character
/// secret (`partner-whatsapp-secret` as `partner-whatsa********`); so do we, and a shorter
/// secret shows at most half of itself.
pub fn mask_secret(secret: &str) -> String {
    const VENDOR_SHOWN: usize = 14;
    const VENDOR_HIDDEN: usize = 9;
    let length = secret.chars().count();
    let shown = if length >= VENDOR_SHOWN + VENDOR_HIDDEN {
        VENDOR_SHOWN
    } else {
        length / 2
    };
    let shown: String = secret.chars().take(shown).collect();
    format!("{shown}********")
}

#[cfg(test)]
mod tests {
    use super::mask_secret;

    #[test]
    fn secrets_are_masked_as_the_vendor_masks_them() {
        assert_eq!(
            mask_secret("partner-whatsapp-secret"),
            "partner-whatsa********"
        );
        assert_eq!(
            mask_secret("partner-whatsapp-secret-2026-04-15"),
            "partner-whatsa********"
        );
    }

    #[test]
    fn a_short_secret_shows_at_most_half_of_itself() {
        assert_eq!(mask_secret("partner-whatsapp-secre"), "partner-wha********");
        assert_eq!(mask_secret("ğğğğğ"), "ğğ********");
        assert_eq!(mask_secret("a"), "********");
        assert_eq!(mask_secret(""), "********");
    }
}
