//! `POST /oauth/token` (RFC 6749) and `POST /oauth/revoke` (RFC 7009): the token endpoint Insider
//! One calls before delivering to a webhook registered with `authType: oauth2`.
//!
//! Liberal in what it reads: the body as `application/x-www-form-urlencoded` (the standard) or as
//! JSON, client authentication as HTTP Basic or in the body.

use base64::Engine;
use http::{Method, StatusCode, header};

use super::error::oauth_error_response;
use super::{ApiError, Request, Response, authorization, header_str, json_response, path_segments};
use crate::auth::oauth::{OAuthError, OAuthErrorCode, TokenRequest, TokenService};

/// Every answer carries `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 5.1), errors
/// and routing failures included: a success holds credentials, and no answer of this endpoint
/// is worth serving again from a cache.
pub async fn token_endpoint(service: &TokenService, request: Request) -> Response {
    let mut response = answer(service, request).await;
    no_store(&mut response);
    response
}

async fn answer(service: &TokenService, request: Request) -> Response {
    let segments = path_segments(&request);
    let route = match segments
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["oauth", "token"] => Route::Token,
        ["oauth", "revoke"] => Route::Revoke,
        _ => return ApiError::not_found().into_response(),
    };
    if request.method() != Method::POST {
        return ApiError::method_not_allowed("POST").into_response();
    }
    // RFC 6749 5.2: a client that tried HTTP Basic gets the challenge, even when its
    // credentials could not be read at all.
    let basic = basic_credentials_header(&request).is_some();
    let outcome = match (parse(&request), route) {
        (Err(error), _) => Err(error),
        (Ok(parsed), Route::Token) => service
            .grant(parsed.request)
            .await
            .map(|token| json_response(StatusCode::OK, &token)),
        // RFC 7009 2.1: `token` is required.
        (Ok(Parsed { token: None, .. }), Route::Revoke) => Err(OAuthError::new(
            OAuthErrorCode::InvalidRequest,
            "token is missing: the refresh token to revoke",
        )),
        (
            Ok(Parsed {
                request,
                token: Some(token),
            }),
            Route::Revoke,
        ) => service
            .revoke(request, &token)
            .await
            .map(|()| super::empty_response(StatusCode::OK)),
    };
    outcome.unwrap_or_else(|error| {
        tracing::warn!(error = error.code.as_str(), "token request refused");
        // Refusals, not our own failures (those are StoreFailures): the auth-failures alarm
        // sees a client whose secret was rotated away, or someone guessing.
        if error.code != OAuthErrorCode::TemporarilyUnavailable {
            crate::telemetry::record::auth_failure("oauth");
        }
        oauth_error_response(&error, basic)
    })
}

enum Route {
    Token,
    Revoke,
}

struct Parsed {
    request: TokenRequest,
    /// The `token` parameter of a revocation request.
    token: Option<String>,
}

fn parse(request: &Request) -> Result<Parsed, OAuthError> {
    let invalid = |description: &str| OAuthError::new(OAuthErrorCode::InvalidRequest, description);
    // Media types are case-insensitive and may carry parameters (`; charset=utf-8`).
    let media_type = header_str(request, header::CONTENT_TYPE)
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let body = request.body().as_ref();
    let json = media_type == "application/json"
        || (media_type.is_empty() && body.trim_ascii_start().starts_with(b"{"));
    let pairs: Vec<(String, String)> = if json {
        let JsonParameters(members) =
            serde_json::from_slice(body).map_err(|_| invalid("the body is not a JSON object"))?;
        members
            .into_iter()
            .filter_map(|(k, v)| json_parameter(v).map(|v| (k, v)))
            .collect()
    } else if media_type.is_empty() || media_type == "application/x-www-form-urlencoded" {
        form_urlencoded::parse(body).into_owned().collect()
    } else {
        return Err(invalid(
            "send the parameters as application/x-www-form-urlencoded or JSON",
        ));
    };
    // RFC 6749 3.2: parameters must not be repeated, in a form or (as a repeated key) in JSON.
    let mut parameters = std::collections::HashMap::new();
    for (name, value) in pairs {
        if parameters.insert(name.clone(), value).is_some() {
            return Err(invalid(&format!("parameter {name} is repeated")));
        }
    }
    let mut take = |name: &str| parameters.remove(name).filter(|v| !v.is_empty());
    let mut token_request = TokenRequest {
        grant_type: take("grant_type"),
        client_id: take("client_id"),
        client_secret: take("client_secret"),
        scope: take("scope"),
        refresh_token: take("refresh_token"),
    };
    let token = take("token");
    if let Some(encoded) = basic_credentials_header(request) {
        let (id, secret) = basic_credentials(&encoded).ok_or_else(|| {
            OAuthError::new(
                OAuthErrorCode::InvalidClient,
                "the Basic credentials are malformed",
            )
        })?;
        if token_request.client_secret.is_some() {
            return Err(invalid(
                "authenticate the client one way only: HTTP Basic or the body",
            ));
        }
        if token_request
            .client_id
            .as_ref()
            .is_some_and(|body_id| *body_id != id)
        {
            return Err(invalid(
                "client_id in the body differs from the Basic credentials",
            ));
        }
        token_request.client_id = Some(id);
        token_request.client_secret = Some(secret);
    }
    Ok(Parsed {
        request: token_request,
        token,
    })
}

/// The credentials part of an `Authorization: Basic ...` header (scheme case-insensitive).
fn basic_credentials_header(request: &Request) -> Option<String> {
    let value = authorization(request)?;
    let (scheme, credentials) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("basic")
        .then(|| credentials.to_owned())
}

/// A JSON object's members in order, repeated keys kept (a map would keep only the last), so
/// that a repeated parameter is refused as in a form.
struct JsonParameters(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for JsonParameters {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = JsonParameters;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<JsonParameters, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(JsonParameters(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// JSON bodies: strings as they are, a scope list joined as OAuth writes it, numbers as text.
fn json_parameter(value: serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Array(items) => Some(
            items
                .iter()
                .filter_map(|i| i.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// RFC 6749 2.3.1: both parts are form-urlencoded before being joined and base64-encoded.
fn basic_credentials(encoded: &str) -> Option<(String, String)> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |part: &str| -> String {
        form_urlencoded::parse(format!("x={part}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

/// Whether `path` is one of the token endpoint's routes.
pub(super) fn is_oauth_path(path: &str) -> bool {
    path.split('/').find(|segment| !segment.is_empty()) == Some("oauth")
}

/// A token request whose body cannot be read: `invalid_request`, uncacheable like every answer
/// of the token endpoint.
pub(super) fn unreadable_body(message: &str) -> Response {
    let error = OAuthError::new(OAuthErrorCode::InvalidRequest, message);
    let mut response = oauth_error_response(&error, false);
    no_store(&mut response);
    response
}

fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    headers.insert(header::PRAGMA, http::HeaderValue::from_static("no-cache"));
}
