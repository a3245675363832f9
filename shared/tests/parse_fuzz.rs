//! Property tests for `parse_delivery`: whatever arrives, it never panics; any JSON object gives at
//! least one event whose raw fragment is a piece of the input, byte for byte; ids are stable.
//!
//! JSON is generated through a small syntax tree of its own (not `serde_json::Value`) so that
//! numbers beyond `i64`/`u64`/`f64`, duplicate keys and odd whitespace can be produced.

use std::fmt::Write as _;
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::Config;
use serde::de::IgnoredAny;
use shared::domain::{Event, PayloadError, parse_delivery};

const FIXTURE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/insider/");

fn config(cases: u32) -> Config {
    Config {
        cases,
        // Keep proptest from writing regression files next to the tests.
        failure_persistence: None,
        ..Config::default()
    }
}

/// A JSON text in tree form. Numbers are kept as text so any size can be written.
#[derive(Debug, Clone)]
enum J {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

/// Whitespace styles: (after an opening bracket or a comma, before a closing bracket).
const STYLES: [(&str, &str); 4] = [("", ""), (" ", " "), ("\n    ", "\n"), ("\t\r\n", " \n\t")];

impl J {
    fn from_value(value: &serde_json::Value) -> J {
        use serde_json::Value;
        match value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Number(n) => J::Num(n.to_string()),
            Value::String(s) => J::Str(s.clone()),
            Value::Array(items) => J::Arr(items.iter().map(J::from_value).collect()),
            Value::Object(map) => J::Obj(
                map.iter()
                    .map(|(k, v)| (k.clone(), J::from_value(v)))
                    .collect(),
            ),
        }
    }

    fn render(&self, style: usize) -> String {
        let mut out = String::new();
        self.write(STYLES[style % STYLES.len()], &mut out);
        out
    }

    fn write(&self, (open, close): (&str, &str), out: &mut String) {
        let string = |s: &str, out: &mut String| {
            out.push_str(&serde_json::to_string(s).expect("a string serializes"));
        };
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            J::Num(n) => out.push_str(n),
            J::Str(s) => string(s, out),
            J::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    out.push_str(if i == 0 { open } else { "," });
                    if i > 0 {
                        out.push_str(open);
                    }
                    item.write((open, close), out);
                }
                if !items.is_empty() {
                    out.push_str(close);
                }
                out.push(']');
            }
            J::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    out.push_str(if i == 0 { open } else { "," });
                    if i > 0 {
                        out.push_str(open);
                    }
                    string(k, out);
                    out.push(':');
                    out.push_str(if open.is_empty() { "" } else { " " });
                    v.write((open, close), out);
                }
                if !fields.is_empty() {
                    out.push_str(close);
                }
                out.push('}');
            }
        }
    }

    fn is_object(&self) -> bool {
        matches!(self, J::Obj(_))
    }
}

// ------------------------------------------------------------------------------------------------
// Strategies

const KNOWN_KEYS: &[&str] = &[
    "key",
    "object",
    "entry",
    "id",
    "time",
    "changes",
    "field",
    "value",
    "messaging_product",
    "metadata",
    "phone_number_id",
    "display_phone_number",
    "statuses",
    "status",
    "recipient_id",
    "timestamp",
    "errors",
    "error",
    "code",
    "title",
    "details",
    "error_data",
    "href",
    "messages",
    "from",
    "type",
    "text",
    "body",
    "context",
    "contacts",
    "profile",
    "name",
    "wa_id",
    "input",
    "template",
    "to",
    "content",
    "conversation",
    "pricing",
    "referral",
    "interactive",
];

