//! Webhook bodies built in code, for tests that need many distinct events.

use serde_json::json;
use shared::domain::{Event, SubProduct, parse_delivery};
use shared::store::StoredEvent;

/// A Meta envelope with one status of one message, as Insider One forwards it.
pub fn status(message_id: &str, status: &str, timestamp: i64, key: &str) -> String {
    statuses(&[(message_id, status, timestamp)], key)
}

/// A Meta envelope with several statuses in one change.
pub fn statuses(items: &[(&str, &str, i64)], key: &str) -> String {
    let statuses: Vec<_> = items
        .iter()
        .map(|(id, status, ts)| {
            let mut item = json!({
                "id": id,
                "status": status,
                "timestamp": ts.to_string(),
                "recipient_id": "905551112233",
            });
            if *status == "failed" {
                item["errors"] = json!([{"code": 131026, "title": "Message undeliverable"}]);
            }
            item
        })
        .collect();
    json!({
        "key": key,
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550001111", "phone_number_id": "106540352242922"},
                    "statuses": statuses,
                },
            }],
        }],
    })
    .to_string()
}

/// A user's text reply.
pub fn text_reply(message_id: &str, body: &str, timestamp: i64) -> String {
    json!({
        "key": "",
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Ayşe"}, "wa_id": "905551112233"}],
            "messages": [{"from": "905551112233", "id": message_id, "timestamp": timestamp.to_string(),
                          "text": {"body": body}, "type": "text"}],
        }}]}],
    })
    .to_string()
}

/// Parses a body into events as the receiver stores them.
pub fn stored(body: &str, sub_product: SubProduct, received_at: i64) -> Vec<StoredEvent> {
    parse_delivery(body.as_bytes())
        .expect("test payloads are JSON objects")
        .into_iter()
        .map(|event: Event| StoredEvent::new(event, sub_product, received_at))
        .collect()
}

/// One status report of a message to `recipient`; a `failed` one carries `error_code`.
pub fn status_report(
    message_id: &str,
    status: &str,
    timestamp: i64,
    recipient: &str,
    key: &str,
    error_code: Option<i64>,
) -> String {
    let mut item = json!({
        "id": message_id,
        "status": status,
        "timestamp": timestamp.to_string(),
        "recipient_id": recipient,
    });
    if let Some(code) = error_code {
        item["errors"] = json!([{"code": code, "title": "Message failed"}]);
    }
    meta_envelope(json!({"statuses": [item]}), key)
}

/// A user's reply of any type (`text`, `image`, `button`, ...) from `from`.
pub fn reply_of_type(message_id: &str, from: &str, kind: &str, timestamp: i64) -> String {
    let mut message = json!({
        "from": from, "id": message_id, "timestamp": timestamp.to_string(), "type": kind,
    });
    message[kind] = json!({"id": format!("media-{message_id}")});
    meta_envelope(
        json!({
            "contacts": [{"profile": {"name": "Ayşe"}, "wa_id": from}],
            "messages": [message],
        }),
        "",
    )
}

/// A Cloud API error report; it carries no time, so it is listed when it arrives.
pub fn cloud_error(code: i64, key: &str) -> String {
    json!({
        "error": {"message": "(#131009) Parameter value is not valid", "type": "OAuthException",
                  "code": code, "fbtrace_id": format!("trace-{key}")},
        "key": key,
    })
    .to_string()
}

/// WhatsApp accepted a message to `wa_id`; no time either.
pub fn accepted(message_id: &str, wa_id: &str, key: &str) -> String {
    json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": format!("+{wa_id}"), "wa_id": wa_id}],
        "messages": [{"id": message_id}],
        "key": key,
    })
    .to_string()
}

fn meta_envelope(value: serde_json::Value, key: &str) -> String {
    let mut value = value;
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] =
        json!({"display_phone_number": "15550001111", "phone_number_id": "106540352242922"});
    json!({
        "key": key,
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}],
    })
    .to_string()
}
