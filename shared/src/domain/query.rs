//! The read side's vocabulary: which events a listing selects, how query parameters become a
//! validated request (every problem reported at once), the opaque cursor that continues a
//! listing, and the counters behind `/stats`. No AWS, no HTTP: handlers pass the query string's
//! pairs in, stores take the result.
//!
//! Orders. A time window and a contact's conversation are listed by [`listed_at`] (when the event
//! happened by the payload, else when it arrived), then event id; a tracking key's events by the
//! existing key index's order (payload time or 0, then event id). Either way a [`Position`] is
//! the place of one event in that order, and "the next page" is everything strictly after it, so
//! events written while a reader pages never make it see an event twice or skip one that was
//! there before it started.

use std::collections::BTreeMap;

use base64::Engine;
use serde::{Deserialize, Serialize, Serializer};
use sha2::{Digest, Sha256};

use super::{DeliveryStatus, Event, EventFamily, SubProduct};

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;
/// Events in one NDJSON export response (its `limit` default and maximum).
pub const MAX_EXPORT_EVENTS: usize = 10_000;
/// The longest window `/events` (without `key`) and `/stats` accept.
pub const MAX_WINDOW_SECS: i64 = 31 * DAY;
/// The latest time the stores' sort keys can order (11 digits of epoch seconds).
pub const MAX_TIME: i64 = 99_999_999_999;
pub const HOUR: i64 = 3600;
pub const DAY: i64 = 86_400;
/// Longest contact id that is indexed; anything longer is not a phone number or WhatsApp id.
const MAX_CONTACT_BYTES: usize = 256;

const STATUS_FILTERS: [DeliveryStatus; 5] = [
    DeliveryStatus::Accepted,
    DeliveryStatus::Sent,
    DeliveryStatus::Delivered,
    DeliveryStatus::Read,
    DeliveryStatus::Failed,
];

/// When an event is listed, in epoch seconds: the payload's time, else when it arrived (accepted
/// and error reports carry no time). Clamped to what the sort keys can hold.
pub fn listed_at(occurred_at: Option<i64>, received_at_ms: i64) -> i64 {
    occurred_at
        .unwrap_or(received_at_ms.div_euclid(1000))
        .clamp(0, MAX_TIME)
}

/// The start of the hour `at` falls in: the granularity of `/stats`.
pub fn hour_of(at: i64) -> i64 {
    at - at.rem_euclid(HOUR)
}

/// A contact as it is indexed and looked up: WhatsApp ids are digits, but a template's `to` may
/// carry a leading `+`. `None` when nothing usable is left.
pub fn contact_key(contact: &str) -> Option<&str> {
    let key = contact.trim().trim_start_matches('+');
    (!key.is_empty() && key.len() <= MAX_CONTACT_BYTES).then_some(key)
}

/// The place of one event in a listing's order; a page continues strictly after it. The
/// default is before everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub at: i64,
    /// Empty for "before every event at `at`", where a page stops between two windows.
    pub event_id: String,
}

impl Position {
    /// Before every event at or after `at`.
    pub fn before(at: i64) -> Self {
        Self {
            at,
            event_id: String::new(),
        }
    }
}

/// How a listing orders its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    /// By [`listed_at`], then event id: time windows and contacts.
    Listed,
    /// By the payload's time (0 when absent), then event id: the existing tracking key index.
    KeyIndex,
}

impl SortOrder {
    pub fn position(
        self,
        occurred_at: Option<i64>,
        received_at_ms: i64,
        event_id: &str,
    ) -> Position {
        let at = match self {
            SortOrder::Listed => listed_at(occurred_at, received_at_ms),
            SortOrder::KeyIndex => occurred_at.unwrap_or(0).max(0),
        };
        Position {
            at,
            event_id: event_id.to_owned(),
        }
    }
}

/// `[since, until)` in epoch seconds; a missing end is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Range {
    pub since: Option<i64>,
    pub until: Option<i64>,
}

impl Range {
    pub fn contains(&self, at: i64) -> bool {
        self.since.is_none_or(|since| at >= since) && self.until.is_none_or(|until| at < until)
    }
}

/// A bounded `[since, until)` window of at most [`MAX_WINDOW_SECS`], which a listing over every
/// event needs so that its read work stays bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    since: i64,
    until: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("since must be before until")]
    Empty,
    #[error("since and until may be at most 31 days apart; list a longer period window by window")]
    TooLong,
    #[error("times must lie between 1970 and the year 5138")]
    OutOfRange,
}

impl Window {
    pub fn new(since: i64, until: i64) -> Result<Self, WindowError> {
        if !(0..=MAX_TIME + 1).contains(&since) || !(0..=MAX_TIME + 1).contains(&until) {
            return Err(WindowError::OutOfRange);
        }
        if since >= until {
            return Err(WindowError::Empty);
        }
        if until - since > MAX_WINDOW_SECS {
            return Err(WindowError::TooLong);
        }
        Ok(Self { since, until })
    }

    pub fn since(self) -> i64 {
        self.since
    }

