//! Requests that manage our webhooks at Insider One, and the vendor's documented rules for them,
//! checked before anything is sent so that a mistake costs no call and is reported whole.
//!
//! Bodies keep the vendor's casing per call (camelCase for webhook CRUD and V1, snake_case for
//! V2 settings), so the vendor's own examples can be pasted unchanged; the same structs are
//! serialized back as the vendor's request once defaults are filled in. Unknown fields are
//! refused: a misspelt `webhookURL` must not silently become "use the default URL".

use std::borrow::Cow;
use std::net::IpAddr;
use std::ops::Range;

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::SubProduct;
use super::oauth::{DELIVERY_SCOPES, GrantType, MAX_TOKEN_LIFETIME_SECS};

pub const REPLY_ADDED_NOTE: &str =
    "added the reply event: Insider One requires it for conversational webhooks";
pub const BLANK_FROM_NOTE: &str =
    "from was blank and is left out: Insider One uses the account's default sender";
const LOOPBACK_RULE: &str =
    "must be an https URL (plain http only for loopback hosts: 127.0.0.0/8, ::1, localhost)";

/// How a call spells its field names; error fields use the spelling of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Camel,
    Snake,
}

/// The fields whose spelling differs between the calls, snake_case first.
const SPELLINGS: [(&str, &str); 6] = [
    ("grant_type", "grantType"),
    ("token_url", "tokenUrl"),
    ("client_id", "clientId"),
    ("client_secret", "clientSecret"),
    ("refresh_token", "refreshToken"),
    ("expires_in", "expiresIn"),
];

