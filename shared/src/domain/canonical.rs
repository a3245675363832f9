//! Canonical JSON, written straight from the text: object keys sorted, whitespace dropped.
//!
//! The bytes are exactly those of `serde_json::from_str::<serde_json::Value>` followed by
//! `serde_json::to_writer`, which is how event ids were first computed (ids are stored, so they
//! must never change), without building the `Value`: one pass of serde_json's own parser drives
//! a visitor that writes each scalar as serde_json serializes it, and an object's entries are
//! only reordered when they did not arrive sorted. Being the same parser, it refuses the same
//! inputs as `Value` does (numbers beyond `f64`, lone surrogates, nesting deeper than 128).

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// `serde_json::Value` reads an object whose first key is this (serde_json's private marker of a
/// raw value) as the JSON text held by its value; kept, since ids were computed through `Value`.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// A fragment that `serde_json::Value` cannot hold either, so it has no canonical form.
#[derive(Debug, thiserror::Error)]
#[error("no canonical form: {0}")]
pub struct NotCanonical(#[from] serde_json::Error);

/// Appends the canonical form of the JSON text `fragment` to `out`; on error `out` is unchanged.
pub fn write_canonical(fragment: &str, out: &mut Vec<u8>) -> Result<(), NotCanonical> {
    let start = out.len();
    let mut writer = Canonical {
        out,
        entries: Vec::new(),
        scratch: Vec::new(),
    };
    let mut deserializer = serde_json::Deserializer::from_str(fragment);
    let written = (&mut writer)
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    if let Err(error) = written {
        writer.out.truncate(start);
        return Err(error.into());
    }
    Ok(())
}

struct Canonical<'o, 'de> {
    out: &'o mut Vec<u8>,
    /// The entries of every object being written, innermost last.
    entries: Vec<Entry<'de>>,
    /// Where an unsorted object is reassembled; shared, as objects finish innermost first.
    scratch: Vec<u8>,
}

/// One `"key":value` of an object, as already written to the output.
struct Entry<'de> {
    key: Cow<'de, str>,
    span: Range<usize>,
}

impl<'de> Canonical<'_, 'de> {
    /// serde_json's own escaping and number formatting, as `Value` would be serialized.
    fn scalar<T: serde::Serialize + ?Sized, E: de::Error>(&mut self, value: &T) -> Result<(), E> {
        serde_json::to_writer(&mut *self.out, value).map_err(E::custom)
    }

    /// A string read without escapes holds nothing serde_json escapes (quotes and backslashes
    /// come escaped, control characters are refused), so it is written as read.
    fn borrowed_str(&mut self, v: &str) {
        self.out.push(b'"');
        self.out.extend_from_slice(v.as_bytes());
        self.out.push(b'"');
    }

    /// Sorts the object's entries (from `first` on) by key, the last of a repeated key winning,
    /// as `Value`'s map does; entries that came sorted are left where they are.
    fn close_object(&mut self, first: usize) {
        let entries = &mut self.entries[first..];
        if !entries.windows(2).all(|pair| pair[0].key < pair[1].key) {
            let body = entries[0].span.start;
            // Stable, so of equal keys the last one read is the last in the run.
            entries.sort_by(|a, b| a.key.cmp(&b.key));
            self.scratch.clear();
            for (i, entry) in entries.iter().enumerate() {
                if entries.get(i + 1).is_some_and(|next| next.key == entry.key) {
                    continue;
                }
                if !self.scratch.is_empty() {
                    self.scratch.push(b',');
                }
                self.scratch
                    .extend_from_slice(&self.out[entry.span.clone()]);
            }
            self.out.truncate(body);
            self.out.extend_from_slice(&self.scratch);
        }
        self.out.push(b'}');
        self.entries.truncate(first);
    }
}

impl<'de> DeserializeSeed<'de> for &mut Canonical<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for &mut Canonical<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.scalar(&v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.scalar(&v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.scalar(&v)
    }

    /// `Value` turns a non-finite float into `null`; serde_json serializes one as `null` too.
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.scalar(&v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.scalar(v)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
        self.borrowed_str(v);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.out.push(b'[');
        let mut first = true;
        loop {
            // The comma goes first and comes off again if the array has ended.
            let comma = self.out.len();
            if !first {
                self.out.push(b',');
            }
            if seq.next_element_seed(&mut *self)?.is_none() {
                self.out.truncate(comma);
                break;
            }
            first = false;
        }
        self.out.push(b']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some(key) = map.next_key_seed(KeySeed)? else {
            self.out.extend_from_slice(b"{}");
            return Ok(());
        };
        if key == RAW_VALUE_TOKEN {
            // Rare enough to take `Value`'s own road: its value is a string of JSON text.
            let text: String = map.next_value()?;
            let value: Value = serde_json::from_str(&text).map_err(de::Error::custom)?;
            return self.scalar(&value);
        }
        self.out.push(b'{');
        let first = self.entries.len();
        let mut key = Some(key);
        while let Some(k) = key {
            if self.entries.len() > first {
                self.out.push(b',');
            }
            let start = self.out.len();
            match &k {
                Cow::Borrowed(k) => self.borrowed_str(k),
                Cow::Owned(k) => self.scalar(k.as_str())?,
            }
            self.out.push(b':');
            map.next_value_seed(&mut *self)?;
            self.entries.push(Entry {
                key: k,
                span: start..self.out.len(),
            });
            key = map.next_key_seed(KeySeed)?;
        }
        self.close_object(first);
        Ok(())
    }
}

