//! Error answers, one body shape per family of routes (see the README):
//!
//! - gateway (token endpoint, bearer/scope and V1 key checks, injected faults): `{"message"}`;
//! - V2 webhook CRUD: `{"status": false, "message", "errorCode"?}` (`errorCode` only for 2020);
//! - V2 and V1 settings: HTTP 400 `{"message", "errorCode"}` with the documented 20xx codes.
//!
//! Every shape has `message`, so a client can always show what went wrong.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use super::json_response;

/// The documented settings error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingsCode {
    /// The request body could not be decoded.
    Undecodable,
    /// The request body failed validation.
    Invalid,
    /// An error occurred while saving the settings.
    SaveFailed,
    /// The webhook URL failed validation (the probe did not get a 200).
    WebhookRejected,
}

impl SettingsCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Undecodable => "2010",
            Self::Invalid => "2011",
            Self::SaveFailed => "2012",
            Self::WebhookRejected => "2020",
        }
    }
}

/// The vendor's exact wording for a failed probe.
pub const PROBE_FAILED: &str = "failed to validate the webhook";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    Gateway {
        status: StatusCode,
        message: String,
        retry_after: Option<u64>,
    },
    Webhooks {
        status: StatusCode,
        message: String,
        error_code: Option<&'static str>,
    },
    Settings {
        code: SettingsCode,
        message: String,
    },
}

impl ApiError {
    pub fn gateway(status: StatusCode, message: impl Into<String>) -> Self {
        Self::Gateway {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn webhooks(status: StatusCode, message: impl Into<String>) -> Self {
        Self::Webhooks {
            status,
            message: message.into(),
            error_code: None,
        }
    }

    /// A 400 from the V2 webhook routes; shaped to be passed to `map_err`.
    pub fn webhooks_invalid(message: String) -> Self {
        Self::webhooks(StatusCode::BAD_REQUEST, message)
    }

    pub fn settings(code: SettingsCode, message: impl Into<String>) -> Self {
        Self::Settings {
            code,
            message: message.into(),
        }
    }

    /// A 2011 from the settings routes; shaped to be passed to `map_err`.
    pub fn settings_invalid(message: String) -> Self {
        Self::settings(SettingsCode::Invalid, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Gateway {
                status,
                message,
                retry_after,
            } => {
                let mut response = json_response(status, &json!({ "message": message }));
                if let Some(seconds) = retry_after {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                }
                response
            }
            Self::Webhooks {
                status,
                message,
                error_code,
            } => {
                let mut body = json!({ "status": false, "message": message });
                if let Some(code) = error_code {
                    body["errorCode"] = code.into();
                }
                json_response(status, &body)
            }
            Self::Settings { code, message } => json_response(
                StatusCode::BAD_REQUEST,
                &json!({ "message": message, "errorCode": code.as_str() }),
            ),
        }
    }
}