impl Case {
    /// `snake_name` as this call spells it.
    pub fn name(self, snake_name: &'static str) -> &'static str {
        match self {
            Self::Snake => snake_name,
            Self::Camel => SPELLINGS
                .iter()
                .find(|(snake, _)| *snake == snake_name)
                .map_or(snake_name, |(_, camel)| camel),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Every problem found in one request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the request is not valid: {}", describe(.fields))]
pub struct ValidationError {
    pub fields: Vec<FieldError>,
}

fn describe(fields: &[FieldError]) -> String {
    fields
        .iter()
        .map(|f| format!("{} {}", f.field, f.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ValidationError {
    pub fn one(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut problems = Problems::default();
        problems.add(field, message);
        problems.into_error()
    }
}

/// A body that could not be read as the request it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the body is not valid JSON: {0}")]
    NotJson(String),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

/// Collects problems so that one answer lists all of them.
#[derive(Debug, Default)]
pub struct Problems(Vec<FieldError>);

impl Problems {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// The value, or `None` with the problem recorded against `field`.
    pub fn check<T>(&mut self, field: &str, outcome: Result<T, String>) -> Option<T> {
        outcome.map_err(|message| self.add(field, message)).ok()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a problem is recorded against `field`.
    pub fn concerns(&self, field: &str) -> bool {
        self.0.iter().any(|problem| problem.field == field)
    }

    pub fn into_error(self) -> ValidationError {
        ValidationError { fields: self.0 }
    }
}

/// Fields that hold a credential in the vendor's bodies, in both casings.
pub const SECRET_FIELDS: [&str; 6] = [
    "clientSecret",
    "client_secret",
    "refreshToken",
    "refresh_token",
    "apiKey",
    "api_key",
];

/// Reads a JSON body into `T`. A type mismatch names the field, spelled as sent.
///
/// The grammar is checked first, so that a body that is not JSON (RFC 8259: UTF-8, one value,
/// nothing after it) is `NotJson` whatever its first field, and anything that fails afterwards
/// (a type, a number beyond 64 bits, nesting deeper than the parser follows, a lone surrogate)
/// is the problem of the field it is in.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, RequestError> {
    let text =
        std::str::from_utf8(body).map_err(|error| RequestError::NotJson(error.to_string()))?;
    serde_json::from_str::<IgnoredAny>(text)
        .map_err(|error| RequestError::NotJson(error.to_string()))?;
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(text)).map_err(
        |error| {
            let path = error.path().to_string();
            // An unknown key "" gives an empty path: the body is then the place to point at.
            let field = if path.is_empty() || path == "." {
                "body".to_owned()
            } else {
                path
            };
            // serde quotes a mistyped value (`invalid type: integer `123``): not a secret's.
            let secret = field
                .rsplit('.')
                .next()
                .is_some_and(|name| SECRET_FIELDS.contains(&name));
            let message = if secret {
                "must be a string (the value given is not repeated here)".to_owned()
            } else {
                error.into_inner().to_string()
            };
            RequestError::Invalid(ValidationError::one(field, message))
        },
    )
}

/// The events a V2 webhook subscribes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventName {
    Sent,
    Delivered,
    Read,
    Failed,
    Reply,
}

impl EventName {
    pub const ALL: [Self; 5] = [
        Self::Sent,
        Self::Delivered,
        Self::Read,
        Self::Failed,
        Self::Reply,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
            Self::Reply => "reply",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

/// An E.164 number as the vendor takes it: an optional `+`, then 7 to 15 digits, not starting
/// with 0. Returned trimmed, otherwise as given.
pub fn check_phone_number(value: &str) -> Result<String, String> {
    let value = value.trim();
    let digits = value.strip_prefix('+').unwrap_or(value);
    if (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
    {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "must be an E.164 number: an optional +, then 7 to 15 digits, not starting with 0 (got {value:?})"
        ))
    }
}

/// An https URL, or plain http to a loopback host (local development and tests).
pub fn check_url(value: &str) -> Result<(), String> {
    let refused = || format!("{LOOPBACK_RULE}, got {:?}", without_userinfo(value));
    let uri: http::Uri = value.trim().parse().map_err(|_| refused())?;
    match (uri.scheme_str(), uri.host()) {
        (Some("https"), Some(host)) if !host.is_empty() => Ok(()),
        (Some("http"), Some(host)) if is_loopback(host) => Ok(()),
        _ => Err(refused()),
    }
}

/// Where the `user:password` of a URL's authority is, if it has one. Read from the text rather
/// than parsed, so that it is found in URLs that do not parse too.
fn userinfo_range(url: &str) -> Option<Range<usize>> {
    let start = url.find("://")? + 3;
    let authority = &url[start..];
    let authority = &authority[..authority.find(['/', '?', '#']).unwrap_or(authority.len())];
    let end = start + authority.rfind('@')?;
    (end > start).then_some(start..end)
}

/// The `user:password` of a URL, which is a credential wherever it is quoted.
pub fn userinfo(url: &str) -> Option<&str> {
    userinfo_range(url).map(|range| &url[range])
}

/// A URL as our messages quote it: its `user:password`, if any, masked.
pub fn without_userinfo(url: &str) -> Cow<'_, str> {
    match userinfo_range(url) {
        Some(range) => Cow::Owned(format!(
            "{}********{}",
            &url[..range.start],
            &url[range.end..]
        )),
        None => Cow::Borrowed(url),
    }
}

/// 127.0.0.0/8, ::1 and localhost.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A bearer key registered for this deployment's own receiver must be one the receiver accepts,
/// or every delivery would be refused 401: the problem, against `field`, when it is not. A key
/// for another receiver is that receiver's business.
pub fn check_bearer_key(
    field: &str,
    key: Option<&str>,
    webhook_url: Option<&str>,
    own: &OwnEndpoints,
    accepted: impl Fn(&str) -> bool,
) -> Result<(), ValidationError> {
    match (key.map(str::trim), webhook_url) {
        (Some(key), Some(url)) if own.is_own_receiver_url(url) && !accepted(key) => {
            let mut problems = Problems::default();
            problems.add(
                field,
                "is not a key this deployment's receiver accepts, so every delivery would be refused 401: add it to the webhook tokens (WEBHOOK_TOKENS_SECRET) first, then register it",
            );
            Err(problems.into_error())
        }
        _ => Ok(()),
    }
}

/// This deployment's own public URLs, which left-out fields default to, and the OAuth servers
/// besides its own whose access tokens its receiver accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnEndpoints {
    base: Option<String>,
    trusted: Vec<TrustedServer>,
}

/// An external issuer the receiver trusts, with the token endpoint its discovery document names
/// (`None` while that document cannot be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedServer {
    pub issuer: String,
    pub token_endpoint: Option<String>,
}

impl OwnEndpoints {
    /// `base` like `https://hooks.example.com` (a trailing slash is dropped); `None` when it is
    /// not known, and then nothing can default to it.
    pub fn new(base: Option<String>) -> Self {
        Self {
            base: base.map(|b| b.trim().trim_end_matches('/').to_owned()),
            trusted: Vec::new(),
        }
    }

    pub fn with_trusted(mut self, trusted: Vec<TrustedServer>) -> Self {
        self.trusted = trusted;
        self
    }

    /// Whether `url` is the token endpoint of a trusted external issuer: the one its discovery
    /// document names, or any URL under the issuer's own (Auth0, Okta and Keycloak keep theirs
    /// there; Cognito's is on another host, found only through discovery).
    pub fn is_trusted_token_url(&self, url: &str) -> bool {
        let url = url.trim().trim_end_matches('/');
        self.trusted.iter().any(|server| {
            server
                .token_endpoint
                .as_deref()
                .is_some_and(|endpoint| endpoint.trim_end_matches('/') == url)
                || url.starts_with(&format!("{}/", server.issuer.trim_end_matches('/')))
        })
    }

    pub fn token_url(&self) -> Option<String> {
        self.base.as_ref().map(|base| format!("{base}/oauth/token"))
    }

    pub fn receiver_url(&self, sub_product: SubProduct) -> Option<String> {
        self.base
            .as_ref()
            .map(|base| format!("{base}/webhooks/{}", sub_product.as_str()))
    }

    pub fn is_own_token_url(&self, url: &str) -> bool {
        self.token_url()
            .is_some_and(|own| own == url.trim().trim_end_matches('/'))
    }

    /// Whether `url` is one of this deployment's webhook routes.
    pub fn is_own_receiver_url(&self, url: &str) -> bool {
        self.base
            .as_ref()
            .is_some_and(|base| url.trim().starts_with(&format!("{base}/webhooks/")))
    }

    /// The URL a left-out `field` defaults to, checked as a given one would be.
    fn default_url(
        &self,
        problems: &mut Problems,
        field: &str,
        url: Option<String>,
    ) -> Option<String> {
        let Some(url) = url else {
            problems.add(
                field,
                "is required here: this deployment's public URL is unknown, so it cannot default to it (set PUBLIC_BASE_URL)",
            );
            return None;
        };
        let checked = check_url(&url).map(|()| url.clone()).map_err(|message| {
            format!(
                "was left out and defaults to this deployment's {}, which is not allowed: it {message}",
                without_userinfo(&url)
            )
        });
        problems.check(field, checked)
    }

    /// Checks, before the vendor's list tells an updated webhook's API type, that a left-out
    /// `field` can default to our receiver of that type: the type only adds a path segment to
    /// this deployment's base URL, and whether a URL is allowed is decided by its scheme and
    /// host, which are the base's.
    fn check_receiver_base(&self, problems: &mut Problems, field: &str) {
        self.default_url(problems, field, self.base.clone());
    }
}

/// `oauth2` as the webhook CRUD calls spell it (camelCase) and as the settings calls do
/// (snake_case): the same fields, declared once.
macro_rules! oauth2_wire {
    ($(#[$meta:meta])* $name:ident, $case:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(default, rename_all = $case, deny_unknown_fields)]
        pub struct $name {
            #[serde(skip_serializing_if = "Option::is_none")]
            pub grant_type: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            pub token_url: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            pub client_id: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            pub client_secret: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            pub refresh_token: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            pub scopes: Option<Vec<String>>,
            /// Signed, so that `-1` is reported as "must be greater than 0", not as a type error.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub expires_in: Option<i64>,
        }

        impl From<$name> for OAuth2Fields {
            fn from(wire: $name) -> Self {
                Self {
                    grant_type: wire.grant_type,
                    token_url: wire.token_url,
                    client_id: wire.client_id,
                    client_secret: wire.client_secret,
                    refresh_token: wire.refresh_token,
                    scopes: wire.scopes,
                    expires_in: wire.expires_in,
                }
            }
        }

        impl From<OAuth2Fields> for $name {
            fn from(fields: OAuth2Fields) -> Self {
                Self {
                    grant_type: fields.grant_type,
                    token_url: fields.token_url,
                    client_id: fields.client_id,
                    client_secret: fields.client_secret,
                    refresh_token: fields.refresh_token,
                    scopes: fields.scopes,
                    expires_in: fields.expires_in,
                }
            }
        }
    };
}

oauth2_wire!(
    /// `oauth2` of a V2 webhook create or update body.
    OAuth2Camel,
    "camelCase"
);
oauth2_wire!(
    /// `oauth2` of a V2 settings body.
    OAuth2Snake,
    "snake_case"
);

/// The `oauth2` fields whatever their spelling.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OAuth2Fields {
    pub grant_type: Option<String>,
    pub token_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub refresh_token: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub expires_in: Option<i64>,
}

/// Client credentials for our token endpoint that we created for this registration; shown once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintedCredentials {
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: Option<String>,
}

impl MintedCredentials {
    /// As the call that minted them spells its fields.
    pub fn to_json(&self, case: Case) -> Value {
        let mut value = json!({
            case.name("client_id"): self.client_id,
            case.name("client_secret"): self.client_secret,
        });
        if let Some(token) = &self.refresh_token {
            value[case.name("refresh_token")] = token.clone().into();
        }
        value
    }
}

/// A validated `oauth2` object and what is left to fill in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2Plan {
    pub fields: OAuth2Fields,
    pub grant_type: GrantType,
    /// The client credentials were left out: mint a client (and a refresh token for the
    /// refresh_token grant) in our client store.
    pub mint: bool,
    /// What a minted client may be granted: the given scopes, or our default ones.
    pub scopes: Vec<String>,
    pub expires_in: u64,
    pub notes: Vec<String>,
}

impl OAuth2Plan {
    /// Fills in minted credentials; the fields are then what the vendor gets.
    pub fn complete(mut self, minted: Option<&MintedCredentials>) -> OAuth2Fields {
        if let Some(minted) = minted {
            self.fields.client_id = Some(minted.client_id.clone());
            self.fields.client_secret = Some(minted.client_secret.clone());
            self.fields.refresh_token.clone_from(&minted.refresh_token);
        }
        self.fields
    }
}

/// `for_own_receiver`: the webhook delivers to this deployment's receiver, which accepts only
/// access tokens its own token endpoint or a trusted issuer signs.
fn check_oauth2(
    problems: &mut Problems,
    case: Case,
    mut fields: OAuth2Fields,
    own: &OwnEndpoints,
    for_own_receiver: bool,
) -> Option<OAuth2Plan> {
    let name = |snake: &'static str| format!("oauth2.{}", case.name(snake));
    let mut notes = Vec::new();
    let grant_type = match fields.grant_type.as_deref() {
        None | Some("") => {
            problems.add(
                name("grant_type"),
                "is required: client_credentials or refresh_token",
            );
            None
        }
        Some(given) => problems.check(
            &name("grant_type"),
            GrantType::parse(given).ok_or_else(|| {
                format!("must be client_credentials or refresh_token, not {given:?}")
            }),
        ),
    };
    let own_token_url = match fields.token_url.as_deref() {
        Some(url) => {
            let valid = problems.check(&name("token_url"), check_url(url)).is_some();
            let own_url = own.is_own_token_url(url);
            if valid && !own_url && for_own_receiver && !own.is_trusted_token_url(url) {
                problems.add(
                    name("token_url"),
                    format!(
                        "is the token endpoint of an OAuth server this deployment's receiver does not trust, so every delivery would be refused 401: leave {} out to use {}, or make the receiver trust that server's issuer (the TrustedIssuers and TrustedAudience parameters of the stack, --trusted-issuer and --trusted-audience of the local stack)",
                        name("token_url"),
                        own.token_url().as_deref().unwrap_or("this deployment's /oauth/token")
                    ),
                );
            }
            own_url
        }
        None => {
            fields.token_url = own.default_url(problems, &name("token_url"), own.token_url());
            if let Some(url) = &fields.token_url {
                notes.push(format!(
                    "{} was left out: Insider One will get tokens from this deployment's token endpoint {}",
                    name("token_url"),
                    without_userinfo(url)
                ));
            }
            true
        }
    };
    let given = |value: &Option<String>| value.as_deref().is_some_and(|v| !v.trim().is_empty());
    let mint = match (given(&fields.client_id), given(&fields.client_secret)) {
        (false, false) => {
            if !own_token_url {
                problems.add(
                    name("client_id"),
                    "is required: credentials are minted only for this deployment's own token endpoint",
                );
            }
            true
        }
        (true, true) => false,
        (true, false) => {
            problems.add(
                name("client_secret"),
                "is required with the client id (leave both out to have them minted)",
            );
            false
        }
        (false, true) => {
            problems.add(
                name("client_id"),
                "is required with the client secret (leave both out to have them minted)",
            );
            false
        }
    };
    let refresh_token = given(&fields.refresh_token);
    // The vendor refuses the field itself with client_credentials, even empty, so a blank one
    // is refused here too instead of being sent on.
    match (grant_type, refresh_token) {
        (Some(GrantType::ClientCredentials), _) if fields.refresh_token.is_some() => problems.add(
            name("refresh_token"),
            "is only sent with the refresh_token grant type (leave it out)",
        ),
        (Some(GrantType::RefreshToken), false) if !mint => problems.add(
            name("refresh_token"),
            "is required with the refresh_token grant type",
        ),
        (Some(GrantType::RefreshToken), true) if mint => problems.add(
            name("refresh_token"),
            "must be left out with the client credentials: a refresh token is minted with them",
        ),
        _ => {}
    }
    if let Some(scopes) = &fields.scopes {
        if scopes
            .iter()
            .any(|s| s.is_empty() || s.contains(char::is_whitespace))
        {
            problems.add(name("scopes"), "each scope must be one non-empty word");
        } else if own_token_url && !scopes.iter().any(|s| DELIVERY_SCOPES.contains(&s.as_str())) {
            problems.add(
                name("scopes"),
                format!(
                    "must include {}: this deployment's receiver refuses tokens without one of them",
                    DELIVERY_SCOPES.join(" or ")
                ),
            );
        }
    }
    let expires_in = match fields.expires_in {
        Some(seconds) if seconds > MAX_TOKEN_LIFETIME_SECS as i64 => {
            problems.add(
                name("expires_in"),
                format!(
                    "must be at most {MAX_TOKEN_LIFETIME_SECS} (24 hours): a longer-lived token would outlive the withdrawal of its client"
                ),
            );
            None
        }
        Some(seconds) if seconds > 0 => u64::try_from(seconds).ok(),
        Some(_) => {
            problems.add(name("expires_in"), "must be greater than 0 (seconds)");
            None
        }
        None => {
            problems.add(
                name("expires_in"),
                "is required: the token lifetime in seconds",
            );
            None
        }
    };
    let scopes = fields
        .scopes
        .clone()
        .unwrap_or_else(super::oauth::default_scopes);
    Some(OAuth2Plan {
        grant_type: grant_type?,
        expires_in: expires_in?,
        fields,
        mint,
        scopes,
        notes,
    })
}

/// A V2 webhook create or update body (camelCase), as received and as sent on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_product: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2Camel>,
}

