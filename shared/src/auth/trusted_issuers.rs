//! Access tokens from the customer's own OAuth server (Cognito, Auth0, Okta, Keycloak, ...):
//! JWTs signed with an asymmetric key the issuer publishes, found through its OpenID discovery
//! document (`<issuer>/.well-known/openid-configuration` → `jwks_uri`).
//!
//! The keys are fetched on first use and kept; a token naming a key not in the set fetches it
//! again, at most once per refetch interval, so forged `kid`s cannot make the receiver hammer the
//! issuer; and the set is fetched again after [`MAX_KEY_AGE`], so a key the issuer withdrew stops
//! verifying. When a fetch fails the keys already known keep working.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::{Duration, Instant};

use base64::Engine;
use futures::future::BoxFuture;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::{Principal, Verdict, VerifyBearer, jwt_rejection};
use crate::domain::management::{TrustedServer, check_url};
use crate::domain::oauth::DELIVERY_SCOPES;

/// A longer bearer is refused before anything is decoded or fetched.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// A longer `kid` is refused before any key lookup or fetch.
pub const MAX_KID_CHARS: usize = 256;
/// How long a fetched key set is trusted before it is fetched again.
pub const MAX_KEY_AGE: Duration = Duration::from_secs(3600);
/// The least time between two fetches of one issuer's keys (an unknown `kid`, or a failed fetch).
pub const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// Clock skew tolerated between the issuer and the receiver.
pub const LEEWAY_SECS: u64 = 30;
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// Discovery documents and key sets are a few kilobytes; a larger answer is refused unread.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// Keys kept per issuer; the rest of a larger set is ignored.
const MAX_KEYS: usize = 32;
/// What an RSA key may verify.
const RSA_ALGORITHMS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// Only signatures with a published public key: an `HS256` token "signed" with that public key
/// (or `alg: none`, which does not even parse) is refused.
fn is_asymmetric(alg: Algorithm) -> bool {
    RSA_ALGORITHMS.contains(&alg)
        || matches!(alg, Algorithm::ES256 | Algorithm::ES384 | Algorithm::EdDSA)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssuerError {
    #[error("trusted issuer {0}")]
    Url(String),
    #[error(
        "a trusted audience is required with trusted issuers: the `aud` their tokens must carry"
    )]
    NoAudience,
    #[error("the HTTP client for the trusted issuers could not be built: {0}")]
    Http(String),
}

/// The external issuers the receiver accepts access tokens from, and the audience their tokens
/// must be for.
pub struct TrustedIssuers {
    issuers: Vec<Issuer>,
    audience: String,
    http: reqwest::Client,
    refetch_interval: Duration,
}

struct Issuer {
    /// As configured: what its discovery document and its tokens' `iss` must say (a trailing
    /// slash aside).
    url: String,
    published: Mutex<Published>,
}

/// What an issuer publishes, as last fetched.
#[derive(Default)]
struct Published {
    discovery: Option<Discovery>,
    keys: HashMap<String, Key>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
}

#[derive(Clone, Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
    #[serde(default)]
    token_endpoint: Option<String>,
}

#[derive(Clone)]
struct Key {
    decoding: DecodingKey,
    algorithms: Vec<Algorithm>,
}

impl TrustedIssuers {
    /// `issuers` are URLs, https (plain http only to a loopback host); `audience` is the `aud`
    /// (or, for a token without `aud`, the `client_id`) their tokens must carry.
    pub fn new<I, S>(issuers: I, audience: impl Into<String>) -> Result<Self, IssuerError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let audience = audience.into().trim().to_owned();
        if audience.is_empty() {
            return Err(IssuerError::NoAudience);
        }
        let mut urls: Vec<String> = Vec::new();
        for url in issuers {
            let url = url.as_ref().trim();
            check_url(url).map_err(|reason| IssuerError::Url(reason.clone()))?;
            if url.contains(['?', '#']) {
                return Err(IssuerError::Url(format!(
                    "{url:?} has a query or a fragment, which an issuer URL never has"
                )));
            }
            if !urls.iter().any(|known| same_issuer(known, url)) {
                urls.push(url.to_owned());
            }
        }
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("insider-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| IssuerError::Http(e.to_string()))?;
        Ok(Self {
            issuers: urls
                .into_iter()
                .map(|url| Issuer {
                    url,
                    published: Mutex::default(),
                })
                .collect(),
            audience,
            http,
            refetch_interval: DEFAULT_REFETCH_INTERVAL,
        })
    }

    /// How often an unknown `kid` may fetch an issuer's keys again (tests shorten it).
    pub fn with_refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// Each issuer with the token endpoint its discovery document names (`None` while it cannot
    /// be fetched), for the management routes to recognise a `tokenUrl` of a trusted server.
    pub async fn servers(&self) -> Vec<TrustedServer> {
        let mut servers = Vec::with_capacity(self.issuers.len());
        for issuer in &self.issuers {
            let mut published = issuer.published.lock().await;
            if published.discovery.is_none() {
                match self.discover(issuer).await {
                    Ok(discovery) => published.discovery = Some(discovery),
                    Err(reason) => {
                        tracing::warn!(issuer = %issuer.url, %reason, "a trusted issuer's discovery document could not be read");
                    }
                }
            }
            servers.push(TrustedServer {
                issuer: issuer.url.clone(),
                token_endpoint: published
                    .discovery
                    .as_ref()
                    .and_then(|d| d.token_endpoint.clone()),
            });
        }
        servers
    }

