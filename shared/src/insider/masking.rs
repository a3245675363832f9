//! Credentials never leave through our answers or logs: masked by field name in the vendor's
//! bodies ([`mask_secrets`]), and by value wherever they are quoted in free text
//! ([`SecretValues`]), such as a vendor message repeating what it was sent.

use serde_json::Value;

use super::{InsiderError, VendorReply};
use crate::auth::mask_secret;
use crate::domain::management::{SECRET_FIELDS, userinfo};

/// Masks every credential field in a vendor body, as the vendor masks them in its lists
/// (`partner-whatsa********`). The vendor already does so; this is the defence for when it
/// does not, so that no answer of ours ever carries a usable secret from Insider One.
pub fn mask_secrets(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                match field {
                    Value::String(secret)
                        if SECRET_FIELDS.contains(&key.as_str()) && !is_masked(secret) =>
                    {
                        *secret = mask_secret(secret);
                    }
                    _ => mask_secrets(field),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_secrets),
        _ => {}
    }
}

fn is_masked(secret: &str) -> bool {
    secret.ends_with("********")
}

/// Credential values known to be secret: those a request carries (its secret fields and the
/// `user:password` of its URLs), or our own at Insider One. Field names do not reach free text,
/// where the vendor may quote what it was sent (`"invalid client_secret abc..."`), so these are
/// masked by value in every string of what we pass on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretValues(Vec<String>);

impl SecretValues {
    /// The secrets a vendor request body carries.
    pub fn of(body: &Value) -> Self {
        let mut found = Vec::new();
        collect(body, &mut found);
        Self::from_iter(found)
    }

    /// Masks each secret where `text` quotes it: anywhere when it is long enough to be told
    /// from ordinary text, else only as a whole word, so that a one-letter test secret does not
    /// take every such letter of a message with it.
    pub fn mask_text(&self, text: &mut String) {
        for secret in &self.0 {
            if let Some(masked) = mask_quotes(text, secret) {
                *text = masked;
            }
        }
    }

    /// Masks the secrets in every string of `value`.
    pub fn mask_value(&self, value: &mut Value) {
        match value {
            Value::String(text) => self.mask_text(text),
            Value::Array(items) => items.iter_mut().for_each(|item| self.mask_value(item)),
            Value::Object(map) => map.values_mut().for_each(|field| self.mask_value(field)),
            _ => {}
        }
    }

    /// Masks the secrets in what a vendor call brought back: the reply's body, or the error's
    /// vendor body and text.
    pub fn mask_outcome(&self, outcome: &mut Result<VendorReply, InsiderError>) {
        if self.0.is_empty() {
            return;
        }
        match outcome {
            Ok(reply) => self.mask_value(&mut reply.body),
            Err(
                InsiderError::Rejected { body, .. }
                | InsiderError::RateLimited { body, .. }
                | InsiderError::Server { body, .. }
                | InsiderError::AuthFailed { body, .. },
            ) => self.mask_value(body),
            Err(InsiderError::Unreachable(text)) => self.mask_text(text),
            Err(
                InsiderError::Timeout(_)
                | InsiderError::DeadlineExceeded(_)
                | InsiderError::Redirected { .. }
                | InsiderError::InvalidResponse { .. }
                | InsiderError::NotConfigured(_),
            ) => {}
        }
    }
}

impl FromIterator<String> for SecretValues {
    /// Blank values are no secret; the longest go first, so that a secret holding another one
    /// is masked whole.
    fn from_iter<I: IntoIterator<Item = String>>(values: I) -> Self {
        let mut values: Vec<String> = values
            .into_iter()
            .filter(|value| !value.trim().is_empty())
            .collect();
        values.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        values.dedup();
        Self(values)
    }
}

/// Secrets this long are masked wherever they appear; shorter ones only as whole words.
const FOUND_ANYWHERE_CHARS: usize = 8;
/// What stands in text where a secret was quoted.
const QUOTED_SECRET_MASK: &str = "********";

