//! The events we hand on to downstream consumers (a chatbot, a CRM, analytics): one typed event
//! per newly stored event, in the shape `schemas/events/*.schema.json` documents.
//!
//! The shape is the same wherever it goes: EventBridge in AWS (`detail-type` and `detail` of an
//! EventBridge event), stdout or a URL from the local stack (wrapped in the same envelope).
//! Nothing here knows about AWS; the publishers in [`crate::publish`] do.

use serde::Serialize;
use serde_json::value::RawValue;

use super::{DeliveryStatus, Event, EventFamily, RawRef, SubProduct};

/// Version of the `detail` shape; bumped only by a change that breaks consumers.
pub const DETAIL_SCHEMA_VERSION: u32 = 1;

/// The largest `detail` we produce, in bytes. EventBridge takes entries under 256 KiB, counting
/// `Source` (at most 256 characters), `DetailType` (at most 128), `Time` (14) and `Detail`;
/// 250 KiB leaves room for the rest. A detail that would be larger is sent without its raw
/// fragment (`raw: null, raw_omitted: true`): every other field is still there, and the raw
/// fragment stays stored, readable with `GET /messages/{message_id}`; a fragment too large for
/// the table is kept in S3, and `raw_ref` says where.
pub const MAX_DETAIL_BYTES: usize = 250 * 1024;

/// The `detail-type` of a downstream event: what happened, so rules can route on it alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DetailType {
    /// A user's reply (any message type), family `reply`.
    ReplyReceived,
    /// A status of a message we sent that is not a failure: `sent`, `delivered`, `read`, or a
    /// status name this model does not know yet (kept by name in `status`).
    MessageStatus,
    /// Meta reports a message we sent could not be delivered (status `failed`, with error codes).
    MessageFailed,
    /// WhatsApp accepted a message for sending (family `accepted`).
    MessageAccepted,
    /// The send request itself was refused: a Cloud API error (`error`) or an On-Premise API
    /// error list (`on_premise_error`); there is no message id.
    MessageError,
    /// The template message Insider One sent to Meta (family `template`).
    TemplateSent,
    /// A delivery of a shape this model does not know (family `unknown`); see `raw`.
    Unknown,
}

impl DetailType {
    pub const ALL: [DetailType; 7] = [
        DetailType::ReplyReceived,
        DetailType::MessageStatus,
        DetailType::MessageFailed,
        DetailType::MessageAccepted,
        DetailType::MessageError,
        DetailType::TemplateSent,
        DetailType::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DetailType::ReplyReceived => "whatsapp.reply.received",
            DetailType::MessageStatus => "whatsapp.message.status",
            DetailType::MessageFailed => "whatsapp.message.failed",
            DetailType::MessageAccepted => "whatsapp.message.accepted",
            DetailType::MessageError => "whatsapp.message.error",
            DetailType::TemplateSent => "whatsapp.template.sent",
            DetailType::Unknown => "whatsapp.event.unknown",
        }
    }

    /// The detail-type of an event: by family, and for statuses by whether it is a failure.
    pub fn of(event: &Event) -> Self {
        match event.family {
            EventFamily::Reply => DetailType::ReplyReceived,
            EventFamily::Status if event.status == Some(DeliveryStatus::Failed) => {
                DetailType::MessageFailed
            }
            EventFamily::Status => DetailType::MessageStatus,
            EventFamily::Accepted => DetailType::MessageAccepted,
            EventFamily::Error | EventFamily::OnPremiseError => DetailType::MessageError,
            EventFamily::Template => DetailType::TemplateSent,
            EventFamily::Unknown => DetailType::Unknown,
        }
    }
}

/// One downstream event, ready to send: its detail is already JSON text, the form EventBridge
/// takes and measures.
#[derive(Debug, Clone)]
pub struct DownstreamEvent {
    /// The stored event's id (a content hash): the same event always has the same id, so
    /// consumers dedupe on it (`detail.event_id`).
    pub event_id: String,
    pub detail_type: DetailType,
    /// When it happened, in epoch seconds: the payload's own time, else when we received it.
    pub time: i64,
    /// The `detail` object, as JSON text of at most [`MAX_DETAIL_BYTES`].
    pub detail: Box<RawValue>,
    /// True when the raw fragment was left out to stay under [`MAX_DETAIL_BYTES`].
    pub raw_omitted: bool,
}

/// `detail`: every field is always present (`null` when unknown), so consumers can deserialize
/// it into one fixed type and rules can match on any field.
#[derive(Serialize)]
struct Detail<'a> {
    schema_version: u32,
    event_id: &'a str,
    family: &'static str,
    sub_product: &'static str,
    message_id: Option<&'a str>,
    tracking_key: Option<&'a str>,
    status: Option<&'a str>,
    message_type: Option<&'a str>,
    contact: Option<&'a str>,
    profile_name: Option<&'a str>,
    phone_number_id: Option<&'a str>,
    in_reply_to: Option<&'a str>,
    occurred_at: Option<i64>,
    received_at: i64,
    error_codes: &'a [i64],
    raw: Option<&'a RawValue>,
    raw_omitted: bool,
    raw_ref: Option<&'a RawRef>,
}

#[derive(Debug, thiserror::Error)]
#[error("the downstream detail could not be encoded: {0}")]
pub struct DetailError(String);

