//! The parser against every payload in `tests/fixtures/insider/`: the samples of the vendor's
//! webhook documentation and the shapes Meta sends beyond them (see that folder's README).
//!
//! Every event of every fixture is checked field by field, and its raw fragment is checked to be
//! the exact bytes of the JSON value it came from. Failures name the fixture, the event and the
//! field, and list every mismatch at once.

use std::collections::{BTreeSet, HashSet};
use std::fmt::{Debug, Write as _};

use serde_json::Value;
use shared::domain::{
    DeliveryStatus, Event, EventFamily, MessageState, PayloadError, parse_delivery, status_changes,
};

const FIXTURE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/insider/");

// Values the fixtures use (they tell one story: a template to a Turkish customer, its lifecycle,
// the customer's replies, and a few other messages).
const BIZ_PNID: &str = "114563218259037";
const BIZ2_PNID: &str = "127390448812365";
const CUST: &str = "905551112233";
const CUST_IT: &str = "393336188770";
const CUST_DE: &str = "491701234567";

const W1: &str = "wamid.HBgMOTA1NTUxMTEyMjMzFQIAERgUM0VCMEM0QThGMUQyRTZCNzlBMDUA";
const W2: &str = "wamid.HBgMOTA1NTUxMTEyMjMzFQIAERgUM0VCMDVEN0UyMUE5QzRGOEI2MTMA";
const W3: &str = "wamid.HBgMOTA1NTUxMTEyMjMzFQIAERgUM0VCMEExQjJDM0Q0RTVGNjA3MTgA";
const W4: &str = "wamid.HBgMOTA1NTUxMTEyMjMzFQIAERgUM0VCMDlGOEU3RDZDNUI0QTM5MjEA";
const W5: &str = "wamid.HBgMOTA1NTUxMTEyMjMzFQIAERgUM0VCMDExMjIzMzQ0NTU2NkFBNzcA";
const W6: &str = "wamid.HBgMOTA1NTUxMTEyMjMzFQIAERgUM0VCMERFQURCRUVGQ0FGRTAwNDIA";
const W7: &str = "wamid.HBgMOTA1NTUxMTEyMjMzFQIAERgUM0VCMDdBNkI1QzREM0UyRjEwOTkA";
const ICE: &str = "wamid.HBgMOTA1NTUxMTEyMjMzFQIAERgUM0VCMEYwMERGMDBERjAwREYwMEQA";
const R_TEXT: &str = "wamid.HBgMOTA1NTUxMTEyMjMzFQIAEhgUQUNGMUI5RTA3RDNDMkE1RTg0RjEA";
const R_BTN: &str = "wamid.HBgMOTA1NTUxMTEyMjMzFQIAEhgUQUM5QzJENEU2RjhBMEIxQzNENUUA";
const R_STICKER: &str = "wamid.HBgMMzkzMzM2MTg4NzcwFQIAEhgUQTFCMkMzRDRFNUY2QTdCOEM5RDAA";
const R_VIDEO: &str = "wamid.HBgMMzkzMzM2MTg4NzcwFQIAEhgUQjJDM0Q0RTVGNkE3QjhDOUQwRTEA";
const R_IMAGE: &str = "wamid.HBgMMzkzMzM2MTg4NzcwFQIAEhgUQzNENEU1RjZBN0I4QzlEMEUxRjIA";
const R_DOC: &str = "wamid.HBgMMzkzMzM2MTg4NzcwFQIAEhgURDRFNUY2QTdCOEM5RDBFMUYyQTMA";
const R_AUDIO: &str = "wamid.HBgMOTA1NTUxMTEyMjMzFQIAEhgURTVGNkE3QjhDOUQwRTFGMkEzQjQA";
const R_LOC: &str = "wamid.HBgMOTA1NTUxMTEyMjMzFQIAEhgURjZBN0I4QzlEMEUxRjJBM0I0QzUA";
const R_CONTACTS: &str = "wamid.HBgMOTA1NTUxMTEyMjMzFQIAEhgUQTdCOEM5RDBFMUYyQTNCNEM1RDYA";
const R_IBTN: &str = "wamid.HBgMOTA1NTUxMTEyMjMzFQIAEhgUQjhDOUQwRTFGMkEzQjRDNUQ2RTcA";
const R_ILIST: &str = "wamid.HBgMOTA1NTUxMTEyMjMzFQIAEhgUQzlEMEUxRjJBM0I0QzVENkU3RjgA";
const R_REACT: &str = "wamid.HBgMOTA1NTUxMTEyMjMzFQIAEhgURDBFMUYyQTNCNEM1RDZFN0Y4QTkA";
const R_ORDER: &str = "wamid.HBgMOTA1NTUxMTEyMjMzFQIAEhgURTFGMkEzQjRDNUQ2RTdGOEE5QjAA";
const R_SYSTEM: &str = "wamid.HBgMOTA1NTUxMTEyMjMzFQIAEhgURjJBM0I0QzVENkU3RjhBOUIwQzEA";
const R_UNSUP: &str = "wamid.HBgMOTA1NTUxMTEyMjMzFQIAEhgUQTNCNEM1RDZFN0Y4QTlCMEMxRDIA";
const R_REFERRAL: &str = "wamid.HBgMOTA1NTUxMTEyMjMzFQIAEhgUQjRDNUQ2RTdGOEE5QjBDMUQyRTMA";
const B_SENT_A: &str = "wamid.HBgMOTA1NTUxMTEyMjMzFQIAERgUM0VCMEFBQUExMTExQkJCQjIyMjIA";
const B_READ_B: &str = "wamid.HBgMOTA1NTUxMTEyMjMzFQIAERgUM0VCMENDQ0MzMzMzRERERDQ0NDQA";
const B_REPLY: &str = "wamid.HBgMOTA1NTUxMTEyMjMzFQIAEhgUQUNFRUVFNTU1NUZGRkY2NjY2NzcA";
const B_SENT_C: &str = "wamid.HBgMNDkxNzAxMjM0NTY3FQIAERgUM0VCMDc3Nzc4ODg4OTk5OUFBQUEA";
const B_IMG: &str = "wamid.HBgMNDkxNzAxMjM0NTY3FQIAEhgUQUNCQkJCQ0NDQ0RERERFRUVFRkYA";
const B_TXT: &str = "wamid.HBgMMzkzMzM2MTg4NzcwFQIAEhgUQUMwMDAwMTExMTIyMjIzMzMzQUIA";

const K1: &str = "whatsapp-6f1c8e2d4b7a903e51c2d8e7f05b13a4";
const K2: &str = "whatsapp-0b9d3f5a7c1e2468ace13579bdf02468";
const K3: &str = "whatsapp-a3e5c7f9b1d2e4f6a8c0b2d4e6f8a1c3";
const K4: &str = "whatsapp-5d8e1f3a6b9c2d4e7f0a1b3c5d7e9f20";
const K5: &str = "whatsapp-7e2a4c6e8f0b1d3f5a7c9e1b3d5f7a90";
const K6: &str = "whatsapp-91c3e5a7b9d1f3e5c7a9b1d3f5e7c9a2";
const K7: &str = "whatsapp-2c4e6a8c0e2f4a6c8e0a2c4e6f8a0c42";
const K8: &str = "whatsapp-d4f6b8a0c2e4f6a8b0c2d4e6f8a0b2c4";
const K9: &str = "whatsapp-38b5a1f0e9d2c7b4a6f8e1d3c5b7a9f1";
const KU: &str = "whatsapp-4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b";

