//! The OAuth 2.0 client Insider One runs against a receiver's token endpoint (RFC 6749 §4.4 and
//! §6): it is how both the URL probe and the sender obtain the bearer token they send.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

/// What a receiver registered for OAuth 2.0 delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OAuth2Credentials {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub grant: Grant,
    pub scopes: Vec<String>,
    pub client_auth: ClientAuth,
    /// How long a token is used when the token response has no `expires_in`, and at most even
    /// when it has one: the `expiresIn` the webhook was registered with.
    pub lifetime: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    ClientCredentials,
    RefreshToken(String),
}

/// Where the client credentials go (RFC 6749 §2.3.1 allows both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// `client_id` and `client_secret` as form parameters (`client_secret_post`).
    #[default]
    Body,
    /// `Authorization: Basic` with the form-encoded id and secret (`client_secret_basic`).
    Basic,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token endpoint could not be reached: {0}")]
    Unreachable(String),
    #[error("the token endpoint answered HTTP {status}: {body}")]
    Rejected { status: u16, body: String },
    #[error("the token endpoint's answer is not a bearer token response: {0}")]
    InvalidResponse(String),
}

impl TokenError {
    /// Worth asking again later: the endpoint was down, overloaded or rate limiting.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable(_) => true,
            Self::Rejected { status, .. } => *status == 429 || *status >= 500,
            Self::InvalidResponse(_) => false,
        }
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// Hands out bearer tokens, fetching one only when the cached one is missing, expiring, or was
/// refused by the receiver; concurrent callers wait for a single fetch.
pub struct TokenSource {
    credentials: OAuth2Credentials,
    http: reqwest::Client,
    timeout: Duration,
    state: Mutex<TokenState>,
    fetches: AtomicU64,
}

struct TokenState {
    cached: Option<CachedToken>,
    /// A token endpoint may rotate the refresh token; the latest one is used next time.
    refresh_token: Option<String>,
}

struct CachedToken {
    token: Arc<str>,
    renew_at: Option<Instant>,
}

impl TokenSource {
    pub fn new(credentials: OAuth2Credentials, http: reqwest::Client, timeout: Duration) -> Self {
        let refresh_token = match &credentials.grant {
            Grant::RefreshToken(token) => Some(token.clone()),
            Grant::ClientCredentials => None,
        };
        Self {
            credentials,
            http,
            timeout,
            state: Mutex::new(TokenState {
                cached: None,
                refresh_token,
            }),
            fetches: AtomicU64::new(0),
        }
    }

    /// How many times the token endpoint was called.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    pub async fn bearer(&self) -> Result<Arc<str>, TokenError> {
        let mut state = self.state.lock().await;
        if let Some(cached) = &state.cached
            && cached.renew_at.is_none_or(|at| Instant::now() < at)
        {
            return Ok(Arc::clone(&cached.token));
        }
        let response = self.fetch(state.refresh_token.as_deref()).await?;
        if let Some(rotated) = response.refresh_token.filter(|t| !t.is_empty()) {
            state.refresh_token = Some(rotated);
        }
        let lifetime = [
            response.expires_in.map(Duration::from_secs),
            self.credentials.lifetime,
        ]
        .into_iter()
        .flatten()
        .min();
        let token: Arc<str> = response.access_token.into();
        state.cached = Some(CachedToken {
            token: Arc::clone(&token),
            renew_at: lifetime.map(|l| Instant::now() + l - renewal_margin(l)),
        });
        Ok(token)
    }

    /// Forgets `token` after the receiver refused it, unless another caller already replaced it.
    pub async fn invalidate(&self, token: &str) {
        let mut state = self.state.lock().await;
        if state.cached.as_ref().is_some_and(|c| &*c.token == token) {
            state.cached = None;
        }
    }

    async fn fetch(&self, refresh_token: Option<&str>) -> Result<TokenResponse, TokenError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let credentials = &self.credentials;
        let mut form: Vec<(&str, &str)> = match refresh_token {
            Some(token) => vec![("grant_type", "refresh_token"), ("refresh_token", token)],
            None => vec![("grant_type", "client_credentials")],
        };
        let scope = credentials.scopes.join(" ");
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        let mut request = self.http.post(&credentials.token_url).timeout(self.timeout);
        match credentials.client_auth {
            ClientAuth::Body => {
                form.push(("client_id", &credentials.client_id));
                form.push(("client_secret", &credentials.client_secret));
            }
            ClientAuth::Basic => {
                request = request.header(
                    http::header::AUTHORIZATION,
                    basic_authorization(&credentials.client_id, &credentials.client_secret),
                );
            }
        }
        let response = request
            .header(http::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| TokenError::Unreachable(error_chain(&e)))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| TokenError::Unreachable(error_chain(&e)))?;
        if !status.is_success() {
            return Err(TokenError::Rejected {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body).chars().take(200).collect(),
            });
        }
        let token: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| TokenError::InvalidResponse(e.to_string()))?;
        if token.access_token.is_empty() {
            return Err(TokenError::InvalidResponse("access_token is empty".into()));
        }
        match token.token_type.as_deref() {
            Some(kind) if !kind.eq_ignore_ascii_case("bearer") => Err(TokenError::InvalidResponse(
                format!("token_type is {kind:?}, not Bearer"),
            )),
            _ => Ok(token),
        }
    }
}

/// Renew a little before the end, so a token does not expire between taking it and using it.
fn renewal_margin(lifetime: Duration) -> Duration {
    (lifetime / 10).min(Duration::from_secs(30))
}

/// RFC 6749 §2.3.1: id and secret are form-encoded before they are joined and base64-encoded.
pub fn basic_authorization(client_id: &str, client_secret: &str) -> String {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", encode(client_id), encode(client_secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// An error with its sources, which is where reqwest says what actually went wrong.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_authorization_form_encodes_before_base64() {
        // "a b:c+d" form-encoded is "a+b:c%2Bd".
        assert_eq!(basic_authorization("a b", "c+d"), "Basic YStiOmMlMkJk");
    }

    #[test]
    fn renewal_margin_is_a_tenth_capped_at_thirty_seconds() {
        assert_eq!(
            renewal_margin(Duration::from_secs(100)),
            Duration::from_secs(10)
        );
        assert_eq!(
            renewal_margin(Duration::from_secs(3600)),
            Duration::from_secs(30)
        );
        assert_eq!(renewal_margin(Duration::ZERO), Duration::ZERO);
    }
}
