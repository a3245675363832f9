//! V2 webhook CRUD: `GET|POST /api/wa/v2/webhooks?phoneNumber=N` and
//! `PUT|DELETE /api/wa/v2/webhooks/{id}?phoneNumber=N`, camelCase bodies, OAuth 2.0 only.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::auth::Scope;
use super::errors::{ApiError, PROBE_FAILED, SettingsCode};
use super::faults::Route;
use super::registration::{
    Case, Credential, DecodeError, OAuth2Draft, OAuth2Registration, absolute_http_url, decode,
    mask_secret,
};
use super::state::{SimState, Webhook};
use super::{Limits, Sim, json_response};
use crate::clock::rfc3339;
use crate::vocabulary::{AuthType, EventName, Named, SubProduct};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebhookBody {
    auth_type: Option<String>,
    sub_product: Option<String>,
    webhook_url: Option<String>,
    events: Option<Vec<String>>,
    oauth2: Option<OAuth2Body>,
    /// Fields this API does not read, kept to tell a client that spelt one of
    /// [`WEBHOOK_FIELDS`] in snake_case.
    #[serde(flatten)]
    unread: Map<String, Value>,
}

/// The fields of [`WebhookBody`], as the API spells them.
const WEBHOOK_FIELDS: [&str; 5] = ["authType", "subProduct", "webhookUrl", "events", "oauth2"];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OAuth2Body {
    grant_type: Option<String>,
    token_url: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
    scopes: Option<Vec<String>>,
    expires_in: Option<Value>,
    /// As [`WebhookBody::unread`], for [`OAUTH2_FIELDS`].
    #[serde(flatten)]
    unread: Map<String, Value>,
}

/// The fields of [`OAuth2Body`], as the API spells them.
const OAUTH2_FIELDS: [&str; 7] = [
    "grantType",
    "tokenUrl",
    "clientId",
    "clientSecret",
    "refreshToken",
    "scopes",
    "expiresIn",
];

/// Refuses a known field spelt in snake_case (`oauth2.grant_type` for `oauth2.grantType`). The
/// token request and the settings APIs spell their fields that way; read as an unknown field
/// and ignored, it would leave the client told that a field it did send is missing. Other
/// unknown fields are ignored, as the vendor may add fields a client does not know of.
fn refuse_snake_case(
    unread: &Map<String, Value>,
    known: &[&str],
    parent: &str,
) -> Result<(), String> {
    for name in unread.keys() {
        let camel = Case::Camel.field(name);
        if camel != *name && known.contains(&camel.as_str()) {
            return Err(format!(
                "{parent}{name}: use {parent}{camel}; the V2 webhook API spells its fields in \
                 camelCase (snake_case is for the token request and the settings APIs)"
            ));
        }
    }
    Ok(())
}

impl From<OAuth2Body> for OAuth2Draft {
    fn from(b: OAuth2Body) -> Self {
        Self {
            grant_type: b.grant_type,
            token_url: b.token_url,
            client_id: b.client_id,
            client_secret: b.client_secret,
            refresh_token: b.refresh_token,
            scopes: b.scopes,
            expires_in: b.expires_in,
        }
    }
}

/// A create or update body that passed validation.
struct WebhookFields {
    webhook_url: String,
    events: Vec<EventName>,
    oauth2: OAuth2Registration,
}

/// `subProduct` as given on create.
fn sub_product(value: Option<&str>) -> Result<SubProduct, String> {
    let value = value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("subProduct is required ({})", SubProduct::choices()))?;
    SubProduct::parse(value).ok_or_else(|| {
        format!(
            "subProduct must be one of {}, got {value:?}",
            SubProduct::choices()
        )
    })
}

impl WebhookBody {
    /// Checked first, so that `sub_product` or `oauth2.grant_type` is named as misspelt rather
    /// than reported missing in its camelCase form.
    fn check_spelling(&self) -> Result<(), String> {
        refuse_snake_case(&self.unread, &WEBHOOK_FIELDS, "")?;
        match &self.oauth2 {
            Some(oauth2) => refuse_snake_case(&oauth2.unread, &OAUTH2_FIELDS, "oauth2."),
            None => Ok(()),
        }
    }

