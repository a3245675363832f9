//! Listings of events: a window filtered (what a failure code's link opens), a tracking key's
//! events, and the live view of the latest ones.

use maud::html;

use super::Page;
use crate::api::{FetchError, QueryApi, fetch};
use crate::model::{Event, Listing};
use crate::{MOUNT, web};
use shared::domain::error_codes::meaning;

/// The `/events` parameters the page passes on.
const FILTERS: [&str; 8] = [
    "key",
    "since",
    "until",
    "family",
    "status",
    "sub_product",
    "error_code",
    "cursor",
];
/// The window of a listing given no `since` and no key.
const DEFAULT_WINDOW_SECS: i64 = 24 * 3600;
/// What the live view looks back over, and the events it shows at most, newest first.
const LIVE_WINDOW_SECS: i64 = 15 * 60;
const LIVE_EVENTS: usize = 100;
/// Pages the live view reads at most: a busy quarter hour has more than it shows anyway.
const LIVE_PAGES: usize = 5;

pub async fn page(
    api: &dyn QueryApi,
    pairs: &[(String, String)],
    now: i64,
) -> Result<Page, FetchError> {
    let mut query: Vec<(&str, String)> = FILTERS
        .iter()
        .filter_map(|name| web::param(pairs, name).map(|value| (*name, value.to_owned())))
        .collect();
    let has = |name: &str| query.iter().any(|(n, _)| *n == name);
    if !has("key") && !has("since") {
        query.push(("since", (now - DEFAULT_WINDOW_SECS).to_string()));
    }
    let value = |name: &str| {
        query
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    };
    let listing: Listing = fetch(
        api,
        &web::with_query("/events", query.iter().map(|(n, v)| (*n, v.as_str()))),
    )
    .await?;
    let title = match (value("error_code"), value("key")) {
        (Some(code), _) => format!("Events with error code {code}"),
        (None, Some(key)) => format!("Events of tracking key {key}"),
        (None, None) => "Events".to_owned(),
    };
    let code_meaning = value("error_code")
        .and_then(|code| code.parse().ok())
        .and_then(meaning);
    let next = listing.next_cursor.as_deref().map(|cursor| {
        let pairs = query
            .iter()
            .filter(|(n, _)| *n != "cursor")
            .map(|(n, v)| (*n, v.as_str()))
            .chain([("cursor", cursor)]);
        web::with_query(&format!("{MOUNT}/events"), pairs)
    });
    let body = html! {
        @if let Some(meaning) = code_meaning {
            p class="alert" { (meaning) }
        }
        p class="hint" {
            @for (name, value) in query.iter().filter(|(n, _)| *n != "cursor") {
                (name) " = " code { (value) } "; "
            }
            "in time order."
        }
        (super::table::events(&listing.events))
        @if let Some(next) = next {
            p { a href=(next) { "Next page" } }
        }
    };
    Ok(Page::ok(title, body))
}

/// The latest events, newest first; the page reloads itself.
pub async fn live(api: &dyn QueryApi, now: i64) -> Result<Page, FetchError> {
    let since = (now - LIVE_WINDOW_SECS).to_string();
    let mut latest: Vec<Event> = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..LIVE_PAGES {
        let mut query = vec![("since", since.as_str()), ("limit", "1000")];
        query.extend(cursor.as_deref().map(|c| ("cursor", c)));
        let listing: Listing = fetch(api, &web::with_query("/events", query)).await?;
        latest.extend(listing.events);
        let keep_from = latest.len().saturating_sub(LIVE_EVENTS);
        latest.drain(..keep_from);
        cursor = listing.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    latest.reverse();
    let body = html! {
        p class="hint" {
            "The last " (LIVE_WINDOW_SECS / 60) " minutes, newest first, at most " (LIVE_EVENTS)
            " events. This page reloads every " (super::layout::REFRESH_SECS) " seconds; last read "
            (web::time(now)) "."
        }
        (super::table::events(&latest))
    };
    Ok(Page {
        refresh: true,
        ..Page::ok("Live events", body)
    })
}