    async fn verify_token(&self, token: &str) -> Verdict {
        if token.split('.').count() != 3 {
            return Verdict::NotMine;
        }
        let Some(issuer) = unverified_issuer(token)
            .and_then(|iss| self.issuers.iter().find(|i| same_issuer(&i.url, &iss)))
        else {
            return Verdict::NotMine;
        };
        if token.len() > MAX_TOKEN_BYTES {
            return Verdict::Rejected("the access token is too long");
        }
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return Verdict::Rejected("the access token is malformed");
        };
        if !is_asymmetric(header.alg) {
            return Verdict::Rejected(
                "the access token uses an algorithm this receiver does not accept from other issuers",
            );
        }
        let kid = match header.kid.as_deref() {
            None | Some("") => return Verdict::Rejected("the access token names no signing key"),
            Some(kid) if kid.chars().count() > MAX_KID_CHARS => {
                return Verdict::Rejected("the access token's key id is too long");
            }
            Some(kid) => kid,
        };
        let Some((key, expected_issuer)) = self.key(issuer, kid).await else {
            return Verdict::Rejected(
                "the access token is signed with a key its issuer does not publish",
            );
        };
        if !key.algorithms.contains(&header.alg) {
            return Verdict::Rejected("the access token's algorithm does not match its key");
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[expected_issuer]);
        // Checked below: a Cognito access token carries its client in `client_id`, not `aud`.
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "iss"]);
        let claims = match jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation) {
            Ok(data) => data.claims,
            Err(error) => return Verdict::Rejected(jwt_rejection(error.kind())),
        };
        // `aud` is one value or an array of them (RFC 7519 4.1.3), never space-separated.
        let for_us = match &claims.aud {
            Some(Words::One(aud)) => *aud == self.audience,
            Some(Words::Many(auds)) => auds.contains(&self.audience),
            None => claims.client_id.as_deref() == Some(self.audience.as_str()),
        };
        if !for_us {
            return Verdict::Rejected("the access token is for another audience");
        }
        if !claims
            .scope
            .iter()
            .chain(&claims.scp)
            .flat_map(Words::words)
            .any(allows_delivery)
        {
            return Verdict::Rejected("the access token's scope does not allow webhook delivery");
        }
        Verdict::Accepted(Principal {
            subject: claims
                .client_id
                .or(claims.azp)
                .or(claims.sub)
                .unwrap_or_else(|| issuer.url.clone()),
        })
    }

    /// The key `kid` of `issuer`, fetching the issuer's keys when they are missing, old, or lack
    /// it (then at most once per refetch interval); with the `iss` the issuer's tokens carry.
    async fn key(&self, issuer: &Issuer, kid: &str) -> Option<(Key, String)> {
        let mut published = issuer.published.lock().await;
        let may_fetch = published
            .attempted_at
            .is_none_or(|at| at.elapsed() >= self.refetch_interval);
        let old = published
            .fetched_at
            .is_none_or(|at| at.elapsed() >= MAX_KEY_AGE);
        if may_fetch && (old || !published.keys.contains_key(kid)) {
            published.attempted_at = Some(Instant::now());
            match self.fetch_keys(issuer, published.discovery.clone()).await {
                Ok((discovery, keys)) => {
                    published.discovery = Some(discovery);
                    published.keys = keys;
                    published.fetched_at = published.attempted_at;
                }
                Err(reason) => {
                    tracing::warn!(issuer = %issuer.url, %reason, "a trusted issuer's keys could not be fetched; the keys already known are kept");
                }
            }
        }
        let key = published.keys.get(kid)?.clone();
        let iss = published.discovery.as_ref()?.issuer.clone();
        Some((key, iss))
    }

    async fn fetch_keys(
        &self,
        issuer: &Issuer,
        known: Option<Discovery>,
    ) -> Result<(Discovery, HashMap<String, Key>), String> {
        let discovery = match known {
            Some(discovery) => discovery,
            None => self.discover(issuer).await?,
        };
        #[derive(Deserialize)]
        struct KeySet {
            keys: Vec<serde_json::Value>,
        }
        let set: KeySet = self.fetch_json(&discovery.jwks_uri).await?;
        // One key of a kind we do not use (an encryption key, another curve) must not cost the
        // others, so each is read on its own.
        let keys = set
            .keys
            .into_iter()
            .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
            .filter_map(signing_key)
            .take(MAX_KEYS)
            .collect();
        Ok((discovery, keys))
    }

    async fn discover(&self, issuer: &Issuer) -> Result<Discovery, String> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.url.trim_end_matches('/')
        );
        let discovery: Discovery = self.fetch_json(&url).await?;
        if !same_issuer(&discovery.issuer, &issuer.url) {
            return Err(format!(
                "its discovery document names another issuer, {:?}",
                discovery.issuer
            ));
        }
        check_url(&discovery.jwks_uri).map_err(|reason| format!("its jwks_uri {reason}"))?;
        Ok(discovery)
    }

    async fn fetch_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let mut response = self
            .http
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("{url} could not be fetched: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{url} answered HTTP {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("{url} could not be read: {e}"))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(format!("{url} is over {MAX_DOCUMENT_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| format!("{url} is not the JSON expected: {e}"))
    }
}