/// JSON pointers (into the fixture) of the fragments events keep.
const WHOLE: &str = "";
const STATUS_0: &str = "/entry/0/changes/0/value/statuses/0";
const STATUS_1: &str = "/entry/0/changes/0/value/statuses/1";
const MESSAGE_0: &str = "/entry/0/changes/0/value/messages/0";

/// Every fixture file; `fixture_folder_matches_this_list` keeps it in step with the folder.
const ALL_FIXTURES: &[&str] = &[
    "accepted.json",
    "error.json",
    "error_with_error_data.json",
    "error_auth_0.json",
    "error_token_expired_190.json",
    "error_rate_limit_130429.json",
    "error_spam_131048.json",
    "error_access_denied_131005.json",
    "error_blocked_368.json",
    "on_premise_error_402.json",
    "on_premise_error_408.json",
    "on_premise_error_429.json",
    "on_premise_error_2000.json",
    "on_premise_error_2060.json",
    "on_premise_error_500.json",
    "status_sent.json",
    "status_delivered.json",
    "status_read.json",
    "status_failed.json",
    "reply_text.json",
    "reply_text_with_key.json",
    "reply_button.json",
    "reply_image.json",
    "reply_video.json",
    "reply_document.json",
    "reply_sticker.json",
    "template.json",
    "multi_entry_batch.json",
    "status_with_pricing.json",
    "status_failed_with_error_data.json",
    "status_out_of_order_read.json",
    "status_delivered_and_failed.json",
    "status_unknown_name.json",
    "reply_audio.json",
    "reply_location.json",
    "reply_contacts.json",
    "reply_interactive_button_reply.json",
    "reply_interactive_list_reply.json",
    "reply_reaction.json",
    "reply_order.json",
    "reply_system.json",
    "reply_unsupported.json",
    "reply_with_referral.json",
    "unknown_shape.json",
    "unknown_shape_with_key.json",
    "meta_unknown_field_change.json",
];

fn load(name: &str) -> Vec<u8> {
    let path = format!("{FIXTURE_DIR}{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read fixture {path}: {e}"))
}

fn parse_ok(name: &str, body: &[u8]) -> Vec<Event> {
    parse_delivery(body).unwrap_or_else(|e| panic!("{name}: parse_delivery failed: {e:?}"))
}

fn ids(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.id.clone()).collect()
}

/// What one event must look like.
#[derive(Debug, Clone)]
struct Expect {
    family: EventFamily,
    /// JSON pointer into the fixture of the value the event's raw fragment must be.
    raw_at: &'static str,
    message_id: Option<&'static str>,
    key: Option<&'static str>,
    status: Option<DeliveryStatus>,
    message_type: Option<&'static str>,
    contact: Option<&'static str>,
    contact_name: Option<&'static str>,
    phone_number_id: Option<&'static str>,
    in_reply_to: Option<&'static str>,
    occurred_at: Option<i64>,
    error_codes: Vec<i64>,
}

impl Expect {
    fn new(family: EventFamily, raw_at: &'static str) -> Self {
        Self {
            family,
            raw_at,
            message_id: None,
            key: None,
            status: None,
            message_type: None,
            contact: None,
            contact_name: None,
            phone_number_id: None,
            in_reply_to: None,
            occurred_at: None,
            error_codes: Vec::new(),
        }
    }
    fn message_id(mut self, v: &'static str) -> Self {
        self.message_id = Some(v);
        self
    }
    fn key(mut self, v: &'static str) -> Self {
        self.key = Some(v);
        self
    }
    fn status(mut self, v: DeliveryStatus) -> Self {
        self.status = Some(v);
        self
    }
    fn message_type(mut self, v: &'static str) -> Self {
        self.message_type = Some(v);
        self
    }
    fn contact(mut self, v: &'static str) -> Self {
        self.contact = Some(v);
        self
    }
    fn contact_name(mut self, v: &'static str) -> Self {
        self.contact_name = Some(v);
        self
    }
    fn phone_number_id(mut self, v: &'static str) -> Self {
        self.phone_number_id = Some(v);
        self
    }
    fn in_reply_to(mut self, v: &'static str) -> Self {
        self.in_reply_to = Some(v);
        self
    }
    fn occurred_at(mut self, v: i64) -> Self {
        self.occurred_at = Some(v);
        self
    }
    fn error_codes(mut self, v: &[i64]) -> Self {
        self.error_codes = v.to_vec();
        self
    }
}

/// A status event of the usual single-status envelope.
fn status_at(
    raw_at: &'static str,
    message_id: &'static str,
    key: Option<&'static str>,
    status: DeliveryStatus,
    recipient: &'static str,
    at: i64,
) -> Expect {
    let e = Expect::new(EventFamily::Status, raw_at)
        .message_id(message_id)
        .status(status)
        .contact(recipient)
        .phone_number_id(BIZ_PNID)
        .occurred_at(at);
    match key {
        Some(k) => e.key(k),
        None => e,
    }
}

/// A reply event of the usual single-message envelope.
fn reply(
    message_id: &'static str,
    message_type: &'static str,
    from: &'static str,
    name: Option<&'static str>,
    at: i64,
) -> Expect {
    let e = Expect::new(EventFamily::Reply, MESSAGE_0)
        .message_id(message_id)
        .message_type(message_type)
        .contact(from)
        .phone_number_id(BIZ_PNID)
        .occurred_at(at);
    match name {
        Some(n) => e.contact_name(n),
        None => e,
    }
}

fn error(key: Option<&'static str>, code: i64) -> Expect {
    let e = Expect::new(EventFamily::Error, WHOLE).error_codes(&[code]);
    match key {
        Some(k) => e.key(k),
        None => e,
    }
}

fn on_premise(code: i64) -> Expect {
    Expect::new(EventFamily::OnPremiseError, WHOLE).error_codes(&[code])
}

fn compare<T: PartialEq + Debug>(
    problems: &mut Vec<String>,
    index: usize,
    field: &str,
    actual: T,
    expected: T,
) {
    if actual != expected {
        problems.push(format!(
            "event {index}: {field}: expected {expected:?}, got {actual:?}"
        ));
    }
}

/// Checks that `event.raw` is exactly the bytes of the value at `pointer` as they stand in `body`.
fn check_raw(
    problems: &mut Vec<String>,
    index: usize,
    body: &str,
    doc: &Value,
    event: &Event,
    pointer: &str,
) {
    let raw = event.raw.get();
    if !body.contains(raw) {
        problems.push(format!(
            "event {index}: raw is not a substring of the input: {raw:?}"
        ));
    }
    match serde_json::from_str::<Value>(raw) {
        Err(e) => problems.push(format!(
            "event {index}: raw does not parse as JSON ({e}): {raw:?}"
        )),
        Ok(parsed) => match doc.pointer(pointer) {
            None => problems.push(format!(
                "event {index}: the test's pointer {pointer:?} names nothing"
            )),
            Some(expected) if *expected != parsed => problems.push(format!(
                "event {index}: raw is not the fragment at {pointer:?}: got {raw:?}"
            )),
            Some(_) => {}
        },
    }
}

