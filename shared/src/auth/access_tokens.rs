//! Self-contained access tokens (JWT, HS256) that the receiver verifies without a database read.
//!
//! Several signing keys can be configured at once, each with its `kid`: tokens are signed with the
//! first, and verified with whichever key their header names, so a new key can be put first while
//! tokens signed with the old one keep working until it is removed.

use std::collections::HashSet;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use futures::future::BoxFuture;

use super::revocation::Revocations;
use super::{Principal, Verdict, VerifyBearer, jwt_rejection};
use crate::clock::now_millis;
use crate::domain::oauth::{DELIVERY_SCOPES, MAX_TOKEN_LIFETIME_SECS};

/// HS256 keys shorter than the hash output weaken the signature.
pub const MIN_KEY_BYTES: usize = 32;
/// Clock skew tolerated between the token endpoint and the receiver.
pub const LEEWAY_SECS: u64 = 30;

#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    secret: Vec<u8>,
}

impl SigningKey {
    pub fn new(kid: impl Into<String>, secret: impl Into<Vec<u8>>) -> Result<Self, KeyError> {
        let (kid, secret) = (kid.into(), secret.into());
        if kid.is_empty() {
            return Err(KeyError("every signing key needs a non-empty kid".into()));
        }
        if secret.len() < MIN_KEY_BYTES {
            return Err(KeyError(format!(
                "signing key {kid} has {} bytes; at least {MIN_KEY_BYTES} are needed",
                secret.len()
            )));
        }
        Ok(Self { kid, secret })
    }

    /// A fresh random key, for the local stack and tests.
    pub fn generate(kid: impl Into<String>) -> Self {
        let mut secret = vec![0u8; 32];
        getrandom::fill(&mut secret).expect("the operating system provides randomness");
        Self {
            kid: kid.into(),
            secret,
        }
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(String);

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    client_id: String,
    scope: String,
    iat: i64,
    exp: i64,
    jti: String,
    /// The client was minted at run time and may be withdrawn: the receiver checks that it
    /// still exists ([`Revocations`]). Configured clients end with their secret's reload.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    minted: bool,
}

/// A token just issued, with what the token endpoint reports about it.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub expires_in: u64,
}

pub struct AccessTokens {
    keys: Vec<SigningKey>,
    /// Built once: the receiver verifies a token on every delivery.
    decoding_keys: Vec<DecodingKey>,
    validation: Validation,
    issuer: String,
    audience: String,
    /// Where the receiver checks that a minted client was not withdrawn; `None` for the token
    /// endpoint, which only signs.
    revocations: Option<Revocations>,
}

impl AccessTokens {
    /// `keys[0]` signs; every key verifies.
    pub fn new(
        keys: Vec<SigningKey>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Self, KeyError> {
        if keys.is_empty() {
            return Err(KeyError("at least one signing key is needed".into()));
        }
        let mut kids = HashSet::new();
        if let Some(twice) = keys.iter().find(|k| !kids.insert(&k.kid)) {
            return Err(KeyError(format!("kid {} is configured twice", twice.kid)));
        }
        let (issuer, audience) = (issuer.into(), audience.into());
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.set_issuer(&[&issuer]);
        validation.set_audience(&[&audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        Ok(Self {
            decoding_keys: keys
                .iter()
                .map(|k| DecodingKey::from_secret(&k.secret))
                .collect(),
            keys,
            validation,
            issuer,
            audience,
            revocations: None,
        })
    }

    /// Refuses the tokens of minted clients that were withdrawn, within the check's interval.
    pub fn with_revocations(mut self, revocations: Revocations) -> Self {
        self.revocations = Some(revocations);
        self
    }

    /// A token for `client_id`, living `lifetime_secs` but never longer than
    /// [`MAX_TOKEN_LIFETIME_SECS`]; `minted`: the client was minted at run time, so the receiver
    /// checks that it was not withdrawn since.
    pub fn issue(
        &self,
        client_id: &str,
        scopes: &[String],
        lifetime_secs: u64,
        minted: bool,
    ) -> IssuedToken {
        let lifetime_secs = lifetime_secs.min(MAX_TOKEN_LIFETIME_SECS);
        let key = &self.keys[0];
        let now = now_millis() / 1000;
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: client_id.to_owned(),
            client_id: client_id.to_owned(),
            scope: scopes.join(" "),
            iat: now,
            exp: now.saturating_add(i64::try_from(lifetime_secs).unwrap_or(i64::MAX)),
            jti: super::generate_token()[..32].to_owned(),
            minted,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&key.secret))
            .expect("HS256 signing with a valid key cannot fail");
        IssuedToken {
            token,
            expires_in: lifetime_secs,
        }
    }
}

impl VerifyBearer for AccessTokens {
    fn verify<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Verdict> {
        Box::pin(async move {
            let claims = match self.verified_claims(token) {
                Ok(claims) => claims,
                Err(verdict) => return verdict,
            };
            if let (true, Some(revocations)) = (claims.minted, &self.revocations)
                && !revocations.is_current(&claims.client_id).await
            {
                return Verdict::Rejected("the access token's client was withdrawn");
            }
            Verdict::Accepted(Principal {
                subject: claims.client_id,
            })
        })
    }
}

impl AccessTokens {
    /// Signature, issuer, audience, expiry and scope, without the withdrawal check: no I/O.
    pub fn check(&self, token: &str) -> Verdict {
        match self.verified_claims(token) {
            Ok(claims) => Verdict::Accepted(Principal {
                subject: claims.client_id,
            }),
            Err(verdict) => verdict,
        }
    }

