//! API Gateway HTTP API (payload format 2.0) events, as Lambda hands them to a function.

use base64::Engine;

/// The event of one request with a bearer token; `base64` sends the body encoded, as API Gateway
/// does for bodies it considers binary.
pub fn api_gateway_event(
    method: &str,
    path: &str,
    query: &str,
    token: &str,
    body: &str,
    base64: bool,
) -> String {
    let body = if base64 {
        base64::engine::general_purpose::STANDARD.encode(body)
    } else {
        body.to_owned()
    };
    serde_json::json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "authorization": format!("Bearer {token}"),
            "content-type": "application/json",
            "host": "abc123.execute-api.eu-west-1.amazonaws.com",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "insider"},
            "requestId": "req-1",
            "routeKey": format!("{method} {path}"),
            "stage": "$default",
            "time": "21/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1_795_000_000_000_i64,
        },
        "body": body,
        "isBase64Encoded": base64,
    })
    .to_string()
}
