//! The management validators (`shared::domain::management`), on any bytes, never accept what
//! they describe as invalid and never panic:
//!
//! - `decode` calls a body not JSON exactly when it is not JSON text, and otherwise names the
//!   field at fault, never repeating a credential's value;
//! - a refusal lists at least one problem, each with its field, and repeats no credential;
//! - an accepted request meets every documented rule, checked again here one by one: E.164
//!   numbers, positive ids, https (or loopback) URLs, known and unique events with the reply
//!   rule, the grant and refresh-token rules, one-word scopes, a positive lifetime for which a
//!   token can actually be issued;
//! - what we would send Insider One, read back as a request, is accepted again.
//!
//! Input: a selector byte (operation, whether this deployment's URL is known), then, when the
//! rest holds two NUL bytes, the phone number and the webhook id before them; the rest is the
//! body.

use serde::de::DeserializeOwned;
use serde_json::Value;
use shared::auth::Verdict;
use shared::auth::access_tokens::{AccessTokens, SigningKey};
use shared::domain::SubProduct;
use shared::domain::management::{
    EventName, OAuth2Plan, OwnEndpoints, RequestError, SECRET_FIELDS, SettingsBody, V1Body,
    ValidationError, WebhookBody, WebhookPlan, check_phone_number, check_url, decode,
    validate_settings, validate_target, validate_v1, validate_webhook,
};
use shared::domain::oauth::DELIVERY_SCOPES;
use shared::domain::oauth::GrantType;

use crate::json_text;

pub fn check(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.splitn(3, |&b| b == 0);
    let (phone, id, body) = match (parts.next(), parts.next(), parts.next()) {
        (Some(phone), Some(id), Some(body)) => (
            String::from_utf8_lossy(phone).into_owned(),
            String::from_utf8_lossy(id).into_owned(),
            body,
        ),
        _ => ("15551234567".to_owned(), "84".to_owned(), rest),
    };
    let own = OwnEndpoints::new((selector & 0x10 == 0).then(|| "https://hooks.example.com".into()));
    let run = |body: &[u8]| {
        let mut refusals = Vec::new();
        match selector % 6 {
            0 => target(&phone, None, &mut refusals),
            1 => target(&phone, Some(&id), &mut refusals),
            2 => webhook(&phone, None, body, &own, &mut refusals),
            3 => webhook(&phone, Some(&id), body, &own, &mut refusals),
            4 => {
                let sub_product = if selector & 0x20 == 0 {
                    SubProduct::Transactional
                } else {
                    SubProduct::Conversational
                };
                settings(sub_product, body, &own, &mut refusals);
            }
            _ => v1(body, &own, &mut refusals),
        }
        refusals
    };
    let refusals = run(body);
    let secrets = Secrets::of(body, [phone.as_str(), id.as_str()]);
    let quoted: Vec<&String> = secrets
        .values
        .iter()
        .filter(|secret| refusals.iter().any(|m| m.contains(secret.as_str())))
        .collect();
    if quoted.is_empty() {
        return;
    }
    // The same request with its credentials overwritten: a refusal that still holds the text
    // holds it in its own words (the fuzzer can make a secret of them), not as a quote.
    let mut redacted = String::from_utf8_lossy(body).into_owned();
    for secret in &quoted {
        redacted = redacted.replace(secret.as_str(), &"Z".repeat(secret.len()));
    }
    let own_words = run(redacted.as_bytes());
    for secret in quoted {
        assert!(
            own_words.iter().any(|m| m.contains(secret.as_str())),
            "a refusal repeats the credential {secret:?}: {refusals:?}"
        );
    }
}

fn target(phone: &str, id: Option<&str>, refusals: &mut Vec<String>) {
    match validate_target(Some(phone), id) {
        Ok(target) => {
            assert!(check_phone_number(&target.phone_number).is_ok());
            assert_eq!(id.is_some(), target.id.is_some());
            assert!(target.id.is_none_or(|id| id > 0), "webhook id 0 accepted");
        }
        Err(error) => refused(&error, refusals),
    }
}