/// `text` with the quotes of `secret` masked, or `None` when it quotes none.
fn mask_quotes(text: &str, secret: &str) -> Option<String> {
    let anywhere = secret.chars().count() >= FOUND_ANYWHERE_CHARS;
    let outside_word = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
    let mut masked = String::with_capacity(text.len());
    let mut copied = 0;
    for (start, _) in text.match_indices(secret) {
        let end = start + secret.len();
        let quoted = anywhere
            || (outside_word(text[..start].chars().next_back())
                && outside_word(text[end..].chars().next()));
        if quoted {
            masked.push_str(&text[copied..start]);
            // Whole: in free text a secret may be a URL's `user:password`, whose start would
            // show part of the password; the vendor's prefix form is for secret fields.
            masked.push_str(QUOTED_SECRET_MASK);
            copied = end;
        }
    }
    (copied > 0).then(|| masked + &text[copied..])
}

fn collect(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, field) in map {
                match field {
                    Value::String(text) if SECRET_FIELDS.contains(&key.as_str()) => {
                        found.push(text.clone());
                    }
                    _ => collect(field, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect(item, found)),
        Value::String(text) => found.extend(userinfo(text).map(str::to_owned)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secret_fields_are_masked_once_wherever_they_are() {
        let mut body = json!({"webhooks": [{"oauth2": {
            "clientId": "partner-whatsapp-client",
            "clientSecret": "partner-whatsapp-secret",
            "refreshToken": "partner-whatsa********",
        }}], "api_key": "k-1234567890"});
        mask_secrets(&mut body);
        let oauth2 = &body["webhooks"][0]["oauth2"];
        assert_eq!(oauth2["clientId"], "partner-whatsapp-client");
        assert_eq!(
            oauth2["clientSecret"], "partner-whatsa********",
            "as the vendor shows it"
        );
        assert_eq!(oauth2["refreshToken"], "partner-whatsa********");
        assert_eq!(body["api_key"], "k-1234********");
    }

    #[test]
    fn a_requests_secrets_are_masked_where_they_are_quoted() {
        let sent = json!({
            "webhook_url": "https://hook:hook-password@partner.example.com/h",
            "oauth2": {"client_id": "partner-client", "client_secret": "partner-whatsapp-secret",
                       "refresh_token": "", "token_url": "https://partner.example.com/token"},
        });
        let secrets = SecretValues::of(&sent);
        assert_eq!(
            secrets,
            SecretValues(vec![
                "partner-whatsapp-secret".into(),
                "hook:hook-password".into()
            ]),
            "blank values and URLs without credentials carry no secret"
        );
        let mut outcome = Err(InsiderError::Rejected {
            status: 400,
            body: json!({"message": "client_secret partner-whatsapp-secret refused for https://hook:hook-password@partner.example.com/h",
                         "errorCode": "2011"}),
        });
        secrets.mask_outcome(&mut outcome);
        let Err(InsiderError::Rejected { body, .. }) = outcome else {
            unreachable!()
        };
        let message = body["message"].as_str().unwrap();
        assert!(!message.contains("partner-whatsapp-secret"), "{message}");
        assert!(!message.contains("hook-password"), "{message}");
        assert!(!message.contains("partner-whatsa"), "{message}");
        assert!(
            !message.contains("hook:hook"),
            "no part of a password: {message}"
        );
        assert!(
            message.contains("client_secret ******** refused for https://********@partner"),
            "{message}"
        );
        assert_eq!(body["errorCode"], "2011");
    }

    #[test]
    fn a_short_secret_is_masked_only_as_a_whole_word() {
        let secrets = SecretValues::from_iter(["s".to_owned(), "r".to_owned()]);
        let mut text = "oauth2.refreshToken is required: s, (r) refused".to_owned();
        secrets.mask_text(&mut text);
        assert_eq!(
            text,
            "oauth2.refreshToken is required: ********, (********) refused"
        );
    }
}
