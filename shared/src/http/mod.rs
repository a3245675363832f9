//! HTTP handlers, one per route family, each `fn(&Deps, Request) -> Response` on plain `http`
//! types so the Lambda binaries and the local stack run exactly the same code.

pub mod erasure;
mod error;
pub mod gateway;
pub mod manage;
pub mod oauth;
pub mod query;
pub mod receiver;
pub mod replay;

pub use error::ApiError;
pub use lambda_http::{Body, Request};

use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

pub type Response = http::Response<Body>;

/// A body that cannot be read at all (cut short, badly framed, marked base64-encoded without
/// decoding), refused before any handler runs, in the shape of the route family it was for:
/// `invalid_body`, or on the token endpoint, which answers every bad token request as RFC 6749
/// does, `invalid_request`.
pub fn unreadable_body(path: &str, message: &str) -> Response {
    if oauth::is_oauth_path(path) {
        oauth::unreadable_body(message)
    } else {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", message).into_response()
    }
}

/// A route's answer, or its refusal's, logged with its code; `routes` names the family.
fn answer_or_refusal(answer: Result<Response, ApiError>, routes: &'static str) -> Response {
    answer.unwrap_or_else(|error| {
        tracing::warn!(
            routes,
            outcome = error.code,
            status = error.status.as_u16(),
            "request refused"
        );
        error.into_response()
    })
}

pub fn json_response(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => with_content_type(status, Body::Binary(body), "application/json"),
        Err(e) => ApiError::internal(format!("response could not be encoded: {e}")).into_response(),
    }
}

pub fn empty_response(status: StatusCode) -> Response {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = status;
    response
}

fn with_content_type(status: StatusCode, body: Body, content_type: &'static str) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The path without its trailing slash, split into its non-empty, percent-decoded segments.
fn path_segments(request: &Request) -> Vec<String> {
    request
        .uri()
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode_segment)
        .collect()
}

/// One path segment percent-decoded, as every route reads it: `+` stays a plus (only query
/// strings read it as a space). The console reads its own paths the same way.
pub fn decode_segment(segment: &str) -> String {
    form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Every query string parameter, decoded, in order.
fn query_pairs(request: &Request) -> Vec<(String, String)> {
    form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// A query string parameter; when it is repeated the first value counts.
fn query_param(request: &Request, name: &str) -> Option<String> {
    form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn header_str(request: &Request, name: header::HeaderName) -> Option<&str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The `Authorization` header as one value: repeated headers joined with commas, as API Gateway
/// hands them over, so that the Lambdas and the local stack judge them alike (never valid), and
/// bytes that are not ASCII replaced, so that such a header reads as a wrong credential rather
/// than as none.
pub fn authorization(request: &Request) -> Option<String> {
    let values: Vec<_> = request
        .headers()
        .get_all(header::AUTHORIZATION)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()))
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}