    pub fn until(self) -> i64 {
        self.until
    }

    pub fn range(self) -> Range {
        Range {
            since: Some(self.since),
            until: Some(self.until),
        }
    }
}

/// The whole hours covering a window: what `/stats` adds up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourWindow {
    since: i64,
    until: i64,
}

impl HourWindow {
    pub fn covering(window: Window) -> Self {
        Self {
            since: hour_of(window.since),
            until: hour_of(window.until + HOUR - 1),
        }
    }

    /// Start of the first hour.
    pub fn since(self) -> i64 {
        self.since
    }

    /// End of the last hour (exclusive).
    pub fn until(self) -> i64 {
        self.until
    }
}

/// Conditions on an event's own attributes, beside where it is looked up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub family: Option<EventFamily>,
    pub status: Option<DeliveryStatus>,
    pub sub_product: Option<SubProduct>,
    /// The event carries this error code (among others, maybe).
    pub error_code: Option<i64>,
}

impl EventFilter {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Whether an event kept for `sub_product` passes every condition of the filter.
    pub fn matches(&self, event: &Event, sub_product: SubProduct) -> bool {
        self.family.is_none_or(|family| event.family == family)
            && self
                .status
                .as_ref()
                .is_none_or(|status| event.status.as_ref() == Some(status))
            && self.sub_product.is_none_or(|wanted| sub_product == wanted)
            && self
                .error_code
                .is_none_or(|code| event.error_codes.contains(&code))
    }
}

/// Which events `/events` lists, and so which index answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventScope {
    /// Every event in a bounded window.
    Window(Window),
    /// The events carrying a tracking key, optionally within a range.
    Key { key: String, range: Range },
}

/// What a listing route asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    Events(EventScope),
    /// The conversation with one customer; `contact` as [`contact_key`] returns it.
    Contact {
        contact: String,
        range: Range,
    },
}

impl Listing {
    pub fn order(&self) -> SortOrder {
        match self {
            Listing::Events(EventScope::Key { .. }) => SortOrder::KeyIndex,
            _ => SortOrder::Listed,
        }
    }
}

/// One page: continue strictly after `after`, return at most `limit` events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub after: Option<Position>,
    pub limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One page as a JSON object, its continuation in `next_cursor`.
    Json,
    /// An export: one event per line, following pages, its continuation in a header.
    Ndjson,
}

/// A validated listing request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest {
    pub listing: Listing,
    pub filter: EventFilter,
    pub page: PageRequest,
    pub format: Format,
}

/// One query parameter that is missing or not valid, named as the request spells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParameterProblem {
    pub field: String,
    pub message: String,
    #[serde(skip)]
    pub missing: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Every problem of the request, at once.
    #[error("{}", describe(.0))]
    Parameters(Vec<ParameterProblem>),
    #[error(
        "the cursor is not valid here: {0}; repeat the parameters of the request that returned it, or start again without cursor"
    )]
    InvalidCursor(&'static str),
}

fn describe(problems: &[ParameterProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("{}: {}", p.field, p.message))
        .collect::<Vec<_>>()
        .join("; ")
}

const LISTING_PARAMETERS: [&str; 9] = [
    "since",
    "until",
    "family",
    "status",
    "sub_product",
    "error_code",
    "limit",
    "cursor",
    "format",
];

/// `GET /events`: `key` (the tracking key index, time range optional) or a window of `since`
/// (required) and `until` (default `now`, remembered by the cursor), with attribute filters.
pub fn parse_events_request(
    pairs: &[(String, String)],
    now: i64,
) -> Result<ListRequest, QueryError> {
    let mut params = Params::new(pairs, &LISTING_PARAMETERS, &["key"]);
    let key = params.text("key").map(str::to_owned);
    let parts = params.listing_parts();
    let scope = match key {
        Some(key) => params
            .open_range(parts.since, parts.until)
            .map(|range| EventScope::Key { key, range }),
        None => params
            .window(
                parts.since,
                parts.until,
                parts.cursor_until(),
                now,
                "add since=<RFC 3339 time or epoch seconds> (until defaults to now), or key=<tracking key>",
            )
            .map(EventScope::Window),
    };
    let scope = params.finish(scope)?;
    parts.into_request(Listing::Events(scope))
}

/// `GET /contacts/{wa_id}/messages`: one customer's events, optionally within a time range.
pub fn parse_contact_request(
    wa_id: &str,
    pairs: &[(String, String)],
) -> Result<ListRequest, QueryError> {
    let mut params = Params::new(pairs, &LISTING_PARAMETERS, &[]);
    let contact = contact_key(wa_id).map(str::to_owned);
    if contact.is_none() {
        params.invalid(
            "wa_id",
            format!("must be a WhatsApp id or phone number of 1 to {MAX_CONTACT_BYTES} characters"),
        );
    }
    let parts = params.listing_parts();
    let range = params.open_range(parts.since, parts.until);
    let (contact, range) = params.finish(contact.zip(range))?;
    parts.into_request(Listing::Contact { contact, range })
}

