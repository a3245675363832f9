//! Insider One webhook payloads turned into events.
//!
//! One delivery (one HTTP body) becomes one or more [`Event`]s. The parser is tolerant by design:
//! unknown fields are ignored, unknown message types and statuses are kept by name, and a JSON
//! object that matches no known family becomes a single [`EventFamily::Unknown`] event instead of
//! an error. Every event keeps the exact bytes of the JSON fragment it came from, so nothing the
//! vendor sent is lost even when this model does not understand it yet.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::canonical::write_canonical;
use super::envelope::{Envelope, Leaves, read_envelope};
use super::status::DeliveryStatus;

/// The payload families Insider One forwards (see the vendor's webhook documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventFamily {
    /// WhatsApp accepted the message: `{messaging_product, contacts[], messages[{id}], key}`.
    Accepted,
    /// Cloud API error: `{error: {message, type, code, fbtrace_id, error_data?}, key}`.
    Error,
    /// One entry of `entry[].changes[].value.statuses[]`: sent, delivered, read, failed, ...
    Status,
    /// One entry of `entry[].changes[].value.messages[]`: a user's reply of any type.
    Reply,
    /// The template message Insider One sent to Meta, plus `timestamp` and `content`.
    Template,
    /// On-Premise API error list: `{errors: [{code, title, details}]}`.
    OnPremiseError,
    /// A JSON object of a shape this model does not know; stored as received.
    Unknown,
}

impl EventFamily {
    pub const ALL: [EventFamily; 7] = [
        EventFamily::Accepted,
        EventFamily::Error,
        EventFamily::Status,
        EventFamily::Reply,
        EventFamily::Template,
        EventFamily::OnPremiseError,
        EventFamily::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventFamily::Accepted => "accepted",
            EventFamily::Error => "error",
            EventFamily::Status => "status",
            EventFamily::Reply => "reply",
            EventFamily::Template => "template",
            EventFamily::OnPremiseError => "on_premise_error",
            EventFamily::Unknown => "unknown",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

/// One thing that happened, as extracted from a delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// Deterministic: the same content always yields the same id, so redeliveries are recognised.
    pub id: String,
    pub family: EventFamily,
    /// The WhatsApp message id (`wamid...`) this event is about, when the payload names one.
    pub message_id: Option<String>,
    /// Insider One's tracking key (`whatsapp-...`); `None` when absent or empty.
    pub key: Option<String>,
    pub status: Option<DeliveryStatus>,
    /// For replies: the WhatsApp message type (`text`, `button`, `image`, ... or any new type).
    pub message_type: Option<String>,
    /// The customer's WhatsApp id or phone number (recipient of a status, sender of a reply).
    pub contact: Option<String>,
    /// The customer's profile name, for replies.
    pub contact_name: Option<String>,
    /// The business phone number id the event belongs to.
    pub phone_number_id: Option<String>,
    /// For replies: the id of our message the user replied to (`context.id`).
    pub in_reply_to: Option<String>,
    /// When the event happened according to the payload (epoch seconds).
    pub occurred_at: Option<i64>,
    /// Error codes carried by the event (failed statuses, Cloud API and On-Premise errors).
    pub error_codes: Vec<i64>,
    /// The JSON fragment this event was extracted from, byte for byte as received.
    pub raw: Box<RawValue>,
}

impl Event {
    /// Takes out what identifies a person (an erasure on request): the raw fragment (numbers,
    /// names, message text), the contact's number and name. What counts keep (family, status,
    /// error codes, times, ids) stays.
    pub fn erase_personal_data(&mut self) {
        self.raw = RawValue::from_string("null".into()).expect("null is JSON");
        self.contact = None;
        self.contact_name = None;
    }
}

/// Why a body could not be turned into events at all. Anything that is a JSON object parses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("the body is not valid JSON: {0}")]
    NotJson(String),
    #[error("the body is JSON but not a JSON object")]
    NotObject,
}

/// Parses one webhook delivery into its events. Never fails on a JSON object.
pub fn parse_delivery(body: &[u8]) -> Result<Vec<Event>, PayloadError> {
    // Most deliveries are Meta envelopes of the usual shape: read in one pass.
    match read_envelope(body) {
        Some(envelope) => Ok(envelope_events(&envelope)),
        None => parse_leniently(body),
    }
}

