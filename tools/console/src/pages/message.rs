//! One message's timeline: its status, then every event with its raw JSON; and the one action
//! of the console, publishing the message's events to the event bus again (the replay route).

use http::StatusCode;
use maud::html;

use super::table::{contact_link, error_codes, kind, status};
use super::{Page, failure, layout};
use crate::api::{FetchError, QueryApi, fetch};
use crate::model::{Event, Message};
use crate::{MOUNT, Response, web};

pub async fn page(
    api: &dyn QueryApi,
    message_id: &str,
    pairs: &[(String, String)],
) -> Result<Page, FetchError> {
    let message: Message = fetch(api, &format!("/messages/{}", web::segment(message_id))).await?;
    let contact = message.events.iter().find_map(|e| e.contact.as_deref());
    let replayed = pairs
        .iter()
        .find(|(name, _)| name == "replayed")
        .and_then(|(_, count)| count.parse::<u64>().ok());
    let body = html! {
        @if let Some(count) = replayed {
            p class="notice" role="status" {
                (count) " events published to the event bus again, with their event ids (consumers dedupe on them)."
            }
        }
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
        form method="post" action=(format!("{MOUNT}/messages/{}/replay", web::segment(&message.message_id))) {
            button type="submit" { "Publish its events again" }
            " "
            span class="hint" { "for a consumer that missed them: every event of this message, to the event bus" }
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

/// Publishes the message's events again, then shows the message saying so (or the refusal).
pub async fn replay(api: &dyn QueryApi, message_id: &str) -> Response {
    let back = format!("{MOUNT}/messages/{}", web::segment(message_id));
    let answer = match api
        .post(&format!("/replay/messages/{}", web::segment(message_id)))
        .await
    {
        Ok(answer) => answer,
        Err(error) => return layout::page(failure(&FetchError::Api(error))),
    };
    if answer.status == StatusCode::OK {
        let published = answer.body["published"].as_u64().unwrap_or(0).to_string();
        return web::redirect(&web::with_query(&back, [("replayed", published.as_str())]));
    }
    let reason = answer.body["error"]["message"]
        .as_str()
        .unwrap_or("the replay route refused")
        .to_owned();
    layout::page(Page {
        status: answer.status,
        title: "Not published again".into(),
        body: html! {
            p class="alert" role="alert" { (reason) }
            p { a href=(back) { "Back to the message" } }
        },
        refresh: false,
    })
}
