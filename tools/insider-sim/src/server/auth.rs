//! The gateway's side of authentication: `POST /auth/token` issues expiring bearer tokens with
//! scopes, the V2 routes check them, and the V1 route checks the `X-INS-AUTH-KEY` header.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};

use super::errors::ApiError;
use super::faults::Route;
use super::registration::decode;
use super::{Sim, json_response};

/// The gateway scopes of the V2 webhook routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    #[serde(rename = "wa-webhook-read")]
    Read,
    #[serde(rename = "wa-webhook-manage")]
    Manage,
    #[serde(rename = "wa-webhook-update")]
    Update,
    #[serde(rename = "wa-webhook-delete")]
    Delete,
}

impl Scope {
    const ALL: [Self; 4] = [Self::Read, Self::Manage, Self::Update, Self::Delete];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "wa-webhook-read",
            Self::Manage => "wa-webhook-manage",
            Self::Update => "wa-webhook-update",
            Self::Delete => "wa-webhook-delete",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

#[derive(Debug, Clone)]
pub struct IssuedToken {
    scopes: Vec<Scope>,
    expires_at_ms: u64,
}

/// The gateway token request; snake_case, unlike the CRUD bodies.
#[derive(Deserialize)]
struct TokenRequest {
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
}

/// `POST /auth/token`.
pub async fn issue_token(
    State(sim): State<Arc<Sim>>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    sim.enter(Route::Token)?;
    let request: TokenRequest = decode(&body).map_err(|message| {
        ApiError::gateway(
            StatusCode::BAD_REQUEST,
            format!("invalid token request: {message}"),
        )
    })?;
    let (Some(client_id), Some(client_secret)) = (request.client_id, request.client_secret) else {
        return Err(ApiError::gateway(
            StatusCode::BAD_REQUEST,
            "client_id and client_secret are required",
        ));
    };
    if client_id != sim.config.client_id || client_secret != sim.config.client_secret {
        return Err(ApiError::gateway(
            StatusCode::UNAUTHORIZED,
            "invalid client credentials",
        ));
    }
    let scopes = request
        .scopes
        .iter()
        .map(|name| {
            Scope::parse(name).ok_or_else(|| {
                let known: Vec<_> = Scope::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::gateway(
                    StatusCode::BAD_REQUEST,
                    format!("unknown scope {name:?}; known scopes: {}", known.join(", ")),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let access_token = random_token();
    let now = sim.clock.now_ms();
    let lifetime = sim.config.token_lifetime;
    let mut state = sim.lock();
    state.tokens.retain(|_, t| t.expires_at_ms > now);
    state.tokens.insert(
        access_token.clone(),
        IssuedToken {
            scopes,
            expires_at_ms: now.saturating_add(u64::try_from(lifetime.as_millis()).unwrap_or(0)),
        },
    );
    state.tokens_issued += 1;
    Ok(json_response(
        StatusCode::OK,
        &TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: lifetime.as_secs(),
        },
    ))
}

impl Sim {
    /// A valid gateway token, holding `scope` when one is named.
    pub fn authorize(&self, headers: &HeaderMap, scope: Option<Scope>) -> Result<(), ApiError> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .ok_or_else(|| {
                ApiError::gateway(
                    StatusCode::UNAUTHORIZED,
                    "missing Authorization: Bearer <gateway token>",
                )
            })?;
        let now = self.clock.now_ms();
        let state = self.lock();
        let issued = state
            .tokens
            .get(token)
            .ok_or_else(|| ApiError::gateway(StatusCode::UNAUTHORIZED, "invalid gateway token"))?;
        if issued.expires_at_ms <= now {
            return Err(ApiError::gateway(
                StatusCode::UNAUTHORIZED,
                "the gateway token has expired",
            ));
        }
        match scope {
            Some(scope) if !issued.scopes.contains(&scope) => Err(ApiError::gateway(
                StatusCode::FORBIDDEN,
                format!("the gateway token lacks the {} scope", scope.as_str()),
            )),
            _ => Ok(()),
        }
    }

    /// The V1 API key; `HeaderMap` lookups ignore case, as HTTP requires.
    pub fn check_ins_auth_key(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        match headers.get("x-ins-auth-key").and_then(|v| v.to_str().ok()) {
            Some(key) if key == self.config.ins_auth_key => Ok(()),
            Some(_) => Err(ApiError::gateway(
                StatusCode::UNAUTHORIZED,
                "invalid X-INS-AUTH-KEY",
            )),
            None => Err(ApiError::gateway(
                StatusCode::UNAUTHORIZED,
                "missing X-INS-AUTH-KEY header",
            )),
        }
    }
}

/// The token of `Bearer <token>`, the scheme in any case (RFC 6750).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn random_token() -> String {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    format!("sim-gw-{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }

    #[test]
    fn scopes_use_the_vendor_names() {
        for scope in Scope::ALL {
            assert_eq!(serde_json::to_value(scope).unwrap(), json!(scope.as_str()));
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
    }
}
