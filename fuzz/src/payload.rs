//! `shared::domain::parse_delivery`, on any bytes, keeps README's promises ("The event model"):
//!
//! - it never fails on a JSON object, and refuses everything else with the right reason;
//! - every event keeps its raw fragment byte for byte: valid JSON, found in the input;
//! - ids are 128-bit hex, the same for the same input, and the same for the input re-serialized
//!   (keys sorted, whitespace dropped), so a redelivery is recognised however it is formatted.

use serde::Deserialize;
use serde::de::{MapAccess, SeqAccess, Visitor};
use shared::domain::{Event, PayloadError, parse_delivery};

use crate::{json_text, trim_json_whitespace};

pub fn check(data: &[u8]) {
    let parsed = parse_delivery(data);
    let Some(text) = json_text(data) else {
        assert!(
            matches!(parsed, Err(PayloadError::NotJson(_))),
            "bytes that are not JSON parsed as {parsed:?}"
        );
        return;
    };
    let is_object = trim_json_whitespace(text).starts_with('{');
    let events = match parsed {
        Ok(events) => events,
        Err(PayloadError::NotObject) if !is_object => return,
        Err(error) => panic!("a JSON object was refused: {error}"),
    };
    assert!(is_object, "a JSON value that is no object gave events");
    assert!(!events.is_empty(), "a JSON object gave no event");
    for event in &events {
        check_event(text, event);
    }
    let again = parse_delivery(data).expect("the same bytes parse again");
    assert_eq!(ids(&events), ids(&again), "ids are not deterministic");
    if let Some(reserialized) = reserialized(text) {
        let redelivered =
            parse_delivery(reserialized.as_bytes()).expect("re-serialized JSON parses");
        assert_eq!(
            ids(&events),
            ids(&redelivered),
            "a re-serialized redelivery gets other ids: {reserialized}"
        );
    }
}

fn check_event(input: &str, event: &Event) {
    let raw = event.raw.get();
    assert!(
        json_text(raw.as_bytes()).is_some(),
        "a raw fragment is not JSON: {raw}"
    );
    assert!(
        input.contains(raw),
        "a raw fragment is not in the input: {raw}"
    );
    assert!(
        event.id.len() == 32
            && event
                .id
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "an id is not 128-bit hex: {}",
        event.id
    );
    for (what, value) in [("message id", &event.message_id), ("key", &event.key)] {
        assert!(
            value.as_deref() != Some(""),
            "an empty {what} is kept instead of absent"
        );
    }
}

fn ids(events: &[Event]) -> Vec<(&str, &str)> {
    events
        .iter()
        .map(|e| (e.family.as_str(), e.id.as_str()))
        .collect()
}

/// The input as another sender would write the same content: keys sorted, no whitespace.
/// `None` when there is no one such content: a key repeated (which value counts is the
/// reader's choice), or JSON that `serde_json::Value` cannot hold (nesting deeper than 128,
/// numbers beyond f64).
fn reserialized(text: &str) -> Option<String> {
    serde_json::from_str::<NoRepeatedKeys>(text).ok()?;
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .map(|value| value.to_string())
}

/// Reads any JSON and fails on an object that repeats a key, at any depth.
struct NoRepeatedKeys;

impl<'de> Deserialize<'de> for NoRepeatedKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NoRepeatedKeysVisitor)
    }
}

struct NoRepeatedKeysVisitor;

impl<'de> Visitor<'de> for NoRepeatedKeysVisitor {
    type Value = NoRepeatedKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NoRepeatedKeys, A::Error> {
        let mut keys = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !keys.insert(key) {
                return Err(serde::de::Error::custom("a repeated key"));
            }
            map.next_value::<NoRepeatedKeys>()?;
        }
        Ok(NoRepeatedKeys)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NoRepeatedKeys, A::Error> {
        while seq.next_element::<NoRepeatedKeys>()?.is_some() {}
        Ok(NoRepeatedKeys)
    }

    fn visit_bool<E>(self, _: bool) -> Result<NoRepeatedKeys, E> {
        Ok(NoRepeatedKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<NoRepeatedKeys, E> {
        Ok(NoRepeatedKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<NoRepeatedKeys, E> {
        Ok(NoRepeatedKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<NoRepeatedKeys, E> {
        Ok(NoRepeatedKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<NoRepeatedKeys, E> {
        Ok(NoRepeatedKeys)
    }
    fn visit_unit<E>(self) -> Result<NoRepeatedKeys, E> {
        Ok(NoRepeatedKeys)
    }
}
