//! Who may deliver webhooks. The receiver asks an [`Authenticator`], which asks each configured
//! verifier in turn; static bearer tokens are one verifier, OAuth 2.0 access tokens plug in beside
//! them as another.

pub mod access_tokens;
pub mod oauth;
mod static_tokens;

pub use static_tokens::StaticTokens;

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

pub trait VerifyBearer: Send + Sync {
    fn verify(&self, token: &str) -> Verdict;
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
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        if !self.is_configured() {
            return Err(AuthError::NotConfigured);
        }
        let token = authorization
            .and_then(bearer_token)
            .ok_or(AuthError::MissingCredentials)?;
        let mut rejection = None;
        for verifier in &self.verifiers {
            match verifier.verify(token) {
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