impl DownstreamEvent {
    /// The downstream event of a stored event: `received_at` in epoch milliseconds; `raw_ref`
    /// where its raw fragment is kept when it is not in `event.raw`.
    pub fn new(
        event: &Event,
        sub_product: SubProduct,
        received_at: i64,
        raw_ref: Option<&RawRef>,
    ) -> Result<Self, DetailError> {
        let mut detail = Detail {
            schema_version: DETAIL_SCHEMA_VERSION,
            event_id: &event.id,
            family: event.family.as_str(),
            sub_product: sub_product.as_str(),
            message_id: event.message_id.as_deref(),
            tracking_key: event.key.as_deref(),
            status: event.status.as_ref().map(DeliveryStatus::as_str),
            message_type: event.message_type.as_deref(),
            contact: event.contact.as_deref(),
            profile_name: event.contact_name.as_deref(),
            phone_number_id: event.phone_number_id.as_deref(),
            in_reply_to: event.in_reply_to.as_deref(),
            occurred_at: event.occurred_at,
            received_at,
            error_codes: &event.error_codes,
            raw: raw_ref.is_none().then_some(&*event.raw),
            raw_omitted: raw_ref.is_some(),
            raw_ref,
        };
        let mut text = encode(&detail)?;
        if text.len() > MAX_DETAIL_BYTES {
            detail.raw = None;
            detail.raw_omitted = true;
            text = encode(&detail)?;
        }
        if text.len() > MAX_DETAIL_BYTES {
            // Only the raw fragment is unbounded; the other fields come from it and are small
            // unless the fragment is huge; such a fragment is kept apart (`raw_ref`).
            return Err(DetailError(format!(
                "{} bytes without the raw fragment, over {MAX_DETAIL_BYTES}",
                text.len()
            )));
        }
        let raw_omitted = detail.raw_omitted;
        Ok(Self {
            event_id: event.id.clone(),
            detail_type: DetailType::of(event),
            time: event.occurred_at.unwrap_or(received_at.div_euclid(1000)),
            detail: RawValue::from_string(text).map_err(|e| DetailError(e.to_string()))?,
            raw_omitted,
        })
    }
}

fn encode(detail: &Detail<'_>) -> Result<String, DetailError> {
    serde_json::to_string(detail).map_err(|e| DetailError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::parse_delivery;

    fn first_event(body: &str) -> Event {
        parse_delivery(body.as_bytes()).unwrap().remove(0)
    }

    #[test]
    fn detail_types_by_family_and_status() {
        let status = |name: &str| {
            first_event(&format!(
                r#"{{"entry":[{{"changes":[{{"value":{{"statuses":[{{"id":"wamid.1","status":"{name}","timestamp":"5"}}]}}}}]}}]}}"#
            ))
        };
        assert_eq!(DetailType::of(&status("read")), DetailType::MessageStatus);
        assert_eq!(DetailType::of(&status("failed")), DetailType::MessageFailed);
        assert_eq!(
            DetailType::of(&status("deleted")),
            DetailType::MessageStatus,
            "a status of a new name is still a status"
        );
        assert_eq!(
            DetailType::of(&first_event(r#"{"errors":[{"code":500}]}"#)),
            DetailType::MessageError
        );
        assert_eq!(
            DetailType::of(&first_event(r#"{"brand":"new"}"#)),
            DetailType::Unknown
        );
    }

    #[test]
    fn the_detail_carries_every_field_and_the_raw_fragment_as_json() {
        let event = first_event(
            r#"{"key":"whatsapp-k","entry":[{"changes":[{"value":{"metadata":{"phone_number_id":"106"},
               "contacts":[{"wa_id":"905551112233","profile":{"name":"Ayşe"}}],
               "messages":[{"from":"905551112233","id":"wamid.in","timestamp":"1700000000","type":"text",
                            "context":{"id":"wamid.out"},"text":{"body":"merhaba"}}]}}]}]}"#,
        );
        let downstream =
            DownstreamEvent::new(&event, SubProduct::Conversational, 1_700_000_001_234, None)
                .unwrap();
        assert_eq!(downstream.detail_type.as_str(), "whatsapp.reply.received");
        assert_eq!(downstream.time, 1_700_000_000);
        assert!(!downstream.raw_omitted);
        let detail: serde_json::Value = serde_json::from_str(downstream.detail.get()).unwrap();
        assert_eq!(
            detail,
            serde_json::json!({
                "schema_version": 1,
                "event_id": event.id,
                "family": "reply",
                "sub_product": "conversational",
                "message_id": "wamid.in",
                "tracking_key": "whatsapp-k",
                "status": null,
                "message_type": "text",
                "contact": "905551112233",
                "profile_name": "Ayşe",
                "phone_number_id": "106",
                "in_reply_to": "wamid.out",
                "occurred_at": 1_700_000_000,
                "received_at": 1_700_000_001_234_i64,
                "error_codes": [],
                "raw": serde_json::from_str::<serde_json::Value>(event.raw.get()).unwrap(),
                "raw_omitted": false,
                "raw_ref": null,
            })
        );
    }

    #[test]
    fn an_oversized_raw_fragment_is_left_out_and_flagged() {
        let body = format!(r#"{{"unknown_shape":"{}"}}"#, "x".repeat(MAX_DETAIL_BYTES));
        let event = first_event(&body);
        let downstream = DownstreamEvent::new(&event, SubProduct::Verify, 5_000, None).unwrap();
        assert!(downstream.raw_omitted);
        assert!(downstream.detail.get().len() <= MAX_DETAIL_BYTES);
        let detail: serde_json::Value = serde_json::from_str(downstream.detail.get()).unwrap();
        assert_eq!(detail["raw"], serde_json::Value::Null);
        assert_eq!(detail["raw_omitted"], true);
        assert_eq!(detail["event_id"], event.id.as_str());
        assert_eq!(downstream.time, 5, "no payload time: when it was received");
    }
}