/// `GET /stats`: `since` (required) and `until` (default now), widened to whole hours.
pub fn parse_stats_request(pairs: &[(String, String)], now: i64) -> Result<HourWindow, QueryError> {
    let mut params = Params::new(pairs, &["since", "until"], &[]);
    let since = params.time("since");
    let until = params.time("until");
    let window = params.window(
        since,
        until,
        None,
        now,
        "add since=<RFC 3339 time or epoch seconds> (until defaults to now)",
    );
    params.finish(window).map(HourWindow::covering)
}

/// The parameters every listing shares, parsed; the cursor is checked once the listing is known.
struct ListingParts {
    since: Option<i64>,
    until: Option<i64>,
    filter: EventFilter,
    limit: usize,
    format: Format,
    cursor: Option<Result<Cursor, &'static str>>,
}

impl ListingParts {
    /// The `until` a window's first page defaulted to, which its cursor carries.
    fn cursor_until(&self) -> Option<i64> {
        self.cursor
            .as_ref()
            .and_then(|c| c.as_ref().ok())
            .and_then(|c| c.until)
    }

    fn into_request(self, listing: Listing) -> Result<ListRequest, QueryError> {
        let mut request = ListRequest {
            listing,
            filter: self.filter,
            page: PageRequest {
                after: None,
                limit: self.limit,
            },
            format: self.format,
        };
        if let Some(cursor) = self.cursor {
            let cursor = cursor.map_err(QueryError::InvalidCursor)?;
            if cursor.sum != request.checksum(&cursor.position) {
                return Err(QueryError::InvalidCursor(
                    "it was issued for other parameters, or it was altered",
                ));
            }
            request.page.after = Some(cursor.position);
        }
        Ok(request)
    }
}

impl ListRequest {
    /// The cursor that continues this listing after `position`.
    pub fn cursor_after(&self, position: &Position) -> String {
        let mut body = serde_json::json!({
            "v": CURSOR_VERSION,
            "at": position.at,
            "id": position.event_id,
            "sum": self.checksum(position),
        });
        if let Listing::Events(EventScope::Window(window)) = &self.listing {
            body["until"] = window.until.into();
        }
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body.to_string())
    }

    /// Binds a position to everything that selects the events, so a cursor only continues the
    /// listing it came from. Not a signature: a cursor lets nobody see more than the filters
    /// already allow, so it needs no secret, only protection from mistakes.
    fn checksum(&self, position: &Position) -> String {
        let (scope, selector, range) = match &self.listing {
            Listing::Events(EventScope::Window(window)) => ("window", "", window.range()),
            Listing::Events(EventScope::Key { key, range }) => ("key", key.as_str(), *range),
            Listing::Contact { contact, range } => ("contact", contact.as_str(), *range),
        };
        let filter = &self.filter;
        let canonical = serde_json::json!([
            CURSOR_VERSION,
            scope,
            selector,
            range.since,
            range.until,
            filter.family.map(EventFamily::as_str),
            filter.status.as_ref().map(DeliveryStatus::as_str),
            filter.sub_product.map(SubProduct::as_str),
            filter.error_code,
            position.at,
            position.event_id,
        ]);
        hex::encode(&Sha256::digest(canonical.to_string().as_bytes())[..16])
    }
}

const CURSOR_VERSION: u8 = 1;

/// The cursor's content, base64url JSON ([`ListRequest::cursor_after`] writes it). `until` is a
/// window's end, which a request that leaves `until` out continues with, so the window stays the
/// same from page to page.
#[derive(Deserialize)]
struct CursorBody {
    v: u8,
    at: i64,
    id: String,
    #[serde(default)]
    until: Option<i64>,
    sum: String,
}

struct Cursor {
    position: Position,
    until: Option<i64>,
    sum: String,
}

impl Cursor {
    fn decode(text: &str) -> Result<Self, &'static str> {
        let unreadable = "it is not a cursor this service issued";
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|_| unreadable)?;
        let body: CursorBody = serde_json::from_slice(&json).map_err(|_| unreadable)?;
        if body.v != CURSOR_VERSION {
            return Err("it was issued by another version of this service");
        }
        let plausible_id = body.id.len() <= 64 && body.id.bytes().all(|b| b.is_ascii_hexdigit());
        if !(0..=MAX_TIME).contains(&body.at) || !plausible_id {
            return Err(unreadable);
        }
        Ok(Self {
            position: Position {
                at: body.at,
                event_id: body.id,
            },
            until: body.until,
            sum: body.sum,
        })
    }
}

/// Query parameters being validated: each accessor records its problem and returns `None`, so
/// one answer lists them all.
struct Params<'a> {
    pairs: &'a [(String, String)],
    problems: Vec<ParameterProblem>,
}

