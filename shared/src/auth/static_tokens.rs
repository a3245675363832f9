use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use futures::future::BoxFuture;

use super::{Principal, Verdict, VerifyBearer};

/// The bearer tokens (the `apiKey` given to Insider One) accepted for delivery. More than one is
/// accepted at a time so a token can be rotated without refusing deliveries in between.
pub struct StaticTokens {
    digests: Vec<[u8; 32]>,
}

impl StaticTokens {
    /// Empty and blank tokens are ignored: an empty secret must not mean "accept anything".
    pub fn new<I, S>(tokens: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self {
            digests: tokens
                .into_iter()
                .filter(|t| !t.as_ref().trim().is_empty())
                .map(|t| digest(t.as_ref().trim()))
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Whether a delivery with `token` as its bearer would be accepted.
    /// Compares digests, so neither the length nor the content of a configured token leaks
    /// through timing; every configured token is compared.
    pub fn accepts(&self, token: &str) -> bool {
        let presented = digest(token);
        let matched = self
            .digests
            .iter()
            .fold(subtle::Choice::from(0), |acc, d| acc | d.ct_eq(&presented));
        bool::from(matched)
    }
}

impl VerifyBearer for StaticTokens {
    fn verify<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Verdict> {
        Box::pin(std::future::ready(if self.accepts(token) {
            Verdict::Accepted(Principal {
                subject: "static-token".into(),
            })
        } else {
            Verdict::NotMine
        }))
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AuthError, Authenticator};

    fn authenticator(tokens: &[&str]) -> Authenticator {
        Authenticator::new().with(StaticTokens::new(tokens.iter().copied()))
    }

    #[tokio::test]
    async fn accepts_every_configured_token_for_rotation() {
        let auth = authenticator(&["old-token", "new-token"]);
        assert!(auth.authenticate(Some("Bearer old-token")).await.is_ok());
        assert!(auth.authenticate(Some("bearer new-token")).await.is_ok());
    }

    #[tokio::test]
    async fn rejects_wrong_missing_and_malformed_credentials() {
        let auth = authenticator(&["secret-token"]);
        assert_eq!(
            auth.authenticate(Some("Bearer secret-tokeN")).await,
            Err(AuthError::InvalidToken("the bearer token is not valid"))
        );
        assert_eq!(
            auth.authenticate(None).await,
            Err(AuthError::MissingCredentials)
        );
        assert_eq!(
            auth.authenticate(Some("Basic c2VjcmV0")).await,
            Err(AuthError::MissingCredentials)
        );
        assert_eq!(
            auth.authenticate(Some("Bearer ")).await,
            Err(AuthError::MissingCredentials)
        );
        assert_eq!(
            auth.authenticate(Some("secret-token")).await,
            Err(AuthError::MissingCredentials)
        );
    }

    #[tokio::test]
    async fn blank_tokens_never_configure_anything() {
        let tokens = StaticTokens::new(["", "  "]);
        assert!(tokens.is_empty());
        assert!(
            authenticator(&["", " "])
                .authenticate(Some("Bearer  "))
                .await
                .is_err()
        );
        assert_eq!(
            Authenticator::new()
                .authenticate(Some("Bearer anything"))
                .await,
            Err(AuthError::NotConfigured)
        );
    }
}