fn envelope_events(envelope: &Envelope) -> Vec<Event> {
    let key = lenient_string(envelope.key).filter(|k| !k.is_empty());
    let mut events = Vec::new();
    for leaves in &envelope.changes {
        leaf_events(leaves, key.as_deref(), &mut events);
    }
    events
}

/// Every level as a raw fragment, read again one level down: slower, but keeps any shape.
fn parse_leniently(body: &[u8]) -> Result<Vec<Event>, PayloadError> {
    let whole: &RawValue =
        serde_json::from_slice(body).map_err(|e| PayloadError::NotJson(e.to_string()))?;
    if !whole.get().starts_with('{') {
        return Err(PayloadError::NotObject);
    }
    // A shape serde cannot even read loosely (duplicate keys, say) is still kept, as unknown.
    let top = serde_json::from_str::<TopLevel>(whole.get()).ok();
    let key = top.as_ref().and_then(|t| lenient_string(t.key));
    let events = top.map(|t| t.into_events(whole)).unwrap_or_default();
    if events.is_empty() {
        return Ok(vec![
            EventBuilder::new(EventFamily::Unknown, whole)
                .key(key)
                .build(),
        ]);
    }
    Ok(events)
}

/// Top-level fields of every known family. Every field is a raw fragment so that a value of an
/// unexpected type degrades to "not this family" instead of failing the whole parse.
#[derive(Deserialize)]
struct TopLevel<'a> {
    #[serde(borrow, default)]
    key: Option<&'a RawValue>,
    #[serde(borrow, default)]
    entry: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
    #[serde(borrow, default)]
    errors: Option<&'a RawValue>,
    #[serde(borrow, default)]
    messages: Option<&'a RawValue>,
    #[serde(borrow, default)]
    contacts: Option<&'a RawValue>,
    #[serde(borrow, default)]
    messaging_product: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "type")]
    kind: Option<&'a RawValue>,
    #[serde(borrow, default)]
    template: Option<&'a RawValue>,
    #[serde(borrow, default)]
    to: Option<&'a RawValue>,
    #[serde(borrow, default)]
    timestamp: Option<&'a RawValue>,
}

impl<'a> TopLevel<'a> {
    fn into_events(self, whole: &'a RawValue) -> Vec<Event> {
        let key = lenient_string(self.key).filter(|k| !k.is_empty());
        if let Some(entries) = array(self.entry) {
            return meta_envelope_events(&entries, key.as_deref());
        }
        if let Some(error) = self.error.filter(|e| is_object(e)) {
            return vec![cloud_api_error_event(whole, error, key)];
        }
        if let Some(errors) = array(self.errors) {
            return vec![on_premise_error_event(whole, &errors, key)];
        }
        if lenient_string(self.kind).as_deref() == Some("template")
            || self.template.is_some_and(is_object)
        {
            return vec![
                EventBuilder::new(EventFamily::Template, whole)
                    .key(key)
                    .contact(lenient_string(self.to))
                    .occurred_at(lenient_i64(self.timestamp))
                    .build(),
            ];
        }
        if let Some(messages) = array(self.messages)
            && (self.contacts.is_some() || self.messaging_product.is_some())
        {
            return accepted_events(whole, &messages, array(self.contacts), key);
        }
        Vec::new()
    }
}

fn accepted_events(
    whole: &RawValue,
    messages: &[&RawValue],
    contacts: Option<Vec<&RawValue>>,
    key: Option<String>,
) -> Vec<Event> {
    let contacts = contacts.unwrap_or_default();
    messages
        .iter()
        .enumerate()
        .map(|(i, message)| {
            let message: IdOnly = parse_lenient(message);
            let contact: AcceptedContact = contacts
                .get(i)
                .map(|c| parse_lenient(c))
                .unwrap_or_default();
            EventBuilder::new(EventFamily::Accepted, whole)
                .message_id(lenient_string(message.id))
                .key(key.clone())
                .status(Some(DeliveryStatus::Accepted))
                .contact(lenient_string(contact.wa_id).or_else(|| lenient_string(contact.input)))
                .build()
        })
        .collect()
}

