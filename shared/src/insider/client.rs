//! The production adapter of [`InsiderApi`]: Insider One's management API over HTTPS.

use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use bytes::Bytes;
use http::{Method, header};
use serde::Deserialize;
use serde_json::{Value, json};

use super::tokens::{GatewayScope, GatewayTokens};
use super::{
    Deadline, InsiderApi, InsiderError, InsiderFuture, SecretValues, VendorCall, VendorReply,
    mask_secrets,
};
use crate::domain::management::check_url;

pub const PRODUCTION_GATEWAY_URL: &str = "https://gw.useinsider.com";
pub const PRODUCTION_WHATSAPP_URL: &str = "https://whatsapp.useinsider.com";
/// What one management request may spend on Insider One unless `INSIDER_REQUEST_BUDGET_MS`
/// says otherwise: well inside the 29 s the management functions run, so that they answer
/// `vendor_timeout` themselves and still have time to withdraw minted credentials.
const DEFAULT_REQUEST_BUDGET: Duration = Duration::from_secs(25);

/// Vendor bodies that are not JSON are kept as text, this long at most, for the error answer.
const MAX_TEXT_BODY_CHARS: usize = 500;

/// Our credentials at Insider One: the gateway client (V2 calls) and the V1 `X-INS-AUTH-KEY`.
/// Each is optional so that a function needing only one of them starts without the other.
#[derive(Clone, Default, Deserialize)]
pub struct Credentials {
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub ins_auth_key: Option<String>,
}

impl Credentials {
    /// The values no answer or log of ours may repeat (the client id is no secret).
    fn secret_values(&self) -> SecretValues {
        [&self.client_secret, &self.ins_auth_key]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }

    /// Blank values, as in the placeholder secret the template creates, count as unset, so the
    /// caller hears "not configured" instead of Insider One refusing empty credentials. Others
    /// lose the whitespace around them, which a pasted value often brings along.
    pub fn blank_as_unset(self) -> Self {
        let keep =
            |value: Option<String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        Self {
            client_id: keep(self.client_id),
            client_secret: keep(self.client_secret),
            ins_auth_key: keep(self.ins_auth_key),
        }
    }
}

impl std::fmt::Debug for Credentials {
    /// Says which credentials are set, never their values.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<set>"),
            )
            .field("ins_auth_key", &self.ins_auth_key.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// Exponential backoff with jitter, for idempotent calls that got a 429, a 5xx or no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The wait before the second attempt (before jitter); it doubles for each further one.
    pub base_delay: Duration,
    /// The longest wait between two attempts; a `Retry-After` asking for more is not waited for
    /// (the 429 goes back to the caller with it instead).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The waits between the attempts of one call, `max_attempts - 1` of them: the nth is
    /// `base_delay * 2^(n-1)`, capped at `max_delay`, with "equal jitter" (between half of it
    /// and all of it), so that clients that failed together spread out without any of them
    /// retrying at once. backon's jitter adds up to the delay again, hence the halves here.
    fn waits(&self) -> ExponentialBackoff {
        ExponentialBuilder::new()
            .with_min_delay(self.base_delay.min(self.max_delay) / 2)
            .with_max_delay(self.max_delay / 2)
            .with_max_times(self.max_attempts.saturating_sub(1) as usize)
            .with_jitter()
            .build()
    }

    /// The wait before the next attempt, or `None` when there should be none: the next of
    /// `waits`, or instead what the vendor's `Retry-After` asks for when that is no longer than
    /// `max_delay`.
    fn next_wait(
        &self,
        waits: &mut ExponentialBackoff,
        retry_after: Option<u64>,
    ) -> Option<Duration> {
        let backoff = waits.next()?;
        match retry_after.map(Duration::from_secs) {
            Some(wanted) => (wanted <= self.max_delay).then_some(wanted),
            None => Some(backoff),
        }
    }
}

#[derive(Debug, Clone)]
pub struct InsiderSettings {
    /// `https://gw.useinsider.com` in production: gateway tokens, V2 webhooks and settings.
    pub gateway_url: String,
    /// `https://whatsapp.useinsider.com` in production: the V1 settings call.
    pub whatsapp_url: String,
    pub credentials: Credentials,
    /// Bound on one attempt, from connecting to the last byte of the answer.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
    /// Bound on all the calls of one management request together: see [`Deadline`].
    pub request_budget: Duration,
}