/// Where a webhook call goes: the sender, and the webhook for update and delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    pub phone_number: String,
    pub id: Option<u64>,
}

/// Checks `?phoneNumber=` and, when the route has one, the webhook id.
fn check_target(
    problems: &mut Problems,
    phone_number: Option<&str>,
    id: Option<&str>,
) -> Option<WebhookTarget> {
    let phone_number = match phone_number.map(str::trim).filter(|p| !p.is_empty()) {
        None => {
            problems.add(
                "phoneNumber",
                "is required: add ?phoneNumber=<the sender's number>",
            );
            None
        }
        Some(number) => problems.check("phoneNumber", check_phone_number(number)),
    };
    let id = match id {
        None => Some(None),
        Some(id) => problems
            .check(
                "id",
                id.parse::<u64>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("must be the webhook's numeric id, got {id:?}")),
            )
            .map(Some),
    };
    Some(WebhookTarget {
        phone_number: phone_number?,
        id: id?,
    })
}

/// Validates the target of a list or delete call (no body).
pub fn validate_target(
    phone_number: Option<&str>,
    id: Option<&str>,
) -> Result<WebhookTarget, ValidationError> {
    let mut problems = Problems::default();
    match check_target(&mut problems, phone_number, id) {
        Some(target) if problems.is_empty() => Ok(target),
        _ => Err(problems.into_error()),
    }
}

