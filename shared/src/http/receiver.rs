//! `POST /webhooks/{sub_product}`: Insider One delivers events here.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use serde_json::json;

use super::{
    ApiError, Request, Response, authorization, empty_response, json_response, path_segments,
};
use crate::auth::Authenticator;
use crate::clock::now_millis;
use crate::domain::{SubProduct, parse_delivery};
use crate::fallback::{Fallback, ParkedDelivery};
use crate::ingest::{Outcome, store_or_park, stored_events};
use crate::store::WriteEvents;
use crate::telemetry::{record, take_cold_start};

/// Bodies above this are refused with 413 (API Gateway itself stops at 10 MB, Lambda at 6 MB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// What `STORE_BUDGET_MS` defaults to: the receiver function's 10 s timeout, less a margin to
/// answer.
pub const DEFAULT_STORE_BUDGET: Duration = Duration::from_secs(8);
/// The least `STORE_BUDGET_MS` taken: below it a delivery could not be stored at all.
pub const MIN_STORE_BUDGET: Duration = Duration::from_millis(100);

/// The store's share of a delivery's time when `STORE_BUDGET_MS` is not set: the receiver's time
/// is shared, so what parking may take (`fallback_budget`, with a fallback queue) is not the
/// store's; never below [`MIN_STORE_BUDGET`].
pub fn default_store_budget(fallback_budget: Option<Duration>) -> Duration {
    DEFAULT_STORE_BUDGET
        .saturating_sub(fallback_budget.unwrap_or_default())
        .max(MIN_STORE_BUDGET)
}

pub struct Receiver {
    pub store: Arc<dyn WriteEvents>,
    pub auth: Authenticator,
    pub max_body_bytes: usize,
    /// Bound on storing one delivery, all its store calls together: a delivery of thousands
    /// of events is parked past it (or answered 503 `storage_timeout`), and the drain (or the
    /// sender's retry) writes only what is still missing.
    pub store_budget: Duration,
    /// Where a delivery goes when the store fails for a reason a retry may cure; without it,
    /// such a delivery is answered 503 and kept only if the sender retries.
    pub fallback: Option<Fallback>,
}

pub async fn receive(receiver: &Receiver, request: Request) -> Response {
    let started = Instant::now();
    let cold_start = take_cold_start();
    let sub_product = match path_segments(&request).as_slice() {
        [webhooks, name] if webhooks == "webhooks" => SubProduct::parse(name),
        _ => None,
    };
    let Some(sub_product) = sub_product else {
        return ApiError::not_found().into_response();
    };
    let outcome = match *request.method() {
        // Insider One calls the URL when it is saved and wants a 200; such a probe stores nothing.
        Method::GET | Method::HEAD => Ok(None),
        Method::POST if is_probe(request.body()) => Ok(None),
        Method::POST => store_delivery(receiver, sub_product, &request)
            .await
            .map(Some),
        _ => Err(ApiError::method_not_allowed("GET, HEAD, POST")),
    };
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    match outcome {
        Ok(None) => {
            tracing::info!(
                sub_product = sub_product.as_str(),
                cold_start,
                outcome = "probe",
                status = 200,
                elapsed_ms
            );
            empty_response(StatusCode::OK)
        }
        Ok(Some(Outcome::Stored(report))) => {
            tracing::info!(
                sub_product = sub_product.as_str(),
                cold_start,
                outcome = "stored",
                status = 200,
                stored = report.stored,
                duplicates = report.duplicates,
                elapsed_ms
            );
            json_response(
                StatusCode::OK,
                &json!({"stored": report.stored, "duplicates": report.duplicates}),
            )
        }
        Ok(Some(Outcome::Parked)) => {
            tracing::info!(
                sub_product = sub_product.as_str(),
                cold_start,
                outcome = "parked",
                status = 200,
                elapsed_ms
            );
            // Durable in the fallback queue: the drain stores it; the sender need not retry.
            json_response(
                StatusCode::OK,
                &json!({"stored": 0, "duplicates": 0, "parked": true}),
            )
        }
        Err(error) => {
            tracing::warn!(
                sub_product = sub_product.as_str(),
                cold_start,
                outcome = error.code,
                status = error.status.as_u16(),
                elapsed_ms
            );
            error.into_response()
        }
    }
}

async fn store_delivery(
    receiver: &Receiver,
    sub_product: SubProduct,
    request: &Request,
) -> Result<Outcome, ApiError> {
    let principal = match receiver
        .auth
        .authenticate(authorization(request).as_deref())
        .await
    {
        Ok(principal) => principal,
        Err(error) => {
            record::auth_failure("webhooks");
            return Err(error.into());
        }
    };
    let body = request.body().as_ref();
    if body.len() > receiver.max_body_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "the body has {} bytes; this endpoint accepts at most {}",
                body.len(),
                receiver.max_body_bytes
            ),
        ));
    }
    let events = parse_delivery(body)?;
    let received_at = now_millis();
    let events = stored_events(events, sub_product, received_at);
    let delivery = ParkedDelivery {
        body: Cow::Borrowed(body),
        sub_product,
        received_at,
        principal: Cow::Borrowed(&principal.subject),
    };
    let outcome = store_or_park(
        receiver.store.as_ref(),
        receiver.store_budget,
        receiver.fallback.as_ref(),
        &delivery,
        &events,
    )
    .await?;
    if let Outcome::Stored(report) = &outcome {
        let parsed: Vec<_> = events.into_iter().map(|e| e.event).collect();
        record::delivery(sub_product, &parsed, report);
    }
    Ok(outcome)
}

/// An empty body or an empty JSON object: the URL-validation call, not a delivery.
fn is_probe(body: &[u8]) -> bool {
    let trimmed = body.trim_ascii();
    trimmed.is_empty()
        || (trimmed.len() < 64
            && serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(trimmed)
                .is_ok_and(|m| m.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_budget_leaves_the_fallback_its_share_of_the_time() {
        assert_eq!(default_store_budget(None), DEFAULT_STORE_BUDGET);
        assert_eq!(
            default_store_budget(Some(Duration::from_secs(2))),
            Duration::from_secs(6)
        );
        assert_eq!(
            default_store_budget(Some(Duration::from_secs(60))),
            MIN_STORE_BUDGET
        );
    }
}