impl Default for InsiderSettings {
    fn default() -> Self {
        Self {
            gateway_url: PRODUCTION_GATEWAY_URL.into(),
            whatsapp_url: PRODUCTION_WHATSAPP_URL.into(),
            credentials: Credentials::default(),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            retry: RetryPolicy::default(),
            request_budget: DEFAULT_REQUEST_BUDGET,
        }
    }
}

/// Why the Insider One client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    /// A vendor URL over plain http to another host would carry our credentials in clear.
    #[error("the Insider One {setting} {reason}")]
    InsecureUrl {
        /// `gateway_url` or `whatsapp_url`.
        setting: &'static str,
        reason: String,
    },
    #[error("the HTTP client could not be built: {0}")]
    Http(#[from] reqwest::Error),
}

/// Built once per cold start, so its connection pool (and TLS sessions) serve every request the
/// execution environment handles.
pub struct InsiderClient {
    http: reqwest::Client,
    settings: InsiderSettings,
    tokens: GatewayTokens,
    /// Our credentials' values, masked in whatever the vendor answers, should it quote them.
    own_secrets: SecretValues,
}

enum Auth<'a> {
    None,
    Bearer(&'a str),
    InsAuthKey(&'a str),
}

struct Target<'a> {
    method: Method,
    url: String,
    phone_number: Option<&'a str>,
    body: Option<&'a Value>,
}

/// One HTTP answer, before it is judged.
struct Raw {
    status: u16,
    body: Bytes,
    retry_after: Option<u64>,
}

#[derive(Deserialize)]
struct GatewayToken {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl InsiderClient {
    /// Refuses vendor URLs over plain http except to a loopback host (the simulator), and
    /// follows no redirect: a 307 or 308 would re-send a body holding our gateway secret or a
    /// minted one, and reqwest keeps custom headers such as `X-INS-AUTH-KEY` across hosts.
    pub fn new(settings: InsiderSettings) -> Result<Self, ClientBuildError> {
        for (setting, url) in [
            ("gateway_url", &settings.gateway_url),
            ("whatsapp_url", &settings.whatsapp_url),
        ] {
            check_url(url).map_err(|reason| ClientBuildError::InsecureUrl { setting, reason })?;
        }
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("insider-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            own_secrets: settings.credentials.secret_values(),
            settings,
            tokens: GatewayTokens::default(),
        })
    }

    async fn perform(
        &self,
        call: &VendorCall,
        deadline: Deadline,
    ) -> Result<VendorReply, InsiderError> {
        let target = self.target(call);
        let retry = call.is_idempotent();
        let raw = match scope(call) {
            None => {
                let key = self.settings.credentials.ins_auth_key.as_deref().ok_or(
                    InsiderError::NotConfigured(
                        "the Insider One V1 key (INSIDER_INS_AUTH_KEY or ins_auth_key in INSIDER_CREDENTIALS_SECRET)",
                    ),
                )?;
                self.send(
                    call.name(),
                    &target,
                    &Auth::InsAuthKey(key),
                    retry,
                    deadline,
                )
                .await?
            }
            Some(scope) => {
                let fetch = || self.fetch_token(scope, deadline);
                let token = self.tokens.get(scope, fetch).await?;
                let raw = self
                    .send(call.name(), &target, &Auth::Bearer(&token), retry, deadline)
                    .await?;
                if raw.status == 401 {
                    // Revoked, or expired earlier than announced: one fresh token, once. A second
                    // refusal means our gateway client itself is wrong.
                    self.tokens.invalidate(scope, &token).await;
                    let token = self.tokens.get(scope, fetch).await?;
                    self.send(call.name(), &target, &Auth::Bearer(&token), retry, deadline)
                        .await?
                } else {
                    raw
                }
            }
        };
        judge(raw, "the management API", |status| {
            matches!(status, 401 | 403)
        })
    }