/// A validated webhook create or update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookPlan {
    pub target: WebhookTarget,
    /// Known from the body on create; on update, from the vendor's list.
    pub sub_product: Option<SubProduct>,
    /// `None`: left out, to default to our receiver of the sub-product.
    pub webhook_url: Option<String>,
    pub events: Vec<EventName>,
    pub oauth2: OAuth2Plan,
    pub notes: Vec<String>,
}

/// The API type of a webhook being created.
fn check_sub_product(problems: &mut Problems, given: Option<&str>) -> Option<SubProduct> {
    let choices = "conversational, transactional or verify";
    match given {
        None | Some("") => {
            problems.add("subProduct", format!("is required: {choices}"));
            None
        }
        Some(name) => problems.check(
            "subProduct",
            SubProduct::parse(name).ok_or_else(|| format!("must be {choices}, not {name:?}")),
        ),
    }
}

fn check_events(problems: &mut Problems, names: Option<&[String]>) -> Option<Vec<EventName>> {
    let choices = EventName::ALL.map(EventName::as_str).join(", ");
    let Some(names) = names.filter(|n| !n.is_empty()) else {
        problems.add("events", format!("must list at least one of {choices}"));
        return None;
    };
    let mut events = Vec::new();
    let mut unknown = Vec::new();
    for name in names {
        match EventName::parse(name) {
            Some(event) if !events.contains(&event) => events.push(event),
            Some(_) => {}
            None if !unknown.contains(&name) => unknown.push(name),
            None => {}
        }
    }
    if !unknown.is_empty() {
        // Every unknown name at once, so that one answer is enough to correct the list.
        let what = if unknown.len() == 1 {
            "is not an event"
        } else {
            "are not events"
        };
        let quoted: Vec<String> = unknown.iter().map(|name| format!("{name:?}")).collect();
        problems.add(
            "events",
            format!("{} {what}; use {choices}", quoted.join(", ")),
        );
        return None;
    }
    Some(events)
}

impl WebhookPlan {
    /// What depends on the API type of a webhook being updated, known only once the vendor's
    /// list has named the existing webhook's: the reply rule, which refuses `reply` on a verify
    /// webhook (the one check [`validate_webhook`] cannot make), and the path of the default
    /// webhook URL, whose base [`validate_webhook`] has checked.
    pub fn apply_sub_product(
        &mut self,
        sub_product: SubProduct,
        own: &OwnEndpoints,
    ) -> Result<(), ValidationError> {
        let mut problems = Problems::default();
        self.sub_product = Some(sub_product);
        reply_rule(
            &mut problems,
            sub_product,
            &mut self.events,
            &mut self.notes,
        );
        if self.webhook_url.is_none() {
            self.webhook_url = own.receiver_url(sub_product);
            if let Some(url) = &self.webhook_url {
                self.notes.push(receiver_note("webhookUrl", url));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.into_error())
        }
    }

