//! What a registered webhook is, and the rules every way of registering one shares (V2 webhook
//! CRUD, V2 settings, V1 settings): URL checks, OAuth 2.0 fields, the credential used to probe
//! and deliver, and how secrets are shown.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::error::Category;

use crate::oauth::{ClientAuth, Grant, OAuth2Credentials};
use crate::vocabulary::{GrantType, Named};

/// OAuth 2.0 delivery credentials, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OAuth2Registration {
    pub grant_type: GrantType,
    pub token_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: Option<String>,
    pub scopes: Vec<String>,
    pub expires_in: u64,
}

impl OAuth2Registration {
    pub fn credentials(&self) -> OAuth2Credentials {
        OAuth2Credentials {
            token_url: self.token_url.clone(),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            grant: match &self.refresh_token {
                Some(token) => Grant::RefreshToken(token.clone()),
                None => Grant::ClientCredentials,
            },
            scopes: self.scopes.clone(),
            // The vendor does not say how it authenticates to a token endpoint; form parameters
            // are what every OAuth 2.0 server accepts.
            client_auth: ClientAuth::Body,
            lifetime: Some(Duration::from_secs(self.expires_in)),
        }
    }
}

/// What Insider One sends to a webhook to authenticate itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Bearer(String),
    OAuth2(OAuth2Registration),
}

/// How an API spells its field names; error messages use the spelling of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Camel,
    Snake,
}

impl Case {
    /// `snake_name` as this API spells it.
    pub fn field(self, snake_name: &str) -> String {
        match self {
            Self::Snake => snake_name.to_owned(),
            Self::Camel => {
                let mut parts = snake_name.split('_');
                let mut name = parts.next().unwrap_or_default().to_owned();
                for part in parts {
                    let mut chars = part.chars();
                    if let Some(first) = chars.next() {
                        name.extend(first.to_uppercase());
                        name.push_str(chars.as_str());
                    }
                }
                name
            }
        }
    }
}

/// The `oauth2` object of a request, before validation. The settings APIs send it as is
/// (snake_case); the V2 webhook API spells it in camelCase and converts into it.
#[derive(Debug, Default, Deserialize)]
pub struct OAuth2Draft {
    pub grant_type: Option<String>,
    pub token_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub refresh_token: Option<String>,
    pub scopes: Option<Vec<String>>,
    /// Kept loose so that `"3600"` or `-1` get this API's message rather than serde's.
    pub expires_in: Option<serde_json::Value>,
}

impl OAuth2Draft {
    pub fn validate(self, case: Case) -> Result<OAuth2Registration, String> {
        let name = |field: &str| format!("oauth2.{}", case.field(field));
        let grant_type = match self.grant_type.as_deref() {
            None | Some("") => {
                return Err(format!(
                    "{} is required ({})",
                    name("grant_type"),
                    GrantType::choices()
                ));
            }
            Some(value) => GrantType::parse(value).ok_or_else(|| {
                format!(
                    "{} must be one of {}, got {value:?}",
                    name("grant_type"),
                    GrantType::choices()
                )
            })?,
        };
        let token_url = absolute_http_url(&name("token_url"), self.token_url.as_deref())?;
        let client_id = required(&name("client_id"), self.client_id)?;
        let client_secret = required(&name("client_secret"), self.client_secret)?;
        // The vendor's rule is "refreshToken only and always with refresh_token". Sent at all
        // with client_credentials, even empty, it is refused: the client is unsure of its own
        // grant. With refresh_token a blank one is as good as none. JSON `null` counts as not
        // sent, as many serializers write unset fields that way.
        let refresh_token = match (grant_type, self.refresh_token) {
            (GrantType::ClientCredentials, None) => None,
            (GrantType::ClientCredentials, Some(_)) => {
                return Err(format!(
                    "{} must not be sent when {} is client_credentials",
                    name("refresh_token"),
                    name("grant_type")
                ));
            }
            (GrantType::RefreshToken, token) => {
                Some(token.filter(|t| !t.trim().is_empty()).ok_or_else(|| {
                    format!(
                        "{} is required when {} is refresh_token",
                        name("refresh_token"),
                        name("grant_type")
                    )
                })?)
            }
        };
        let expires_in = self
            .expires_in
            .as_ref()
            .and_then(serde_json::Value::as_u64)
            .filter(|&seconds| seconds > 0)
            .ok_or_else(|| {
                format!(
                    "{} is required and must be an integer greater than 0",
                    name("expires_in")
                )
            })?;
        Ok(OAuth2Registration {
            grant_type,
            token_url,
            client_id,
            client_secret,
            refresh_token,
            scopes: self.scopes.unwrap_or_default(),
            expires_in,
        })
    }
}

/// A non-empty string field.
pub fn required(field: &str, value: Option<String>) -> Result<String, String> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| format!("{field} is required"))
}

/// An absolute `http` or `https` URL with a host.
pub fn absolute_http_url(field: &str, value: Option<&str>) -> Result<String, String> {
    let value = value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("{field} is required"))?;
    match reqwest::Url::parse(value) {
        Ok(url)
            if matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some_and(|h| !h.is_empty()) =>
        {
            Ok(value.to_owned())
        }
        _ => Err(format!(
            "{field} must be an absolute http(s) URL, got {value:?}"
        )),
    }
}

/// Most characters of a secret a list shows: the vendor's example shows 14.
const MASK_SHOWN_AT_MOST: usize = 14;
/// Characters that must stay hidden for all 14 to be shown: the vendor's example hides 9 of its
/// 23 (`partner-whatsapp-secret` listed as `partner-whatsa********`).
const MASK_HIDDEN_AT_LEAST: usize = 9;