/// Parses fixture `name` and checks every field of every event against `expected`.
fn check(name: &str, expected: &[Expect]) -> Vec<Event> {
    let bytes = load(name);
    let body = std::str::from_utf8(&bytes).unwrap_or_else(|e| panic!("{name}: not UTF-8: {e}"));
    let doc: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
    let events = parse_ok(name, &bytes);

    let mut problems = Vec::new();
    if events.len() != expected.len() {
        problems.push(format!(
            "expected {} event(s), got {}: {:?}",
            expected.len(),
            events.len(),
            events.iter().map(|e| e.family).collect::<Vec<_>>()
        ));
    }
    for (i, (event, want)) in events.iter().zip(expected).enumerate() {
        compare(&mut problems, i, "family", event.family, want.family);
        compare(
            &mut problems,
            i,
            "message_id",
            event.message_id.as_deref(),
            want.message_id,
        );
        compare(&mut problems, i, "key", event.key.as_deref(), want.key);
        compare(
            &mut problems,
            i,
            "status",
            event.status.as_ref(),
            want.status.as_ref(),
        );
        compare(
            &mut problems,
            i,
            "message_type",
            event.message_type.as_deref(),
            want.message_type,
        );
        compare(
            &mut problems,
            i,
            "contact",
            event.contact.as_deref(),
            want.contact,
        );
        compare(
            &mut problems,
            i,
            "contact_name",
            event.contact_name.as_deref(),
            want.contact_name,
        );
        compare(
            &mut problems,
            i,
            "phone_number_id",
            event.phone_number_id.as_deref(),
            want.phone_number_id,
        );
        compare(
            &mut problems,
            i,
            "in_reply_to",
            event.in_reply_to.as_deref(),
            want.in_reply_to,
        );
        compare(
            &mut problems,
            i,
            "occurred_at",
            event.occurred_at,
            want.occurred_at,
        );
        compare(
            &mut problems,
            i,
            "error_codes",
            &event.error_codes,
            &want.error_codes,
        );
        check_raw(&mut problems, i, body, &doc, event, want.raw_at);
        if event.id.len() != 32 || !event.id.bytes().all(|b| b.is_ascii_hexdigit()) {
            problems.push(format!(
                "event {i}: id is not 32 hex digits: {:?}",
                event.id
            ));
        }
    }
    if !problems.is_empty() {
        let mut message = format!("fixture {name}: {} problem(s)\n", problems.len());
        for p in &problems {
            let _ = writeln!(message, "  - {p}");
        }
        panic!("{message}");
    }
    events
}

// ------------------------------------------------------------------------------------------------
// Seed samples: accepted and Cloud API errors

#[test]
fn accepted() {
    check(
        "accepted.json",
        &[Expect::new(EventFamily::Accepted, WHOLE)
            .message_id(W1)
            .key(K1)
            .status(DeliveryStatus::Accepted)
            .contact(CUST)],
    );
}

#[test]
fn error_generic() {
    check("error.json", &[error(Some(K3), 131026)]);
}

#[test]
fn error_with_error_data() {
    check("error_with_error_data.json", &[error(None, 130429)]);
}

#[test]
fn error_auth_0() {
    check("error_auth_0.json", &[error(None, 0)]);
}

#[test]
fn error_token_expired_190() {
    check("error_token_expired_190.json", &[error(None, 190)]);
}

#[test]
fn error_rate_limit_130429() {
    check("error_rate_limit_130429.json", &[error(None, 130429)]);
}

#[test]
fn error_spam_131048() {
    check("error_spam_131048.json", &[error(None, 131048)]);
}

#[test]
fn error_access_denied_131005() {
    check("error_access_denied_131005.json", &[error(None, 131005)]);
}

#[test]
fn error_blocked_368() {
    check("error_blocked_368.json", &[error(None, 368)]);
}

// ------------------------------------------------------------------------------------------------
// Seed samples: On-Premise errors

#[test]
fn on_premise_error_402() {
    check("on_premise_error_402.json", &[on_premise(402)]);
}

#[test]
fn on_premise_error_408() {
    check("on_premise_error_408.json", &[on_premise(408)]);
}

#[test]
fn on_premise_error_429() {
    check("on_premise_error_429.json", &[on_premise(429)]);
}

#[test]
fn on_premise_error_2000() {
    check("on_premise_error_2000.json", &[on_premise(2000)]);
}

#[test]
fn on_premise_error_2060() {
    check("on_premise_error_2060.json", &[on_premise(2060)]);
}

#[test]
fn on_premise_error_500() {
    check("on_premise_error_500.json", &[on_premise(500)]);
}

// ------------------------------------------------------------------------------------------------
// Seed samples: statuses

#[test]
fn status_sent() {
    check(
        "status_sent.json",
        &[status_at(
            STATUS_0,
            W1,
            Some(K1),
            DeliveryStatus::Sent,
            CUST,
            1718873014,
        )],
    );
}

#[test]
fn status_delivered() {
    check(
        "status_delivered.json",
        &[status_at(
            STATUS_0,
            W1,
            Some(K1),
            DeliveryStatus::Delivered,
            CUST,
            1718873016,
        )],
    );
}

#[test]
fn status_read() {
    check(
        "status_read.json",
        &[status_at(
            STATUS_0,
            W1,
            Some(K1),
            DeliveryStatus::Read,
            CUST,
            1718873140,
        )],
    );
}

#[test]
fn status_failed() {
    check(
        "status_failed.json",
        &[status_at(
            STATUS_0,
            W2,
            Some(K2),
            DeliveryStatus::Failed,
            CUST,
            1671526301,
        )
        .error_codes(&[131026])],
    );
}

// ------------------------------------------------------------------------------------------------
// Seed samples: replies and the template event

#[test]
fn reply_text_with_empty_key() {
    // The seed marks this sample's key "be empty": an empty key is reported as no key.
    check(
        "reply_text.json",
        &[reply(R_TEXT, "text", CUST, Some("Insider"), 1718873301)],
    );
}

#[test]
fn reply_text_with_key() {
    check(
        "reply_text_with_key.json",
        &[reply(R_TEXT, "text", CUST, Some("Insider"), 1718873301).key(K1)],
    );
}

#[test]
fn reply_button() {
    check(
        "reply_button.json",
        &[reply(R_BTN, "button", CUST, Some("Insider"), 1718873205)
            .key(K1)
            .in_reply_to(W1)],
    );
}

#[test]
fn reply_image() {
    check(
        "reply_image.json",
        &[reply(
            R_IMAGE,
            "image",
            CUST_IT,
            Some("Insider"),
            1678889571,
        )],
    );
}

#[test]
fn reply_video() {
    check(
        "reply_video.json",
        &[reply(
            R_VIDEO,
            "video",
            CUST_IT,
            Some("Insider"),
            1678889564,
        )],
    );
}

#[test]
fn reply_document() {
    check(
        "reply_document.json",
        &[reply(
            R_DOC,
            "document",
            CUST_IT,
            Some("Insider"),
            1678889577,
        )],
    );
}

