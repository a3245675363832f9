//! `DELETE /contacts/{wa_id}[?limit=]`: erasure on request (GDPR, KVKK). Up to `limit`
//! (default 25, at most 100) of the contact's messages per call lose every personal datum their
//! events hold ([`crate::store::EraseContact`]); call again until `done`. Counts stay; the log
//! says how much was erased, never whose.

use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::json;

use super::{
    ApiError, Request, Response, answer_or_refusal, json_response, path_segments, query_pairs,
};
use crate::domain::query::{ParameterProblem, QueryError, contact_key};
use crate::store::EraseContact;

/// Messages one call erases by default, and at most: each is a read and a write per event.
pub const DEFAULT_ERASE_LIMIT: usize = 25;
pub const MAX_ERASE_LIMIT: usize = 100;

pub struct Erasure {
    pub store: Arc<dyn EraseContact>,
}

pub async fn erase(erasure: &Erasure, request: Request) -> Response {
    answer_or_refusal(route(erasure, &request).await, "erasure")
}

async fn route(erasure: &Erasure, request: &Request) -> Result<Response, ApiError> {
    let segments = path_segments(request);
    let [contacts, wa_id] = segments.as_slice() else {
        return Err(ApiError::not_found());
    };
    if contacts != "contacts" {
        return Err(ApiError::not_found());
    }
    if request.method() != Method::DELETE {
        return Err(ApiError::method_not_allowed("DELETE"));
    }
    let problem = |field: &str, message: String| {
        ApiError::from(QueryError::Parameters(vec![ParameterProblem {
            field: field.into(),
            message,
            missing: false,
        }]))
    };
    let contact = contact_key(wa_id).ok_or_else(|| {
        problem(
            "wa_id",
            "must be the contact's WhatsApp number, as their events carry it".into(),
        )
    })?;
    let pairs = query_pairs(request);
    let limit = match pairs.as_slice() {
        [] => Some(DEFAULT_ERASE_LIMIT),
        [(name, value)] if name == "limit" => value
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=MAX_ERASE_LIMIT).contains(limit)),
        _ => None,
    }
    .ok_or_else(|| {
        problem(
            "limit",
            format!("the only parameter: a whole number of messages from 1 to {MAX_ERASE_LIMIT}"),
        )
    })?;
    let erased = erasure.store.erase_contact(contact, limit).await?;
    // Whose data it was is exactly what must not be kept: the log has the counts only.
    tracing::info!(
        messages = erased.messages,
        events = erased.events,
        done = erased.done,
        "contact data erased"
    );
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "erased_messages": erased.messages,
            "erased_events": erased.events,
            "done": erased.done,
        }),
    ))
}
