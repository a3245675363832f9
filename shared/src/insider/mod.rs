//! Us -> Insider One: the management calls that register, list, change and delete the webhook
//! URLs Insider One delivers to.
//!
//! - [`InsiderApi`] is the port the management service talks to: one [`VendorCall`] per
//!   documented call, made within the request's [`Deadline`]. Handlers and the service never
//!   see HTTP details.
//! - [`InsiderClient`] is the production adapter: reqwest with rustls, one connection pool per
//!   cold start, bounded waits, retries with backoff for idempotent calls only, and the gateway
//!   token cached per scope.
//!
//! The management use case that drives this port is [`crate::management`].

mod client;
mod error;
mod masking;
mod tokens;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

pub use client::{
    ClientBuildError, Credentials, InsiderClient, InsiderSettings, PRODUCTION_GATEWAY_URL,
    PRODUCTION_WHATSAPP_URL, RetryPolicy,
};
pub use error::InsiderError;
pub use masking::{SecretValues, mask_secrets};

use crate::domain::SubProduct;

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

    /// The body sent, for the calls that send one.
    pub fn body(&self) -> Option<&Value> {
        match self {
            Self::CreateWebhook { body, .. }
            | Self::UpdateWebhook { body, .. }
            | Self::Settings { body, .. }
            | Self::V1Settings { body } => Some(body),
            Self::ListWebhooks { .. } | Self::DeleteWebhook { .. } => None,
        }
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
}
