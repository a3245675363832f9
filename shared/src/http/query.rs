//! Read-back routes, all `GET`:
//! - `/messages/{message_id}`: one message, its status and its events;
//! - `/events?...`: a window of events, or a tracking key's events, filtered;
//! - `/contacts/{wa_id}/messages?...`: the conversation with one customer;
//! - `/stats?since=&until=`: the delivery funnel of whole hours;
//! - `/stalled?since=&until=&hours=`: messages with no delivery report for `hours`
//!   ([`crate::stalled`]).
//!
//! Parameters are validated by [`crate::domain::query`]; listings answer one JSON page, or with
//! `format=ndjson` an export that follows pages. Either way a body stays under
//! [`MAX_BODY_BYTES`] (Lambda answers at most 6 MB), ending early with a cursor if need be.

use std::sync::Arc;

use http::{HeaderValue, Method, StatusCode};
use serde::Serialize;
use serde_json::value::RawValue;

use super::{
    ApiError, Body, Request, Response, answer_or_refusal, json_response, path_segments,
    query_pairs, with_content_type,
};
use crate::domain::DeliveryStatus;
use crate::domain::query::{
    EventScope, Format, ListRequest, Listing, MAX_LIMIT, PageRequest, ParameterProblem, Position,
    QueryError, parse_contact_request, parse_events_request, parse_stats_request,
};
use crate::stalled::{DEFAULT_STALLED_HOURS, is_stalled_listing, stalled_page};
use crate::store::{EventPage, MessageRecord, ReadEvents, StoreError, StoredEvent, list_page};

/// The largest body a listing answers with.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Pages one NDJSON export follows, which bounds the store reads of one request.
pub const MAX_EXPORT_PAGES: usize = 20;
/// Where an NDJSON export puts the cursor of its continuation.
pub const NEXT_CURSOR_HEADER: &str = "x-next-cursor";

pub struct Query {
    pub store: Arc<dyn ReadEvents>,
}

pub async fn query(query: &Query, request: Request) -> Response {
    answer_or_refusal(route(query, &request).await, "query")
}

async fn route(query: &Query, request: &Request) -> Result<Response, ApiError> {
    let segments = path_segments(request);
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let known = matches!(
        segments.as_slice(),
        ["messages", _] | ["events"] | ["contacts", _, "messages"] | ["stats"] | ["stalled"]
    );
    if !known {
        return Err(ApiError::not_found());
    }
    if request.method() != Method::GET {
        return Err(ApiError::method_not_allowed("GET"));
    }
    let pairs = query_pairs(request);
    let now = crate::clock::now_millis() / 1000;
    match segments.as_slice() {
        ["messages", message_id] => message(query, message_id).await,
        ["contacts", wa_id, "messages"] => list(query, parse_contact_request(wa_id, &pairs)?).await,
        ["stats"] => {
            let hours = parse_stats_request(&pairs, now)?;
            let stats = query.store.read_stats(&hours).await.map_err(store_error)?;
            Ok(json_response(StatusCode::OK, &stats))
        }
        ["stalled"] => stalled(query, pairs, now).await,
        _ => list(query, parse_events_request(&pairs, now)?).await,
    }
}

async fn message(query: &Query, message_id: &str) -> Result<Response, ApiError> {
    match query
        .store
        .read_message(message_id)
        .await
        .map_err(store_error)?
    {
        Some(mut record) => {
            StoredEvent::bound_raw(&mut record.events);
            Ok(json_response(StatusCode::OK, &message_body(&record)))
        }
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "message_not_found",
            format!("no event has been stored for message {message_id}"),
        )),
    }
}

/// One page of a window's (or a tracking key's) `sent` events (or `accepted`, with
/// `status=accepted`) and, of their messages, those with nothing after that step for `hours`
/// (default 24).
async fn stalled(
    query: &Query,
    mut pairs: Vec<(String, String)>,
    now: i64,
) -> Result<Response, ApiError> {
    let hours = take_parameter(&mut pairs, "hours");
    let hours = match hours.as_slice() {
        [] => Some(DEFAULT_STALLED_HOURS),
        [text] => text
            .parse::<i64>()
            .ok()
            .filter(|hours| (1..=MAX_STALLED_HOURS).contains(hours)),
        _ => None,
    }
    .ok_or_else(|| {
        QueryError::Parameters(vec![ParameterProblem {
            field: "hours".into(),
            message: format!(
                "must be given once, a whole number of hours from 1 to {MAX_STALLED_HOURS}"
            ),
            missing: false,
        }])
    })?;
    if !pairs.iter().any(|(name, _)| name == "status") {
        pairs.push(("status".into(), "sent".into()));
    }
    let listing = parse_events_request(&pairs, now)?;
    if !is_stalled_listing(&listing) || listing.format != Format::Json {
        return Err(QueryError::Parameters(vec![ParameterProblem {
            field: "status".into(),
            message: "must be sent (the default) or accepted, and the answer is one JSON page"
                .into(),
            missing: false,
        }])
        .into());
    }
    let page = stalled_page(query.store.as_ref(), &listing, now - hours * 3600)
        .await
        .map_err(store_error)?;
    let next_cursor = page.next.map(|position| listing.cursor_after(&position));
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({"messages": page.messages, "next_cursor": next_cursor}),
    ))
}