    /// The vendor's body, once credentials are minted (when they were left out).
    pub fn into_body(self, minted: Option<&MintedCredentials>, create: bool) -> WebhookBody {
        WebhookBody {
            auth_type: Some("oauth2".into()),
            sub_product: self
                .sub_product
                .filter(|_| create)
                .map(|s| s.as_str().to_owned()),
            webhook_url: self.webhook_url,
            events: Some(self.events.iter().map(|e| e.as_str().to_owned()).collect()),
            oauth2: Some(self.oauth2.complete(minted).into()),
        }
    }
}

/// Validates a create (`id` is `None`) or an update.
pub fn validate_webhook(
    phone_number: Option<&str>,
    id: Option<&str>,
    body: WebhookBody,
    own: &OwnEndpoints,
) -> Result<WebhookPlan, ValidationError> {
    let create = id.is_none();
    let mut problems = Problems::default();
    let target = check_target(&mut problems, phone_number, id);
    match body.auth_type.as_deref() {
        Some("oauth2") => {}
        None | Some("") => problems.add("authType", "is required: oauth2"),
        Some(other) => problems.add(
            "authType",
            format!("must be oauth2, not {other:?}: the V2 webhook API supports only OAuth 2.0 (bearer webhooks are set with /manage/settings/...)"),
        ),
    }
    let sub_product = if create {
        check_sub_product(&mut problems, body.sub_product.as_deref())
    } else {
        if body.sub_product.is_some() {
            problems.add(
                "subProduct",
                "must be left out on update: a webhook's API type cannot change",
            );
        }
        None
    };
    let mut notes = Vec::new();
    let mut webhook_url = body.webhook_url;
    match sub_product {
        Some(sub_product) => default_webhook_url(
            &mut problems,
            "webhookUrl",
            &mut webhook_url,
            own.receiver_url(sub_product),
            own,
            &mut notes,
        ),
        // An update: the existing webhook's type, which the default URL's path names, is
        // looked up later; everything that decides whether that URL is allowed is known now.
        None => match &webhook_url {
            Some(url) => {
                problems.check("webhookUrl", check_url(url));
            }
            None => own.check_receiver_base(&mut problems, "webhookUrl"),
        },
    }
    let mut events = check_events(&mut problems, body.events.as_deref());
    if let (Some(sub_product), Some(events)) = (sub_product, events.as_mut()) {
        reply_rule(&mut problems, sub_product, events, &mut notes);
    }
    let oauth2 = match body.oauth2 {
        None => {
            problems.add(
                "oauth2",
                "is required: grantType, expiresIn and optionally tokenUrl, clientId, clientSecret, refreshToken, scopes",
            );
            None
        }
        Some(oauth2) => {
            let for_own_receiver = match webhook_url.as_deref() {
                Some(url) => own.is_own_receiver_url(url),
                // An update that leaves the URL out delivers to our receiver, unless ours is
                // unknown or unusable, which is refused already.
                None => !problems.concerns("webhookUrl"),
            };
            check_oauth2(
                &mut problems,
                Case::Camel,
                oauth2.into(),
                own,
                for_own_receiver,
            )
        }
    };
    match (target, events, oauth2) {
        (Some(target), Some(events), Some(mut oauth2)) if problems.is_empty() => {
            notes.append(&mut oauth2.notes);
            Ok(WebhookPlan {
                target,
                sub_product,
                webhook_url,
                events,
                oauth2,
                notes,
            })
        }
        _ => Err(problems.into_error()),
    }
}

/// `reply` is refused for verify and added for conversational: the vendor's text requires it
/// there while its own example leaves it out, so we add it and say so, and the example works.
fn reply_rule(
    problems: &mut Problems,
    sub_product: SubProduct,
    events: &mut Vec<EventName>,
    notes: &mut Vec<String>,
) {
    let has_reply = events.contains(&EventName::Reply);
    match sub_product {
        SubProduct::Verify if has_reply => {
            problems.add("events", "reply is not supported for verify webhooks");
        }
        SubProduct::Conversational if !has_reply => {
            events.push(EventName::Reply);
            notes.push(REPLY_ADDED_NOTE.to_owned());
        }
        _ => {}
    }
}

/// A V2 settings body (snake_case), as received and as sent on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SettingsBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2Snake>,
}

/// A validated settings call.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingsPlan {
    /// With the webhook URL filled in; `oauth2` is in [`Self::oauth2`] until completed.
    pub body: SettingsBody,
    pub oauth2: Option<OAuth2Plan>,
    pub notes: Vec<String>,
}

impl SettingsPlan {
    pub fn into_body(mut self, minted: Option<&MintedCredentials>) -> SettingsBody {
        self.body.oauth2 = self.oauth2.map(|plan| plan.complete(minted).into());
        self.body
    }
}

