//! `POST /_sim/webhooks/{id}/deliver` and `POST /_sim/settings/{sub_product}/deliver[?from=N]`:
//! send events to what was registered, with the registered credentials and (for V2 webhooks)
//! only the subscribed events, so both sides of the integration meet end to end. The body is an
//! optional [`Traffic`] (`{"count": 50, "seed": 7, ...}`); the answer is the delivery summary.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use http::StatusCode;

use super::errors::ApiError;
use super::registration::{Credential, decode};
use super::{Sim, json_response};
use crate::deliver::{DeliverOptions, DeliveryAuth, Traffic, run};
use crate::vocabulary::{EventName, Named, SubProduct};

fn traffic(body: &[u8]) -> Result<Traffic, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Traffic::default());
    }
    decode(body).map_err(|message| {
        ApiError::gateway(
            StatusCode::BAD_REQUEST,
            format!("invalid traffic options: {message}"),
        )
    })
}

async fn deliver(
    to: String,
    sub_product: SubProduct,
    credential: Credential,
    events: Option<Vec<EventName>>,
    traffic: Traffic,
) -> Result<Response, ApiError> {
    let options = DeliverOptions {
        to,
        sub_product,
        auth: match credential {
            Credential::Bearer(token) => DeliveryAuth::Bearer(token),
            Credential::OAuth2(oauth2) => DeliveryAuth::OAuth2(oauth2.credentials()),
        },
        events,
        traffic,
    };
    let summary = run(options)
        .await
        .map_err(|e| ApiError::gateway(StatusCode::BAD_REQUEST, e.to_string()))?;
    Ok(json_response(StatusCode::OK, &summary))
}

/// To an active V2 webhook.
pub async fn to_webhook(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let traffic = traffic(&body)?;
    let webhook = id
        .parse::<u64>()
        .ok()
        .and_then(|id| sim.lock().webhooks.get(&id).cloned())
        .filter(|w| w.is_active)
        .ok_or_else(|| {
            ApiError::gateway(StatusCode::NOT_FOUND, format!("no active webhook {id}"))
        })?;
    deliver(
        webhook.webhook_url,
        webhook.sub_product,
        Credential::OAuth2(webhook.oauth2),
        Some(webhook.events),
        traffic,
    )
    .await
}

/// To the active settings of an API type (and sender, with `?from=`).
pub async fn to_settings(
    State(sim): State<Arc<Sim>>,
    Path(sub_product): Path<String>,
    RawQuery(query): RawQuery,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let traffic = traffic(&body)?;
    let not_found = |what: String| ApiError::gateway(StatusCode::NOT_FOUND, what);
    let sub_product = SubProduct::parse(&sub_product)
        .ok_or_else(|| not_found(format!("no API type {sub_product:?}")))?;
    let from = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(name, _)| name == "from")
        .map(|(_, number)| {
            sim.known_sender(&number)
                .ok_or_else(|| not_found(format!("no sender {number}")))
        })
        .transpose()?;
    let settings = sim
        .lock()
        .settings
        .get(&(sub_product, from))
        .filter(|s| s.is_active)
        .cloned()
        .ok_or_else(|| {
            not_found(format!(
                "no active {} settings for that sender",
                sub_product.as_str()
            ))
        })?;
    deliver(
        settings.webhook_url,
        sub_product,
        settings.auth.credential(),
        None,
        traffic,
    )
    .await
}