    /// The rules shared by create and update, for a webhook of `sub_product`.
    fn validate(self, sub_product: SubProduct) -> Result<WebhookFields, String> {
        match self.auth_type.as_deref() {
            Some("oauth2") => {}
            None | Some("") => return Err("authType is required and must be oauth2".into()),
            Some(other) => {
                return Err(format!(
                    "unsupported auth type {other:?}: the V2 webhook API accepts only oauth2"
                ));
            }
        }
        let webhook_url = absolute_http_url("webhookUrl", self.webhook_url.as_deref())?;
        let events = events(self.events, sub_product)?;
        let oauth2 =
            OAuth2Draft::from(self.oauth2.ok_or(
                "oauth2 is required: grantType, tokenUrl, clientId, clientSecret, expiresIn",
            )?)
            .validate(Case::Camel)?;
        Ok(WebhookFields {
            webhook_url,
            events,
            oauth2,
        })
    }
}

/// The subscribed events, without repeats, in the order given. The vendor's create text says a
/// conversational webhook must include `reply` while its own example omits it, and its
/// catalogue says `reply` cannot be removed: the simulator accepts both and adds `reply`.
fn events(names: Option<Vec<String>>, sub_product: SubProduct) -> Result<Vec<EventName>, String> {
    let names = names.filter(|n| !n.is_empty()).ok_or_else(|| {
        format!(
            "events must be a non-empty array of {}",
            EventName::choices()
        )
    })?;
    let mut events = Vec::new();
    for name in &names {
        let event = EventName::parse(name).ok_or_else(|| {
            format!(
                "events: unsupported event {name:?} (supported: {})",
                EventName::choices()
            )
        })?;
        if !events.contains(&event) {
            events.push(event);
        }
    }
    match sub_product {
        SubProduct::Verify if events.contains(&EventName::Reply) => {
            Err("events: reply is not supported for verify webhooks".into())
        }
        SubProduct::Conversational if !events.contains(&EventName::Reply) => {
            events.push(EventName::Reply);
            Ok(events)
        }
        _ => Ok(events),
    }
}

/// No other active webhook of the same API type has this URL, and (for a new webhook) the
/// account has room for one more oauth2 webhook.
fn check_account(
    state: &SimState,
    limits: &Limits,
    sub_product: SubProduct,
    webhook_url: &str,
    updating: Option<u64>,
) -> Result<(), String> {
    if let Some(other) = state.active_webhooks().find(|w| {
        w.sub_product == sub_product && w.webhook_url == webhook_url && Some(w.id) != updating
    }) {
        return Err(format!(
            "webhookUrl {webhook_url} already exists for the {} API type (webhook {})",
            sub_product.as_str(),
            other.id
        ));
    }
    match updating {
        Some(_) => Ok(()),
        None => state.check_capacity(limits, AuthType::Oauth2, None),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookView<'a> {
    id: u64,
    sub_product: SubProduct,
    webhook_url: &'a str,
    events: &'a [EventName],
    is_active: bool,
    auth_type: AuthType,
    oauth2: OAuth2View<'a>,
    created_at: &'a str,
}

/// Listed credentials never carry a usable secret.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OAuth2View<'a> {
    grant_type: &'static str,
    token_url: &'a str,
    client_id: &'a str,
    client_secret: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    scopes: &'a [String],
    expires_in: u64,
}

impl<'a> From<&'a Webhook> for WebhookView<'a> {
    fn from(w: &'a Webhook) -> Self {
        Self {
            id: w.id,
            sub_product: w.sub_product,
            webhook_url: &w.webhook_url,
            events: &w.events,
            is_active: w.is_active,
            auth_type: AuthType::Oauth2,
            oauth2: OAuth2View {
                grant_type: w.oauth2.grant_type.as_str(),
                token_url: &w.oauth2.token_url,
                client_id: &w.oauth2.client_id,
                client_secret: mask_secret(&w.oauth2.client_secret),
                refresh_token: w.oauth2.refresh_token.as_deref().map(mask_secret),
                scopes: &w.oauth2.scopes,
                expires_in: w.oauth2.expires_in,
            },
            created_at: &w.created_at,
        }
    }
}