pub fn validate_settings(
    sub_product: SubProduct,
    mut body: SettingsBody,
    own: &OwnEndpoints,
) -> Result<SettingsPlan, ValidationError> {
    let mut problems = Problems::default();
    let mut notes = Vec::new();
    default_webhook_url(
        &mut problems,
        "webhook_url",
        &mut body.webhook_url,
        own.receiver_url(sub_product),
        own,
        &mut notes,
    );
    // The sender is optional: without it Insider One uses the account's default provider. A
    // blank one can only mean the same, and is left out rather than sent on as "".
    body.from = match body.from.take() {
        Some(from) if from.trim().is_empty() => {
            notes.push(BLANK_FROM_NOTE.to_owned());
            None
        }
        Some(from) => problems.check("from", check_phone_number(&from)),
        None => None,
    };
    let mut oauth2 = None;
    match body.auth_type.as_deref() {
        Some("bearer") => {
            if body.api_key.as_deref().is_none_or(|k| k.trim().is_empty()) {
                problems.add(
                    "api_key",
                    "is required with auth_type bearer: the token Insider One sends as Authorization: Bearer",
                );
            }
            if body.oauth2.is_some() {
                problems.add("oauth2", "must be left out with auth_type bearer");
            }
        }
        Some("oauth2") => {
            if body.api_key.is_some() {
                problems.add("api_key", "must be left out with auth_type oauth2");
            }
            match body.oauth2.take() {
                None => problems.add(
                    "oauth2",
                    "is required with auth_type oauth2: grant_type, expires_in and optionally token_url, client_id, client_secret, refresh_token, scopes",
                ),
                Some(given) => {
                    let for_own_receiver = body
                        .webhook_url
                        .as_deref()
                        .is_some_and(|url| own.is_own_receiver_url(url));
                    oauth2 = check_oauth2(
                        &mut problems,
                        Case::Snake,
                        given.into(),
                        own,
                        for_own_receiver,
                    );
                }
            }
        }
        None | Some("") => problems.add("auth_type", "is required: bearer or oauth2"),
        Some(other) => problems.add(
            "auth_type",
            format!("must be bearer or oauth2, not {other:?}"),
        ),
    }
    if !problems.is_empty() {
        return Err(problems.into_error());
    }
    if let Some(plan) = &mut oauth2 {
        notes.append(&mut plan.notes);
    }
    Ok(SettingsPlan {
        body,
        oauth2,
        notes,
    })
}

/// A V1 "Save Webhook URL" body (camelCase). The vendor's table names the URL `url` and its
/// sample sends `webhookUrl`: both are read, and both are sent on, so whichever the vendor reads
/// gets it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct V1Body {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

/// The V1 body to send and the notes to show.
pub fn validate_v1(
    mut body: V1Body,
    own: &OwnEndpoints,
) -> Result<(V1Body, Vec<String>), ValidationError> {
    let mut problems = Problems::default();
    let mut notes = Vec::new();
    if body.is_active.is_none() {
        problems.add("isActive", "is required: true or false");
    }
    if body.api_key.as_deref().is_none_or(|k| k.trim().is_empty()) {
        problems.add(
            "apiKey",
            "is required: the token Insider One sends as Authorization: Bearer",
        );
    }
    let mut url = match (body.webhook_url.take(), body.url.take()) {
        (Some(a), Some(b)) if a != b => {
            problems.add("url", "differs from webhookUrl: give the webhook URL once");
            None
        }
        (webhook_url, url) => webhook_url.or(url),
    };
    default_webhook_url(
        &mut problems,
        "webhookUrl",
        &mut url,
        own.receiver_url(SubProduct::Conversational),
        own,
        &mut notes,
    );
    if !problems.is_empty() {
        return Err(problems.into_error());
    }
    body.url.clone_from(&url);
    body.webhook_url = url;
    Ok((body, notes))
}

/// Checks a given webhook URL, or fills in our receiver's when it was left out.
fn default_webhook_url(
    problems: &mut Problems,
    field: &str,
    url: &mut Option<String>,
    receiver: Option<String>,
    own: &OwnEndpoints,
    notes: &mut Vec<String>,
) {
    match url {
        Some(given) => {
            problems.check(field, check_url(given));
        }
        None => {
            *url = own.default_url(problems, field, receiver);
            if let Some(url) = url {
                notes.push(receiver_note(field, url));
            }
        }
    }
}