    fn verified_claims(&self, token: &str) -> Result<Claims, Verdict> {
        // Not shaped like a JWT: a static token, for another verifier.
        if token.split('.').count() != 3 {
            return Err(Verdict::NotMine);
        }
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return Err(Verdict::Rejected("the access token is malformed"));
        };
        let Some(key) = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.iter().position(|k| k.kid == kid))
        else {
            return Err(Verdict::Rejected(
                "the access token is signed with an unknown key",
            ));
        };
        let claims =
            jsonwebtoken::decode::<Claims>(token, &self.decoding_keys[key], &self.validation)
                .map_err(|error| Verdict::Rejected(jwt_rejection(error.kind())))?
                .claims;
        if !claims
            .scope
            .split(' ')
            .any(|scope| DELIVERY_SCOPES.contains(&scope))
        {
            return Err(Verdict::Rejected(
                "the access token's scope does not allow webhook delivery",
            ));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;

    fn tokens(keys: Vec<SigningKey>) -> AccessTokens {
        AccessTokens::new(keys, "issuer", "receiver").unwrap()
    }

    fn scopes(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_token_verifies_with_its_key_until_the_key_is_removed() {
        let old = SigningKey::generate("old");
        let new = SigningKey::generate("new");
        let before =
            tokens(vec![old.clone()]).issue("client", &scopes(&["webhook.write"]), 60, false);
        let rotating = tokens(vec![new.clone(), old]);
        assert!(
            matches!(rotating.check(&before.token), Verdict::Accepted(p) if p.subject == "client")
        );
        let after = rotating.issue("client", &scopes(&["webhook.write"]), 60, false);
        assert!(matches!(rotating.check(&after.token), Verdict::Accepted(_)));
        assert_eq!(
            tokens(vec![new]).check(&before.token),
            Verdict::Rejected("the access token is signed with an unknown key")
        );
    }

    #[test]
    fn expired_tampered_foreign_and_unscoped_tokens_are_rejected() {
        let key = SigningKey::generate("k");
        let tokens = tokens(vec![key.clone()]);
        let good = tokens
            .issue("client", &scopes(&["whatsapp.write"]), 60, false)
            .token;

        let expired = AccessTokens::new(vec![key.clone()], "issuer", "receiver").unwrap();
        let mut claims: Claims = jsonwebtoken::dangerous::insecure_decode(&good)
            .unwrap()
            .claims;
        claims.exp = now_millis() / 1000 - 3600;
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k".into());
        let stale =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&key.secret)).unwrap();
        assert_eq!(
            expired.check(&stale),
            Verdict::Rejected("the access token has expired")
        );

        let (head, rest) = good.split_once('.').unwrap();
        let (_, signature) = rest.rsplit_once('.').unwrap();
        let forged_body = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            br#"{"iss":"issuer","aud":"receiver","sub":"evil","client_id":"evil","scope":"webhook.write","iat":1,"exp":99999999999,"jti":"x"}"#,
        );
        assert_eq!(
            tokens.check(&format!("{head}.{forged_body}.{signature}")),
            Verdict::Rejected("the access token's signature is not valid")
        );

        let other_audience = AccessTokens::new(vec![key.clone()], "issuer", "elsewhere").unwrap();
        assert_eq!(
            other_audience.check(&good),
            Verdict::Rejected("the access token is for another audience")
        );
        let other_issuer = AccessTokens::new(vec![key], "someone", "receiver").unwrap();
        assert_eq!(
            other_issuer.check(&good),
            Verdict::Rejected("the access token is from another issuer")
        );

        let unscoped = tokens
            .issue("client", &scopes(&["whatsapp.read"]), 60, false)
            .token;
        assert_eq!(
            tokens.check(&unscoped),
            Verdict::Rejected("the access token's scope does not allow webhook delivery")
        );
        assert_eq!(
            tokens.check("a.b.c"),
            Verdict::Rejected("the access token is malformed")
        );
        assert_eq!(tokens.check("static-token"), Verdict::NotMine);
    }

    #[test]
    fn every_lifetime_is_clamped_to_a_day_and_verifies() {
        // A configured client's lifetime may be any positive integer; i64::MAX once overflowed
        // the expiry, and a huge one meant a token that never expires.
        let tokens = tokens(vec![SigningKey::generate("k")]);
        for (lifetime, expected) in [
            (1, 1),
            (MAX_TOKEN_LIFETIME_SECS, MAX_TOKEN_LIFETIME_SECS),
            (u64::from(u32::MAX), MAX_TOKEN_LIFETIME_SECS),
            (u64::MAX, MAX_TOKEN_LIFETIME_SECS),
        ] {
            let issued = tokens.issue("client", &scopes(&["webhook.write"]), lifetime, false);
            assert_eq!(issued.expires_in, expected);
            let Verdict::Accepted(_) = tokens.check(&issued.token) else {
                panic!("lifetime {lifetime}: not accepted");
            };
            let claims: serde_json::Value = serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(issued.token.split('.').nth(1).unwrap())
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(
                claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
                expected as i64
            );
        }
    }

    #[test]
    fn weak_or_ambiguous_keys_are_refused() {
        assert!(SigningKey::new("k", b"short".to_vec()).is_err());
        assert!(SigningKey::new("", vec![7u8; 32]).is_err());
        let key = SigningKey::new("k", vec![7u8; 32]).unwrap();
        assert!(AccessTokens::new(vec![key.clone(), key], "i", "a").is_err());
        assert!(AccessTokens::new(Vec::new(), "i", "a").is_err());
    }
}
