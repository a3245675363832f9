//! Everything the simulator remembers, in memory, and its dump at `GET /_sim/state`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::auth::IssuedToken;
use super::errors::ApiError;
use super::faults::{Fault, Route};
use super::registration::{Credential, OAuth2Registration, decode};
use super::{Limits, Sim, json_response};
use crate::clock::rfc3339;
use crate::vocabulary::{AuthType, EventName, Named, SubProduct};

#[derive(Debug, Default)]
pub struct SimState {
    /// V2 webhooks by id, deleted ones included (soft delete).
    pub webhooks: BTreeMap<u64, Webhook>,
    pub settings: BTreeMap<SettingsKey, Settings>,
    pub tokens: HashMap<String, IssuedToken>,
    pub tokens_issued: u64,
    pub probes: Vec<ProbeRecord>,
    pub requests: BTreeMap<&'static str, u64>,
    pub faults: Vec<Fault>,
    last_webhook_id: u64,
}

/// A V2 webhook. Its auth type is always oauth2: that is the only one the V2 routes accept.
#[derive(Debug, Clone, Serialize)]
pub struct Webhook {
    pub id: u64,
    pub phone_number: String,
    pub sub_product: SubProduct,
    pub webhook_url: String,
    pub events: Vec<EventName>,
    pub is_active: bool,
    pub oauth2: OAuth2Registration,
    pub created_at: String,
    pub updated_at: String,
    pub deleted_at: Option<String>,
}

/// Settings are saved per API type and sender (`from`; none means the default provider), and
/// saving again replaces them. V1 saves the conversational settings of the default provider.
pub type SettingsKey = (SubProduct, Option<String>);

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub sub_product: SubProduct,
    pub from: Option<String>,
    pub source: SettingsSource,
    pub is_active: bool,
    pub webhook_url: String,
    #[serde(flatten)]
    pub auth: SettingsAuth,
    pub updated_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingsSource {
    V1,
    V2,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "auth_type", rename_all = "snake_case")]
pub enum SettingsAuth {
    Bearer {
        api_key: String,
    },
    #[serde(rename = "oauth2")]
    OAuth2 {
        oauth2: OAuth2Registration,
    },
}

impl SettingsAuth {
    pub fn auth_type(&self) -> AuthType {
        match self {
            Self::Bearer { .. } => AuthType::Bearer,
            Self::OAuth2 { .. } => AuthType::Oauth2,
        }
    }

    pub fn credential(&self) -> Credential {
        match self {
            Self::Bearer { api_key } => Credential::Bearer(api_key.clone()),
            Self::OAuth2 { oauth2 } => Credential::OAuth2(oauth2.clone()),
        }
    }
}

/// One call the simulator made to a webhook URL before saving it.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeRecord {
    pub at: String,
    pub route: Route,
    pub url: String,
    pub auth_type: AuthType,
    /// The webhook's answer, when there was one.
    pub status: Option<u16>,
    pub ok: bool,
    /// Why the probe failed (token endpoint, connection, status), for debugging tests.
    pub error: Option<String>,
}

impl SimState {
    pub fn next_webhook_id(&mut self) -> u64 {
        self.last_webhook_id += 1;
        self.last_webhook_id
    }

    pub fn active_webhooks(&self) -> impl Iterator<Item = &Webhook> {
        self.webhooks.values().filter(|w| w.is_active)
    }

    /// Refuses a registration of `auth_type` that would go over the account limits. Deleted
    /// webhooks and inactive settings do not count; neither do the settings being replaced.
    pub fn check_capacity(
        &self,
        limits: &Limits,
        auth_type: AuthType,
        replacing: Option<&SettingsKey>,
    ) -> Result<(), String> {
        let active: Vec<AuthType> = self
            .active_webhooks()
            .map(|_| AuthType::Oauth2)
            .chain(
                self.settings
                    .iter()
                    .filter(|(key, s)| s.is_active && Some(*key) != replacing)
                    .map(|(_, s)| s.auth.auth_type()),
            )
            .collect();
        if active.len() >= limits.total {
            return Err(format!(
                "webhook limit reached: an account may have at most {} webhooks",
                limits.total
            ));
        }
        let same_type = active.iter().filter(|&&t| t == auth_type).count();
        if same_type >= limits.per_auth_type {
            return Err(format!(
                "webhook limit reached: an account may have at most {} {} webhooks",
                limits.per_auth_type,
                auth_type.as_str()
            ));
        }
        Ok(())
    }
}

#[derive(Serialize)]
struct StateDump<'a> {
    now: String,
    webhooks: Vec<&'a Webhook>,
    settings: Vec<&'a Settings>,
    gateway_tokens_issued: u64,
    probes: &'a [ProbeRecord],
    requests: &'a BTreeMap<&'static str, u64>,
    faults: &'a [Fault],
}

/// `GET /_sim/state`.
pub async fn dump(State(sim): State<Arc<Sim>>) -> Response {
    let state = sim.lock();
    json_response(
        StatusCode::OK,
        &StateDump {
            now: rfc3339(sim.clock.now_ms()),
            webhooks: state.webhooks.values().collect(),
            settings: state.settings.values().collect(),
            gateway_tokens_issued: state.tokens_issued,
            probes: &state.probes,
            requests: &state.requests,
            faults: &state.faults,
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockAdvance {
    advance_secs: u64,
}

/// `POST /_sim/clock` `{"advance_secs": N}`: moves the simulator's clock forward, so tests see
/// gateway tokens expire without waiting.
pub async fn advance_clock(State(sim): State<Arc<Sim>>, body: axum::body::Bytes) -> Response {
    match decode::<ClockAdvance>(&body) {
        Ok(advance) => {
            sim.clock
                .advance(std::time::Duration::from_secs(advance.advance_secs));
            json_response(
                StatusCode::OK,
                &serde_json::json!({ "now": rfc3339(sim.clock.now_ms()) }),
            )
        }
        Err(message) => axum::response::IntoResponse::into_response(ApiError::gateway(
            StatusCode::BAD_REQUEST,
            format!("expected {{\"advance_secs\": N}}: {message}"),
        )),
    }
}
