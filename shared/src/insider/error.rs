use std::time::Duration;

use serde_json::Value;

/// How a call to Insider One failed. Bodies are the vendor's own answer, kept so the caller can
/// see the vendor's code (`2020`, ...) and message; they never hold our credentials.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InsiderError {
    /// A 4xx other than 429 and other than a refusal of our own credentials: the request was
    /// wrong or named something that does not exist (400 with 2010/2011/2012/2020, 404, ...).
    #[error("Insider One refused the request with HTTP {status}")]
    Rejected { status: u16, body: Value },
    #[error("Insider One is rate limiting these calls (HTTP 429)")]
    RateLimited {
        body: Value,
        /// Seconds, from the vendor's `Retry-After`.
        retry_after: Option<u64>,
    },
    #[error("Insider One failed with HTTP {status}")]
    Server { status: u16, body: Value },
    /// Our gateway client or V1 key was refused, even after fetching a new token: a
    /// configuration problem on our side, not the caller's.
    #[error("Insider One refused our credentials at {stage} with HTTP {status}")]
    AuthFailed {
        stage: &'static str,
        status: u16,
        body: Value,
    },
    #[error("Insider One could not be reached: {0}")]
    Unreachable(String),
    /// One attempt got no answer within `INSIDER_TIMEOUT_MS`.
    #[error("Insider One did not answer within {0:?}")]
    Timeout(Duration),
    /// The request's calls together did not finish within `INSIDER_REQUEST_BUDGET_MS`.
    #[error("Insider One's calls for this request did not finish within its budget of {0:?}")]
    DeadlineExceeded(Duration),
    /// A redirect, which the client never follows: it would re-send our credentials to
    /// wherever the answer points.
    #[error(
        "Insider One answered HTTP {status}, a redirect, which this client does not follow so that our credentials go nowhere else"
    )]
    Redirected { status: u16 },
    #[error("Insider One answered HTTP {status} with a body that is not JSON")]
    InvalidResponse { status: u16 },
    #[error("{0} is not configured, so this call cannot be made")]
    NotConfigured(&'static str),
}

impl InsiderError {
    /// The HTTP status Insider One answered, when it answered.
    pub fn vendor_status(&self) -> Option<u16> {
        match self {
            Self::Rejected { status, .. }
            | Self::Server { status, .. }
            | Self::AuthFailed { status, .. }
            | Self::Redirected { status }
            | Self::InvalidResponse { status } => Some(*status),
            Self::RateLimited { .. } => Some(429),
            Self::Unreachable(_)
            | Self::Timeout(_)
            | Self::DeadlineExceeded(_)
            | Self::NotConfigured(_) => None,
        }
    }
}