#[test]
fn reply_sticker() {
    check(
        "reply_sticker.json",
        &[reply(
            R_STICKER,
            "sticker",
            CUST_IT,
            Some("Insider"),
            1678889298,
        )],
    );
}

#[test]
fn template() {
    check(
        "template.json",
        &[Expect::new(EventFamily::Template, WHOLE)
            .key(K1)
            .contact(CUST)
            .occurred_at(1718873012)],
    );
}

// ------------------------------------------------------------------------------------------------
// Beyond the seed: what Meta really sends

#[test]
fn multi_entry_batch() {
    check(
        "multi_entry_batch.json",
        &[
            status_at(
                STATUS_0,
                B_SENT_A,
                None,
                DeliveryStatus::Delivered,
                CUST,
                1718881001,
            ),
            status_at(
                STATUS_1,
                B_READ_B,
                None,
                DeliveryStatus::Read,
                CUST,
                1718881002,
            ),
            Expect::new(EventFamily::Reply, "/entry/0/changes/1/value/messages/0")
                .message_id(B_REPLY)
                .message_type("text")
                .contact(CUST)
                .contact_name("Ayşe Yılmaz")
                .phone_number_id(BIZ_PNID)
                .in_reply_to(B_SENT_A)
                .occurred_at(1718881005),
            Expect::new(EventFamily::Status, "/entry/1/changes/0/value/statuses/0")
                .message_id(B_SENT_C)
                .status(DeliveryStatus::Sent)
                .contact(CUST_DE)
                .phone_number_id(BIZ2_PNID)
                .occurred_at(1718881008),
            // Two senders in one change: each reply takes the profile name of its own sender.
            Expect::new(EventFamily::Reply, "/entry/1/changes/0/value/messages/0")
                .message_id(B_IMG)
                .message_type("image")
                .contact(CUST_DE)
                .contact_name("Jonas Weber")
                .phone_number_id(BIZ2_PNID)
                .occurred_at(1718881010),
            Expect::new(EventFamily::Reply, "/entry/1/changes/0/value/messages/1")
                .message_id(B_TXT)
                .message_type("text")
                .contact(CUST_IT)
                .contact_name("Marco Rossi")
                .phone_number_id(BIZ2_PNID)
                .occurred_at(1718881012),
        ],
    );
}

#[test]
fn status_with_pricing() {
    check(
        "status_with_pricing.json",
        &[status_at(
            STATUS_0,
            W3,
            Some(K4),
            DeliveryStatus::Sent,
            CUST,
            1718874410,
        )],
    );
}

#[test]
fn status_failed_with_error_data() {
    check(
        "status_failed_with_error_data.json",
        &[status_at(
            STATUS_0,
            W6,
            Some(K6),
            DeliveryStatus::Failed,
            CUST,
            1718875022,
        )
        .error_codes(&[131049])],
    );
}

#[test]
fn status_out_of_order_read() {
    let events = check(
        "status_out_of_order_read.json",
        &[
            status_at(
                STATUS_0,
                W4,
                Some(K5),
                DeliveryStatus::Read,
                CUST,
                1718876100,
            ),
            status_at(
                STATUS_1,
                W4,
                Some(K5),
                DeliveryStatus::Delivered,
                CUST,
                1718876040,
            ),
        ],
    );
    // The late `delivered` never moves the message back from `read`.
    let changes = status_changes(&events);
    assert_eq!(
        changes.len(),
        1,
        "status_out_of_order_read.json: {changes:?}"
    );
    assert_eq!(
        changes[0].progress,
        Some((DeliveryStatus::Read, Some(1718876100))),
        "status_out_of_order_read.json"
    );
    assert_eq!(changes[0].failure, None, "status_out_of_order_read.json");
}

#[test]
fn status_delivered_and_failed() {
    let events = check(
        "status_delivered_and_failed.json",
        &[
            status_at(
                STATUS_0,
                W7,
                Some(K7),
                DeliveryStatus::Delivered,
                CUST,
                1718877001,
            ),
            status_at(
                STATUS_1,
                W7,
                Some(K7),
                DeliveryStatus::Failed,
                CUST,
                1718877003,
            )
            .error_codes(&[131026]),
        ],
    );
    // Both reports count: delivered on one device, failed on another.
    let changes = status_changes(&events);
    assert_eq!(
        changes.len(),
        1,
        "status_delivered_and_failed.json: {changes:?}"
    );
    let change = &changes[0];
    assert_eq!(
        change.progress,
        Some((DeliveryStatus::Delivered, Some(1718877001)))
    );
    let failure = change
        .failure
        .as_ref()
        .expect("status_delivered_and_failed.json: failure");
    assert_eq!(
        (failure.at, failure.error_codes.as_slice()),
        (Some(1718877003), &[131026][..])
    );
    let mut state = MessageState::default();
    state.apply(change);
    assert_eq!(state.status(), Some("failed"));
}

#[test]
fn status_unknown_name() {
    check(
        "status_unknown_name.json",
        &[status_at(
            STATUS_0,
            W5,
            Some(K8),
            DeliveryStatus::Other("deleted".to_owned()),
            CUST,
            1718878200,
        )],
    );
}

#[test]
fn reply_audio() {
    check(
        "reply_audio.json",
        &[reply(
            R_AUDIO,
            "audio",
            CUST,
            Some("Ayşe Yılmaz"),
            1718879001,
        )],
    );
}

#[test]
fn reply_location() {
    check(
        "reply_location.json",
        &[reply(
            R_LOC,
            "location",
            CUST,
            Some("Ayşe Yılmaz"),
            1718879102,
        )],
    );
}

#[test]
fn reply_contacts() {
    // The shared contact card (messages[].contacts) is not the sender (value.contacts).
    check(
        "reply_contacts.json",
        &[reply(
            R_CONTACTS,
            "contacts",
            CUST,
            Some("Ayşe Yılmaz"),
            1718879203,
        )],
    );
}

#[test]
fn reply_interactive_button_reply() {
    check(
        "reply_interactive_button_reply.json",
        &[
            reply(R_IBTN, "interactive", CUST, Some("Ayşe Yılmaz"), 1718879304)
                .key(K9)
                .in_reply_to(ICE),
        ],
    );
}

#[test]
fn reply_interactive_list_reply() {
    check(
        "reply_interactive_list_reply.json",
        &[reply(
            R_ILIST,
            "interactive",
            CUST,
            Some("Ayşe Yılmaz"),
            1718879405,
        )
        .key(K9)
        .in_reply_to(ICE)],
    );
}

#[test]
fn reply_reaction() {
    // A reaction names the reacted-to message in reaction.message_id, not in context.
    check(
        "reply_reaction.json",
        &[reply(
            R_REACT,
            "reaction",
            CUST,
            Some("Ayşe Yılmaz"),
            1718879506,
        )],
    );
}

#[test]
fn reply_order() {
    check(
        "reply_order.json",
        &[reply(
            R_ORDER,
            "order",
            CUST,
            Some("Ayşe Yılmaz"),
            1718879607,
        )],
    );
}

#[test]
fn reply_system() {
    // System messages come without value.contacts: no profile name.
    check(
        "reply_system.json",
        &[reply(R_SYSTEM, "system", CUST, None, 1718879708)],
    );
}