impl<'a> Params<'a> {
    fn new(pairs: &'a [(String, String)], known: &[&str], also_known: &[&str]) -> Self {
        let mut params = Self {
            pairs,
            problems: Vec::new(),
        };
        let mut seen: Vec<&str> = Vec::new();
        for (name, _) in pairs {
            let is_known = known.contains(&name.as_str()) || also_known.contains(&name.as_str());
            if !is_known {
                let mut names: Vec<&str> = known.iter().chain(also_known).copied().collect();
                names.sort_unstable();
                params.invalid(
                    name,
                    format!("unknown parameter; this route takes {}", names.join(", ")),
                );
            } else if seen.contains(&name.as_str()) {
                params.invalid(name, "given more than once; give it once".to_owned());
            }
            seen.push(name);
        }
        params
    }

    fn invalid(&mut self, field: &str, message: String) {
        if !self.problems.iter().any(|p| p.field == field) {
            self.problems.push(ParameterProblem {
                field: field.to_owned(),
                message,
                missing: false,
            });
        }
    }

    fn missing(&mut self, field: &str, message: String) {
        self.problems.push(ParameterProblem {
            field: field.to_owned(),
            message,
            missing: true,
        });
    }

    fn has_problem(&self, field: &str) -> bool {
        self.problems.iter().any(|p| p.field == field)
    }

    /// The value, when given and not empty (an empty value counts as left out, as HTML forms
    /// and URL templates send them).
    fn text(&self, name: &str) -> Option<&'a str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    fn parse<T>(&mut self, name: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        let text = self.text(name)?;
        match parse(text) {
            Ok(value) => Some(value),
            Err(message) => {
                self.invalid(name, message);
                None
            }
        }
    }

    fn time(&mut self, name: &str) -> Option<i64> {
        self.parse(name, parse_time)
    }

    fn listing_parts(&mut self) -> ListingParts {
        let since = self.time("since");
        let until = self.time("until");
        let filter = EventFilter {
            family: self.parse("family", |text| {
                EventFamily::parse(text)
                    .ok_or_else(|| one_of(EventFamily::ALL.iter().map(|f| f.as_str())))
            }),
            status: self.parse("status", |text| {
                STATUS_FILTERS
                    .iter()
                    .find(|s| s.as_str() == text)
                    .cloned()
                    .ok_or_else(|| one_of(STATUS_FILTERS.iter().map(DeliveryStatus::as_str)))
            }),
            sub_product: self.parse("sub_product", |text| {
                SubProduct::parse(text)
                    .ok_or_else(|| one_of(SubProduct::ALL.iter().map(|s| s.as_str())))
            }),
            error_code: self.parse("error_code", |text| {
                text.parse::<i64>()
                    .map_err(|_| "must be a whole number, such as 131026".to_owned())
            }),
        };
        let format = self
            .parse("format", |text| match text {
                "json" => Ok(Format::Json),
                "ndjson" => Ok(Format::Ndjson),
                _ => Err("must be json (one page, the default) or ndjson (an export)".to_owned()),
            })
            .unwrap_or(Format::Json);
        let (default_limit, max_limit) = match format {
            Format::Json => (DEFAULT_LIMIT, MAX_LIMIT),
            Format::Ndjson => (MAX_EXPORT_EVENTS, MAX_EXPORT_EVENTS),
        };
        let limit = self
            .parse("limit", |text| {
                text.parse::<usize>()
                    .ok()
                    .filter(|n| (1..=max_limit).contains(n))
                    .ok_or_else(|| format!("must be a whole number from 1 to {max_limit}"))
            })
            .unwrap_or(default_limit);
        ListingParts {
            since,
            until,
            filter,
            limit,
            format,
            cursor: self.text("cursor").map(Cursor::decode),
        }
    }

    /// An optional range; both ends, when given, in order.
    fn open_range(&mut self, since: Option<i64>, until: Option<i64>) -> Option<Range> {
        if let (Some(since), Some(until)) = (since, until)
            && since >= until
        {
            self.invalid("since", WindowError::Empty.to_string());
            return None;
        }
        Some(Range { since, until })
    }

    /// A bounded window: `since` required, `until` as given, else as the cursor remembers it,
    /// else now.
    fn window(
        &mut self,
        since: Option<i64>,
        until: Option<i64>,
        cursor_until: Option<i64>,
        now: i64,
        missing_hint: &str,
    ) -> Option<Window> {
        let Some(since) = since else {
            if !self.has_problem("since") {
                self.missing("since", missing_hint.to_owned());
            }
            return None;
        };
        let defaulted = until.is_none() && cursor_until.is_none();
        let until = until.or(cursor_until).unwrap_or(now);
        if self.has_problem("until") {
            return None;
        }
        match Window::new(since, until) {
            Ok(window) => Some(window),
            Err(error) => {
                let note = if defaulted && error == WindowError::Empty {
                    " (until was left out, so it is now)"
                } else {
                    ""
                };
                self.invalid("since", format!("{error}{note}"));
                None
            }
        }
    }

    /// The value built from the parameters, or every problem found on the way (a value is
    /// missing only when a problem was recorded).
    fn finish<T>(self, value: Option<T>) -> Result<T, QueryError> {
        match value {
            Some(value) if self.problems.is_empty() => Ok(value),
            _ => Err(QueryError::Parameters(self.problems)),
        }
    }
}