impl VerifyBearer for TrustedIssuers {
    fn verify<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Verdict> {
        Box::pin(self.verify_token(token))
    }
}

/// A key usable for signatures, with its id and the algorithms it may verify.
fn signing_key(jwk: Jwk) -> Option<(String, Key)> {
    let kid = jwk.common.key_id.clone().filter(|kid| !kid.is_empty())?;
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return None;
    }
    let by_kind: Vec<Algorithm> = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => RSA_ALGORITHMS.to_vec(),
        AlgorithmParameters::EllipticCurve(params) => match params.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(params) if params.curve == EllipticCurve::Ed25519 => {
            vec![Algorithm::EdDSA]
        }
        _ => return None,
    };
    // A key that names its algorithm verifies that one only.
    let algorithms = match jwk.common.key_algorithm {
        Some(named) => {
            let named = Algorithm::from_str(&named.to_string()).ok()?;
            by_kind.contains(&named).then(|| vec![named])?
        }
        None => by_kind,
    };
    let decoding = DecodingKey::from_jwk(&jwk).ok()?;
    Some((
        kid,
        Key {
            decoding,
            algorithms,
        },
    ))
}

/// `webhook.write` or `whatsapp.write`, alone or after a resource server's prefix as Cognito
/// writes custom scopes (`https://hooks.example.com/webhook.write`).
fn allows_delivery(scope: &str) -> bool {
    let name = scope.rsplit_once('/').map_or(scope, |(_, name)| name);
    DELIVERY_SCOPES.contains(&name)
}

/// Issuer URLs compare as written, but for a trailing slash (Auth0's issuers end in one).
fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// The `iss` a token claims, before anything is verified: only to pick the issuer whose keys
/// verify it.
fn unverified_issuer(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    let payload = token.split('.').nth(1)?;
    if payload.len() > MAX_TOKEN_BYTES {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice::<Iss>(&bytes).ok()?.iss
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    aud: Option<Words>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    /// Space-separated (RFC 8693, Auth0, Keycloak, Cognito), or an array.
    #[serde(default)]
    scope: Option<Words>,
    /// An array (Okta), or a space-separated string (Entra ID).
    #[serde(default)]
    scp: Option<Words>,
}

/// A claim given as one space-separated string or as an array of strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum Words {
    One(String),
    Many(Vec<String>),
}

impl Words {
    fn words(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        match self {
            Self::One(text) => Box::new(text.split_whitespace()),
            Self::Many(list) => Box::new(list.iter().map(String::as_str)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_scopes_are_found_alone_or_behind_a_resource_server() {
        assert!(allows_delivery("webhook.write"));
        assert!(allows_delivery("whatsapp.write"));
        assert!(allows_delivery("https://hooks.example.com/webhook.write"));
        assert!(!allows_delivery("whatsapp.read"));
        assert!(!allows_delivery("webhook.write.all"));
        assert!(!allows_delivery("https://hooks.example.com/"));
    }

    #[test]
    fn issuers_must_be_https_or_loopback_and_need_an_audience() {
        assert!(TrustedIssuers::new(["https://id.example.com/"], "receiver").is_ok());
        assert!(TrustedIssuers::new(["http://127.0.0.1:9000"], "receiver").is_ok());
        assert!(matches!(
            TrustedIssuers::new(["http://id.example.com"], "receiver"),
            Err(IssuerError::Url(_))
        ));
        assert!(matches!(
            TrustedIssuers::new(["https://id.example.com/?tenant=1"], "receiver"),
            Err(IssuerError::Url(_))
        ));
        assert_eq!(
            TrustedIssuers::new(["https://id.example.com"], " ").err(),
            Some(IssuerError::NoAudience)
        );
        let twice = TrustedIssuers::new(
            ["https://id.example.com", "https://id.example.com/"],
            "receiver",
        )
        .unwrap();
        assert_eq!(twice.issuers.len(), 1);
    }

    #[test]
    fn the_issuer_claim_is_read_only_from_a_well_formed_payload() {
        let encode =
            |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.as_bytes());
        let token = format!("h.{}.s", encode(r#"{"iss":"https://id.example.com/"}"#));
        assert_eq!(
            unverified_issuer(&token).as_deref(),
            Some("https://id.example.com/")
        );
        assert_eq!(unverified_issuer("h.not-base64!.s"), None);
        assert_eq!(unverified_issuer(&format!("h.{}.s", encode("[1]"))), None);
    }
}
