//! API Gateway HTTP API (payload 2.0) events, as Lambda hands them to a function, and their
//! conversion into the handlers' requests exactly as the Lambdas convert them.

use serde_json::{Value, json};
use shared::http::gateway::request_from_event;
use shared::http::{Request, Response};

/// An event for `method path?query`; `body` goes into the event as given (so already
/// base64-encoded when `base64` says it is).
pub fn event(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
    base64: bool,
) -> Value {
    let mut all_headers = serde_json::Map::new();
    all_headers.insert(
        "host".into(),
        "abc123.execute-api.eu-west-1.amazonaws.com".into(),
    );
    for (name, value) in headers {
        all_headers.insert((*name).to_owned(), (*value).into());
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "insider"},
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "21/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1_795_000_000_000_i64,
        },
        "isBase64Encoded": base64,
    });
    if let Some(body) = body {
        event["body"] = body.into();
    }
    event
}

/// The handlers' request for `event`, or the answer given without one.
pub fn request(event: &Value) -> Result<Request, Box<Response>> {
    request_from_event(serde_json::from_value(event.clone()).expect("a valid API Gateway event"))
}
