//! API Gateway HTTP API events (payload format 2.0) to the handlers' requests, and their
//! responses back to what API Gateway expects.
//!
//! Done here rather than by lambda_http's own conversion, which panics on a body marked
//! `isBase64Encoded` that does not decode and on a path or query string it cannot put into a URI:
//! with the release profile's `panic = "abort"`, one such event would end the execution
//! environment instead of getting an answer.

use base64::Engine;
use http::StatusCode;
use lambda_http::aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};

use super::{ApiError, Body, Request, Response, unreadable_body};

/// The request an event stands for, or the answer when it cannot stand for one.
pub fn request_from_event(event: ApiGatewayV2httpRequest) -> Result<Request, Box<Response>> {
    let path = event.raw_path.as_deref().unwrap_or("/");
    let body = match event.body {
        None => Body::Empty,
        Some(encoded) if event.is_base64_encoded => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map(Body::Binary)
            .map_err(|_| {
                unreadable_body(
                    path,
                    "the body is marked base64-encoded but does not decode",
                )
            })?,
        Some(text) => Body::Text(text),
    };
    let target = request_target(path, event.raw_query_string.as_deref().unwrap_or(""));
    let uri = http::Uri::try_from(target).map_err(|_| {
        // Every byte that could make the target invalid is escaped, so only its length can.
        Box::new(
            ApiError::new(
                StatusCode::URI_TOO_LONG,
                "uri_too_long",
                "the path and query string are longer than this service reads",
            )
            .into_response(),
        )
    })?;
    let mut request = Request::new(body);
    *request.method_mut() = event.request_context.http.method;
    *request.uri_mut() = uri;
    // Cookies come apart from the headers in payload 2.0; no route reads them.
    *request.headers_mut() = event.headers;
    Ok(request)
}

/// What API Gateway expects back: binary bodies base64-encoded, headers as they are (no route
/// sets cookies, which payload 2.0 would want apart).
pub fn event_response(response: Response) -> ApiGatewayV2httpResponse {
    let (parts, body) = response.into_parts();
    let (is_base64_encoded, body) = match body {
        Body::Empty => (false, None),
        text @ Body::Text(_) => (false, Some(text)),
        // `Body::Binary`, and any kind a later lambda_http adds: base64 carries any bytes.
        binary => (true, Some(binary)),
    };
    let mut event = ApiGatewayV2httpResponse::default();
    event.status_code = i64::from(parts.status.as_u16());
    event.headers = parts.headers;
    event.body = body;
    event.is_base64_encoded = is_base64_encoded;
    event
}

/// `rawPath?rawQueryString` with every byte a URI may not hold percent-encoded. API Gateway
/// passes both as the client sent them; the handlers percent-decode what they read, so an
/// escaped byte reads as the byte itself.
fn request_target(path: &str, query: &str) -> String {
    let mut target = String::with_capacity(path.len() + query.len() + 2);
    if !path.starts_with('/') {
        target.push('/');
    }
    escape_into(&mut target, path, b"/");
    if !query.is_empty() {
        target.push('?');
        escape_into(&mut target, query, b"/?");
    }
    target
}

fn escape_into(target: &mut String, text: &str, also_allowed: &[u8]) {
    for byte in text.bytes() {
        let allowed = byte.is_ascii_alphanumeric()
            || b"-._~!$&'()*+,;=:@%".contains(&byte)
            || also_allowed.contains(&byte);
        if allowed {
            target.push(char::from(byte));
        } else {
            target.push_str(&format!("%{byte:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_keep_what_a_uri_holds_and_escape_the_rest() {
        assert_eq!(
            request_target("/events", "key=a b&limit=5#x"),
            "/events?key=a%20b&limit=5%23x"
        );
        assert_eq!(
            request_target("/messages/wamid.\"<é>?", ""),
            "/messages/wamid.%22%3C%C3%A9%3E%3F"
        );
        assert_eq!(request_target("webhooks/verify", ""), "/webhooks/verify");
        for target in [
            request_target("/a\r\nb\0{|}^`\\", "q=\r\n\u{7f}"),
            request_target("", ""),
        ] {
            assert!(http::Uri::try_from(target.as_str()).is_ok(), "{target}");
        }
    }
}
