//! The project's payload fixtures (`tests/fixtures/insider/*.json`, one per family and shape the
//! vendor and Meta send), compiled in and taken apart into the pieces the generator reuses: whole
//! bodies for the flat families, the `messages[0]` object of each reply type, the `errors` of
//! failed statuses, `conversation`/`pricing` blocks.

use std::sync::LazyLock;

use serde_json::Value;

macro_rules! fixture {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/fixtures/insider/",
                $name,
                ".json"
            )),
        )
    };
}

const ERRORS: [(&str, &str); 8] = [
    fixture!("error"),
    fixture!("error_with_error_data"),
    fixture!("error_auth_0"),
    fixture!("error_token_expired_190"),
    fixture!("error_spam_131048"),
    fixture!("error_access_denied_131005"),
    fixture!("error_blocked_368"),
    fixture!("error_rate_limit_130429"),
];

const ON_PREMISE_ERRORS: [(&str, &str); 6] = [
    fixture!("on_premise_error_402"),
    fixture!("on_premise_error_408"),
    fixture!("on_premise_error_429"),
    fixture!("on_premise_error_2000"),
    fixture!("on_premise_error_2060"),
    fixture!("on_premise_error_500"),
];

/// Failed statuses whose `errors` arrays are reused.
const FAILED_STATUSES: [(&str, &str); 3] = [
    fixture!("status_failed"),
    fixture!("status_failed_with_error_data"),
    fixture!("status_delivered_and_failed"),
];

/// Statuses whose `conversation` and `pricing` blocks are reused.
const PRICED_STATUSES: [(&str, &str); 2] = [
    fixture!("status_with_pricing"),
    fixture!("status_out_of_order_read"),
];

const REPLIES: [(&str, &str); 17] = [
    fixture!("reply_text"),
    fixture!("reply_text_with_key"),
    fixture!("reply_button"),
    fixture!("reply_image"),
    fixture!("reply_video"),
    fixture!("reply_document"),
    fixture!("reply_sticker"),
    fixture!("reply_audio"),
    fixture!("reply_location"),
    fixture!("reply_contacts"),
    fixture!("reply_interactive_button_reply"),
    fixture!("reply_interactive_list_reply"),
    fixture!("reply_reaction"),
    fixture!("reply_order"),
    fixture!("reply_system"),
    fixture!("reply_unsupported"),
    fixture!("reply_with_referral"),
];

const ACCEPTED: (&str, &str) = fixture!("accepted");
const TEMPLATE: (&str, &str) = fixture!("template");
const UNKNOWN_SHAPE: (&str, &str) = fixture!("unknown_shape");
const UNKNOWN_SHAPE_WITH_KEY: (&str, &str) = fixture!("unknown_shape_with_key");
const UNKNOWN_CHANGE: (&str, &str) = fixture!("meta_unknown_field_change");

/// How a reply fixture carries Insider's `key`: the seed's text reply says it may "be empty".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStyle {
    Absent,
    Empty,
    Present,
}

pub struct ReplyTemplate {
    /// `entry[0].changes[0].value.messages[0]`.
    pub message: Value,
    /// Whether `value.contacts` is there (system messages have none).
    pub has_contacts: bool,
    pub key: KeyStyle,
}

pub struct Fixtures {
    pub accepted: Value,
    pub template: Value,
    pub errors: Vec<Value>,
    pub on_premise_errors: Vec<Value>,
    /// `errors` arrays of failed statuses.
    pub failure_errors: Vec<Value>,
    /// `(conversation, pricing)` pairs.
    pub pricing: Vec<(Value, Value)>,
    pub replies: Vec<ReplyTemplate>,
    pub unknown_shape: Value,
    pub unknown_shape_with_key: Value,
    pub unknown_change: Value,
}

pub fn fixtures() -> &'static Fixtures {
    static FIXTURES: LazyLock<Fixtures> = LazyLock::new(|| Fixtures {
        accepted: parse(ACCEPTED),
        template: parse(TEMPLATE),
        errors: ERRORS.into_iter().map(parse).collect(),
        on_premise_errors: ON_PREMISE_ERRORS.into_iter().map(parse).collect(),
        failure_errors: FAILED_STATUSES
            .into_iter()
            .filter_map(|f| {
                change_value(&parse(f))["statuses"]
                    .as_array()?
                    .iter()
                    .find(|s| s["status"] == "failed")
                    .map(|s| s["errors"].clone())
            })
            .collect(),
        pricing: PRICED_STATUSES
            .into_iter()
            .filter_map(|f| {
                change_value(&parse(f))["statuses"]
                    .as_array()?
                    .iter()
                    .find(|s| s.get("pricing").is_some())
                    .map(|s| (s["conversation"].clone(), s["pricing"].clone()))
            })
            .collect(),
        replies: REPLIES
            .into_iter()
            .map(|f| {
                let body = parse(f);
                let value = change_value(&body);
                ReplyTemplate {
                    message: value["messages"][0].clone(),
                    has_contacts: value.get("contacts").is_some(),
                    key: match body.get("key").and_then(Value::as_str) {
                        None => KeyStyle::Absent,
                        Some("") => KeyStyle::Empty,
                        Some(_) => KeyStyle::Present,
                    },
                }
            })
            .collect(),
        unknown_shape: parse(UNKNOWN_SHAPE),
        unknown_shape_with_key: parse(UNKNOWN_SHAPE_WITH_KEY),
        unknown_change: parse(UNKNOWN_CHANGE),
    });
    &FIXTURES
}

/// The fixtures are part of this repository; one that does not parse is a bug to see at once.
fn parse((name, text): (&str, &str)) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("fixture {name}.json: {e}"))
}

/// `entry[0].changes[0].value` of a Meta envelope.
fn change_value(body: &Value) -> &Value {
    &body["entry"][0]["changes"][0]["value"]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_is_taken_apart() {
        let f = fixtures();
        assert_eq!(f.errors.len(), ERRORS.len());
        assert_eq!(f.failure_errors.len(), FAILED_STATUSES.len());
        assert_eq!(f.pricing.len(), PRICED_STATUSES.len());
        assert!(f.failure_errors.iter().all(Value::is_array));
        for reply in &f.replies {
            assert!(reply.message["id"].is_string());
            assert!(reply.message["type"].is_string());
        }
        let styles: Vec<KeyStyle> = f.replies.iter().map(|r| r.key).collect();
        for style in [KeyStyle::Absent, KeyStyle::Empty, KeyStyle::Present] {
            assert!(styles.contains(&style));
        }
    }
}