fn cloud_api_error_event(whole: &RawValue, error: &RawValue, key: Option<String>) -> Event {
    let error: ErrorObject = parse_lenient(error);
    EventBuilder::new(EventFamily::Error, whole)
        .key(key)
        .error_codes(lenient_i64(error.code).into_iter().collect())
        .build()
}

fn on_premise_error_event(whole: &RawValue, errors: &[&RawValue], key: Option<String>) -> Event {
    let codes = errors
        .iter()
        .filter_map(|e| lenient_i64(parse_lenient::<ErrorObject>(e).code))
        .collect();
    EventBuilder::new(EventFamily::OnPremiseError, whole)
        .key(key)
        .error_codes(codes)
        .build()
}

/// `object/entry[]/changes[]/value` envelopes: every status and every message is its own event.
/// A change (or entry) that holds neither is kept as an unknown event, so new Meta fields are
/// stored rather than dropped.
fn meta_envelope_events(entries: &[&RawValue], key: Option<&str>) -> Vec<Event> {
    let mut events = Vec::new();
    for entry in entries {
        let Some(changes) = array(parse_lenient::<Entry>(entry).changes) else {
            events.push(
                EventBuilder::new(EventFamily::Unknown, entry)
                    .key(key.map(Into::into))
                    .build(),
            );
            continue;
        };
        for change in changes {
            let value: ChangeValue =
                parse_lenient(parse_lenient::<Change>(change).value.unwrap_or(change));
            let metadata: Metadata = value.metadata.map(parse_lenient).unwrap_or_default();
            let leaves = Leaves {
                phone_number_id: metadata.phone_number_id,
                statuses: array(value.statuses).unwrap_or_default(),
                messages: array(value.messages).unwrap_or_default(),
                contacts: array(value.contacts).unwrap_or_default(),
            };
            let before = events.len();
            let phone_number_id = leaf_events(&leaves, key, &mut events);
            if events.len() == before {
                events.push(
                    EventBuilder::new(EventFamily::Unknown, change)
                        .key(key.map(Into::into))
                        .phone_number_id(phone_number_id)
                        .build(),
                );
            }
        }
    }
    events
}

/// The events of one change: every status, then every message. Returns the business number.
fn leaf_events(leaves: &Leaves, key: Option<&str>, events: &mut Vec<Event>) -> Option<String> {
    let phone_number_id = lenient_string(leaves.phone_number_id);
    for status in &leaves.statuses {
        events.push(status_event(status, key, phone_number_id.clone()));
    }
    let contacts: Vec<ReplyContact> = leaves.contacts.iter().map(|c| parse_lenient(c)).collect();
    for message in &leaves.messages {
        events.push(reply_event(
            message,
            key,
            phone_number_id.clone(),
            &contacts,
        ));
    }
    phone_number_id
}

fn status_event(raw: &RawValue, key: Option<&str>, phone_number_id: Option<String>) -> Event {
    let status: StatusObject = parse_lenient(raw);
    let error_codes = array(status.errors)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| lenient_i64(parse_lenient::<ErrorObject>(e).code))
        .collect();
    EventBuilder::new(EventFamily::Status, raw)
        .message_id(lenient_string(status.id))
        .key(key.map(Into::into))
        .status(lenient_string(status.status).map(|s| DeliveryStatus::parse(&s)))
        .contact(lenient_string(status.recipient_id))
        .phone_number_id(phone_number_id)
        .occurred_at(lenient_i64(status.timestamp))
        .error_codes(error_codes)
        .build()
}