const KNOWN_STRINGS: &[&str] = &[
    "template",
    "sent",
    "delivered",
    "read",
    "failed",
    "deleted",
    "text",
    "button",
    "image",
    "messages",
    "whatsapp",
    "whatsapp_business_account",
    "whatsapp-6f1c8e2d4b7a903e51c2d8e7f05b13a4",
    "wamid.HBgMOTA1NTUxMTEyMjMzFQIAERgUM0VCMEM0QThGMUQyRTZCNzlBMDUA",
    "905551112233",
    "1718873014",
    " 1718873014 ",
    "-7",
    "130429",
    "abc",
    "",
    "\u{0}",
    "\"",
    "\\",
    "{}",
    "[]",
    "Ayşe 😀",
    "\u{2028}",
];

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(|f| f.to_string()),
        // Integers beyond u64, and exponents beyond f64 (1e400, 1e-400).
        "-?[1-9][0-9]{19,80}",
        "-?(0|[1-9][0-9]{0,3})(\\.[0-9]{1,6})?[eE][+-]?[0-9]{1,6}",
        Just("-0".to_owned()),
        Just("0.0".to_owned()),
    ]
}

fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(KNOWN_STRINGS).prop_map(str::to_owned),
        2 => ".{0,12}",
        1 => "[\\x00-\\x1f\"\\\\/\u{7f}-\u{ff}]{0,6}",
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![3 => select(KNOWN_KEYS).prop_map(str::to_owned), 1 => string()]
}

fn leaf() -> impl Strategy<Value = J> {
    prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        number().prop_map(J::Num),
        string().prop_map(J::Str),
    ]
}

fn json() -> impl Strategy<Value = J> {
    leaf().prop_recursive(5, 96, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(J::Arr),
            prop::collection::vec((key(), inner), 0..7).prop_map(J::Obj),
        ]
    })
}

fn object() -> impl Strategy<Value = J> {
    prop::collection::vec((key(), json()), 0..8).prop_map(J::Obj)
}

fn obj(fields: Vec<(&str, J)>) -> J {
    J::Obj(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// Objects shaped like statuses or messages: known keys, any values.
fn item() -> impl Strategy<Value = J> {
    prop_oneof![
        4 => prop::collection::vec((select(KNOWN_KEYS).prop_map(str::to_owned), json()), 0..8)
            .prop_map(J::Obj),
        1 => json(),
    ]
}

/// Meta envelopes whose every level may hold the wrong type.
fn envelope() -> impl Strategy<Value = J> {
    let value = (
        prop::collection::vec(item(), 0..4),
        prop::collection::vec(item(), 0..4),
        prop::collection::vec(item(), 0..3),
        json(),
    )
        .prop_map(|(statuses, messages, contacts, metadata)| {
            obj(vec![
                ("messaging_product", J::Str("whatsapp".into())),
                ("metadata", metadata),
                ("statuses", J::Arr(statuses)),
                ("messages", J::Arr(messages)),
                ("contacts", J::Arr(contacts)),
            ])
        });
    let change = prop_oneof![
        4 => value.prop_map(|v| obj(vec![("field", J::Str("messages".into())), ("value", v)])),
        1 => json(),
    ];
    let entry = prop_oneof![
        4 => prop::collection::vec(change, 0..4)
            .prop_map(|changes| obj(vec![("id", J::Str("1231313123".into())), ("changes", J::Arr(changes))])),
        1 => json(),
    ];
    (prop::collection::vec(entry, 0..4), leaf()).prop_map(|(entries, key)| {
        obj(vec![
            ("key", key),
            ("object", J::Str("whatsapp_business_account".into())),
            ("entry", J::Arr(entries)),
        ])
    })
}

// ------------------------------------------------------------------------------------------------
// Fixtures and their mutations

fn fixtures() -> &'static [(String, Vec<u8>, J)] {
    static FIXTURES: OnceLock<Vec<(String, Vec<u8>, J)>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let mut all: Vec<_> = std::fs::read_dir(FIXTURE_DIR)
            .expect("fixture folder")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| {
                let bytes = std::fs::read(&p).expect("fixture");
                let value: serde_json::Value =
                    serde_json::from_slice(&bytes).expect("fixture JSON");
                let name = p.file_name().expect("name").to_string_lossy().into_owned();
                (name, bytes, J::from_value(&value))
            })
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        assert!(!all.is_empty(), "no fixtures in {FIXTURE_DIR}");
        all
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Remove(Index),
    Replace(Index, J),
    Retype(Index, usize),
    Duplicate(Index),
    WrapInArray(Index),
}