/// The most `/stalled` takes as "no delivery report" (30 days).
const MAX_STALLED_HOURS: i64 = 720;

/// Removes the parameter `name` from `pairs` and returns its values.
fn take_parameter(pairs: &mut Vec<(String, String)>, name: &str) -> Vec<String> {
    let (taken, kept) = std::mem::take(pairs)
        .into_iter()
        .partition(|(key, _)| key == name);
    *pairs = kept;
    taken.into_iter().map(|(_, value)| value).collect()
}

/// One page as JSON, or an NDJSON export following pages, with the cursor that continues it.
async fn list(query: &Query, request: ListRequest) -> Result<Response, ApiError> {
    let max_pages = match request.format {
        Format::Json => 1,
        Format::Ndjson => MAX_EXPORT_PAGES,
    };
    let collected = collect(query.store.as_ref(), &request, max_pages).await?;
    let next_cursor = collected
        .next
        .map(|position| request.cursor_after(&position));
    match request.format {
        Format::Json => {
            #[derive(Serialize)]
            struct Page<'a> {
                /// Echoed as before pagination existed, for callers that read it.
                #[serde(skip_serializing_if = "Option::is_none")]
                key: Option<&'a str>,
                #[serde(skip_serializing_if = "Option::is_none")]
                contact: Option<&'a str>,
                events: Vec<Box<RawValue>>,
                next_cursor: Option<String>,
            }
            let (key, contact) = match &request.listing {
                Listing::Events(EventScope::Key { key, .. }) => (Some(key.as_str()), None),
                Listing::Contact { contact, .. } => (None, Some(contact.as_str())),
                Listing::Events(EventScope::Window(_)) => (None, None),
            };
            Ok(json_response(
                StatusCode::OK,
                &Page {
                    key,
                    contact,
                    events: collected.events,
                    next_cursor,
                },
            ))
        }
        Format::Ndjson => {
            let mut body = Vec::with_capacity(collected.bytes);
            for event in &collected.events {
                body.extend_from_slice(event.get().as_bytes());
                body.push(b'\n');
            }
            let mut response =
                with_content_type(StatusCode::OK, Body::Binary(body), "application/x-ndjson");
            if let Some(cursor) = next_cursor {
                let value = HeaderValue::from_str(&cursor)
                    .map_err(|e| ApiError::internal(format!("cursor header: {e}")))?;
                response.headers_mut().insert(NEXT_CURSOR_HEADER, value);
            }
            Ok(response)
        }
    }
}

/// Events serialized one by one, so that the body's size is known as it grows.
struct Collected {
    events: Vec<Box<RawValue>>,
    bytes: usize,
    next: Option<Position>,
}

/// Up to `request.page.limit` events over at most `max_pages` store pages, stopping before the
/// body would pass [`MAX_BODY_BYTES`]; `next` is where the listing continues.
async fn collect(
    store: &dyn ReadEvents,
    request: &ListRequest,
    max_pages: usize,
) -> Result<Collected, ApiError> {
    let order = request.listing.order();
    let mut collected = Collected {
        events: Vec::new(),
        bytes: 0,
        next: request.page.after.clone(),
    };
    let mut last_sent = None;
    for _ in 0..max_pages {
        let page = PageRequest {
            after: collected.next.take(),
            limit: (request.page.limit - collected.events.len()).min(MAX_LIMIT),
        };
        let EventPage { events, next } = list_page(store, &request.listing, &request.filter, &page)
            .await
            .map_err(store_error)?;
        for event in events {
            let json = serde_json::value::to_raw_value(&event)
                .map_err(|e| ApiError::internal(format!("an event could not be encoded: {e}")))?;
            let position =
                order.position(event.event.occurred_at, event.received_at, &event.event.id);
            if collected.bytes + json.get().len() + 1 > MAX_BODY_BYTES
                && !collected.events.is_empty()
            {
                // The rest waits for the next request, which starts after the last event sent.
                collected.next = last_sent;
                return Ok(collected);
            }
            collected.bytes += json.get().len() + 1;
            collected.events.push(json);
            last_sent = Some(position);
        }
        collected.next = next;
        if collected.next.is_none() || collected.events.len() >= request.page.limit {
            break;
        }
    }
    Ok(collected)
}

/// A message as `/messages/{id}` shows it. Serialized straight to bytes, so raw fragments are
/// written as stored: going through `serde_json::Value` would parse them again and fail on JSON
/// we accepted (nesting past serde_json's limit, a lone surrogate escape).
#[derive(Serialize)]
struct MessageBody<'a> {
    message_id: &'a str,
    status: Option<&'a str>,
    progress: Option<&'a DeliveryStatus>,
    failed: bool,
    error_codes: &'a [i64],
    key: Option<&'a str>,
    events: &'a [StoredEvent],
}

fn message_body(record: &MessageRecord) -> MessageBody<'_> {
    let state = record.state.as_ref();
    MessageBody {
        message_id: &record.message_id,
        status: state.and_then(|s| s.status()),
        progress: state.and_then(|s| s.progress.as_ref()),
        failed: state.is_some_and(|s| s.failed),
        error_codes: state.map(|s| s.error_codes.as_slice()).unwrap_or_default(),
        key: record.key.as_deref(),
        events: &record.events,
    }
}

fn store_error(error: StoreError) -> ApiError {
    tracing::error!(%error, "reading the event store failed");
    ApiError::from(error)
}