fn reply_event(
    raw: &RawValue,
    key: Option<&str>,
    phone_number_id: Option<String>,
    contacts: &[ReplyContact],
) -> Event {
    let message: InboundMessage = parse_lenient(raw);
    let from = lenient_string(message.from);
    let contact_name = contacts
        .iter()
        .find(|c| from.is_some() && lenient_string(c.wa_id) == from)
        .or(contacts.first().filter(|_| contacts.len() == 1))
        .and_then(|c| c.profile.map(parse_lenient::<Profile>))
        .and_then(|p| lenient_string(p.name));
    let in_reply_to = message
        .context
        .map(parse_lenient::<IdOnly>)
        .and_then(|c| lenient_string(c.id));
    let error_codes = array(message.errors)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| lenient_i64(parse_lenient::<ErrorObject>(e).code))
        .collect();
    EventBuilder::new(EventFamily::Reply, raw)
        .message_id(lenient_string(message.id))
        .key(key.map(Into::into))
        .message_type(lenient_string(message.kind))
        .contact(from)
        .contact_name(contact_name)
        .phone_number_id(phone_number_id)
        .in_reply_to(in_reply_to)
        .occurred_at(lenient_i64(message.timestamp))
        .error_codes(error_codes)
        .build()
}

#[derive(Deserialize, Default)]
struct IdOnly<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct AcceptedContact<'a> {
    #[serde(borrow, default)]
    input: Option<&'a RawValue>,
    #[serde(borrow, default)]
    wa_id: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct ErrorObject<'a> {
    #[serde(borrow, default)]
    code: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct Entry<'a> {
    #[serde(borrow, default)]
    changes: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct Change<'a> {
    #[serde(borrow, default)]
    value: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct ChangeValue<'a> {
    #[serde(borrow, default)]
    metadata: Option<&'a RawValue>,
    #[serde(borrow, default)]
    statuses: Option<&'a RawValue>,
    #[serde(borrow, default)]
    messages: Option<&'a RawValue>,
    #[serde(borrow, default)]
    contacts: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct Metadata<'a> {
    #[serde(borrow, default)]
    phone_number_id: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct StatusObject<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    status: Option<&'a RawValue>,
    #[serde(borrow, default)]
    timestamp: Option<&'a RawValue>,
    #[serde(borrow, default)]
    recipient_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    errors: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct InboundMessage<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    from: Option<&'a RawValue>,
    #[serde(borrow, default)]
    timestamp: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "type")]
    kind: Option<&'a RawValue>,
    #[serde(borrow, default)]
    context: Option<&'a RawValue>,
    #[serde(borrow, default)]
    errors: Option<&'a RawValue>,
}

#[derive(Deserialize, Default, Clone, Copy)]
struct ReplyContact<'a> {
    #[serde(borrow, default)]
    wa_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    profile: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct Profile<'a> {
    #[serde(borrow, default)]
    name: Option<&'a RawValue>,
}

/// Reads a JSON object into a loose view; anything else (serde would read an array field by
/// field, by position) or an object of another shape reads as the empty view.
fn parse_lenient<'a, T: Deserialize<'a> + Default>(raw: &'a RawValue) -> T {
    if !is_object(raw) {
        return T::default();
    }
    serde_json::from_str(raw.get()).unwrap_or_default()
}

fn array(raw: Option<&RawValue>) -> Option<Vec<&RawValue>> {
    raw.and_then(|r| serde_json::from_str(r.get()).ok())
}

fn is_object(raw: &RawValue) -> bool {
    raw.get().starts_with('{')
}

/// A string, or a number written as text (ids and phone numbers sometimes arrive as numbers);
/// an empty string counts as absent. A number is written as canonical JSON writes it (`1e2` and
/// `100.0` alike as `100.0`), so that a message id, part of the event id, survives a
/// re-serialization of the delivery as the rest of the event does.
fn lenient_string(raw: Option<&RawValue>) -> Option<String> {
    let text = raw?.get();
    match text.as_bytes().first()? {
        b'"' => serde_json::from_str::<String>(text)
            .ok()
            .filter(|s| !s.is_empty()),
        b'-' | b'0'..=b'9' => serde_json::from_str::<serde_json::Number>(text)
            .ok()
            .map(|n| n.to_string()),
        _ => None,
    }
}

