//! The one place where typed errors become HTTP statuses and JSON bodies:
//! `{"error": {"code": "...", "message": "..."}}` with a stable `code`.

use http::{HeaderName, HeaderValue, StatusCode, header};
use serde_json::json;

use super::{Body, Response, with_content_type};
use crate::auth::AuthError;
use crate::auth::oauth::{OAuthError, OAuthErrorCode};
use crate::domain::PayloadError;
use crate::domain::management::{RequestError, ValidationError};
use crate::domain::query::QueryError;
use crate::insider::{InsiderError, SecretValues};
use crate::management::ManageError;
use crate::replay::ReplayError;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Members of the error object beside `code` and `message` (`fields`, `vendor`).
    details: serde_json::Map<String, serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
            details: serde_json::Map::new(),
        }
    }

    pub fn with_detail(mut self, name: &str, value: serde_json::Value) -> Self {
        self.details.insert(name.to_owned(), value);
        self
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

    /// With `secrets` masked wherever the message or the details (a vendor's body, a field's
    /// problem) quote them.
    pub fn masking(mut self, secrets: &SecretValues) -> Self {
        secrets.mask_text(&mut self.message);
        self.details
            .values_mut()
            .for_each(|detail| secrets.mask_value(detail));
        self
    }

    pub fn into_response(self) -> Response {
        let mut error = self.details;
        error.insert("code".into(), self.code.into());
        error.insert("message".into(), self.message.into());
        let body = json!({ "error": error });
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

impl From<ValidationError> for ApiError {
    /// Every problem at once, each with its field as the request spells it.
    fn from(error: ValidationError) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "validation_failed",
            error.to_string(),
        )
        .with_detail("fields", json!(error.fields))
    }
}

impl From<QueryError> for ApiError {
    /// Every parameter problem at once, each with its parameter's name; `missing_parameter` when
    /// all of them are missing, else `invalid_parameter`.
    fn from(error: QueryError) -> Self {
        match &error {
            QueryError::Parameters(problems) => {
                let code = if problems.iter().all(|p| p.missing) {
                    "missing_parameter"
                } else {
                    "invalid_parameter"
                };
                Self::new(StatusCode::BAD_REQUEST, code, error.to_string())
                    .with_detail("fields", json!(problems))
            }
            QueryError::InvalidCursor(_) => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_cursor", error.to_string())
            }
        }
    }
}

impl From<ReplayError> for ApiError {
    fn from(error: ReplayError) -> Self {
        match error {
            ReplayError::NotConfigured => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "replay_not_configured",
                "there is no downstream target to publish to (locally: start the stack with --print-events or --publish-to)",
            ),
            ReplayError::MessageNotFound(_) => Self::new(
                StatusCode::NOT_FOUND,
                "message_not_found",
                error.to_string(),
            ),
            ReplayError::Store(error) => {
                tracing::error!(%error, "reading the event store failed");
                error.into()
            }
            ReplayError::Unpublishable { .. } => {
                tracing::error!(%error, "replay stopped");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "unpublishable_event",
                    "a stored event cannot be made into a downstream event; nothing of this call was published (the operators have been alerted)",
                )
            }
            ReplayError::Publish { published, .. } => {
                tracing::error!(%error, "replay stopped");
                Self::new(
                    StatusCode::BAD_GATEWAY,
                    "publish_failed",
                    format!(
                        "{published} events were published, then the event bus refused or did not answer; make the same call again (consumers dedupe on event_id)"
                    ),
                )
                .with_detail("published", json!(published))
            }
        }
    }
}

impl From<RequestError> for ApiError {
    fn from(error: RequestError) -> Self {
        match error {
            RequestError::NotJson(_) => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_json", error.to_string())
            }
            RequestError::Invalid(error) => error.into(),
        }
    }
}

impl From<InsiderError> for ApiError {
    /// The vendor's refusals keep their status and body; its failures and ours to reach it
    /// are 5xx, with `vendor_auth_failed` for our own gateway credentials, which no caller can
    /// fix by changing the request.
    fn from(error: InsiderError) -> Self {
        let vendor = error.vendor_status().map(|status| {
            let body = match &error {
                InsiderError::Rejected { body, .. }
                | InsiderError::RateLimited { body, .. }
                | InsiderError::Server { body, .. }
                | InsiderError::AuthFailed { body, .. } => body.clone(),
                _ => serde_json::Value::Null,
            };
            json!({"status": status, "body": body})
        });
        let vendor_message = vendor
            .as_ref()
            .and_then(|v| v["body"]["message"].as_str())
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        let message = format!("{error}{vendor_message}");
        let (status, code) = match &error {
            InsiderError::Rejected { status: 404, .. } => {
                (StatusCode::NOT_FOUND, "vendor_not_found")
            }
            InsiderError::Rejected { status, .. } => (
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST),
                "vendor_rejected",
            ),
            InsiderError::RateLimited { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "vendor_rate_limited")
            }
            InsiderError::Server { .. } | InsiderError::InvalidResponse { .. } => {
                (StatusCode::BAD_GATEWAY, "vendor_error")
            }
            InsiderError::AuthFailed { .. } => (StatusCode::BAD_GATEWAY, "vendor_auth_failed"),
            InsiderError::Redirected { .. } => (StatusCode::BAD_GATEWAY, "vendor_redirected"),
            InsiderError::Unreachable(_) => (StatusCode::BAD_GATEWAY, "vendor_unreachable"),
            InsiderError::Timeout(_) | InsiderError::DeadlineExceeded(_) => {
                (StatusCode::GATEWAY_TIMEOUT, "vendor_timeout")
            }
            InsiderError::NotConfigured(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "insider_not_configured")
            }
        };
        let mut api_error = Self::new(status, code, message);
        if let Some(vendor) = vendor {
            api_error = api_error.with_detail("vendor", vendor);
        }
        if let InsiderError::RateLimited {
            retry_after: Some(seconds),
            ..
        } = error
        {
            api_error
                .headers
                .push((header::RETRY_AFTER, HeaderValue::from(seconds)));
        }
        api_error
    }
}

impl From<ManageError> for ApiError {
    fn from(error: ManageError) -> Self {
        match error {
            ManageError::Request(error) => error.into(),
            ManageError::Invalid(error) => error.into(),
            ManageError::Vendor(error) => error.into(),
            ManageError::Store(error) => {
                tracing::error!(%error, "the store of minted credentials failed");
                error.into()
            }
            ManageError::WebhookNotFound { .. } => Self::new(
                StatusCode::NOT_FOUND,
                "webhook_not_found",
                error.to_string(),
            ),
            ManageError::CredentialNotFound(_) => Self::new(
                StatusCode::NOT_FOUND,
                "credential_not_found",
                error.to_string(),
            ),
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
