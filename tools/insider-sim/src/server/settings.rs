//! Webhook settings: V2 `POST /api/wa/v2/{transactional|conversational}/settings` (snake_case,
//! bearer or oauth2) and V1 `POST /v1/conversational/settings/update` (camelCase, bearer only).
//! Every error is HTTP 400 `{"message", "errorCode"}` with the documented 20xx codes.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::errors::{ApiError, PROBE_FAILED, SettingsCode};
use super::faults::Route;
use super::registration::{Case, OAuth2Draft, absolute_http_url, decode, required};
use super::state::{Settings, SettingsAuth, SettingsKey, SettingsSource};
use super::{Sim, json_response};
use crate::clock::rfc3339;
use crate::vocabulary::{AuthType, Named, SubProduct};

#[derive(Deserialize)]
struct SettingsBody {
    webhook_url: Option<String>,
    from: Option<String>,
    auth_type: Option<String>,
    api_key: Option<String>,
    oauth2: Option<OAuth2Draft>,
}

/// The V1 body. The vendor's table names the URL `url` while its sample sends `webhookUrl`;
/// both are accepted (the same value twice is fine, two different URLs are not).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1Body {
    is_active: Option<bool>,
    webhook_url: Option<String>,
    url: Option<String>,
    api_key: Option<String>,
}

impl SettingsBody {
    fn validate(self) -> Result<(String, SettingsAuth), String> {
        let webhook_url = absolute_http_url("webhook_url", self.webhook_url.as_deref())?;
        let auth_type = self
            .auth_type
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| format!("auth_type is required ({})", AuthType::choices()))?;
        let auth = match AuthType::parse(auth_type) {
            Some(AuthType::Bearer) if self.oauth2.is_some() => {
                return Err("oauth2 must not be sent when auth_type is bearer".into());
            }
            Some(AuthType::Bearer) => SettingsAuth::Bearer {
                api_key: required("api_key (required when auth_type is bearer)", self.api_key)?,
            },
            Some(AuthType::Oauth2) if self.api_key.is_some() => {
                return Err("api_key must not be sent when auth_type is oauth2".into());
            }
            Some(AuthType::Oauth2) => SettingsAuth::OAuth2 {
                oauth2: self
                    .oauth2
                    .ok_or("oauth2 is required when auth_type is oauth2")?
                    .validate(Case::Snake)?,
            },
            None => {
                return Err(format!(
                    "auth_type must be one of {}, got {auth_type:?}",
                    AuthType::choices()
                ));
            }
        };
        Ok((webhook_url, auth))
    }
}

impl V1Body {
    fn validate(self) -> Result<(bool, String, String), String> {
        let is_active = self
            .is_active
            .ok_or("isActive is required (true or false)")?;
        let url = match (self.webhook_url, self.url) {
            (Some(a), Some(b)) if a != b => {
                return Err("give the webhook URL once, as webhookUrl or as url".into());
            }
            (webhook_url, url) => webhook_url.or(url),
        };
        let url = absolute_http_url("webhookUrl (or url)", url.as_deref())?;
        let api_key = required("apiKey", self.api_key)?;
        Ok((is_active, url, api_key))
    }
}

fn decode_settings<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    decode(body).map_err(|message| {
        ApiError::settings(
            SettingsCode::Undecodable,
            format!("the settings request body could not be decoded: {message}"),
        )
    })
}

impl Sim {
    /// Account limits, probe (for active settings), limits again, then the upsert.
    async fn save_settings(
        &self,
        route: Route,
        key: SettingsKey,
        settings: Settings,
    ) -> Result<Response, ApiError> {
        let auth_type = settings.auth.auth_type();
        let check = |state: &super::state::SimState| {
            if settings.is_active {
                state
                    .check_capacity(&self.config.limits, auth_type, Some(&key))
                    .map_err(ApiError::settings_invalid)
            } else {
                Ok(())
            }
        };
        check(&self.lock())?;
        if settings.is_active {
            self.probe(route, &settings.webhook_url, &settings.auth.credential())
                .await
                .map_err(|_| ApiError::settings(SettingsCode::WebhookRejected, PROBE_FAILED))?;
        }
        let mut state = self.lock();
        check(&state)?;
        if state.take_save_failure(route) {
            return Err(ApiError::settings(
                SettingsCode::SaveFailed,
                "an error occurred while saving the settings",
            ));
        }
        state.settings.insert(key, settings);
        Ok(json_response(
            StatusCode::OK,
            &json!({ "message": "Settings updated successfully" }),
        ))
    }
}

/// `POST /api/wa/v2/{transactional|conversational}/settings`.
pub async fn save_v2(
    State(sim): State<Arc<Sim>>,
    Path(sub_product): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let sub_product = match SubProduct::parse(&sub_product) {
        Some(s @ (SubProduct::Transactional | SubProduct::Conversational)) => s,
        _ => return Err(ApiError::gateway(StatusCode::NOT_FOUND, "no such route")),
    };
    sim.enter(Route::Settings)?;
    sim.authorize(&headers, None)?;
    let body: SettingsBody = decode_settings(&body)?;
    let from = match body
        .from
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty())
    {
        None => None,
        Some(number) => Some(sim.known_sender(number).ok_or_else(|| {
            ApiError::settings_invalid(format!(
                "from: the sender {number} cannot be matched to a provider"
            ))
        })?),
    };
    let (webhook_url, auth) = body.validate().map_err(ApiError::settings_invalid)?;
    let settings = Settings {
        sub_product,
        from: from.clone(),
        source: SettingsSource::V2,
        is_active: true,
        webhook_url,
        auth,
        updated_at: rfc3339(sim.clock.now_ms()),
    };
    sim.save_settings(Route::Settings, (sub_product, from), settings)
        .await
}

/// `POST /v1/conversational/settings/update` with `X-INS-AUTH-KEY`. Turning the settings off
/// (`isActive: false`) saves without probing: there is nothing to deliver to.
pub async fn save_v1(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    sim.enter(Route::V1)?;
    sim.check_ins_auth_key(&headers)?;
    let body: V1Body = decode_settings(&body)?;
    let (is_active, webhook_url, api_key) = body.validate().map_err(ApiError::settings_invalid)?;
    let settings = Settings {
        sub_product: SubProduct::Conversational,
        from: None,
        source: SettingsSource::V1,
        is_active,
        webhook_url,
        auth: SettingsAuth::Bearer { api_key },
        updated_at: rfc3339(sim.clock.now_ms()),
    };
    sim.save_settings(Route::V1, (SubProduct::Conversational, None), settings)
        .await
}