fn retyped(which: usize) -> J {
    let options = [
        J::Str("abc".into()),
        J::Str(String::new()),
        J::Num("5".into()),
        J::Num("1.5".into()),
        J::Num("1e400".into()),
        J::Num("-123456789012345678901234567890".into()),
        J::Obj(Vec::new()),
        J::Arr(Vec::new()),
        J::Arr(vec![J::Num("1".into())]),
        J::Null,
        J::Bool(true),
    ];
    options[which % options.len()].clone()
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => any::<Index>().prop_map(Mutation::Remove),
        2 => (any::<Index>(), json()).prop_map(|(i, j)| Mutation::Replace(i, j)),
        3 => (any::<Index>(), 0usize..11).prop_map(|(i, t)| Mutation::Retype(i, t)),
        1 => any::<Index>().prop_map(Mutation::Duplicate),
        1 => any::<Index>().prop_map(Mutation::WrapInArray),
    ]
}

fn paths(node: &J, prefix: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
    out.push(prefix.clone());
    let children: Vec<&J> = match node {
        J::Arr(items) => items.iter().collect(),
        J::Obj(fields) => fields.iter().map(|(_, v)| v).collect(),
        _ => Vec::new(),
    };
    for (i, child) in children.into_iter().enumerate() {
        prefix.push(i);
        paths(child, prefix, out);
        prefix.pop();
    }
}

fn node_mut<'a>(root: &'a mut J, path: &[usize]) -> &'a mut J {
    path.iter().fold(root, |node, &i| match node {
        J::Arr(items) => &mut items[i],
        J::Obj(fields) => &mut fields[i].1,
        _ => unreachable!("paths only go through containers"),
    })
}

fn pick(root: &J, index: &Index) -> Vec<usize> {
    let mut all = Vec::new();
    paths(root, &mut Vec::new(), &mut all);
    all.swap_remove(index.index(all.len()))
}

fn apply(root: &mut J, mutation: &Mutation) {
    match mutation {
        Mutation::Remove(i) | Mutation::Duplicate(i) => {
            let path = pick(root, i);
            let Some((&last, parent)) = path.split_last() else {
                return;
            };
            let duplicate = matches!(mutation, Mutation::Duplicate(_));
            match node_mut(root, parent) {
                J::Arr(items) if duplicate => items.insert(last, items[last].clone()),
                J::Obj(fields) if duplicate => fields.insert(last, fields[last].clone()),
                J::Arr(items) => {
                    items.remove(last);
                }
                J::Obj(fields) => {
                    fields.remove(last);
                }
                _ => unreachable!("a parent is a container"),
            }
        }
        Mutation::Replace(i, with) => {
            let path = pick(root, i);
            *node_mut(root, &path) = with.clone();
        }
        Mutation::Retype(i, which) => {
            let path = pick(root, i);
            *node_mut(root, &path) = retyped(*which);
        }
        Mutation::WrapInArray(i) => {
            let path = pick(root, i);
            let node = node_mut(root, &path);
            *node = J::Arr(vec![std::mem::replace(node, J::Null)]);
        }
    }
}

// ------------------------------------------------------------------------------------------------
// The properties

fn ids(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.id.clone()).collect()
}