/// An integer given as a JSON number or as a string of digits (Meta's timestamps are strings).
fn lenient_i64(raw: Option<&RawValue>) -> Option<i64> {
    let text = raw?.get();
    match text.as_bytes().first()? {
        // Borrowed when it holds no escapes, as a timestamp does: no copy.
        b'"' => match serde_json::from_str::<&str>(text) {
            Ok(digits) => digits.trim().parse().ok(),
            Err(_) => serde_json::from_str::<String>(text)
                .ok()?
                .trim()
                .parse()
                .ok(),
        },
        _ => text.parse().ok(),
    }
}

struct EventBuilder {
    event: Event,
}

impl EventBuilder {
    fn new(family: EventFamily, raw: &RawValue) -> Self {
        Self {
            event: Event {
                id: String::new(),
                family,
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
                raw: raw.to_owned(),
            },
        }
    }

    fn message_id(mut self, v: Option<String>) -> Self {
        self.event.message_id = v.filter(|s| !s.is_empty());
        self
    }
    fn key(mut self, v: Option<String>) -> Self {
        self.event.key = v.filter(|s| !s.is_empty());
        self
    }
    fn status(mut self, v: Option<DeliveryStatus>) -> Self {
        self.event.status = v;
        self
    }
    fn message_type(mut self, v: Option<String>) -> Self {
        self.event.message_type = v;
        self
    }
    fn contact(mut self, v: Option<String>) -> Self {
        self.event.contact = v;
        self
    }
    fn contact_name(mut self, v: Option<String>) -> Self {
        self.event.contact_name = v;
        self
    }
    fn phone_number_id(mut self, v: Option<String>) -> Self {
        self.event.phone_number_id = v;
        self
    }
    fn in_reply_to(mut self, v: Option<String>) -> Self {
        self.event.in_reply_to = v;
        self
    }
    fn occurred_at(mut self, v: Option<i64>) -> Self {
        self.event.occurred_at = v;
        self
    }
    fn error_codes(mut self, v: Vec<i64>) -> Self {
        self.event.error_codes = v;
        self
    }

    fn build(mut self) -> Event {
        self.event.id = event_id(&self.event);
        self.event
    }
}

