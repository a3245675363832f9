//! Replay routes, all `POST` (they publish; they change nothing stored):
//! - `/replay/messages/{message_id}`: every event of one message;
//! - `/replay/events?...`: one page of what `GET /events` lists with the same parameters (a
//!   window or a tracking key, the same filters, `limit` up to
//!   [`crate::replay::MAX_REPLAY_EVENTS`]), answering the cursor of the next page.

use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::json;

use super::{
    ApiError, Request, Response, answer_or_refusal, json_response, path_segments, query_pairs,
};
use crate::domain::query::{ParameterProblem, QueryError, parse_events_request};
use crate::replay::Replay;

/// Bound on one call, inside the function's 29 s (API Gateway waits 30): a call cut short is
/// answered 503, and making it again is harmless (consumers dedupe on `event_id`).
pub const REPLAY_BUDGET: Duration = Duration::from_secs(25);

pub async fn replay(replay: &Replay, request: Request) -> Response {
    let answered = tokio::time::timeout(REPLAY_BUDGET, route(replay, &request))
        .await
        .unwrap_or_else(|_| {
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "replay_timeout",
                "the replay did not finish in time; make the same call again (consumers dedupe on event_id), or with a smaller limit",
            ))
        });
    answer_or_refusal(answered, "replay")
}

async fn route(replay: &Replay, request: &Request) -> Result<Response, ApiError> {
    let segments = path_segments(request);
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    if !matches!(
        segments.as_slice(),
        ["replay", "messages", _] | ["replay", "events"]
    ) {
        return Err(ApiError::not_found());
    }
    if request.method() != Method::POST {
        return Err(ApiError::method_not_allowed("POST"));
    }
    let pairs = query_pairs(request);
    match segments.as_slice() {
        ["replay", "messages", message_id] => {
            let published = replay.message(message_id).await?;
            Ok(json_response(
                StatusCode::OK,
                &json!({"published": published}),
            ))
        }
        _ => {
            if pairs.iter().any(|(name, _)| name == "format") {
                return Err(QueryError::Parameters(vec![ParameterProblem {
                    field: "format".into(),
                    message: "replay publishes events and answers a count: leave format out".into(),
                    missing: false,
                }])
                .into());
            }
            let now = crate::clock::now_millis() / 1000;
            let listing = parse_events_request(&pairs, now)?;
            let replayed = replay.listing(&listing).await?;
            let next_cursor = replayed
                .next
                .map(|position| listing.cursor_after(&position));
            Ok(json_response(
                StatusCode::OK,
                &json!({"published": replayed.published, "next_cursor": next_cursor}),
            ))
        }
    }
}
