//! One delivery, with its retries: exponential backoff with jitter after a 5xx, a 429, a timeout
//! or a connection error; never after another 4xx; one fresh OAuth token after a 401.
//!
//! A redirect (3xx) is not followed (see [`crate::outbound::client_builder`]) and not retried
//! either: it says the registered URL is not where the receiver is, which no amount of waiting
//! changes, so the delivery fails at once. Nothing of this runs for an acknowledged delivery:
//! the sending path the throughput figures measure is what it was.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{StatusCode, header};
use serde::Deserialize;

use super::payloads::Delivery;
use crate::oauth::{TokenSource, error_chain};

/// The longest wait between two attempts, whatever the backoff or a `Retry-After` says.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

pub struct RetryPolicy {
    pub max_retries: u32,
    pub timeout: Duration,
    pub base: Duration,
}

pub struct Sender {
    pub http: reqwest::Client,
    pub url: String,
    pub bearer: Option<String>,
    pub tokens: Option<TokenSource>,
    pub policy: RetryPolicy,
}

/// What one worker saw; merged into the summary at the end.
#[derive(Default)]
pub struct WorkerStats {
    /// Every attempt that got an answer, in microseconds.
    pub latencies_us: Vec<u64>,
    pub acknowledged: Vec<usize>,
    /// Index of the delivery and the last reason it was not acknowledged.
    pub failed: Vec<(usize, String)>,
    pub retried: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub transport_errors: u64,
    pub stored: u64,
    pub parked: u64,
    pub duplicates: u64,
    pub reports: u64,
}

impl WorkerStats {
    pub fn merge(&mut self, other: WorkerStats) {
        self.latencies_us.extend(other.latencies_us);
        self.acknowledged.extend(other.acknowledged);
        self.failed.extend(other.failed);
        self.retried += other.retried;
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.transport_errors += other.transport_errors;
        self.stored += other.stored;
        self.parked += other.parked;
        self.duplicates += other.duplicates;
        self.reports += other.reports;
    }
}

/// What our receiver answers to a stored delivery.
#[derive(Deserialize)]
struct ReceiverReport {
    stored: u64,
    duplicates: u64,
    /// Kept in its fallback queue, to be stored later.
    #[serde(default)]
    parked: bool,
}

enum Attempt {
    Acknowledged,
    /// A 401 while using this OAuth token.
    Unauthorized(Arc<str>),
    Retry {
        error: String,
        retry_after: Option<Duration>,
    },
    Fatal(String),
}

impl Sender {
    pub async fn deliver(&self, index: usize, delivery: &Delivery, stats: &mut WorkerStats) {
        let mut retries = 0;
        let mut renewed_token = false;
        loop {
            let error = match self.attempt(delivery, stats).await {
                Attempt::Acknowledged => {
                    stats.acknowledged.push(index);
                    return;
                }
                // The receiver may have rotated its keys: one fresh token, no backoff.
                Attempt::Unauthorized(token) if !renewed_token => {
                    if let Some(tokens) = &self.tokens {
                        tokens.invalidate(&token).await;
                    }
                    renewed_token = true;
                    stats.retried += 1;
                    continue;
                }
                Attempt::Unauthorized(_) => "HTTP 401 even with a fresh token".to_owned(),
                Attempt::Retry { error, retry_after } if retries < self.policy.max_retries => {
                    retries += 1;
                    stats.retried += 1;
                    tracing::debug!(index, retries, %error, "retrying a delivery");
                    tokio::time::sleep(self.backoff(retries, retry_after)).await;
                    continue;
                }
                Attempt::Retry { error, .. } | Attempt::Fatal(error) => error,
            };
            stats.failed.push((index, error));
            return;
        }
    }

    async fn attempt(&self, delivery: &Delivery, stats: &mut WorkerStats) -> Attempt {
        let oauth_token = match &self.tokens {
            None => None,
            Some(tokens) => match tokens.bearer().await {
                Ok(token) => Some(token),
                Err(error) if error.is_transient() => {
                    return Attempt::Retry {
                        error: error.to_string(),
                        retry_after: None,
                    };
                }
                Err(error) => return Attempt::Fatal(error.to_string()),
            },
        };
        let mut request = self
            .http
            .post(&self.url)
            .timeout(self.policy.timeout)
            .header(header::CONTENT_TYPE, "application/json")
            .body(delivery.body.clone());
        if let Some(token) = oauth_token.as_deref().or(self.bearer.as_deref()) {
            request = request.bearer_auth(token);
        }
        let started = Instant::now();
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return transport_failure(stats, &error),
        };
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(error) => return transport_failure(stats, &error),
        };
        stats
            .latencies_us
            .push(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
        *stats.statuses.entry(status.as_u16()).or_default() += 1;
        if status.is_success() {
            if let Ok(report) = serde_json::from_slice::<ReceiverReport>(&body) {
                stats.stored += report.stored;
                stats.parked += u64::from(report.parked);
                stats.duplicates += report.duplicates;
                stats.reports += 1;
            }
            return Attempt::Acknowledged;
        }
        let error = format!(
            "HTTP {}{}: {}",
            status.as_u16(),
            if status.is_redirection() {
                " (a redirect, not followed)"
            } else {
                ""
            },
            String::from_utf8_lossy(&body)
                .chars()
                .take(200)
                .collect::<String>()
        );
        match (status, oauth_token) {
            (StatusCode::UNAUTHORIZED, Some(token)) => Attempt::Unauthorized(token),
            (StatusCode::TOO_MANY_REQUESTS, _) => Attempt::Retry { error, retry_after },
            (s, _) if s.is_server_error() => Attempt::Retry { error, retry_after },
            // Other 4xx and every 3xx: the same request would get the same answer.
            _ => Attempt::Fatal(error),
        }
    }

    /// `base * 2^(retry - 1)`, capped, then jittered into its upper half so that many senders
    /// retrying together spread out; at least what `Retry-After` asked for (capped too).
    fn backoff(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let exponential = self
            .policy
            .base
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)))
            .min(MAX_BACKOFF);
        let jittered = exponential / 2 + exponential.mul_f64(fastrand::f64() / 2.0);
        jittered.max(retry_after.unwrap_or_default().min(MAX_BACKOFF))
    }
}

/// No HTTP answer (refused, reset, timed out): worth another attempt.
fn transport_failure(stats: &mut WorkerStats, error: &reqwest::Error) -> Attempt {
    stats.transport_errors += 1;
    Attempt::Retry {
        error: error_chain(error),
        retry_after: None,
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by the receivers we simulate for).
fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sender(base_ms: u64) -> Sender {
        Sender {
            http: reqwest::Client::new(),
            url: "http://127.0.0.1:9/".into(),
            bearer: None,
            tokens: None,
            policy: RetryPolicy {
                max_retries: 3,
                timeout: Duration::from_secs(1),
                base: Duration::from_millis(base_ms),
            },
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let sender = sender(100);
        for (retry, full) in [(1, 100), (2, 200), (3, 400)] {
            let wait = sender.backoff(retry, None);
            let full = Duration::from_millis(full);
            assert!(wait >= full / 2 && wait <= full, "{retry}: {wait:?}");
        }
        assert!(sender.backoff(30, None) <= MAX_BACKOFF);
        assert_eq!(
            sender.backoff(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            sender.backoff(1, Some(Duration::from_secs(3600))),
            MAX_BACKOFF
        );
    }
}