/// What an answer says when a left-out webhook URL became our receiver's.
fn receiver_note(field: &str, url: &str) -> String {
    format!(
        "{field} was left out: Insider One will deliver to this deployment's receiver {}",
        without_userinfo(url)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> OwnEndpoints {
        OwnEndpoints::new(Some("https://hooks.example.com/".into()))
    }

    #[test]
    fn a_bearer_key_for_our_receiver_is_one_it_accepts() {
        let accepts = |key: &str| key == "the-receivers-key";
        let ours = Some("https://hooks.example.com/webhooks/conversational");
        let check = |key, url| check_bearer_key("api_key", Some(key), url, &own(), accepts);
        assert!(check("the-receivers-key", ours).is_ok());
        assert!(check(" the-receivers-key ", ours).is_ok());
        let refused = check("another-key", ours).unwrap_err();
        assert_eq!(fields(&refused), ["api_key"]);
        assert!(!format!("{refused:?}").contains("another-key"));
        // Another receiver's keys are not ours to judge.
        assert!(
            check(
                "another-key",
                Some("https://partner.example.com/webhooks/x")
            )
            .is_ok()
        );
    }

    fn fields(error: &ValidationError) -> Vec<&str> {
        error.fields.iter().map(|f| f.field.as_str()).collect()
    }

    #[test]
    fn our_receiver_takes_only_our_token_endpoints_tokens() {
        let mut body = vendor_example();
        body.webhook_url = None;
        let error = validate_webhook(Some("15551234567"), None, body.clone(), &own()).unwrap_err();
        assert_eq!(fields(&error), ["oauth2.tokenUrl"]);
        let message = &error.fields[0].message;
        for how in [
            "leave oauth2.tokenUrl out to use https://hooks.example.com/oauth/token",
            "TrustedIssuers",
            "--trusted-issuer",
        ] {
            assert!(message.contains(how), "{error}");
        }
        // Another receiver's tokens are its business, as in the vendor's example.
        assert!(validate_webhook(Some("15551234567"), None, vendor_example(), &own()).is_ok());
    }

    #[test]
    fn our_receiver_takes_a_trusted_issuers_tokens_too() {
        let mut body = vendor_example();
        body.webhook_url = None;
        let trusting = |token_endpoint: Option<&str>| {
            own().with_trusted(vec![TrustedServer {
                issuer: "https://partner.example.com/".into(),
                token_endpoint: token_endpoint.map(str::to_owned),
            }])
        };
        // Under the issuer's URL, as Auth0, Okta and Keycloak serve it, discovered or not.
        for endpoint in [None, Some("https://partner.example.com/oauth/token")] {
            let plan =
                validate_webhook(Some("15551234567"), None, body.clone(), &trusting(endpoint));
            assert!(plan.is_ok(), "{plan:?}");
        }
        // Elsewhere, as Cognito's is, only when the issuer's discovery document names it.
        body.oauth2.as_mut().unwrap().token_url =
            Some("https://partner.auth.eu-west-1.amazoncognito.com/oauth2/token".into());
        let cognito = Some("https://partner.auth.eu-west-1.amazoncognito.com/oauth2/token");
        assert!(
            validate_webhook(Some("15551234567"), None, body.clone(), &trusting(cognito)).is_ok()
        );
        let error = validate_webhook(Some("15551234567"), None, body, &trusting(None)).unwrap_err();
        assert_eq!(fields(&error), ["oauth2.tokenUrl"]);
    }

    fn vendor_example() -> WebhookBody {
        decode(
            br#"{
                "authType": "oauth2",
                "subProduct": "conversational",
                "webhookUrl": "https://partner.example.com/whatsapp/webhooks/conversational",
                "events": ["sent", "delivered", "failed"],
                "oauth2": {
                    "grantType": "client_credentials",
                    "tokenUrl": "https://partner.example.com/oauth/token",
                    "clientId": "partner-whatsapp-client",
                    "clientSecret": "partner-whatsapp-secret",
                    "scopes": ["whatsapp.read", "whatsapp.write"],
                    "expiresIn": 3600
                }
            }"#,
        )
        .unwrap()
    }

    #[test]
    fn the_vendors_create_example_passes_and_gets_reply() {
        let plan = validate_webhook(Some("15551234567"), None, vendor_example(), &own()).unwrap();
        assert!(!plan.oauth2.mint);
        assert_eq!(plan.notes, [REPLY_ADDED_NOTE], "given URLs need no note");
        let body = serde_json::to_value(plan.into_body(None, true)).unwrap();
        assert_eq!(
            body["events"],
            json!(["sent", "delivered", "failed", "reply"])
        );
        assert_eq!(body["oauth2"]["clientSecret"], "partner-whatsapp-secret");
        assert_eq!(body["subProduct"], "conversational");
    }

    #[test]
    fn left_out_urls_and_credentials_default_to_this_deployment() {
        let body: WebhookBody = decode(
            br#"{"authType": "oauth2", "subProduct": "transactional", "events": ["read"],
                 "oauth2": {"grantType": "refresh_token", "expiresIn": 60}}"#,
        )
        .unwrap();
        let plan = validate_webhook(Some("+15551234567"), None, body, &own()).unwrap();
        assert!(plan.oauth2.mint);
        assert_eq!(plan.oauth2.scopes, crate::domain::oauth::default_scopes());
        let minted = MintedCredentials {
            client_id: "insider-0a1b2c3d".into(),
            client_secret: "s".into(),
            refresh_token: Some("r".into()),
        };
        let body = serde_json::to_value(plan.into_body(Some(&minted), true)).unwrap();
        assert_eq!(
            body["webhookUrl"],
            "https://hooks.example.com/webhooks/transactional"
        );
        assert_eq!(
            body["oauth2"]["tokenUrl"],
            "https://hooks.example.com/oauth/token"
        );
        assert_eq!(body["oauth2"]["refreshToken"], "r");
        assert_eq!(
            minted.to_json(Case::Snake),
            json!({"client_id": "insider-0a1b2c3d", "client_secret": "s", "refresh_token": "r"})
        );
    }

    #[test]
    fn update_refuses_sub_product_and_checks_the_id() {
        let mut body = vendor_example();
        let error =
            validate_webhook(Some("15551234567"), Some("x"), body.clone(), &own()).unwrap_err();
        assert_eq!(fields(&error), ["id", "subProduct"]);
        body.sub_product = None;
        let mut plan = validate_webhook(Some("15551234567"), Some("84"), body, &own()).unwrap();
        assert_eq!(plan.target.id, Some(84));
        assert!(plan.notes.is_empty(), "the type is not known yet");
        plan.apply_sub_product(SubProduct::Conversational, &own())
            .unwrap();
        assert!(plan.events.contains(&EventName::Reply));
        let body = serde_json::to_value(plan.into_body(None, false)).unwrap();
        assert!(body.get("subProduct").is_none());
    }

    #[test]
    fn every_unknown_event_is_named_once() {
        let mut body = vendor_example();
        body.events = Some(
            ["sent", "opened", "clicked", "opened"]
                .map(String::from)
                .to_vec(),
        );
        let error = validate_webhook(Some("15551234567"), None, body, &own()).unwrap_err();
        assert_eq!(fields(&error), ["events"]);
        assert!(
            error.fields[0]
                .message
                .starts_with(r#""opened", "clicked" are not events; use sent,"#),
            "{error}"
        );
    }

    #[test]
    fn an_update_without_url_is_refused_before_the_list_when_it_cannot_default() {
        let mut body = vendor_example();
        body.sub_product = None;
        body.webhook_url = None;
        // Delivering to our receiver, the tokens must come from our token endpoint.
        if let Some(oauth2) = body.oauth2.as_mut() {
            oauth2.token_url = Some("https://hooks.example.com/oauth/token".into());
        }
        for own in [
            OwnEndpoints::new(None),
            OwnEndpoints::new(Some("http://hooks.example.com".into())),
        ] {
            let error =
                validate_webhook(Some("15551234567"), Some("84"), body.clone(), &own).unwrap_err();
            assert_eq!(fields(&error), ["webhookUrl"], "{own:?}");
        }
        let mut plan = validate_webhook(Some("15551234567"), Some("84"), body, &own()).unwrap();
        plan.apply_sub_product(SubProduct::Verify, &own()).unwrap();
        assert_eq!(
            plan.webhook_url.as_deref(),
            Some("https://hooks.example.com/webhooks/verify")
        );
    }

    #[test]
    fn a_blank_sender_is_left_out() {
        let body: SettingsBody =
            decode(br#"{"auth_type": "bearer", "api_key": "k", "from": "  "}"#).unwrap();
        let plan = validate_settings(SubProduct::Transactional, body, &own()).unwrap();
        assert_eq!(plan.body.from, None);
        assert!(plan.notes.contains(&BLANK_FROM_NOTE.to_owned()));
        let sent = serde_json::to_value(plan.into_body(None)).unwrap();
        assert!(sent.get("from").is_none(), "{sent}");
    }

    #[test]
    fn credentials_in_urls_are_never_quoted() {
        assert_eq!(userinfo("https://u:p@a.example/x@y"), Some("u:p"));
        assert_eq!(userinfo("https://a.example/x@y"), None);
        assert_eq!(userinfo("not a url u:p@x"), None);
        assert_eq!(
            without_userinfo("http://user:pa ss@10.0.0.1/x"),
            "http://********@10.0.0.1/x"
        );
        let message = check_url("http://user:secret-password@partner.example.com/h").unwrap_err();
        assert!(!message.contains("secret-password"), "{message}");
        assert!(message.contains("partner.example.com"), "{message}");
    }

    #[test]
    fn settings_follow_the_auth_type() {
        let bearer: SettingsBody =
            decode(br#"{"auth_type": "bearer", "from": "+1234567890"}"#).unwrap();
        let error = validate_settings(SubProduct::Transactional, bearer, &own()).unwrap_err();
        assert_eq!(fields(&error), ["api_key"]);
        let oauth2: SettingsBody = decode(
            br#"{"auth_type": "oauth2", "oauth2": {"grant_type": "client_credentials",
                 "scopes": ["webhook.read"], "expires_in": 3600}}"#,
        )
        .unwrap();
        let error = validate_settings(SubProduct::Conversational, oauth2, &own()).unwrap_err();
        assert_eq!(fields(&error), ["oauth2.scopes"]);
    }

    #[test]
    fn v1_takes_url_or_webhook_url_and_sends_both() {
        let (body, notes) = validate_v1(
            decode(br#"{"isActive": true, "url": "https://a.example/h", "apiKey": "k"}"#).unwrap(),
            &own(),
        )
        .unwrap();
        assert!(notes.is_empty());
        assert_eq!(body.webhook_url.as_deref(), Some("https://a.example/h"));
        assert_eq!(body.url.as_deref(), Some("https://a.example/h"));
        let error = validate_v1(
            decode(br#"{"webhookUrl": "https://a.example/1", "url": "https://a.example/2"}"#)
                .unwrap(),
            &own(),
        )
        .unwrap_err();
        assert_eq!(fields(&error), ["isActive", "apiKey", "url"]);
    }

    #[test]
    fn bodies_that_are_not_json_or_not_the_model_are_told_apart() {
        assert!(matches!(
            decode::<WebhookBody>(b"{\"authType\": "),
            Err(RequestError::NotJson(_))
        ));
        let Err(RequestError::Invalid(error)) =
            decode::<WebhookBody>(br#"{"oauth2": {"expiresIn": "3600"}}"#)
        else {
            panic!("a type mismatch is a validation error");
        };
        assert_eq!(fields(&error), ["oauth2.expiresIn"]);
        assert!(matches!(
            decode::<WebhookBody>(br#"{"webhookURL": "https://x.example"}"#),
            Err(RequestError::Invalid(_))
        ));
    }

    #[test]
    fn not_json_is_told_by_the_grammar_and_everything_after_by_its_field() {
        // An unknown first field must not hide that the body is cut short.
        assert!(matches!(
            decode::<WebhookBody>(br#"{"webhookURL": "#),
            Err(RequestError::NotJson(_))
        ));
        assert!(matches!(
            decode::<WebhookBody>(b"{\"authType\": \"oauth2\xff\"}"),
            Err(RequestError::NotJson(_))
        ));
        // Valid JSON that does not fit: the field's problem, not "not JSON".
        let Err(RequestError::Invalid(error)) =
            decode::<WebhookBody>(br#"{"oauth2": {"expiresIn": 1e999}}"#)
        else {
            panic!("a number beyond f64 is the field's problem");
        };
        assert_eq!(fields(&error), ["oauth2.expiresIn"]);
        // Found by fuzz/: an unknown empty key once gave a problem without a field.
        let Err(RequestError::Invalid(error)) = decode::<V1Body>(br#"{"": "x"}"#) else {
            panic!("an unknown key is refused");
        };
        assert_eq!(fields(&error), ["body"]);
    }

    #[test]
    fn a_mistyped_credential_is_not_repeated() {
        let Err(RequestError::Invalid(error)) =
            decode::<WebhookBody>(br#"{"oauth2": {"clientSecret": 123456789012345}}"#)
        else {
            panic!("a number is no secret string");
        };
        assert_eq!(fields(&error), ["oauth2.clientSecret"]);
        assert!(!error.to_string().contains("123456789012345"), "{error}");
        let Err(RequestError::Invalid(error)) = decode::<V1Body>(br#"{"isActive": "yes"}"#) else {
            panic!("text is no flag");
        };
        assert!(
            error.to_string().contains("yes"),
            "other fields keep serde's detail"
        );
    }

    #[test]
    fn phone_numbers_and_urls() {
        for good in ["15551234567", "+1234567890", " 4915112345678 "] {
            assert!(check_phone_number(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "+",
            "123456",
            "0123456789",
            "+1234567890123456",
            "1555-123-4567",
        ] {
            assert!(check_phone_number(bad).is_err(), "{bad}");
        }
        for good in [
            "https://a.example/x",
            "http://127.0.0.1:3000/webhooks/verify",
            "http://127.8.9.10/x",
            "http://[::1]:8080/x",
            "http://LOCALHOST/x",
        ] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        for bad in [
            "http://example.com/x",
            "ftp://a.example",
            "/relative",
            "a.example",
            "http://10.0.0.1/x",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert_eq!(Case::Camel.name("expires_in"), "expiresIn");
    }
}