fn one_of<'a>(names: impl Iterator<Item = &'a str>) -> String {
    format!("must be one of {}", names.collect::<Vec<_>>().join(", "))
}

/// An RFC 3339 time (`2024-05-01T12:00:00Z`, `...+02:00`, fractions of a second dropped) or
/// whole epoch seconds. In a URL a `+` decodes to a space, so `12:00:00 02:00` reads as
/// `12:00:00+02:00`.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let time = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<i64>().ok()
    } else {
        parse_rfc3339(text)
    };
    match time {
        Some(t) if (0..=MAX_TIME).contains(&t) => Ok(t),
        Some(_) => Err(WindowError::OutOfRange.to_string()),
        None => Err(
            "must be an RFC 3339 time such as 2024-05-01T12:00:00Z, or epoch seconds".to_owned(),
        ),
    }
}

fn parse_rfc3339(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let digits = |from: usize, to: usize| -> Option<i64> {
        let part = text.get(from..to)?;
        if part.bytes().all(|b| b.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let at = |i: usize, allowed: &[u8]| bytes.get(i).is_some_and(|b| allowed.contains(b));
    if !(at(4, b"-") && at(7, b"-") && at(10, b"Tt ") && at(13, b":") && at(16, b":")) {
        return None;
    }
    let (year, month, day) = (digits(0, 4)?, digits(5, 7)?, digits(8, 10)?);
    let (hour, minute, second) = (digits(11, 13)?, digits(14, 16)?, digits(17, 19)?);
    let mut rest = text.get(19..)?;
    if let Some(fraction) = rest.strip_prefix('.') {
        let length = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if length == 0 {
            return None;
        }
        rest = &fraction[length..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' | b' ' => 1,
                b'-' => -1,
                _ => return None,
            };
            let offset = rest.get(1..)?;
            let valid = offset.len() == 5 && offset.as_bytes()[2] == b':';
            let (hours, minutes) = (offset.get(..2)?, offset.get(3..)?);
            let number = |part: &str| {
                part.bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| part.parse::<i64>().ok())
                    .flatten()
            };
            let (hours, minutes) = (number(hours)?, number(minutes)?);
            if !valid || hours > 23 || minutes > 59 {
                return None;
            }
            sign * (hours * HOUR + minutes * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    // A leap second (:60) is the last second of its minute here.
    let valid = (1..=12).contains(&month)
        && civil_from_days(days) == (year, month, day)
        && hour <= 23
        && minute <= 59
        && second <= 60;
    valid.then(|| days * DAY + hour * HOUR + minute * 60 + second.min(59) - offset)
}

/// `2024-05-01T12:00:00Z`.
pub fn format_time(at: i64) -> String {
    let (year, month, day) = civil_from_days(at.div_euclid(DAY));
    let seconds = at.rem_euclid(DAY);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / HOUR,
        seconds % HOUR / 60,
        seconds % 60
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The counters one stored event adds one to, by name; both stores keep them per hour of the
/// event's [`listed_at`] and add them up for `/stats`. Names of the vendor's free text (a new
/// status, a reply type) are kept only when they look like names, so a strange payload cannot
/// make a counter out of anything.
pub fn tallies(event: &Event) -> Vec<String> {
    tally_names(
        event.family,
        event.status.as_ref(),
        &event.error_codes,
        event.message_type.as_deref(),
    )
}

/// [`tallies`] from the few fields it reads, for a store that counts from index entries
/// holding only those.
pub fn tally_names(
    family: EventFamily,
    status: Option<&DeliveryStatus>,
    error_codes: &[i64],
    message_type: Option<&str>,
) -> Vec<String> {
    let mut names = vec![format!("family:{}", family.as_str())];
    if let Some(status) = status {
        names.push(format!("status:{}", label(status.as_str())));
    }
    let failure = status == Some(&DeliveryStatus::Failed)
        || matches!(family, EventFamily::Error | EventFamily::OnPremiseError);
    if failure {
        let mut codes = error_codes.to_vec();
        codes.sort_unstable();
        codes.dedup();
        names.extend(codes.iter().map(|code| format!("failure_code:{code}")));
    }
    if family == EventFamily::Reply {
        names.push(format!(
            "reply_type:{}",
            label(message_type.unwrap_or("unknown"))
        ));
    }
    names
}

fn label(name: &str) -> &str {
    let plain = (1..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if plain { name } else { "other" }
}

/// The delivery funnel of a window of whole hours: status reports by status, failures by error
/// code (failed statuses and error reports), replies by message type, every event by family.
/// Each stored event counts once; a duplicate never does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    #[serde(serialize_with = "serialize_time")]
    pub since: i64,
    #[serde(serialize_with = "serialize_time")]
    pub until: i64,
    pub granularity: &'static str,
    pub events: u64,
    pub accepted: u64,
    pub sent: u64,
    pub delivered: u64,
    pub read: u64,
    pub failed: u64,
    pub failures_by_error_code: BTreeMap<i64, u64>,
    pub replies_by_type: BTreeMap<String, u64>,
    pub events_by_family: BTreeMap<String, u64>,
    /// Statuses WhatsApp may add that the funnel has no place for yet.
    pub other_statuses: BTreeMap<String, u64>,
}

impl Stats {
    /// Adds up counters named by [`tallies`]; a name may come several times (one per hour and
    /// shard). Names this version does not know are left out.
    pub fn from_counts(hours: HourWindow, counts: impl IntoIterator<Item = (String, u64)>) -> Self {
        let mut stats = Stats {
            since: hours.since,
            until: hours.until,
            granularity: "hour",
            events: 0,
            accepted: 0,
            sent: 0,
            delivered: 0,
            read: 0,
            failed: 0,
            failures_by_error_code: BTreeMap::new(),
            replies_by_type: BTreeMap::new(),
            events_by_family: BTreeMap::new(),
            other_statuses: BTreeMap::new(),
        };
        for (name, count) in counts {
            let Some((kind, value)) = name.split_once(':') else {
                continue;
            };
            match (kind, value) {
                ("family", family) => {
                    stats.events += count;
                    *stats.events_by_family.entry(family.to_owned()).or_default() += count;
                }
                ("status", "accepted") => stats.accepted += count,
                ("status", "sent") => stats.sent += count,
                ("status", "delivered") => stats.delivered += count,
                ("status", "read") => stats.read += count,
                ("status", "failed") => stats.failed += count,
                ("status", other) => {
                    *stats.other_statuses.entry(other.to_owned()).or_default() += count;
                }
                ("failure_code", code) => {
                    if let Ok(code) = code.parse() {
                        *stats.failures_by_error_code.entry(code).or_default() += count;
                    }
                }
                ("reply_type", kind) => {
                    *stats.replies_by_type.entry(kind.to_owned()).or_default() += count;
                }
                _ => {}
            }
        }
        stats
    }
}

fn serialize_time<S: Serializer>(at: &i64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_time(*at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }

    const NOW: i64 = 1_714_564_800; // 2024-05-01T12:00:00Z

    fn problems(result: Result<ListRequest, QueryError>) -> Vec<(String, bool)> {
        match result {
            Err(QueryError::Parameters(problems)) => {
                problems.into_iter().map(|p| (p.field, p.missing)).collect()
            }
            other => panic!("expected parameter problems, got {other:?}"),
        }
    }

    #[test]
    fn times_in_rfc_3339_and_epoch_seconds() {
        for (text, expected) in [
            ("1714564800", NOW),
            ("2024-05-01T12:00:00Z", NOW),
            ("2024-05-01t12:00:00z", NOW),
            ("2024-05-01 12:00:00Z", NOW),
            ("2024-05-01T12:00:00.999Z", NOW),
            ("2024-05-01T14:00:00+02:00", NOW),
            ("2024-05-01T14:00:00 02:00", NOW),
            ("2024-05-01T09:30:00-02:30", NOW),
            ("1970-01-01T00:00:00Z", 0),
            ("2000-02-29T00:00:00Z", 951_782_400),
            ("2016-12-31T23:59:60Z", 1_483_228_799),
        ] {
            assert_eq!(parse_time(text), Ok(expected), "{text}");
        }
        for text in [
            "",
            "-5",
            "2024-05-01",
            "2024-05-01T12:00:00",
            "2024-02-30T12:00:00Z",
            "2023-02-29T12:00:00Z",
            "2024-13-01T12:00:00Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T12:00:00.Z",
            "2024-05-01T12:00:00+2:00",
            "2024-05-01T12:00:00+02:60",
            "yesterday",
            "1969-12-31T23:59:59Z",
            "100000000000",
        ] {
            assert!(parse_time(text).is_err(), "{text} must be refused");
        }
        assert_eq!(format_time(NOW), "2024-05-01T12:00:00Z");
        assert_eq!(format_time(951_782_400), "2000-02-29T00:00:00Z");
        for at in [0, 951_782_400, NOW, 4_102_444_799, MAX_TIME] {
            assert_eq!(parse_time(&format_time(at)), Ok(at));
        }
    }

    #[test]
    fn a_window_listing_with_every_filter() {
        let request = parse_events_request(
            &pairs("since=2024-05-01T11:00:00Z&family=status&status=failed&sub_product=transactional&error_code=131026&limit=50"),
            NOW,
        )
        .unwrap();
        assert_eq!(
            request.listing,
            Listing::Events(EventScope::Window(Window::new(NOW - HOUR, NOW).unwrap()))
        );
        assert_eq!(
            request.filter,
            EventFilter {
                family: Some(EventFamily::Status),
                status: Some(DeliveryStatus::Failed),
                sub_product: Some(SubProduct::Transactional),
                error_code: Some(131026),
            }
        );
        assert_eq!(
            request.page,
            PageRequest {
                after: None,
                limit: 50
            }
        );
        assert_eq!(request.format, Format::Json);
        assert_eq!(request.listing.order(), SortOrder::Listed);
    }

    #[test]
    fn a_key_needs_no_window_and_keeps_its_order() {
        let request = parse_events_request(&pairs("key=whatsapp-1&limit=1000"), NOW).unwrap();
        assert_eq!(
            request.listing,
            Listing::Events(EventScope::Key {
                key: "whatsapp-1".into(),
                range: Range::default()
            })
        );
        assert_eq!(request.listing.order(), SortOrder::KeyIndex);
        assert_eq!(request.page.limit, 1000);
        let ranged = parse_events_request(&pairs("key=k&since=10"), NOW).unwrap();
        assert_eq!(
            ranged.listing,
            Listing::Events(EventScope::Key {
                key: "k".into(),
                range: Range {
                    since: Some(10),
                    until: None
                }
            })
        );
    }

    #[test]
    fn nothing_to_select_is_a_missing_parameter() {
        assert_eq!(
            problems(parse_events_request(&pairs(""), NOW)),
            [("since".to_owned(), true)]
        );
        assert_eq!(
            problems(parse_events_request(&pairs("key=&since="), NOW)),
            [("since".to_owned(), true)],
            "empty values count as left out"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let found = problems(parse_events_request(
            &pairs(
                "since=yesterday&family=sms&status=bounced&sub_product=email&error_code=x&limit=0&format=csv&sort=asc&limit=5",
            ),
            NOW,
        ));
        let fields: Vec<&str> = found.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "sort",
                "limit",
                "since",
                "family",
                "status",
                "sub_product",
                "error_code",
                "format"
            ]
        );
        assert!(found.iter().all(|(_, missing)| !missing));
        let Err(error) = parse_events_request(&pairs("family=sms"), NOW) else {
            panic!("refused")
        };
        let message = error.to_string();
        assert!(
            message.contains("family: must be one of accepted, error, status"),
            "{message}"
        );
        assert!(message.contains("since: add since="), "{message}");
    }

    #[test]
    fn windows_are_ordered_and_bounded() {
        let refused = |query: &str| problems(parse_events_request(&pairs(query), NOW));
        assert_eq!(
            refused("since=100&until=100"),
            [("since".to_owned(), false)]
        );
        assert_eq!(refused("since=100&until=50"), [("since".to_owned(), false)]);
        assert_eq!(
            refused(&format!("since={}", NOW + 1)),
            [("since".to_owned(), false)]
        );
        assert_eq!(
            refused(&format!(
                "since={}&until={}",
                NOW - MAX_WINDOW_SECS - 1,
                NOW
            )),
            [("since".to_owned(), false)]
        );
        assert!(
            parse_events_request(
                &pairs(&format!("since={}&until={NOW}", NOW - MAX_WINDOW_SECS)),
                NOW
            )
            .is_ok()
        );
        assert_eq!(
            refused("key=k&since=100&until=100"),
            [("since".to_owned(), false)]
        );
        assert_eq!(
            parse_stats_request(
                &pairs("since=2024-05-01T10:30:00Z&until=2024-05-01T11:00:01Z"),
                NOW
            ),
            Ok(HourWindow {
                since: NOW - 2 * HOUR,
                until: NOW
            })
        );
        assert!(matches!(
            parse_stats_request(&pairs("until=5"), NOW),
            Err(QueryError::Parameters(p)) if p[0].missing
        ));
    }

    #[test]
    fn exports_take_a_larger_limit() {
        let request = parse_events_request(&pairs("since=0&until=10&format=ndjson"), NOW).unwrap();
        assert_eq!(
            (request.format, request.page.limit),
            (Format::Ndjson, MAX_EXPORT_EVENTS)
        );
        assert!(
            parse_events_request(&pairs("since=0&until=10&format=ndjson&limit=10000"), NOW).is_ok()
        );
        assert!(parse_events_request(&pairs("since=0&until=10&limit=1001"), NOW).is_err());
    }

    #[test]
    fn contacts_are_looked_up_as_indexed() {
        let request = parse_contact_request("+905551112233", &pairs("status=read")).unwrap();
        assert_eq!(
            request.listing,
            Listing::Contact {
                contact: "905551112233".into(),
                range: Range::default()
            }
        );
        assert_eq!(
            problems(parse_contact_request("+", &pairs("key=k"))),
            [("key".to_owned(), false), ("wa_id".to_owned(), false)]
        );
        assert_eq!(contact_key(" +90 "), Some("90"));
        assert_eq!(contact_key(&"1".repeat(257)), None);
    }

    fn with_cursor(query: &str, cursor: &str) -> String {
        format!("{query}&cursor={cursor}")
    }

    #[test]
    fn a_cursor_continues_only_the_listing_it_came_from() {
        let query = "since=1000&until=5000&status=failed";
        let request = parse_events_request(&pairs(query), NOW).unwrap();
        let position = Position {
            at: 1200,
            event_id: "00ff".into(),
        };
        let cursor = request.cursor_after(&position);
        assert!(
            cursor
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        let next = parse_events_request(&pairs(&with_cursor(query, &cursor)), NOW).unwrap();
        assert_eq!(next.page.after, Some(position.clone()));
        assert_eq!(next.listing, request.listing);
        let larger_pages = parse_events_request(
            &pairs(&with_cursor(&format!("{query}&limit=7"), &cursor)),
            NOW,
        );
        assert_eq!(
            larger_pages.unwrap().page.after,
            Some(position.clone()),
            "the limit may change"
        );

        for other in [
            "since=1000&until=5000&status=read",
            "since=1000&until=5000",
            "since=1001&until=5000&status=failed",
            "since=1000&until=5001&status=failed",
            "key=k&since=1000&until=5000&status=failed",
        ] {
            assert!(
                matches!(
                    parse_events_request(&pairs(&with_cursor(other, &cursor)), NOW),
                    Err(QueryError::InvalidCursor(_))
                ),
                "{other}"
            );
        }
        let contact = parse_contact_request("1", &pairs("status=failed")).unwrap();
        let contact_cursor = contact.cursor_after(&position);
        assert!(
            parse_contact_request("1", &pairs(&with_cursor("status=failed", &contact_cursor)))
                .is_ok()
        );
        assert!(matches!(
            parse_contact_request("2", &pairs(&with_cursor("status=failed", &contact_cursor))),
            Err(QueryError::InvalidCursor(_))
        ));

        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&cursor)
            .unwrap();
        let mut body: serde_json::Value = serde_json::from_slice(&json).unwrap();
        body["at"] = 1300.into();
        let tampered = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body.to_string());
        body["v"] = 2.into();
        let future = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body.to_string());
        for cursor in [
            tampered.as_str(),
            future.as_str(),
            "not-a-cursor",
            "e30",
            "%%%",
        ] {
            assert!(
                matches!(
                    parse_events_request(&pairs(&with_cursor(query, cursor)), NOW),
                    Err(QueryError::InvalidCursor(_))
                ),
                "{cursor}"
            );
        }
        // Other problems come first: a cursor is only judged for a valid request.
        assert!(matches!(
            parse_events_request(&pairs(&with_cursor("since=x", "junk")), NOW),
            Err(QueryError::Parameters(_))
        ));
    }

    #[test]
    fn a_window_left_open_keeps_its_end_from_page_to_page() {
        let since = format!("since={}", NOW - HOUR);
        let first = parse_events_request(&pairs(&since), NOW).unwrap();
        let cursor = first.cursor_after(&Position {
            at: NOW - 60,
            event_id: "ab".into(),
        });
        let later = NOW + 600;
        let next = parse_events_request(&pairs(&with_cursor(&since, &cursor)), later).unwrap();
        assert_eq!(
            next.listing, first.listing,
            "until is still the first page's now"
        );
        let explicit = format!("{since}&until={NOW}");
        assert!(parse_events_request(&pairs(&with_cursor(&explicit, &cursor)), later).is_ok());
    }

    fn event(body: &str) -> Vec<Event> {
        crate::domain::parse_delivery(body.as_bytes()).unwrap()
    }

    #[test]
    fn tallies_name_the_funnel() {
        let failed = event(
            r#"{"entry":[{"changes":[{"value":{"statuses":[{"id":"w","status":"failed","timestamp":"1","recipient_id":"9","errors":[{"code":131026},{"code":131026},{"code":470}]}]}}]}]}"#,
        );
        assert_eq!(
            tallies(&failed[0]),
            [
                "family:status",
                "status:failed",
                "failure_code:470",
                "failure_code:131026"
            ]
        );
        let reply = event(
            r#"{"entry":[{"changes":[{"value":{"messages":[{"id":"w","from":"9","timestamp":"1","type":"Weird Type!"}]}}]}]}"#,
        );
        assert_eq!(tallies(&reply[0]), ["family:reply", "reply_type:other"]);
        let error = event(r#"{"error":{"code":100,"message":"x"},"key":"k"}"#);
        assert_eq!(tallies(&error[0]), ["family:error", "failure_code:100"]);

        let hours = HourWindow::covering(Window::new(0, 10).unwrap());
        let counts = [&failed[0], &reply[0], &error[0], &failed[0]]
            .into_iter()
            .flat_map(tallies)
            .map(|name| (name, 1))
            .chain([
                ("future:thing".to_owned(), 5),
                ("status:warning".to_owned(), 2),
            ]);
        let stats = Stats::from_counts(hours, counts);
        assert_eq!(stats.events, 4);
        assert_eq!(stats.failed, 2);
        assert_eq!(
            stats.failures_by_error_code,
            BTreeMap::from([(100, 1), (470, 2), (131026, 2)])
        );
        assert_eq!(
            stats.replies_by_type,
            BTreeMap::from([("other".to_owned(), 1)])
        );
        assert_eq!(
            stats.other_statuses,
            BTreeMap::from([("warning".to_owned(), 2)])
        );
        let json = serde_json::to_value(&stats).unwrap();
        assert_eq!(json["since"], "1970-01-01T00:00:00Z");
        assert_eq!(json["until"], "1970-01-01T01:00:00Z");
        assert_eq!(json["failures_by_error_code"]["131026"], 2);
    }
}
