//! API Gateway HTTP API (payload 2.0) events, as Lambda hands them to a function, and their
//! conversion into the handlers' requests exactly as the Lambdas convert them.

use serde_json::{Value, json};
use shared::http::gateway::event_response;
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

/// An event as API Gateway sends it for a request matched to a route of the HTTP API,
/// `route_key` as in the template (`"PUT /manage/webhooks/{id}"`): [`event`] with the route key,
/// the path parameters the route's template captures and the query string parameters.
pub fn route_event(
    route_key: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
    base64: bool,
) -> Value {
    let (method, template) = route_key
        .split_once(' ')
        .expect("a route key is `METHOD /path`");
    let mut event = event(method, path, query, headers, body, base64);
    event["routeKey"] = route_key.into();
    event["requestContext"]["routeKey"] = route_key.into();
    let path_parameters: serde_json::Map<String, Value> = template
        .split('/')
        .zip(path.split('/'))
        .filter_map(|(part, value)| {
            let name = part.strip_prefix('{')?.strip_suffix('}')?;
            Some((name.to_owned(), value.into()))
        })
        .collect();
    if !path_parameters.is_empty() {
        event["pathParameters"] = path_parameters.into();
    }
    // API Gateway joins the values of a repeated parameter with commas.
    let mut query_parameters = serde_json::Map::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match query_parameters.get_mut(name) {
            Some(Value::String(joined)) => *joined = format!("{joined},{value}"),
            _ => {
                query_parameters.insert(name.to_owned(), value.into());
            }
        }
    }
    if !query_parameters.is_empty() {
        event["queryStringParameters"] = query_parameters.into();
    }
    event
}

/// A handler's response as API Gateway receives it from the function: converted as the Lambdas
/// convert it and serialized as the runtime posts it. Returns the status, the headers and the
/// body, decoded from base64 when marked so.
pub fn as_received(response: Response) -> (u16, serde_json::Map<String, Value>, Vec<u8>) {
    use base64::Engine;
    let received =
        serde_json::to_value(event_response(response)).expect("an answer serializes to JSON");
    let text = received["body"].as_str().unwrap_or_default();
    let body = if received["isBase64Encoded"] == true {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .expect("a body marked base64-encoded decodes")
    } else {
        text.as_bytes().to_vec()
    };
    let status = received["statusCode"]
        .as_u64()
        .and_then(|status| u16::try_from(status).ok())
        .expect("a status code");
    let headers = received["headers"].as_object().cloned().unwrap_or_default();
    (status, headers, body)
}