/// What must hold for any body that parsed: events exist, each raw fragment is a piece of the
/// body and is JSON, and parsing again gives the same ids.
fn check_events(body: &[u8], events: &[Event]) -> Result<(), TestCaseError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| TestCaseError::fail(format!("parsed a body that is not UTF-8: {e}")))?;
    prop_assert!(!events.is_empty(), "an object gave no event: {text:?}");
    for e in events {
        let raw = e.raw.get();
        prop_assert!(
            text.contains(raw),
            "raw {raw:?} is not a substring of {text:?}"
        );
        prop_assert!(
            serde_json::from_str::<IgnoredAny>(raw).is_ok(),
            "raw {raw:?} is not JSON"
        );
        prop_assert_eq!(e.id.len(), 32);
    }
    let again = parse_delivery(body).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
    prop_assert_eq!(ids(events), ids(&again), "ids differ between two parses");
    Ok(())
}

/// A rendered tree: an object must parse into events, anything else is `NotObject`.
fn check_tree(tree: &J, style: usize) -> Result<(), TestCaseError> {
    let body = tree.render(style);
    match parse_delivery(body.as_bytes()) {
        Ok(events) => {
            prop_assert!(tree.is_object(), "a non-object parsed: {body:?}");
            check_events(body.as_bytes(), &events)
        }
        Err(PayloadError::NotObject) => {
            prop_assert!(
                !tree.is_object(),
                "an object was called NotObject: {body:?}"
            );
            Ok(())
        }
        Err(e) => Err(TestCaseError::fail(format!(
            "valid JSON was rejected ({e:?}): {body:?}"
        ))),
    }
}

proptest! {
    #![proptest_config(config(2048))]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(events) = parse_delivery(&body) {
            check_events(&body, &events)?;
        }
    }

    #[test]
    fn json_alphabet_soup_never_panics(soup in "[{}\\[\\]\",:0-9a-z.eE+\\- \\\\\n]{0,80}") {
        for body in [soup.clone(), format!("{{{soup}}}"), format!("{{\"entry\":[{soup}]}}")] {
            if let Ok(events) = parse_delivery(body.as_bytes()) {
                check_events(body.as_bytes(), &events)?;
            }
        }
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn arbitrary_json_values(tree in json(), style in 0usize..4) {
        check_tree(&tree, style)?;
    }

    #[test]
    fn arbitrary_json_objects(tree in object(), style in 0usize..4) {
        check_tree(&tree, style)?;
    }

    #[test]
    fn meta_envelopes_with_any_types(tree in envelope(), style in 0usize..4) {
        check_tree(&tree, style)?;
    }

    #[test]
    fn fixture_mutations_never_panic(
        which in any::<Index>(),
        mutations in prop::collection::vec(mutation(), 1..5),
        style in 0usize..4,
    ) {
        let all = fixtures();
        let (_, _, tree) = &all[which.index(all.len())];
        let mut tree = tree.clone();
        for m in &mutations {
            apply(&mut tree, m);
        }
        check_tree(&tree, style)?;
    }

    #[test]
    fn truncated_fixtures_are_not_json(which in any::<Index>(), cut in any::<Index>()) {
        let all = fixtures();
        let (name, bytes, _) = &all[which.index(all.len())];
        let end = bytes.iter().rposition(|b| *b == b'}').expect("an object ends with }") + 1;
        let cut = cut.index(bytes.len() + 1);
        let body = &bytes[..cut];
        match parse_delivery(body) {
            Ok(events) => {
                prop_assert!(cut >= end, "{name} cut at {cut} still parsed");
                check_events(body, &events)?;
            }
            Err(e) => {
                prop_assert!(cut < end, "{name} whole body failed: {e:?}");
                prop_assert!(matches!(e, PayloadError::NotJson(_)), "{name} cut at {cut}: {e:?}");
            }
        }
    }

    #[test]
    fn fixtures_with_a_byte_changed_never_panic(
        which in any::<Index>(),
        at in any::<Index>(),
        byte in any::<u8>(),
    ) {
        let all = fixtures();
        let (_, bytes, _) = &all[which.index(all.len())];
        let mut body = bytes.clone();
        let at = at.index(body.len());
        body[at] = byte;
        if let Ok(events) = parse_delivery(&body) {
            check_events(&body, &events)?;
        }
    }
}