    /// `POST /auth/token` with the documented snake_case body and only the scope this call needs.
    async fn fetch_token(
        &self,
        scope: GatewayScope,
        deadline: Deadline,
    ) -> Result<(String, Option<u64>), InsiderError> {
        let credentials = &self.settings.credentials;
        let (Some(client_id), Some(client_secret)) =
            (&credentials.client_id, &credentials.client_secret)
        else {
            return Err(InsiderError::NotConfigured(
                "the Insider One gateway client (INSIDER_CLIENT_ID and INSIDER_CLIENT_SECRET, or INSIDER_CREDENTIALS_SECRET)",
            ));
        };
        let body = json!({
            "client_id": client_id,
            "client_secret": client_secret,
            "scopes": scope.scopes(),
        });
        let target = Target {
            method: Method::POST,
            url: join(&self.settings.gateway_url, "/auth/token"),
            phone_number: None,
            body: Some(&body),
        };
        // Asking for a token twice does no harm, so the token call is retried like a GET.
        let raw = self
            .send("gateway_token", &target, &Auth::None, true, deadline)
            .await?;
        // Any refusal other than rate limiting means our client id, secret or scope is wrong.
        let reply = judge(raw, "the gateway token endpoint", |status| {
            (400..500).contains(&status) && status != 429
        })?;
        let token: GatewayToken =
            serde_json::from_value(reply.body).map_err(|_| InsiderError::InvalidResponse {
                status: reply.status,
            })?;
        Ok((token.access_token, token.expires_in))
    }

    fn target<'a>(&self, call: &'a VendorCall) -> Target<'a> {
        let gateway = |path: &str| join(&self.settings.gateway_url, path);
        let (method, url, phone_number, body) = match call {
            VendorCall::ListWebhooks { phone_number } => (
                Method::GET,
                gateway("/api/wa/v2/webhooks"),
                Some(phone_number),
                None,
            ),
            VendorCall::CreateWebhook { phone_number, body } => (
                Method::POST,
                gateway("/api/wa/v2/webhooks"),
                Some(phone_number),
                Some(body),
            ),
            VendorCall::UpdateWebhook {
                phone_number,
                id,
                body,
            } => (
                Method::PUT,
                gateway(&format!("/api/wa/v2/webhooks/{id}")),
                Some(phone_number),
                Some(body),
            ),
            VendorCall::DeleteWebhook { phone_number, id } => (
                Method::DELETE,
                gateway(&format!("/api/wa/v2/webhooks/{id}")),
                Some(phone_number),
                None,
            ),
            VendorCall::Settings { sub_product, body } => (
                Method::POST,
                gateway(&format!("/api/wa/v2/{}/settings", sub_product.as_str())),
                None,
                Some(body),
            ),
            VendorCall::V1Settings { body } => (
                Method::POST,
                join(
                    &self.settings.whatsapp_url,
                    "/v1/conversational/settings/update",
                ),
                None,
                Some(body),
            ),
        };
        Target {
            method,
            url,
            phone_number: phone_number.map(String::as_str),
            body,
        }
    }

    /// Sends until an answer that should not be retried, the attempts run out, or the deadline
    /// leaves no room for another attempt.
    async fn send(
        &self,
        operation: &'static str,
        target: &Target<'_>,
        auth: &Auth<'_>,
        retry: bool,
        deadline: Deadline,
    ) -> Result<Raw, InsiderError> {
        let mut waits = self.settings.retry.waits();
        let mut attempt = 1;
        loop {
            let started = Instant::now();
            let outcome = tokio::time::timeout_at(deadline.at(), self.send_once(target, auth))
                .await
                .unwrap_or_else(|_| Err(deadline.exceeded()));
            let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
            crate::telemetry::record::vendor_call(
                operation,
                started.elapsed(),
                match &outcome {
                    Ok(raw) => Ok(raw.status),
                    Err(InsiderError::Timeout(_) | InsiderError::DeadlineExceeded(_)) => {
                        Err("timeout")
                    }
                    Err(_) => Err("unreachable"),
                },
            );
            let wait = match &outcome {
                Ok(raw) if raw.status == 429 || raw.status >= 500 => {
                    self.settings.retry.next_wait(&mut waits, raw.retry_after)
                }
                // No answer at all: a dropped connection; a timeout is not retried, as its wait
                // already used the time the caller has.
                Err(InsiderError::Unreachable(_)) => {
                    self.settings.retry.next_wait(&mut waits, None)
                }
                _ => None,
            }
            // A wait the deadline cuts short would only turn the failure at hand, which says
            // more, into a timeout.
            .filter(|wait| retry && deadline.leaves_room_for(*wait));
            let status = outcome.as_ref().ok().map(|raw| raw.status);
            match wait {
                Some(wait) => {
                    tracing::warn!(
                        operation,
                        attempt,
                        vendor_status = status,
                        elapsed_ms,
                        retry_in_ms = wait.as_millis() as u64,
                        "Insider One call failed; retrying"
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                None => {
                    tracing::debug!(operation, attempt, vendor_status = status, elapsed_ms);
                    return outcome;
                }
            }
        }
    }

    async fn send_once(&self, target: &Target<'_>, auth: &Auth<'_>) -> Result<Raw, InsiderError> {
        let mut request = self
            .http
            .request(target.method.clone(), &target.url)
            .header(header::ACCEPT, "application/json");
        if let Some(phone_number) = target.phone_number {
            request = request.query(&[("phoneNumber", phone_number)]);
        }
        if let Some(body) = target.body {
            request = request.json(body);
        }
        request = match auth {
            Auth::None => request,
            Auth::Bearer(token) => request.bearer_auth(token),
            Auth::InsAuthKey(key) => request.header("X-INS-AUTH-KEY", *key),
        };
        let response = request.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(&e))?;
        Ok(Raw {
            status,
            body,
            retry_after,
        })
    }

    fn transport_error(&self, error: &reqwest::Error) -> InsiderError {
        if error.is_timeout() {
            InsiderError::Timeout(self.settings.timeout)
        } else {
            InsiderError::Unreachable(error_chain(error))
        }
    }
}