#[test]
fn reply_unsupported() {
    check(
        "reply_unsupported.json",
        &[reply(
            R_UNSUP,
            "unsupported",
            CUST,
            Some("Ayşe Yılmaz"),
            1718879809,
        )
        .error_codes(&[131051])],
    );
}

#[test]
fn reply_with_referral() {
    check(
        "reply_with_referral.json",
        &[reply(
            R_REFERRAL,
            "text",
            CUST,
            Some("Ayşe Yılmaz"),
            1718879910,
        )],
    );
}

#[test]
fn unknown_shape() {
    check(
        "unknown_shape.json",
        &[Expect::new(EventFamily::Unknown, WHOLE)],
    );
}

#[test]
fn unknown_shape_with_key() {
    // `Event::key` is documented as "None when absent or empty": a non-empty top-level key must be
    // kept even when the rest of the object is of no known family (unknown changes inside a Meta
    // envelope do keep it).
    check(
        "unknown_shape_with_key.json",
        &[Expect::new(EventFamily::Unknown, WHOLE).key(KU)],
    );
}

#[test]
fn meta_unknown_field_change() {
    check(
        "meta_unknown_field_change.json",
        &[Expect::new(EventFamily::Unknown, "/entry/0/changes/0")],
    );
}

// ------------------------------------------------------------------------------------------------
// Properties of every fixture

