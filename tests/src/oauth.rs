//! OAuth 2.0 helpers shared by the token endpoint tests.

use reqwest::StatusCode;
use serde_json::Value;

use crate::payloads::status;
use crate::stack::client;

/// oauth2's HTTP client hook, on the workspace's reqwest.
pub async fn http_client(
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, reqwest::Error> {
    let (parts, body) = request.into_parts();
    let response = client()
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let mut builder = http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    Ok(builder
        .body(response.bytes().await?.to_vec())
        .expect("a valid response"))
}

pub async fn deliver_with(
    base: &str,
    token: &str,
    message_id: &str,
) -> (StatusCode, Value, Option<String>) {
    let response = client()
        .post(format!("{base}/webhooks/conversational"))
        .bearer_auth(token)
        .body(status(
            message_id,
            "delivered",
            1_700_000_000,
            "whatsapp-oauth",
        ))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        status,
        response.json().await.unwrap_or(Value::Null),
        challenge,
    )
}

/// JWT claims with `changes` merged in (`null` removes a claim), for tokens a test makes wrong
/// one claim at a time.
pub fn merged(mut claims: Value, changes: Value) -> Value {
    if let (Some(claims), Value::Object(changes)) = (claims.as_object_mut(), changes) {
        for (name, value) in changes {
            if value.is_null() {
                claims.remove(&name);
            } else {
                claims.insert(name, value);
            }
        }
    }
    claims
}
