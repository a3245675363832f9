//! HTTP plumbing of the console: paths, parameters, links and the answers every page shares.

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use maud::Markup;

use crate::{MOUNT, Request, Response};

/// The console's one style sheet, served by the console itself (the pages allow no inline
/// style, see [`html`]).
const STYLE: &str = include_str!("style.css");

/// The path's segments under [`MOUNT`], percent-decoded, empty ones dropped; `None` outside it.
pub fn console_segments(path: &str) -> Option<Vec<String>> {
    let rest = path.strip_prefix(MOUNT)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    Some(
        rest.split('/')
            .filter(|s| !s.is_empty())
            .map(shared::http::decode_segment)
            .collect(),
    )
}

/// Every query string parameter, decoded, in order.
pub fn query_pairs(request: &Request) -> Vec<(String, String)> {
    form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// A parameter's first non-blank value, trimmed.
pub fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, v)| k == name && !v.trim().is_empty())
        .map(|(_, v)| v.trim())
}

/// One path segment, percent-encoded (a space as `%20`: paths do not read `+` as one).
pub fn segment(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// `path?name=value&...`, the values encoded; no `?` without parameters.
pub fn with_query<'a>(path: &str, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.extend_pairs(pairs);
    match query.finish() {
        query if query.is_empty() => path.to_owned(),
        query => format!("{path}?{query}"),
    }
}

/// A page: no script may run, styles and images only from the console, no framing, nothing
/// kept by caches or passed on in a `Referer`.
pub fn html(status: StatusCode, markup: Markup) -> Response {
    let mut response = Response::new(Bytes::from(markup.into_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

pub fn style_sheet() -> Response {
    let mut response = Response::new(Bytes::from_static(STYLE.as_bytes()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    response
}

/// `303 See Other`, so that the browser follows with a `GET`.
pub fn redirect(location: &str) -> Response {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, "no such page")
}

pub fn method_not_allowed() -> Response {
    plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut response = Response::new(Bytes::from_static(text.as_bytes()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// `2024-05-01 12:00:00 UTC`, for people.
pub fn time(at: i64) -> String {
    shared::domain::query::format_time(at)
        .replace('T', " ")
        .replace('Z', " UTC")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_under_the_mount_are_the_consoles() {
        assert_eq!(console_segments("/console"), Some(vec![]));
        assert_eq!(
            console_segments("/console//messages/wamid.a%2Fb/"),
            Some(vec!["messages".to_owned(), "wamid.a/b".to_owned()])
        );
        assert_eq!(console_segments("/consoles"), None);
        assert_eq!(console_segments("/events"), None);
    }

    #[test]
    fn links_are_encoded() {
        assert_eq!(segment("wamid.a b+c/d"), "wamid.a%20b%2Bc%2Fd");
        assert_eq!(
            with_query("/events", [("since", "2024-05-01T12:00:00+02:00")]),
            "/events?since=2024-05-01T12%3A00%3A00%2B02%3A00"
        );
        assert_eq!(with_query("/events", []), "/events");
    }
}
