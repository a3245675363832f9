//! Us -> Insider One: the management calls that register, list, change and delete the webhook
//! URLs Insider One delivers to.
//!
//! - [`InsiderApi`] is the port the management service talks to: one [`VendorCall`] per
//!   documented call, made within the request's [`Deadline`]. Handlers and the service never
//!   see HTTP details.
//! - [`InsiderClient`] is the production adapter: reqwest with rustls, one connection pool per
//!   cold start, bounded waits, retries with backoff for idempotent calls only, and the gateway
//!   token cached per scope.
//! - [`service::Management`] is what the `/manage/...` handlers run: validate, fill in this
//!   deployment's own URLs and credentials, call Insider One, compose the answer.

mod client;
mod error;
pub mod service;
mod tokens;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

pub use client::{
    Credentials, InsiderClient, InsiderSettings, PRODUCTION_GATEWAY_URL, PRODUCTION_WHATSAPP_URL,
    RetryPolicy,
};
pub use error::InsiderError;
pub use service::Management;

use crate::domain::SubProduct;
use crate::domain::management::SECRET_FIELDS;

/// One documented management call with what it carries. Bodies are already in the vendor's
/// casing (camelCase for webhook CRUD and V1, snake_case for V2 settings).
#[derive(Debug, Clone, PartialEq)]
pub enum VendorCall {
    ListWebhooks {
        phone_number: String,
    },
    CreateWebhook {
        phone_number: String,
        body: Value,
    },
    UpdateWebhook {
        phone_number: String,
        id: u64,
        body: Value,
    },
    DeleteWebhook {
        phone_number: String,
        id: u64,
    },
    /// V2 settings of `transactional` or `conversational`.
    Settings {
        sub_product: SubProduct,
        body: Value,
    },
    /// V1 "Save Webhook URL" (conversational, with `X-INS-AUTH-KEY`).
    V1Settings {
        body: Value,
    },
}

impl VendorCall {
    /// The name logs and errors use.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ListWebhooks { .. } => "list_webhooks",
            Self::CreateWebhook { .. } => "create_webhook",
            Self::UpdateWebhook { .. } => "update_webhook",
            Self::DeleteWebhook { .. } => "delete_webhook",
            Self::Settings {
                sub_product: SubProduct::Transactional,
                ..
            } => "transactional_settings",
            Self::Settings { .. } => "conversational_settings",
            Self::V1Settings { .. } => "v1_settings",
        }
    }

    /// Calls that can be sent twice with the effect of once; only these are retried. A create
    /// or settings POST that timed out or failed may still have been saved, and sending it again
    /// could register a second webhook.
    pub fn is_idempotent(&self) -> bool {
        matches!(
            self,
            Self::ListWebhooks { .. } | Self::UpdateWebhook { .. } | Self::DeleteWebhook { .. }
        )
    }
}

/// A 2xx answer from Insider One; its body as JSON (`null` when empty).
#[derive(Debug, Clone, PartialEq)]
pub struct VendorReply {
    pub status: u16,
    pub body: Value,
}

pub type InsiderFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, InsiderError>> + Send + 'a>>;

/// When one management request must be done with Insider One. Every call the request makes
/// (gateway tokens, attempts, the waits between them, the list before an update) draws on the
/// same budget, so that the function answers `vendor_timeout` itself well before its own
/// timeout, and API Gateway's, would cut it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    at: Instant,
    budget: Duration,
}

impl Deadline {
    /// The deadline of a request starting now.
    pub fn after(budget: Duration) -> Self {
        Self {
            at: Instant::now() + budget,
            budget,
        }
    }

    pub fn at(self) -> Instant {
        self.at
    }

    /// Whether a wait of `wait`, starting now, ends before the deadline.
    pub fn leaves_room_for(self, wait: Duration) -> bool {
        Instant::now() + wait < self.at
    }

    /// What a call that ran into the deadline fails with.
    pub fn exceeded(self) -> InsiderError {
        InsiderError::DeadlineExceeded(self.budget)
    }
}

/// The port in front of Insider One's management API.
pub trait InsiderApi: Send + Sync {
    /// Makes the call, giving up with [`InsiderError::DeadlineExceeded`] once `deadline` has
    /// passed; any answer other than 2xx is an [`InsiderError`].
    fn call_within<'a>(
        &'a self,
        call: &'a VendorCall,
        deadline: Deadline,
    ) -> InsiderFuture<'a, VendorReply>;

    /// How long one management request may spend on Insider One, all its calls together.
    fn request_budget(&self) -> Duration;

    /// Makes the call as a request of its own, with the whole budget.
    fn call<'a>(&'a self, call: &'a VendorCall) -> InsiderFuture<'a, VendorReply> {
        self.call_within(call, Deadline::after(self.request_budget()))
    }
}

/// Masks every credential field in a vendor body, as the vendor masks them in its lists
/// (`partner-whatsa********`). The vendor already does so; this is the defence for when it
/// does not, so that no answer of ours ever carries a usable secret from Insider One.
pub fn mask_secrets(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                match field {
                    Value::String(secret)
                        if SECRET_FIELDS.contains(&key.as_str())
                            && !secret.ends_with("********") =>
                    {
                        *secret = crate::auth::mask_secret(secret);
                    }
                    _ => mask_secrets(field),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_secrets),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn secrets_are_masked_once_wherever_they_are() {
        let mut body = json!({"webhooks": [{"oauth2": {
            "clientId": "partner-whatsapp-client",
            "clientSecret": "partner-whatsapp-secret",
            "refreshToken": "partner-whatsa********",
        }}], "api_key": "k-1234567890"});
        super::mask_secrets(&mut body);
        let oauth2 = &body["webhooks"][0]["oauth2"];
        assert_eq!(oauth2["clientId"], "partner-whatsapp-client");
        assert_eq!(oauth2["clientSecret"], "partner-wha********");
        assert_eq!(oauth2["refreshToken"], "partner-whatsa********");
        assert_eq!(body["api_key"], "k-1234********");
    }
}
