//! One message's timeline: its status, then every event with its raw JSON.

use maud::html;

use super::Page;
use super::table::{contact_link, error_codes, kind, status};
use crate::api::{FetchError, QueryApi, fetch};
use crate::model::{Event, Message};
use crate::{MOUNT, web};

pub async fn page(api: &dyn QueryApi, message_id: &str) -> Result<Page, FetchError> {
    let message: Message = fetch(api, &format!("/messages/{}", web::segment(message_id))).await?;
    let contact = message.events.iter().find_map(|e| e.contact.as_deref());
    let body = html! {
        dl class="facts" {
            dt { "Status" }
            dd { (status(message.status.as_deref())) }
            dt { "Furthest step" }
            dd { (message.progress.as_deref().unwrap_or("—")) }
            dt { "Failed" }
            dd { (if message.failed { "yes" } else { "no" }) }
            @if !message.error_codes.is_empty() {
                dt { "Error codes" }
                dd { (error_codes(&message.error_codes)) }
            }
            dt { "Tracking key" }
            dd {
                @match &message.key {
                    Some(key) => a href=(web::with_query(&format!("{MOUNT}/events"), [("key", key.as_str())])) { (key) },
                    None => "—",
                }
            }
            dt { "Contact" }
            dd { @match contact { Some(wa_id) => (contact_link(wa_id)), None => "—" } }
        }
        h2 { "Timeline" }
        ol class="timeline" {
            @for event in &message.events {
                li { (timeline_entry(event)) }
            }
        }
    };
    Ok(Page::ok(format!("Message {}", message.message_id), body))
}

fn timeline_entry(event: &Event) -> maud::Markup {
    html! {
        p {
            span class="when" { (web::time(event.listed_at())) } " · "
            strong { (kind(event)) } " "
            (status(event.status.as_deref()))
            " · " (event.sub_product)
        }
        @if !event.error_codes.is_empty() {
            p { "Error codes: " (error_codes(&event.error_codes)) }
        }
        details {
            summary { "Raw JSON" }
            @if event.raw_omitted {
                p { "Not in this answer (kept apart, or past the answer's size limit)." }
            } @else {
                pre { code { (serde_json::to_string_pretty(&event.raw).unwrap_or_default()) } }
            }
            p class="hint" { "Received " (web::time(event.received_at.div_euclid(1000))) ", event " (event.id) }
        }
    }
}
