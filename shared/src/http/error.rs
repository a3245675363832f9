//! The one place where typed errors become HTTP statuses and JSON bodies:
//! `{"error": {"code": "...", "message": "..."}}` with a stable `code`.

use http::{HeaderName, HeaderValue, StatusCode, header};
use serde_json::json;

use super::{Body, Response, with_content_type};
use crate::auth::AuthError;
use crate::auth::oauth::{OAuthError, OAuthErrorCode};
use crate::domain::PayloadError;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: HeaderName, value: &'static str) -> Self {
        self.headers.push((name, HeaderValue::from_static(value)));
        self
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such route")
    }

    pub fn method_not_allowed(allow: &'static str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("this route accepts {allow}"),
        )
        .with_header(header::ALLOW, allow)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", message)
    }

    pub fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut response = with_content_type(
            self.status,
            Body::Binary(body.to_string().into_bytes()),
            "application/json",
        );
        response.headers_mut().extend(self.headers);
        response
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        let message = error.to_string();
        match error {
            AuthError::NotConfigured => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "auth_not_configured",
                message,
            ),
            AuthError::MissingCredentials => {
                Self::new(StatusCode::UNAUTHORIZED, "missing_credentials", message)
                    .with_header(header::WWW_AUTHENTICATE, "Bearer")
            }
            AuthError::InvalidToken(_) => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_token", message)
                    .with_header(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")
            }
        }
    }
}

impl From<PayloadError> for ApiError {
    fn from(error: PayloadError) -> Self {
        let code = match error {
            PayloadError::NotJson(_) => "invalid_json",
            PayloadError::NotObject => "not_a_json_object",
        };
        Self::new(StatusCode::BAD_REQUEST, code, error.to_string())
    }
}

impl From<StoreError> for ApiError {
    /// Every storage failure is a 5xx so that Insider One delivers again; none of them leaves
    /// anything behind that the retry would double.
    fn from(error: StoreError) -> Self {
        // The details (endpoints, SDK messages) go to the log, not to the caller.
        let (status, code, message) = match error {
            StoreError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "the event store is unavailable; nothing was lost, send the request again",
            ),
            StoreError::Timeout => (
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_timeout",
                "the event store did not answer in time; send the request again",
            ),
            StoreError::Rejected(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "storage_rejected",
                "the event store refused the data; the operators have been alerted",
            ),
            StoreError::Corrupt(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "storage_corrupt",
                "a stored item could not be read",
            ),
        };
        let retry_after = status == StatusCode::SERVICE_UNAVAILABLE;
        let error = Self::new(status, code, message);
        if retry_after {
            error.with_header(header::RETRY_AFTER, "1")
        } else {
            error
        }
    }
}

/// RFC 6749 section 5.2: `{"error", "error_description"}`; `invalid_client` is a 401, with a
/// `WWW-Authenticate` challenge when the client used HTTP Basic.
pub(super) fn oauth_error_response(error: &OAuthError, basic_used: bool) -> Response {
    let status = match error.code {
        OAuthErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
        OAuthErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let body = json!({"error": error.code.as_str(), "error_description": error.description});
    let mut response = with_content_type(
        status,
        Body::Binary(body.to_string().into_bytes()),
        "application/json",
    );
    if error.code == OAuthErrorCode::InvalidClient && basic_used {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"oauth\""),
        );
    }
    response
}