/// A secret as the vendor lists it, recognisable but unusable: the first 14 characters when at
/// least 9 more stay hidden (secrets of 23 characters and more, like the vendor's example),
/// otherwise the first half rounded down, so that a short secret never shows more than half of
/// itself; then 8 asterisks whatever the length, which say nothing of it.
pub fn mask_secret(secret: &str) -> String {
    let length = secret.chars().count();
    let shown = if length >= MASK_SHOWN_AT_MOST + MASK_HIDDEN_AT_LEAST {
        MASK_SHOWN_AT_MOST
    } else {
        length / 2
    };
    let mut masked: String = secret.chars().take(shown).collect();
    masked.push_str("********");
    masked
}

/// A sender phone number as compared: digits only, so `+1234567890`, `1234567890` and a `+`
/// that a query string decoded into a space all name the same sender.
pub fn normalize_phone(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

/// Why a request body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON at all, cut short, or followed by something else.
    #[error("{0}")]
    NotJson(String),
    /// JSON, but not an object.
    #[error("expected a JSON object")]
    NotAnObject,
    /// A JSON object whose field at `path` (`events[0]`, `oauth2.clientId`) has the wrong type
    /// or value, or that the body should not have; `.` for the object itself (a missing field,
    /// say).
    #[error("{}{message}", field_prefix(path))]
    WrongShape { path: String, message: String },
}

fn field_prefix(path: &str) -> String {
    if path == "." {
        String::new()
    } else {
        format!("{path}: ")
    }
}

/// The JSON body of a request, telling a body that is not JSON from one whose fields have the
/// wrong type, and naming the field serde stumbled on.
pub fn decode<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, DecodeError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let outcome = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let error = error.into_inner();
        match error.classify() {
            Category::Data if !body.trim_ascii_start().starts_with(b"{") => {
                DecodeError::NotAnObject
            }
            Category::Data => DecodeError::WrongShape {
                path,
                message: error.to_string(),
            },
            Category::Io | Category::Syntax | Category::Eof => {
                DecodeError::NotJson(error.to_string())
            }
        }
    })?;
    deserializer
        .end()
        .map_err(|trailing| DecodeError::NotJson(trailing.to_string()))?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_the_vendor_example_exactly() {
        assert_eq!(
            mask_secret("partner-whatsapp-secret"),
            "partner-whatsa********"
        );
        assert_eq!(
            mask_secret("partner-whatsapp-secret-2026-04-15"),
            "partner-whatsa********"
        );
    }

    #[test]
    fn short_secrets_show_at_most_half_of_themselves() {
        // One character short of the vendor's length: half, not 14.
        assert_eq!(mask_secret("partner-whatsapp-secre"), "partner-wha********");
        assert_eq!(mask_secret("abcdef"), "abc********");
        assert_eq!(mask_secret("abcde"), "ab********");
        assert_eq!(mask_secret("a"), "********");
        assert_eq!(mask_secret(""), "********");
        // Characters, not bytes.
        assert_eq!(mask_secret("ééééééé"), "ééé********");
        for length in 0..23 {
            let secret = "s".repeat(length);
            let shown = mask_secret(&secret).trim_end_matches('*').len();
            assert!(2 * shown <= length, "{length}: {shown}");
        }
    }

    #[test]
    fn spells_fields_per_api() {
        assert_eq!(Case::Camel.field("refresh_token"), "refreshToken");
        assert_eq!(Case::Camel.field("expires_in"), "expiresIn");
        assert_eq!(Case::Snake.field("expires_in"), "expires_in");
    }

    #[test]
    fn urls_must_be_absolute_http() {
        assert!(absolute_http_url("u", Some("https://a.example/x")).is_ok());
        assert!(absolute_http_url("u", Some("http://127.0.0.1:9/h")).is_ok());
        for bad in ["ftp://a.example", "/relative", "example.com/x", "http://"] {
            assert!(absolute_http_url("u", Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(
            absolute_http_url("webhookUrl", None).unwrap_err(),
            "webhookUrl is required"
        );
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Shape {
        events: Option<Vec<String>>,
    }

    #[test]
    fn decoding_tells_bad_json_from_fields_of_the_wrong_type() {
        let decode = |body: &str| decode::<Shape>(body.as_bytes()).map(|shape| shape.events);
        assert_eq!(
            decode(r#"{"events": ["sent"]}"#),
            Ok(Some(vec!["sent".into()]))
        );
        for not_json in [
            "",
            "{\"events\": ",
            "{not json",
            r#"{"events": []} trailing"#,
        ] {
            assert!(
                matches!(decode(not_json), Err(DecodeError::NotJson(_))),
                "{not_json:?}"
            );
        }
        for not_an_object in ["[1, 2]", "\"events\"", "  42"] {
            assert_eq!(decode(not_an_object), Err(DecodeError::NotAnObject));
        }
        let wrong = decode(r#"{"events": ["sent", 1]}"#).unwrap_err();
        assert!(
            wrong
                .to_string()
                .starts_with("events[1]: invalid type: integer `1`, expected a string"),
            "{wrong}"
        );
        let unknown = decode(r#"{"colour": 1}"#).unwrap_err().to_string();
        assert!(
            unknown.starts_with("colour: unknown field `colour`"),
            "{unknown}"
        );
    }

    #[test]
    fn phone_numbers_compare_by_digits() {
        assert_eq!(normalize_phone("+1234567890"), "1234567890");
        assert_eq!(normalize_phone(" 1234567890"), "1234567890");
    }
}
