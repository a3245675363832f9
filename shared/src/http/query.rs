//! Read-back routes: `GET /messages/{message_id}` and `GET /events?key=<tracking key>`.

use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::json;

use super::{ApiError, Request, Response, json_response, path_segments, query_param};
use crate::store::{MessageRecord, ReadEvents, StoreError};

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

pub struct Query {
    pub store: Arc<dyn ReadEvents>,
}

pub async fn query(query: &Query, request: Request) -> Response {
    match route(query, &request).await {
        Ok(response) => response,
        Err(error) => {
            tracing::warn!(
                outcome = error.code,
                status = error.status.as_u16(),
                "query refused"
            );
            error.into_response()
        }
    }
}

async fn route(query: &Query, request: &Request) -> Result<Response, ApiError> {
    let segments = path_segments(request);
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    if !matches!(segments.as_slice(), ["messages", _] | ["events"]) {
        return Err(ApiError::not_found());
    }
    if request.method() != Method::GET {
        return Err(ApiError::method_not_allowed("GET"));
    }
    match segments.as_slice() {
        ["messages", message_id] => message(query, message_id).await,
        _ => events_by_key(query, request).await,
    }
}

async fn message(query: &Query, message_id: &str) -> Result<Response, ApiError> {
    match query
        .store
        .read_message(message_id)
        .await
        .map_err(store_error)?
    {
        Some(record) => Ok(json_response(StatusCode::OK, &message_body(&record))),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "message_not_found",
            format!("no event has been stored for message {message_id}"),
        )),
    }
}

async fn events_by_key(query: &Query, request: &Request) -> Result<Response, ApiError> {
    let key = query_param(request, "key")
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "missing_parameter",
                "add ?key=<tracking key>, the whatsapp-... key Insider One returned when sending",
            )
        })?;
    let limit = match query_param(request, "limit") {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_parameter",
                    format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
                )
            })?,
    };
    let events = query
        .store
        .events_by_key(&key, limit)
        .await
        .map_err(store_error)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"key": key, "events": events}),
    ))
}

fn message_body(record: &MessageRecord) -> serde_json::Value {
    let state = record.state.as_ref();
    json!({
        "message_id": record.message_id,
        "status": state.and_then(|s| s.status()),
        "progress": state.and_then(|s| s.progress.as_ref()),
        "failed": state.is_some_and(|s| s.failed),
        "error_codes": state.map(|s| s.error_codes.as_slice()).unwrap_or_default(),
        "key": record.key,
        "events": record.events,
    })
}

fn store_error(error: StoreError) -> ApiError {
    tracing::error!(%error, "reading the event store failed");
    ApiError::from(error)
}
