//! `POST /oauth/token` (RFC 6749) and `POST /oauth/revoke` (RFC 7009): the token endpoint Insider
//! One calls before delivering to a webhook registered with `authType: oauth2`.
//!
//! Liberal in what it reads: the body as `application/x-www-form-urlencoded` (the standard) or as
//! JSON, client authentication as HTTP Basic or in the body.

use base64::Engine;
use http::{Method, StatusCode, header};

use super::error::oauth_error_response;
use super::{ApiError, Request, Response, header_str, json_response, path_segments};
use crate::auth::oauth::{OAuthError, OAuthErrorCode, TokenRequest, TokenService};

pub async fn token_endpoint(service: &TokenService, request: Request) -> Response {
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
    let parsed = parse(&request);
    let basic = parsed.as_ref().is_ok_and(|p| p.basic);
    let outcome = match (parsed, route) {
        (Err(error), _) => Err(error),
        (Ok(parsed), Route::Token) => service.grant(parsed.request).await.map(|token| {
            let mut response = json_response(StatusCode::OK, &token);
            no_store(&mut response);
            response
        }),
        (Ok(parsed), Route::Revoke) => {
            let token = parsed.token.unwrap_or_default();
            service
                .revoke(parsed.request, &token)
                .await
                .map(|()| super::empty_response(StatusCode::OK))
        }
    };
    outcome.unwrap_or_else(|error| {
        tracing::warn!(error = error.code.as_str(), "token request refused");
        let mut response = oauth_error_response(&error, basic);
        no_store(&mut response);
        response
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
    basic: bool,
}

fn parse(request: &Request) -> Result<Parsed, OAuthError> {
    let invalid = |description: &str| OAuthError::new(OAuthErrorCode::InvalidRequest, description);
    let content_type = header_str(request, header::CONTENT_TYPE).unwrap_or("");
    let body = request.body().as_ref();
    let json = content_type.starts_with("application/json")
        || (content_type.is_empty() && body.trim_ascii_start().starts_with(b"{"));
    let pairs: Vec<(String, String)> = if json {
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(body).map_err(|_| invalid("the body is not a JSON object"))?;
        object
            .into_iter()
            .filter_map(|(k, v)| json_parameter(v).map(|v| (k, v)))
            .collect()
    } else if content_type.is_empty()
        || content_type.starts_with("application/x-www-form-urlencoded")
    {
        form_urlencoded::parse(body).into_owned().collect()
    } else {
        return Err(invalid(
            "send the parameters as application/x-www-form-urlencoded or JSON",
        ));
    };
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
    let basic = match header_str(request, header::AUTHORIZATION) {
        Some(value) if value.len() > 6 && value[..6].eq_ignore_ascii_case("basic ") => {
            let (id, secret) = basic_credentials(&value[6..]).ok_or_else(|| {
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
            true
        }
        _ => false,
    };
    Ok(Parsed {
        request: token_request,
        token,
        basic,
    })
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

fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    headers.insert(header::PRAGMA, http::HeaderValue::from_static("no-cache"));
}