impl InsiderApi for InsiderClient {
    fn call_within<'a>(
        &'a self,
        call: &'a VendorCall,
        deadline: Deadline,
    ) -> InsiderFuture<'a, VendorReply> {
        Box::pin(async move {
            // Attempts and waits keep to the deadline themselves; this also bounds the wait for
            // a gateway token that a concurrent request is fetching.
            let mut outcome = tokio::time::timeout_at(deadline.at(), self.perform(call, deadline))
                .await
                .unwrap_or_else(|_| Err(deadline.exceeded()));
            self.own_secrets.mask_outcome(&mut outcome);
            outcome
        })
    }

    fn request_budget(&self) -> Duration {
        self.settings.request_budget
    }
}

/// The gateway scope a call needs; `None` for the V1 call, which uses `X-INS-AUTH-KEY`.
fn scope(call: &VendorCall) -> Option<GatewayScope> {
    match call {
        VendorCall::ListWebhooks { .. } => Some(GatewayScope::Read),
        VendorCall::CreateWebhook { .. } => Some(GatewayScope::Manage),
        VendorCall::UpdateWebhook { .. } => Some(GatewayScope::Update),
        VendorCall::DeleteWebhook { .. } => Some(GatewayScope::Delete),
        VendorCall::Settings { .. } => Some(GatewayScope::Settings),
        VendorCall::V1Settings { .. } => None,
    }
}

/// A final answer as success or the matching error; `refused` says which statuses mean our own
/// credentials were refused at `stage`.
fn judge(
    raw: Raw,
    stage: &'static str,
    refused: impl Fn(u16) -> bool,
) -> Result<VendorReply, InsiderError> {
    let status = raw.status;
    if (200..300).contains(&status) {
        let mut body = if raw.body.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(&raw.body)
                .map_err(|_| InsiderError::InvalidResponse { status })?
        };
        mask_secrets(&mut body);
        return Ok(VendorReply { status, body });
    }
    let body = vendor_body(&raw.body);
    Err(match status {
        300..=399 => InsiderError::Redirected { status },
        429 => InsiderError::RateLimited {
            body,
            retry_after: raw.retry_after,
        },
        status if refused(status) => InsiderError::AuthFailed {
            stage,
            status,
            body,
        },
        500.. => InsiderError::Server { status, body },
        _ => InsiderError::Rejected { status, body },
    })
}