impl Sim {
    /// The sender named by `?phoneNumber=`, normalized.
    fn sender(&self, query: Option<&str>) -> Result<String, ApiError> {
        let number = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .find(|(name, _)| name == "phoneNumber")
            .map(|(_, value)| value.trim().to_owned())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                ApiError::webhooks(
                    StatusCode::BAD_REQUEST,
                    "the sender's phone number is missing: add ?phoneNumber=<sender number>",
                )
            })?;
        self.known_sender(&number).ok_or_else(|| {
            ApiError::webhooks(
                StatusCode::NOT_FOUND,
                format!("the sender {number} cannot be matched to a provider"),
            )
        })
    }

    /// The active webhook `id` of `sender`.
    fn find_webhook(&self, id: &str, sender: &str) -> Result<Webhook, ApiError> {
        id.parse::<u64>()
            .ok()
            .and_then(|id| self.lock().webhooks.get(&id).cloned())
            .filter(|w| w.is_active && w.phone_number == sender)
            .ok_or_else(|| webhook_not_found(id, sender))
    }

    /// Account rules, then the probe, then the account rules again (another request may have
    /// saved meanwhile) and the save itself, which `save` performs under the lock.
    async fn probe_and_save(
        &self,
        route: Route,
        sub_product: SubProduct,
        fields: &WebhookFields,
        updating: Option<u64>,
        save: impl FnOnce(&mut SimState) -> Result<u64, ApiError>,
    ) -> Result<Response, ApiError> {
        let limits = &self.config.limits;
        check_account(
            &self.lock(),
            limits,
            sub_product,
            &fields.webhook_url,
            updating,
        )
        .map_err(ApiError::webhooks_invalid)?;
        let credential = Credential::OAuth2(fields.oauth2.clone());
        self.probe(route, &fields.webhook_url, &credential)
            .await
            .map_err(|_| ApiError::Webhooks {
                status: StatusCode::BAD_REQUEST,
                message: PROBE_FAILED.into(),
                error_code: Some(SettingsCode::WebhookRejected.as_str()),
            })?;
        let mut state = self.lock();
        check_account(&state, limits, sub_product, &fields.webhook_url, updating)
            .map_err(ApiError::webhooks_invalid)?;
        if state.take_save_failure(route) {
            return Err(ApiError::webhooks(
                StatusCode::INTERNAL_SERVER_ERROR,
                "an error occurred while saving the webhook",
            ));
        }
        let id = save(&mut state)?;
        Ok(json_response(
            StatusCode::OK,
            &json!({ "status": true, "webhook": id }),
        ))
    }
}

fn webhook_not_found(id: impl std::fmt::Display, sender: &str) -> ApiError {
    ApiError::webhooks(
        StatusCode::NOT_FOUND,
        format!("webhook {id} not found for sender {sender}"),
    )
}

/// A body that is not JSON says so; a field of the wrong type, or a known field spelt in
/// snake_case, is a validation error naming the field, like every other rule of this API.
fn decode_body(body: &[u8]) -> Result<WebhookBody, ApiError> {
    let body: WebhookBody = decode(body).map_err(|error| {
        ApiError::webhooks_invalid(match error {
            DecodeError::NotJson(message) => {
                format!("the request body is not valid JSON: {message}")
            }
            DecodeError::NotAnObject => "the request body must be a JSON object".to_owned(),
            wrong_shape @ DecodeError::WrongShape { .. } => wrong_shape.to_string(),
        })
    })?;
    body.check_spelling().map_err(ApiError::webhooks_invalid)?;
    Ok(body)
}

/// `GET /api/wa/v2/webhooks?phoneNumber=N`: the sender's active OAuth 2.0 webhooks.
pub async fn list(
    State(sim): State<Arc<Sim>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    sim.enter(Route::List)?;
    sim.authorize(&headers, Some(Scope::Read))?;
    let sender = sim.sender(query.as_deref())?;
    let state = sim.lock();
    let webhooks: Vec<WebhookView> = state
        .active_webhooks()
        .filter(|w| w.phone_number == sender)
        .map(WebhookView::from)
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "webhooks": webhooks }),
    ))
}