/// Content hash of an event: its family, what it is about, and its fragment in canonical form
/// (keys sorted, whitespace dropped), so a redelivery formatted differently keeps the same id.
/// A fragment with no canonical form (a number beyond `f64`, say) is hashed as received.
fn event_id(event: &Event) -> String {
    let mut hasher = Sha256::new();
    for part in [
        event.family.as_str(),
        event.message_id.as_deref().unwrap_or(""),
        event.key.as_deref().unwrap_or(""),
    ] {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    let raw = event.raw.get();
    let mut canonical = Vec::with_capacity(raw.len());
    match write_canonical(raw, &mut canonical) {
        Ok(()) => hasher.update(&canonical),
        Err(_) => hasher.update(raw.as_bytes()),
    }
    hasher.update([0u8]);
    hex::encode(&hasher.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Events compared whole, id and raw fragment included.
    fn shown(events: Result<Vec<Event>, PayloadError>) -> String {
        format!("{events:?}")
    }

    /// Mostly `usual`; one time in twenty, `odd`.
    fn mostly(usual: BoxedStrategy<String>, odd: BoxedStrategy<String>) -> BoxedStrategy<String> {
        prop_oneof![19 => usual, 1 => odd].boxed()
    }

    /// Any JSON value of another type than expected.
    fn odd() -> BoxedStrategy<String> {
        prop::sample::select(vec!["null", "7", r#""x""#, "[]", "{}", "[1,{}]"])
            .prop_map(String::from)
            .boxed()
    }

    fn array_of(item: BoxedStrategy<String>) -> BoxedStrategy<String> {
        let items =
            prop::collection::vec(item, 1..3).prop_map(|items| format!("[{}]", items.join(",")));
        mostly(items.boxed(), odd())
    }

    /// An object holding `name`, now and then twice or not at all.
    fn object_with(name: &'static str, value: BoxedStrategy<String>) -> BoxedStrategy<String> {
        let once = value
            .clone()
            .prop_map(move |v| format!(r#"{{"{name}":{v},"other":1}}"#));
        let odd = prop_oneof![
            (value.clone(), value)
                .prop_map(move |(a, b)| format!(r#"{{"{name}":{a},"{name}":{b}}}"#)),
            Just(r#"{"other":1}"#.to_owned()),
            odd(),
        ];
        mostly(once.boxed(), odd.boxed())
    }

    fn fragments(choices: &[&'static str]) -> BoxedStrategy<String> {
        prop::sample::select(choices.to_vec())
            .prop_map(String::from)
            .boxed()
    }

    /// Envelopes near the usual shape: levels of another type, null, missing or repeated, keys
    /// with escapes, changes without statuses or messages.
    fn envelope() -> impl Strategy<Value = String> {
        let statuses = array_of(fragments(&[
            r#"{"id":"wamid.A","status":"sent","recipient_id":"9","timestamp":"17"}"#,
            r#"{"id":"wamid.B","status":"read","b":{"z":1,"a":[2,1e2]},"id":"x"}"#,
            r#"{"status":"failed","errors":[{"code":131047}]}"#,
            "null",
        ]));
        let messages = array_of(fragments(&[
            r#"{"from":"9","id":"wamid.R","type":"text","text":{"body":"hi"}}"#,
            r#"{"from":"8","id":"wamid.S","context":{"id":"wamid.A"},"type":"button"}"#,
            "7",
        ]));
        let contacts = array_of(fragments(&[
            r#"{"wa_id":"9","profile":{"name":"Ayşe"}}"#,
            r#"{"wa_id":"8"}"#,
            "null",
        ]));
        let metadata = fragments(&[
            r#"{"phone_number_id":"114"}"#,
            r#"{"phone_number_id":114}"#,
            r#"{"phone_number_id":114,"phone_number_id":null}"#,
            "null",
            "[]",
        ]);
        let value = (statuses, messages, contacts, metadata, 0usize..16).prop_map(
            |(statuses, messages, contacts, metadata, shape)| match shape {
                0..=5 => format!(r#"{{"statuses":{statuses},"metadata":{metadata}}}"#),
                6..=11 => format!(
                    r#"{{"metadata":{metadata},"contacts":{contacts},"messages":{messages}}}"#
                ),
                12 => format!(r#"{{"statuses":{statuses},"messages":{messages}}}"#),
                13 => format!(r#"{{"statuses":{statuses},"statuses":{statuses}}}"#),
                14 => format!(r#"{{"\u0073tatuses":{statuses}}}"#),
                _ => r#"{"statuses":[],"messages":[]}"#.to_owned(),
            },
        );
        let change = object_with("value", value.boxed());
        let entry = object_with("changes", array_of(change));
        let key = fragments(&[r#""whatsapp-1""#, r#""""#, "5", "null"]);
        (array_of(entry), key, 0usize..8).prop_map(|(entries, key, shape)| match shape {
            0..=4 => format!(r#"{{"entry":{entries},"key":{key},"object":"whatsapp"}}"#),
            5 => format!(r#" {{ "entry" : {entries}, "type" : "template" }} "#),
            6 => format!(r#"{{"key":{key},"entry":{entries},"key":{key}}}"#),
            _ => format!(r#"{{"\u006by":{key},"entry":{entries}}}"#),
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 2_000,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// The one-pass reader answers only where the lenient reader finds the same events.
        #[test]
        fn one_pass_envelopes_read_as_the_lenient_reader_does(body in envelope()) {
            prop_assert_eq!(shown(parse_delivery(body.as_bytes())), shown(parse_leniently(body.as_bytes())));
        }
    }

    #[test]
    fn fixtures_read_as_the_lenient_reader_does() {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/insider/");
        let mut one_pass = 0;
        for path in std::fs::read_dir(folder).expect("the fixture folder") {
            let path = path.expect("a fixture").path();
            if path.extension().is_none_or(|ext| ext != "json") {
                continue;
            }
            let body = std::fs::read(&path).expect("a fixture");
            one_pass += usize::from(read_envelope(&body).is_some());
            assert_eq!(
                shown(parse_delivery(&body)),
                shown(parse_leniently(&body)),
                "{}",
                path.display()
            );
        }
        assert!(one_pass >= 20, "only {one_pass} fixtures read in one pass");
    }
}