fn webhook(
    phone: &str,
    id: Option<&str>,
    body: &[u8],
    own: &OwnEndpoints,
    refusals: &mut Vec<String>,
) {
    let Some(request) = decoded::<WebhookBody>(body, refusals) else {
        return;
    };
    let plan = match validate_webhook(Some(phone), id, request, own) {
        Ok(plan) => plan,
        Err(error) => return refused(&error, refusals),
    };
    let create = id.is_none();
    check_webhook_plan(&plan, create);
    let sent = serde_json::to_vec(&plan.into_body(None, create)).expect("a body serializes");
    let again = decode::<WebhookBody>(&sent).expect("what we send reads back");
    if let Err(error) = validate_webhook(Some(phone), id, again, own) {
        panic!("what we would send is refused: {error}");
    }
}

fn check_webhook_plan(plan: &WebhookPlan, create: bool) {
    assert!(check_phone_number(&plan.target.phone_number).is_ok());
    assert_eq!(create, plan.target.id.is_none());
    assert!(
        plan.target.id.is_none_or(|id| id > 0),
        "webhook id 0 accepted"
    );
    assert!(!plan.events.is_empty(), "no event accepted");
    for (i, event) in plan.events.iter().enumerate() {
        assert!(!plan.events[..i].contains(event), "events repeated");
    }
    assert_eq!(create, plan.sub_product.is_some());
    match plan.sub_product {
        Some(SubProduct::Conversational) => assert!(plan.events.contains(&EventName::Reply)),
        Some(SubProduct::Verify) => assert!(!plan.events.contains(&EventName::Reply)),
        _ => {}
    }
    if let Some(url) = &plan.webhook_url {
        assert!(check_url(url).is_ok(), "webhook URL accepted: {url:?}");
    }
    check_oauth2(&plan.oauth2);
}

fn check_oauth2(plan: &OAuth2Plan) {
    let fields = &plan.fields;
    let given = |value: &Option<String>| value.as_deref().is_some_and(|v| !v.trim().is_empty());
    let token_url = fields
        .token_url
        .as_deref()
        .expect("a token URL, given or defaulted");
    assert!(
        check_url(token_url).is_ok(),
        "token URL accepted: {token_url:?}"
    );
    assert_eq!(
        plan.mint,
        !given(&fields.client_id) && !given(&fields.client_secret),
        "minting does not follow the credentials given"
    );
    assert_eq!(given(&fields.client_id), given(&fields.client_secret));
    match plan.grant_type {
        GrantType::ClientCredentials => assert!(!given(&fields.refresh_token)),
        GrantType::RefreshToken => assert_eq!(given(&fields.refresh_token), !plan.mint),
    }
    assert!(
        plan.scopes
            .iter()
            .all(|s| !s.is_empty() && !s.contains(char::is_whitespace)),
        "scopes accepted: {:?}",
        plan.scopes
    );
    assert!(plan.expires_in > 0, "a lifetime of 0 accepted");
    // Our token endpoint issues tokens of this lifetime to a minted client.
    let key = SigningKey::new("k", vec![7u8; 32]).expect("a key");
    let tokens = AccessTokens::new(vec![key], "i", "a").expect("tokens");
    let issued = tokens.issue("client", &plan.scopes, plan.expires_in, true);
    let deliverable = plan
        .scopes
        .iter()
        .any(|s| DELIVERY_SCOPES.contains(&s.as_str()));
    assert_eq!(
        matches!(tokens.check(&issued.token), Verdict::Accepted(_)),
        deliverable,
        "a token of the accepted lifetime {} does not verify as it should",
        plan.expires_in
    );
}

fn settings(sub_product: SubProduct, body: &[u8], own: &OwnEndpoints, refusals: &mut Vec<String>) {
    let Some(request) = decoded::<SettingsBody>(body, refusals) else {
        return;
    };
    let plan = match validate_settings(sub_product, request, own) {
        Ok(plan) => plan,
        Err(error) => return refused(&error, refusals),
    };
    let url = plan.body.webhook_url.as_deref().expect("a webhook URL");
    assert!(check_url(url).is_ok(), "webhook URL accepted: {url:?}");
    if let Some(from) = plan.body.from.as_deref().filter(|f| !f.trim().is_empty()) {
        assert!(check_phone_number(from).is_ok(), "from accepted: {from:?}");
    }
    let api_key = plan.body.api_key.as_deref();
    match plan.body.auth_type.as_deref() {
        Some("bearer") => {
            assert!(api_key.is_some_and(|k| !k.trim().is_empty()));
            assert!(plan.oauth2.is_none() && plan.body.oauth2.is_none());
        }
        Some("oauth2") => {
            assert!(api_key.is_none());
            check_oauth2(plan.oauth2.as_ref().expect("an oauth2 plan"));
        }
        other => panic!("auth_type accepted: {other:?}"),
    }
    let sent = serde_json::to_vec(&plan.into_body(None)).expect("a body serializes");
    let again = decode::<SettingsBody>(&sent).expect("what we send reads back");
    if let Err(error) = validate_settings(sub_product, again, own) {
        panic!("what we would send is refused: {error}");
    }
}