/// `POST /api/wa/v2/webhooks?phoneNumber=N`.
pub async fn create(
    State(sim): State<Arc<Sim>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    sim.enter(Route::Create)?;
    sim.authorize(&headers, Some(Scope::Manage))?;
    let sender = sim.sender(query.as_deref())?;
    let body = decode_body(&body)?;
    let sub_product =
        sub_product(body.sub_product.as_deref()).map_err(ApiError::webhooks_invalid)?;
    let fields = body
        .validate(sub_product)
        .map_err(ApiError::webhooks_invalid)?;
    let now = rfc3339(sim.clock.now_ms());
    sim.probe_and_save(Route::Create, sub_product, &fields, None, |state| {
        let id = state.next_webhook_id();
        state.webhooks.insert(
            id,
            Webhook {
                id,
                phone_number: sender,
                sub_product,
                webhook_url: fields.webhook_url.clone(),
                events: fields.events.clone(),
                is_active: true,
                oauth2: fields.oauth2.clone(),
                created_at: now.clone(),
                updated_at: now,
                deleted_at: None,
            },
        );
        Ok(id)
    })
    .await
}

/// `PUT /api/wa/v2/webhooks/{id}?phoneNumber=N`: replaces everything but the API type.
pub async fn update(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    sim.enter(Route::Update)?;
    sim.authorize(&headers, Some(Scope::Update))?;
    let sender = sim.sender(query.as_deref())?;
    let existing = sim.find_webhook(&id, &sender)?;
    let body = decode_body(&body)?;
    if let Some(given) = body.sub_product.as_deref() {
        let message = if SubProduct::parse(given) == Some(existing.sub_product) {
            "subProduct must not be sent on update".to_owned()
        } else {
            format!(
                "a webhook's type cannot change: webhook {} is {}; do not send subProduct on update",
                existing.id,
                existing.sub_product.as_str()
            )
        };
        return Err(ApiError::webhooks_invalid(message));
    }
    let fields = body
        .validate(existing.sub_product)
        .map_err(ApiError::webhooks_invalid)?;
    let now = rfc3339(sim.clock.now_ms());
    let id = existing.id;
    sim.probe_and_save(
        Route::Update,
        existing.sub_product,
        &fields,
        Some(id),
        |state| {
            // Deleted while the probe ran: the update has nothing left to change.
            let webhook = state
                .webhooks
                .get_mut(&id)
                .filter(|w| w.is_active)
                .ok_or_else(|| webhook_not_found(id, &sender))?;
            webhook.webhook_url = fields.webhook_url.clone();
            webhook.events = fields.events.clone();
            webhook.oauth2 = fields.oauth2.clone();
            webhook.updated_at = now;
            Ok(id)
        },
    )
    .await
}

/// `DELETE /api/wa/v2/webhooks/{id}?phoneNumber=N`: a soft delete; the record stays in the state
/// dump, inactive, and stops counting toward the limits.
pub async fn delete(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    sim.enter(Route::Delete)?;
    sim.authorize(&headers, Some(Scope::Delete))?;
    let sender = sim.sender(query.as_deref())?;
    let existing = sim.find_webhook(&id, &sender)?;
    let now = rfc3339(sim.clock.now_ms());
    if let Some(webhook) = sim.lock().webhooks.get_mut(&existing.id) {
        webhook.is_active = false;
        webhook.deleted_at = Some(now);
    }
    Ok(json_response(StatusCode::OK, &json!({ "status": true })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(events: &[EventName]) -> Vec<&'static str> {
        events.iter().map(|e| e.as_str()).collect()
    }

    #[test]
    fn the_field_lists_name_every_field_the_bodies_read() {
        let oauth2: Map<String, Value> = OAUTH2_FIELDS
            .iter()
            .map(|&name| (name.to_owned(), json!(null)))
            .collect();
        let mut body: Map<String, Value> = WEBHOOK_FIELDS
            .iter()
            .map(|&name| (name.to_owned(), json!(null)))
            .collect();
        body.insert("oauth2".into(), Value::Object(oauth2));
        let body: WebhookBody = decode(Value::Object(body).to_string().as_bytes()).unwrap();
        assert_eq!(body.unread, Map::new());
        assert_eq!(body.oauth2.unwrap().unread, Map::new());
    }

    #[test]
    fn conversational_gets_reply_added() {
        let given = Some(vec!["sent".into(), "delivered".into(), "sent".into()]);
        let events = events(given, SubProduct::Conversational).unwrap();
        assert_eq!(names(&events), ["sent", "delivered", "reply"]);
    }

    #[test]
    fn verify_refuses_reply_and_others_keep_their_events() {
        assert!(events(Some(vec!["reply".into()]), SubProduct::Verify).is_err());
        let events = events(Some(vec!["read".into()]), SubProduct::Transactional).unwrap();
        assert_eq!(names(&events), ["read"]);
    }
}
