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
        .map(|event: Event| StoredEvent {
            event,
            sub_product,
            received_at,
        })
        .collect()
}
