//! The call Insider One makes to a webhook URL before saving it: anything but a 200 and the save
//! is refused with error 2020.
//!
//! Redirects are not followed: a URL answering 302 fails the probe like any other non-200
//! (see [`crate::outbound::client_builder`]).
//!
//! The vendor does not document the probe's shape. The simulator sends what a careful receiver
//! must accept: `POST <url>` with body `{}`, `Content-Type: application/json` and the very
//! credentials later deliveries will carry (for OAuth 2.0 it first gets a token from the
//! receiver's token endpoint, whose failure fails the probe too).

use http::{HeaderMap, StatusCode, header};

use super::Sim;
use super::faults::Route;
use super::registration::Credential;
use super::state::ProbeRecord;
use crate::clock::rfc3339;
use crate::oauth::{TokenError, TokenSource, error_chain};
use crate::vocabulary::AuthType;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("no token from the token endpoint: {0}")]
    Token(#[from] TokenError),
    #[error("the webhook could not be reached: {0}")]
    Unreachable(String),
    #[error("the webhook answered HTTP {0}, not 200")]
    Status(StatusCode),
    /// A 3xx: the URL being saved is not the one that would receive deliveries.
    #[error("the webhook answered HTTP {status}, {target}; it must answer 200 itself")]
    Redirected { status: StatusCode, target: String },
}

impl Sim {
    /// Probes `url` and records the outcome in the probe log.
    pub async fn probe(
        &self,
        route: Route,
        url: &str,
        credential: &Credential,
    ) -> Result<(), ProbeError> {
        let outcome = self.call_webhook(url, credential).await;
        let status = match &outcome {
            Ok(()) => Some(200),
            Err(ProbeError::Status(status) | ProbeError::Redirected { status, .. }) => {
                Some(status.as_u16())
            }
            Err(_) => None,
        };
        let error = outcome.as_ref().err().map(ToString::to_string);
        tracing::info!(
            url,
            ok = outcome.is_ok(),
            ?status,
            ?error,
            "probed a webhook"
        );
        self.lock().probes.push(ProbeRecord {
            at: rfc3339(self.clock.now_ms()),
            route,
            url: url.to_owned(),
            auth_type: match credential {
                Credential::Bearer(_) => AuthType::Bearer,
                Credential::OAuth2(_) => AuthType::Oauth2,
            },
            status,
            ok: outcome.is_ok(),
            error,
        });
        outcome
    }

    async fn call_webhook(&self, url: &str, credential: &Credential) -> Result<(), ProbeError> {
        let timeout = self.config.probe_timeout;
        let bearer = match credential {
            Credential::Bearer(api_key) => api_key.clone(),
            Credential::OAuth2(oauth2) => {
                let tokens = TokenSource::new(oauth2.credentials(), self.http.clone(), timeout);
                tokens.bearer().await?.to_string()
            }
        };
        let response = self
            .http
            .post(url)
            .timeout(timeout)
            .header(header::CONTENT_TYPE, "application/json")
            .bearer_auth(bearer)
            .body("{}")
            .send()
            .await
            .map_err(|e| ProbeError::Unreachable(error_chain(&e)))?;
        let status = response.status();
        if let Some(target) = redirect_target(status, response.headers()) {
            return Err(ProbeError::Redirected { status, target });
        }
        match status {
            StatusCode::OK => Ok(()),
            other => Err(ProbeError::Status(other)),
        }
    }
}

/// Where a redirect answer points, for the probe log: the receiver moved or is misconfigured,
/// and whoever reads why the save failed needs to see where it wanted the request to go. `None` for any
/// status that is not a redirect.
fn redirect_target(status: StatusCode, headers: &HeaderMap) -> Option<String> {
    if !status.is_redirection() {
        return None;
    }
    let location = headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("no Location given");
    Some(format!("a redirect to {location}, not followed"))
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn only_redirects_are_described() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::LOCATION,
            HeaderValue::from_static("https://x.example/"),
        );
        assert_eq!(
            redirect_target(StatusCode::FOUND, &headers).as_deref(),
            Some("a redirect to https://x.example/, not followed")
        );
        assert_eq!(
            redirect_target(StatusCode::SEE_OTHER, &HeaderMap::new()).as_deref(),
            Some("a redirect to no Location given, not followed")
        );
        assert_eq!(redirect_target(StatusCode::OK, &headers), None);
        assert_eq!(redirect_target(StatusCode::BAD_REQUEST, &headers), None);
    }
}