/// The vendor's error body as JSON (masked), or as (shortened) text when it is not JSON.
fn vendor_body(bytes: &[u8]) -> Value {
    let mut body = serde_json::from_slice(bytes).unwrap_or_else(|_| {
        Value::String(
            String::from_utf8_lossy(bytes)
                .chars()
                .take(MAX_TEXT_BODY_CHARS)
                .collect(),
        )
    });
    mask_secrets(&mut body);
    body
}

fn join(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

/// An error with its sources, which is where reqwest says what actually went wrong.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    std::iter::successors(Some(error), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_honours_retry_after_within_bounds() {
        let policy = RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        };
        for _ in 0..50 {
            let mut waits = policy.waits();
            let first = policy.next_wait(&mut waits, None).unwrap();
            assert!((Duration::from_millis(50)..=Duration::from_millis(100)).contains(&first));
            let second = policy.next_wait(&mut waits, None).unwrap();
            assert!((Duration::from_millis(100)..=Duration::from_millis(200)).contains(&second));
            let third = policy.next_wait(&mut waits, None).unwrap();
            assert!((Duration::from_millis(200)..=Duration::from_millis(400)).contains(&third));
            assert_eq!(
                policy.next_wait(&mut waits, None),
                None,
                "attempts are bounded"
            );
        }
        let mut waits = policy.waits();
        assert_eq!(
            policy.next_wait(&mut waits, Some(1)),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            policy.next_wait(&mut waits, Some(60)),
            None,
            "a long Retry-After goes back to the caller"
        );
        policy.next_wait(&mut waits, Some(1)).unwrap();
        assert_eq!(
            policy.next_wait(&mut waits, Some(1)),
            None,
            "a Retry-After gets no attempt beyond the last"
        );
    }

    #[test]
    fn backoff_is_capped_at_the_longest_wait() {
        let policy = RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(300),
            max_delay: Duration::from_secs(1),
        };
        let waits: Vec<_> = policy.waits().collect();
        assert_eq!(waits.len(), 7, "one wait between each two attempts");
        for wait in &waits[2..] {
            assert!((Duration::from_millis(500)..=Duration::from_secs(1)).contains(wait));
        }
        let single = RetryPolicy {
            max_attempts: 1,
            ..policy
        };
        assert_eq!(single.waits().next(), None, "one attempt, no wait");
        let slow_start = RetryPolicy {
            base_delay: Duration::from_secs(3),
            ..policy
        };
        let first = slow_start.waits().next().unwrap();
        assert!(first <= Duration::from_secs(1), "{first:?}");
    }

    #[test]
    fn answers_are_judged_by_status() {
        let raw = |status, body: &str| Raw {
            status,
            body: Bytes::from(body.to_owned()),
            retry_after: Some(2),
        };
        let api = |status| matches!(status, 401 | 403);
        assert_eq!(
            judge(raw(200, r#"{"status": true}"#), "api", api).unwrap(),
            VendorReply {
                status: 200,
                body: json!({"status": true})
            }
        );
        assert_eq!(judge(raw(200, ""), "api", api).unwrap().body, Value::Null);
        assert!(matches!(
            judge(raw(200, "<html>"), "api", api),
            Err(InsiderError::InvalidResponse { status: 200 })
        ));
        assert!(matches!(
            judge(raw(429, "{}"), "api", api),
            Err(InsiderError::RateLimited {
                retry_after: Some(2),
                ..
            })
        ));
        assert!(matches!(
            judge(raw(403, "{}"), "api", api),
            Err(InsiderError::AuthFailed { status: 403, .. })
        ));
        assert!(matches!(
            judge(raw(503, "oops"), "api", api),
            Err(InsiderError::Server { status: 503, body }) if body == "oops"
        ));
        assert!(matches!(
            judge(raw(404, r#"{"status": false}"#), "api", api),
            Err(InsiderError::Rejected { status: 404, .. })
        ));
    }

    #[test]
    fn credentials_never_show_their_secrets() {
        let credentials = Credentials {
            client_id: Some("id".into()),
            client_secret: Some("very-secret".into()),
            ins_auth_key: Some("INS.key".into()),
        };
        let shown = format!("{credentials:?}");
        assert!(!shown.contains("very-secret") && !shown.contains("INS.key"));
    }
}