fn v1(body: &[u8], own: &OwnEndpoints, refusals: &mut Vec<String>) {
    let Some(request) = decoded::<V1Body>(body, refusals) else {
        return;
    };
    let (sent, _notes) = match validate_v1(request, own) {
        Ok(accepted) => accepted,
        Err(error) => return refused(&error, refusals),
    };
    assert!(sent.is_active.is_some());
    assert!(
        sent.api_key
            .as_deref()
            .is_some_and(|k| !k.trim().is_empty())
    );
    assert_eq!(sent.webhook_url, sent.url, "both URL fields carry the URL");
    let url = sent.url.as_deref().expect("a webhook URL");
    assert!(check_url(url).is_ok(), "webhook URL accepted: {url:?}");
    let again = decode::<V1Body>(&serde_json::to_vec(&sent).expect("a body serializes"))
        .expect("what we send reads back");
    if let Err(error) = validate_v1(again, own) {
        panic!("what we would send is refused: {error}");
    }
}

/// `decode`'s verdict, checked against the grammar; the request when it is one.
fn decoded<T: DeserializeOwned>(body: &[u8], refusals: &mut Vec<String>) -> Option<T> {
    let is_json = json_text(body).is_some();
    match decode::<T>(body) {
        Ok(request) => {
            assert!(is_json, "a body that is not JSON was read");
            Some(request)
        }
        Err(RequestError::NotJson(_)) => {
            assert!(!is_json, "a JSON body was called not JSON");
            None
        }
        Err(RequestError::Invalid(error)) => {
            assert!(is_json, "a body that is not JSON was called invalid");
            refused(&error, refusals);
            None
        }
    }
}

/// Checks a refusal's shape and keeps its messages, to look for credentials in.
fn refused(error: &ValidationError, refusals: &mut Vec<String>) {
    assert!(!error.fields.is_empty(), "a refusal without a problem");
    for problem in &error.fields {
        assert!(!problem.field.is_empty() && !problem.message.is_empty());
        refusals.push(problem.message.clone());
    }
}

/// The credentials a body holds, as text, except those that some other part of the request
/// holds as well (a refusal may rightly quote that part: a phone number, a URL).
struct Secrets {
    values: Vec<String>,
}

impl Secrets {
    /// Shorter values would be found by chance in what a refusal rightly quotes.
    const MIN_LEN: usize = 8;

    fn of<'a>(body: &[u8], parameters: impl IntoIterator<Item = &'a str>) -> Self {
        let Ok(value) = serde_json::from_slice::<Value>(body) else {
            return Self { values: Vec::new() };
        };
        let mut secrets = Vec::new();
        let mut others: Vec<String> = parameters.into_iter().map(str::to_owned).collect();
        collect(&value, false, &mut secrets, &mut others);
        secrets.retain(|secret| {
            secret.len() >= Self::MIN_LEN && !others.iter().any(|o| o.contains(secret.as_str()))
        });
        Self { values: secrets }
    }
}

fn collect(value: &Value, secret: bool, secrets: &mut Vec<String>, others: &mut Vec<String>) {
    match value {
        Value::Object(members) => {
            for (name, member) in members {
                others.push(name.clone());
                collect(
                    member,
                    SECRET_FIELDS.contains(&name.as_str()),
                    secrets,
                    others,
                );
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| collect(item, secret, secrets, others)),
        scalar => {
            let text = match scalar {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            if secret { secrets } else { others }.push(text);
        }
    }
}