#[test]
fn fixture_folder_matches_this_list_and_the_readme() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(FIXTURE_DIR)
        .expect("fixture folder")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .into_string()
                .expect("UTF-8 name")
        })
        .filter(|n| n.ends_with(".json"))
        .collect();
    let listed: BTreeSet<String> = ALL_FIXTURES.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(
        listed.len(),
        ALL_FIXTURES.len(),
        "ALL_FIXTURES has a repeat"
    );
    assert_eq!(on_disk, listed, "fixture folder and ALL_FIXTURES differ");
    let readme = String::from_utf8(load("README.md")).expect("README is UTF-8");
    let missing: Vec<_> = ALL_FIXTURES
        .iter()
        .filter(|n| !readme.contains(&format!("`{n}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "fixtures missing from README.md: {missing:?}"
    );
}

#[test]
fn every_fixture_is_pretty_printed_json_without_placeholders() {
    for name in ALL_FIXTURES {
        let bytes = load(name);
        let text = std::str::from_utf8(&bytes).unwrap_or_else(|e| panic!("{name}: not UTF-8: {e}"));
        let value: Value =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: not valid JSON: {e}"));
        assert!(value.is_object(), "{name}: not a JSON object");
        assert!(text.contains("\n  \""), "{name}: not pretty-printed");
        for marker in ["{{", "}}", "***", "//"] {
            // `//` may only appear inside URLs.
            let hits = text
                .match_indices(marker)
                .filter(|(i, _)| marker != "//" || !text[..*i].ends_with("https:"));
            assert_eq!(
                hits.count(),
                0,
                "{name}: still holds a placeholder marker {marker:?}"
            );
        }
    }
}

#[test]
fn every_fixture_parses_and_raw_fragments_are_substrings() {
    for name in ALL_FIXTURES {
        let bytes = load(name);
        let body = std::str::from_utf8(&bytes).expect("UTF-8");
        let events = parse_ok(name, &bytes);
        assert!(!events.is_empty(), "{name}: no event");
        for (i, e) in events.iter().enumerate() {
            assert!(
                body.contains(e.raw.get()),
                "{name}: event {i}: raw not a substring"
            );
            serde_json::from_str::<Value>(e.raw.get())
                .unwrap_or_else(|err| panic!("{name}: event {i}: raw is not JSON: {err}"));
        }
    }
}

#[test]
fn ids_are_deterministic() {
    for name in ALL_FIXTURES {
        let bytes = load(name);
        let first = ids(&parse_ok(name, &bytes));
        let second = ids(&parse_ok(name, &bytes));
        assert_eq!(first, second, "{name}: two parses gave different ids");
    }
}

#[test]
fn ids_are_distinct_within_a_delivery() {
    for name in ALL_FIXTURES {
        let ids = ids(&parse_ok(name, &load(name)));
        let unique: HashSet<_> = ids.iter().collect();
        assert_eq!(
            unique.len(),
            ids.len(),
            "{name}: repeated event id in {ids:?}"
        );
    }
}

/// Writes `value` as JSON with object keys in reverse order, odd whitespace and, when
/// `escape_non_ascii`, every non-ASCII character as a `\u` escape.
fn write_reordered(value: &Value, escape_non_ascii: bool, out: &mut String) {
    fn string(s: &str, escape_non_ascii: bool, out: &mut String) {
        let json = serde_json::to_string(s).expect("string");
        if !escape_non_ascii {
            out.push_str(&json);
            return;
        }
        for c in json.chars() {
            if c.is_ascii() {
                out.push(c);
            } else {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    match value {
        Value::Object(map) => {
            out.push_str("{\r\n\t");
            for (i, (k, v)) in map.iter().rev().enumerate() {
                if i > 0 {
                    out.push_str(" ,\n\t ");
                }
                string(k, escape_non_ascii, out);
                out.push_str("\t:  ");
                write_reordered(v, escape_non_ascii, out);
            }
            out.push_str("\n}");
        }
        Value::Array(items) => {
            out.push_str("[ ");
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                write_reordered(v, escape_non_ascii, out);
            }
            out.push_str(" ]");
        }
        Value::String(s) => string(s, escape_non_ascii, out),
        other => out.push_str(&other.to_string()),
    }
}

#[test]
fn ids_survive_reformatting_and_key_reordering() {
    for name in ALL_FIXTURES {
        let bytes = load(name);
        let original = ids(&parse_ok(name, &bytes));
        let value: Value = serde_json::from_slice(&bytes).expect("JSON");

        let compact = serde_json::to_vec(&value).expect("serialize");
        let pretty = serde_json::to_vec_pretty(&value).expect("serialize");
        let mut reversed = String::new();
        write_reordered(&value, false, &mut reversed);
        let mut escaped = String::new();
        write_reordered(&value, true, &mut escaped);
        let padded = format!("\n\t  {}  \r\n", String::from_utf8_lossy(&bytes));

        for (how, body) in [
            ("compact, keys sorted", compact),
            ("pretty, keys sorted", pretty),
            ("keys reversed, odd whitespace", reversed.into_bytes()),
            ("keys reversed, non-ASCII escaped", escaped.into_bytes()),
            ("padded with whitespace", padded.into_bytes()),
        ] {
            assert_ne!(
                body, bytes,
                "{name}: {how}: the re-serialization did not change anything"
            );
            let again = ids(&parse_ok(name, &body));
            assert_eq!(
                again, original,
                "{name}: ids changed when re-serialized ({how})"
            );
        }
    }
}

#[test]
fn ids_survive_re_serialization_of_numbers_in_any_form() {
    // Found by fuzz/ (payload target): numbers that a float holds only approximately, and a
    // message id given as a number in another form than a serializer writes it.
    for body in [
        r#"{"error": {"message": "Account has been blocked", "name": 36899223372036854775807}}"#,
        r#"{"key": 1.3333e-66, "entry": [6.666666666666667e+40]}"#,
        r#"{"messaging_product": "whatsapp", "contacts": [{"wa_id": "1"}], "messages": [{"id": 1e2}]}"#,
    ] {
        let original = ids(&parse_ok(body, body.as_bytes()));
        let value: Value = serde_json::from_str(body).expect("JSON");
        let again = ids(&parse_ok(body, value.to_string().as_bytes()));
        assert_eq!(again, original, "{body}");
    }
}

#[test]
fn identical_payloads_in_two_files_have_the_same_ids() {
    // The seed shows the rate-limit sample twice; a redelivery must be recognised.
    let a = ids(&parse_ok("a", &load("error_with_error_data.json")));
    let b = ids(&parse_ok("b", &load("error_rate_limit_130429.json")));
    assert_eq!(a, b);
}

#[test]
fn each_lifecycle_step_has_its_own_id() {
    let all: Vec<String> = [
        "status_sent.json",
        "status_delivered.json",
        "status_read.json",
        "accepted.json",
        "template.json",
    ]
    .iter()
    .flat_map(|n| ids(&parse_ok(n, &load(n))))
    .collect();
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "{all:?}");
}

fn with_top_level_key(name: &str, key: Option<&str>) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(&load(name)).expect("JSON");
    let map = value.as_object_mut().expect("object");
    match key {
        Some(k) => map.insert("key".to_owned(), Value::String(k.to_owned())),
        None => map.remove("key"),
    };
    serde_json::to_vec_pretty(&value).expect("serialize")
}

#[test]
fn the_same_status_under_another_key_has_another_id() {
    let original = parse_ok("status_delivered.json", &load("status_delivered.json"));
    let other_key = parse_ok(
        "other key",
        &with_top_level_key("status_delivered.json", Some(K2)),
    );
    let no_key = parse_ok("no key", &with_top_level_key("status_delivered.json", None));
    let empty_key = parse_ok(
        "empty key",
        &with_top_level_key("status_delivered.json", Some("")),
    );
    for events in [&other_key, &no_key, &empty_key] {
        assert_eq!(events.len(), 1);
        // Same status object, byte for byte, same message.
        assert_eq!(events[0].raw.get(), original[0].raw.get());
        assert_eq!(events[0].message_id, original[0].message_id);
    }
    assert_eq!(other_key[0].key.as_deref(), Some(K2));
    assert_eq!(no_key[0].key, None);
    assert_eq!(empty_key[0].key, None, "an empty key is no key");
    assert_ne!(
        other_key[0].id, original[0].id,
        "another key must give another id"
    );
    assert_ne!(
        no_key[0].id, original[0].id,
        "dropping the key must give another id"
    );
    assert_eq!(
        no_key[0].id, empty_key[0].id,
        "empty and absent keys are the same"
    );
}

#[test]
fn a_reply_with_and_without_key_have_different_ids() {
    let without = parse_ok("reply_text.json", &load("reply_text.json"));
    let with = parse_ok(
        "reply_text_with_key.json",
        &load("reply_text_with_key.json"),
    );
    assert_eq!(without[0].raw.get(), with[0].raw.get());
    assert_ne!(without[0].id, with[0].id);
}

#[test]
fn status_lifecycle_from_the_seed_files_ends_read_whatever_the_order() {
    for order in [
        [
            "status_sent.json",
            "status_delivered.json",
            "status_read.json",
        ],
        [
            "status_read.json",
            "status_sent.json",
            "status_delivered.json",
        ],
    ] {
        let mut state = MessageState::default();
        for name in order {
            let events = parse_ok(name, &load(name));
            for change in status_changes(&events) {
                assert_eq!(change.message_id, W1);
                state.apply(&change);
            }
        }
        assert_eq!(state.status(), Some("read"), "order {order:?}");
        assert_eq!(state.progress_at, Some(1718873140), "order {order:?}");
    }
}

// ------------------------------------------------------------------------------------------------
// Bad input

#[test]
fn non_json_is_not_json() {
    for body in [
        &b""[..],
        b"   ",
        b"not json",
        b"{",
        b"{\"key\": }",
        b"{\"key\": \"whatsapp-1\",}",
        b"{} {}",
        b"{}x",
        b"\xff\xfe{}",
        b"{\"a\": \"\xff\"}",
        b"\xef\xbb\xbf{}",
        b"{'key': 'x'}",
        b"{\"a\": NaN}",
    ] {
        match parse_delivery(body) {
            Err(PayloadError::NotJson(_)) => {}
            other => panic!(
                "{:?}: expected NotJson, got {other:?}",
                String::from_utf8_lossy(body)
            ),
        }
    }
}

#[test]
fn json_that_is_not_an_object_is_not_object() {
    for body in [
        "[1]",
        "\"x\"",
        "3",
        "null",
        "true",
        "false",
        "[]",
        "[{}]",
        "-0.5e3",
        " \n[ {\"entry\": []} ]\n",
        "\"{}\"",
    ] {
        assert_eq!(
            parse_delivery(body.as_bytes()).map(|e| e.len()),
            Err(PayloadError::NotObject),
            "{body:?}"
        );
    }
}

fn assert_single_unknown(body: &str, raw: &str) {
    let events = parse_ok(body, body.as_bytes());
    assert_eq!(events.len(), 1, "{body:?}: {events:?}");
    let e = &events[0];
    assert_eq!(e.family, EventFamily::Unknown, "{body:?}");
    assert_eq!(e.raw.get(), raw, "{body:?}");
    assert_eq!(
        (
            &e.message_id,
            &e.status,
            &e.message_type,
            &e.contact,
            &e.contact_name
        ),
        (&None, &None, &None, &None, &None),
        "{body:?}"
    );
    assert_eq!(
        (
            &e.phone_number_id,
            &e.in_reply_to,
            e.occurred_at,
            e.error_codes.len()
        ),
        (&None, &None, None, 0),
        "{body:?}"
    );
}

#[test]
fn empty_object_is_one_unknown_event() {
    assert_single_unknown("{}", "{}");
    assert_single_unknown(" \r\n\t{ }\n", "{ }");
    assert_eq!(parse_ok("{}", b"{}")[0].key, None);
}

#[test]
fn duplicate_keys_still_parse_as_one_unknown_event_of_the_whole_body() {
    for body in [
        r#"{"a":1,"a":2}"#,
        r#"{"key":"whatsapp-1","key":"whatsapp-2"}"#,
        r#"{"entry":[],"entry":[]}"#,
        r#"{"error":{"code":1},"error":{"code":2}}"#,
        r#"{"key":"whatsapp-1","entry":[{"changes":[{"value":{"statuses":[{"id":"wamid.A","status":"sent"}]}}]}],"entry":[]}"#,
    ] {
        assert_single_unknown(body, body);
    }
}

#[test]
fn duplicate_keys_inside_a_known_shape_never_fail() {
    for body in [
        r#"{"entry":[{"changes":[{"value":{"statuses":[{"id":"a","id":"b","status":"sent"}]}}]}]}"#,
        r#"{"entry":[{"changes":[{"value":{"messages":[{"id":"a","type":"text","type":"image"}],"messages":[]}}]}]}"#,
        r#"{"object":"x","object":"y","entry":[{"changes":[{"value":{"statuses":[{"id":"a","status":"sent"}]}}]}]}"#,
        r#"{"errors":[{"code":1,"code":2}]}"#,
    ] {
        let events = parse_ok(body, body.as_bytes());
        assert!(!events.is_empty(), "{body}");
        for e in &events {
            assert!(body.contains(e.raw.get()), "{body}");
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Wrong types in known fields degrade, never fail

struct Degrade {
    body: String,
    family: EventFamily,
    count: usize,
    check: fn(&Event) -> bool,
    what: &'static str,
}

#[test]
fn wrong_types_in_known_fields_never_fail_the_parse() {
    let status = |fields: &str| -> String {
        format!(
            r#"{{"key":"whatsapp-1","entry":[{{"changes":[{{"value":{{"metadata":{{"phone_number_id":"1"}},"statuses":[{{{fields}}}]}}}}]}}]}}"#
        )
    };
    let mut cases: Vec<Degrade> = vec![
        Degrade {
            body: r#"{"entry":[{"changes":[{"value":{"statuses":5}}]}]}"#.to_owned(),
            family: EventFamily::Unknown,
            count: 1,
            check: |e| e.raw.get() == r#"{"value":{"statuses":5}}"#,
            what: "statuses: 5 keeps the change as unknown",
        },
        Degrade {
            body: r#"{"entry":[{"changes":[{"value":{"messages":"hi","statuses":null}}]}]}"#.to_owned(),
            family: EventFamily::Unknown,
            count: 1,
            check: |_| true,
            what: "messages: string",
        },
        Degrade {
            body: r#"{"entry":5}"#.to_owned(),
            family: EventFamily::Unknown,
            count: 1,
            check: |e| e.raw.get() == r#"{"entry":5}"#,
            what: "entry: 5",
        },
        Degrade {
            body: r#"{"entry":null,"object":"whatsapp_business_account"}"#.to_owned(),
            family: EventFamily::Unknown,
            count: 1,
            check: |_| true,
            what: "entry: null",
        },
        Degrade {
            body: r#"{"entry":[5]}"#.to_owned(),
            family: EventFamily::Unknown,
            count: 1,
            check: |_| true,
            what: "entry: [5]",
        },
        Degrade {
            body: r#"{"entry":[{"changes":{"value":{}}}]}"#.to_owned(),
            family: EventFamily::Unknown,
            count: 1,
            check: |_| true,
            what: "changes: object",
        },
        Degrade {
            body: r#"{"error":{"message":"x","code":"abc"},"key":"whatsapp-1"}"#.to_owned(),
            family: EventFamily::Error,
            count: 1,
            check: |e| e.error_codes.is_empty() && e.key.as_deref() == Some("whatsapp-1"),
            what: "code: \"abc\"",
        },
        Degrade {
            body: r#"{"error":{"code":"130429"}}"#.to_owned(),
            family: EventFamily::Error,
            count: 1,
            check: |e| e.error_codes == [130429],
            what: "code as a string of digits",
        },
        Degrade {
            body: r#"{"error":{"code":1.5}}"#.to_owned(),
            family: EventFamily::Error,
            count: 1,
            check: |e| e.error_codes.is_empty(),
            what: "code: 1.5",
        },
        Degrade {
            body: r#"{"error":{"code":123456789012345678901234567890}}"#.to_owned(),
            family: EventFamily::Error,
            count: 1,
            check: |e| e.error_codes.is_empty(),
            what: "code: huge",
        },
        Degrade {
            body: r#"{"error":{"code":{}},"key":{}}"#.to_owned(),
            family: EventFamily::Error,
            count: 1,
            check: |e| e.error_codes.is_empty() && e.key.is_none(),
            what: "code: {}, key: {}",
        },
        Degrade {
            body: r#"{"error":"boom"}"#.to_owned(),
            family: EventFamily::Unknown,
            count: 1,
            check: |_| true,
            what: "error: string",
        },
        Degrade {
            body: r#"{"errors":[{"code":"x"},5,null,{"code":429},"s",{}]}"#.to_owned(),
            family: EventFamily::OnPremiseError,
            count: 1,
            check: |e| e.error_codes == [429],
            what: "errors of mixed types",
        },
        Degrade {
            body: r#"{"errors":"boom"}"#.to_owned(),
            family: EventFamily::Unknown,
            count: 1,
            check: |_| true,
            what: "errors: string",
        },
        Degrade {
            body: r#"{"messaging_product":"whatsapp","contacts":5,"messages":[{"id":12345}],"key":42}"#.to_owned(),
            family: EventFamily::Accepted,
            count: 1,
            check: |e| {
                e.message_id.as_deref() == Some("12345")
                    && e.key.as_deref() == Some("42")
                    && e.contact.is_none()
            },
            what: "numeric message id and key, contacts: 5",
        },
        Degrade {
            body: r#"{"messaging_product":"whatsapp","contacts":[{"input":5,"wa_id":true}],"messages":[null,{"id":"wamid.B"}]}"#.to_owned(),
            family: EventFamily::Accepted,
            count: 2,
            check: |_| true,
            what: "accepted with a null message",
        },
        Degrade {
            body: r#"{"type":"template","to":905551112233,"timestamp":{},"template":5}"#.to_owned(),
            family: EventFamily::Template,
            count: 1,
            check: |e| e.contact.as_deref() == Some("905551112233") && e.occurred_at.is_none(),
            what: "template with numeric to and object timestamp",
        },
        Degrade {
            body: r#"{"template":{"name":"x"},"type":5,"timestamp":1718873012}"#.to_owned(),
            family: EventFamily::Template,
            count: 1,
            check: |e| e.occurred_at == Some(1718873012),
            what: "template with numeric timestamp",
        },
        Degrade {
            body: r#"{"entry":[{"changes":[{"value":{"metadata":"x","contacts":"y","messages":[{"id":"m","from":1,"type":null,"context":"c","errors":{},"timestamp":[]}]}}]}]}"#.to_owned(),
            family: EventFamily::Reply,
            count: 1,
            check: |e| {
                e.message_id.as_deref() == Some("m")
                    && e.contact.as_deref() == Some("1")
                    && e.message_type.is_none()
                    && e.in_reply_to.is_none()
                    && e.error_codes.is_empty()
                    && e.occurred_at.is_none()
                    && e.phone_number_id.is_none()
                    && e.contact_name.is_none()
            },
            what: "reply with wrong types everywhere",
        },
        Degrade {
            body: r#"{"entry":[{"changes":[{"value":{"contacts":[{"profile":"p","wa_id":1},{"profile":{"name":7}}],"messages":[{"id":"m","from":"1","context":{"id":5}}]}}]}]}"#.to_owned(),
            family: EventFamily::Reply,
            count: 1,
            check: |e| e.contact_name.is_none() && e.in_reply_to.as_deref() == Some("5"),
            what: "reply with odd contacts and numeric context id",
        },
    ];
    for (fields, what, check) in [
        (
            r#""id":"wamid.A","status":"sent","timestamp":{},"recipient_id":"9""#,
            "timestamp: {}",
            (|e: &Event| e.occurred_at.is_none() && e.status == Some(DeliveryStatus::Sent))
                as fn(&Event) -> bool,
        ),
        (
            r#""id":"wamid.A","status":"sent","timestamp":1718873014"#,
            "numeric timestamp",
            |e| e.occurred_at == Some(1718873014),
        ),
        (
            r#""id":"wamid.A","status":"sent","timestamp":" 1718873014 ""#,
            "timestamp with spaces",
            |e| e.occurred_at == Some(1718873014),
        ),
        (
            r#""id":"wamid.A","status":"sent","timestamp":"99999999999999999999999""#,
            "timestamp overflow",
            |e| e.occurred_at.is_none(),
        ),
        (
            r#""id":"wamid.A","status":"sent","timestamp":"1.7e9""#,
            "timestamp in exponent form",
            |e| e.occurred_at.is_none(),
        ),
        (
            r#""id":12345,"status":"read","recipient_id":905551112233"#,
            "numeric ids",
            |e| {
                e.message_id.as_deref() == Some("12345")
                    && e.contact.as_deref() == Some("905551112233")
                    && e.status == Some(DeliveryStatus::Read)
            },
        ),
        (
            r#""id":"wamid.A","status":["sent"],"recipient_id":{}"#,
            "status: array",
            |e| e.status.is_none() && e.contact.is_none() && e.message_id.is_some(),
        ),
        (
            r#""id":"wamid.A","status":"failed","errors":[{"code":"abc"},{"code":131026},7]"#,
            "errors with a bad code",
            |e| e.error_codes == [131026] && e.status == Some(DeliveryStatus::Failed),
        ),
        (
            r#""id":"wamid.A","status":"failed","errors":{"code":131026}"#,
            "errors: object",
            |e| e.error_codes.is_empty(),
        ),
        (
            r#""id":"","status":"","recipient_id":"""#,
            "empty strings",
            |e| e.message_id.is_none(),
        ),
        (
            r#""id":null,"status":null,"timestamp":null,"errors":null"#,
            "nulls",
            |e| e.message_id.is_none() && e.status.is_none() && e.occurred_at.is_none(),
        ),
    ] {
        cases.push(Degrade {
            body: status(fields),
            family: EventFamily::Status,
            count: 1,
            check,
            what,
        });
    }

    let mut failures = Vec::new();
    for case in &cases {
        match parse_delivery(case.body.as_bytes()) {
            Err(e) => failures.push(format!(
                "{}: parse failed: {e:?} for {}",
                case.what, case.body
            )),
            Ok(events) => {
                let families: Vec<_> = events.iter().map(|e| e.family).collect();
                if events.len() != case.count || families.iter().any(|f| *f != case.family) {
                    failures.push(format!(
                        "{}: expected {} x {:?}, got {families:?} for {}",
                        case.what, case.count, case.family, case.body
                    ));
                } else if !events.iter().all(case.check) {
                    failures.push(format!("{}: wrong fields {events:#?}", case.what));
                }
                for e in &events {
                    if !case.body.contains(e.raw.get()) {
                        failures.push(format!(
                            "{}: raw not a substring: {}",
                            case.what,
                            e.raw.get()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn huge_and_odd_numbers_anywhere_never_fail() {
    for body in [
        r#"{"n":1e400}"#,
        r#"{"n":-1e400,"m":1e-400}"#,
        r#"{"error":{"code":1e400}}"#,
        r#"{"entry":[{"changes":[{"value":{"statuses":[{"id":"a","timestamp":1e400,"pricing":{"x":123456789012345678901234567890}}]}}]}]}"#,
        r#"{"messaging_product":"whatsapp","messages":[{"id":-0}],"contacts":[{"wa_id":18446744073709551616}]}"#,
    ] {
        let events = parse_ok(body, body.as_bytes());
        assert!(!events.is_empty(), "{body}");
        for e in &events {
            assert!(body.contains(e.raw.get()), "{body}");
        }
        assert_eq!(
            ids(&events),
            ids(&parse_ok(body, body.as_bytes())),
            "{body}"
        );
    }
}

#[test]
fn an_array_where_an_object_belongs_reads_as_the_empty_view() {
    // The parser documents that "a fragment of another shape reads as the empty view". An array
    // in the place of a status, message, error or metadata object must therefore yield no
    // fields, not fields read by position.
    let status = r#"{"key":"whatsapp-1","entry":[{"changes":[{"value":{"metadata":["114563218259037"],"statuses":[["wamid.X","read","1718873014","905551112233"]]}}]}]}"#;
    let reply = r#"{"entry":[{"changes":[{"value":{"messages":[["wamid.R","905551112233","1718873301","text"]]}}]}]}"#;
    let on_premise = r#"{"errors":[[429],{"code":500}]}"#;
    let cloud = r#"{"error":{"code":131026},"key":"whatsapp-1"}"#;

    let mut problems = Vec::new();
    let events = parse_ok("status", status.as_bytes());
    if events.len() != 1 || events[0].family != EventFamily::Status {
        problems.push(format!("status: expected one status event, got {events:?}"));
    } else {
        let e = &events[0];
        let read = (
            &e.message_id,
            &e.status,
            e.occurred_at,
            &e.contact,
            &e.phone_number_id,
        );
        if read != (&None, &None, None, &None, &None) {
            problems.push(format!("status: array read by position: {read:?}"));
        }
    }
    let events = parse_ok("reply", reply.as_bytes());
    if events.len() != 1 || events[0].family != EventFamily::Reply {
        problems.push(format!("reply: expected one reply event, got {events:?}"));
    } else {
        let e = &events[0];
        let read = (&e.message_id, &e.contact, e.occurred_at, &e.message_type);
        if read != (&None, &None, None, &None) {
            problems.push(format!("reply: array read by position: {read:?}"));
        }
    }
    let events = parse_ok("on_premise", on_premise.as_bytes());
    if events.len() != 1 || events[0].error_codes != [500] {
        problems.push(format!(
            "on-premise: expected error codes [500], got {events:?}"
        ));
    }
    assert_eq!(parse_ok("cloud", cloud.as_bytes())[0].error_codes, [131026]);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn deeply_nested_objects_parse() {
    let depth = 50_000;
    let deep = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    let unknown = format!(r#"{{"a":{deep}}}"#);
    let events = parse_ok("deep unknown", unknown.as_bytes());
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].family, EventFamily::Unknown);
    let status = format!(
        r#"{{"entry":[{{"changes":[{{"value":{{"statuses":[{{"id":"wamid.A","status":"sent","x":{deep}}}]}}}}]}}]}}"#
    );
    let events = parse_ok("deep status", status.as_bytes());
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].message_id.as_deref(), Some("wamid.A"));
    assert_eq!(
        ids(&events),
        ids(&parse_ok("deep status", status.as_bytes()))
    );
}

/// Ids are stored: a change to how they are computed would make every redelivery of an event
/// stored before it a second copy. This one was computed outside Rust from the definition
/// (SHA-256 of family, message id, key and the fragment with sorted keys, NUL-separated).
#[test]
fn event_ids_stay_what_they_were() {
    let events = parse_delivery(&load("status_delivered.json")).unwrap();
    assert_eq!(events[0].id, "da4c1b4648686f0ca13dbe7999716231");
}