/// An object key, borrowed from the text unless it holds escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// How ids were first computed: through `serde_json::Value`.
    fn through_value(fragment: &str) -> Option<Vec<u8>> {
        let value: Value = serde_json::from_str(fragment).ok()?;
        Some(serde_json::to_vec(&value).expect("a value serializes"))
    }

    fn canonical(fragment: &str) -> Option<Vec<u8>> {
        let mut out = b"prefix".to_vec();
        match write_canonical(fragment, &mut out) {
            Ok(()) => Some(out.split_off(6)),
            Err(_) => {
                assert_eq!(out, b"prefix", "a failed write left bytes behind");
                None
            }
        }
    }

    fn same_as_value(fragment: &str) {
        assert_eq!(
            canonical(fragment).map(String::from_utf8),
            through_value(fragment).map(String::from_utf8),
            "{fragment}"
        );
    }

    #[test]
    fn edge_cases_match_value() {
        for fragment in [
            "{}",
            "[]",
            " [ 1 , [ ] , { } ] ",
            r#"{"b":1,"a":2,"":3,"é":4,"Z":5,"z":6,"aa":7}"#,
            r#"{"a":1,"b":2,"a":3,"c":{"y":[{"q":1,"p":2}],"x":0},"a":4}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"a\u0000b":1,"a":2,"\"":3}"#,
            "[-0,0,-0.0,1.0,1e2,1E-7,-1.5e300,5e-324,18446744073709551615,18446744073709551616]",
            "[-9223372036854775808,-9223372036854775809,0.1,123456789012345678901234567890]",
            "[1e400]",
            "[-1e400]",
            r#"["\ud800"]"#,
            r#"["\udc00"]"#,
            r#"["\ud83d\ude00 \u00e9\"\\\/\b\f\n\r\t\u0001\u001f\u007f\u2028 ü 😀"]"#,
            r#"{"$serde_json::private::RawValue":"{\"b\":1,\"a\":[1,2]}"}"#,
            r#"{"$serde_json::private::RawValue":"nope"}"#,
            r#"{"$serde_json::private::RawValue":"1","x":2}"#,
            r#"{"$serde_json::private::RawValue":5}"#,
            r#"{"\u0024serde_json::private::RawValue":" [3.0e0] "}"#,
            r#"{"x":1,"$serde_json::private::RawValue":"2"}"#,
            "null",
            "true",
            r#""text""#,
        ] {
            same_as_value(fragment);
        }
        for depth in [126, 127, 128, 129, 300] {
            same_as_value(&format!("{}{}", "[".repeat(depth), "]".repeat(depth)));
            same_as_value(&format!(
                "{}1{}",
                r#"{"a":"#.repeat(depth),
                "}".repeat(depth)
            ));
        }
    }

    fn json(depth: u32) -> impl Strategy<Value = String> {
        // Mostly JSON that `Value` holds; now and then a number beyond `f64` or a lone surrogate.
        let leaf = prop_oneof![
            2 => Just("null".to_owned()),
            2 => Just("true".to_owned()),
            8 => "-?(0|[1-9][0-9]{0,22})(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,2})?",
            1 => "-?[1-9]e[+-]?[3-4][0-9]{2}",
            8 => r#""([a-c ü😀]|\\[nt"\\/]|\\u00[0-9a-fA-F]{2}|\\ud83d\\ude00){0,6}""#,
            1 => r#""(a|\\u[dD][0-9a-fA-F]{3}){0,3}""#,
        ];
        let key = r#""([a-c]|\\u0061|é|\$serde_json::private::RawValue){0,3}""#;
        leaf.prop_recursive(depth, 64, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6)
                    .prop_map(|items| format!("[{}]", items.join(","))),
                prop::collection::vec((key, inner), 0..6).prop_map(|entries| {
                    let entries: Vec<String> =
                        entries.iter().map(|(k, v)| format!("{k} : {v}")).collect();
                    format!("{{ {} }}", entries.join(" , "))
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 2_000,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn any_json_matches_value(fragment in json(5)) {
            same_as_value(&fragment);
        }
    }
}
