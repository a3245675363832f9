//! The conversation with one customer: our messages' statuses and their replies, in order.

use maud::html;

use super::Page;
use super::table::{error_codes, message_link, status};
use crate::api::{FetchError, QueryApi, fetch};
use crate::model::{Event, Listing};
use crate::{MOUNT, web};

/// Events one page of the conversation shows.
const PAGE_SIZE: &str = "200";

pub async fn page(
    api: &dyn QueryApi,
    wa_id: &str,
    pairs: &[(String, String)],
) -> Result<Page, FetchError> {
    let cursor = web::param(pairs, "cursor");
    let mut query = vec![("limit", PAGE_SIZE)];
    query.extend(cursor.map(|c| ("cursor", c)));
    let path = web::with_query(
        &format!("/contacts/{}/messages", web::segment(wa_id)),
        query,
    );
    let listing: Listing = fetch(api, &path).await?;
    let body = html! {
        @if listing.events.is_empty() {
            p { "No events with this contact." }
        }
        ol class="conversation" {
            @for event in &listing.events {
                @let theirs = event.family == "reply";
                li class=(if theirs { "theirs" } else { "ours" }) { (entry(event)) }
            }
        }
        @if let Some(next) = &listing.next_cursor {
            p {
                a href=(web::with_query(&format!("{MOUNT}/contacts/{}", web::segment(wa_id)), [("cursor", next.as_str())])) {
                    "Later events"
                }
            }
        }
    };
    Ok(Page::ok(format!("Conversation with {wa_id}"), body))
}

fn entry(event: &Event) -> maud::Markup {
    html! {
        p class="when" { (web::time(event.listed_at())) }
        @if event.family == "reply" {
            p {
                strong { (event.contact_name.as_deref().unwrap_or("The customer")) }
                " replied (" (event.message_type.as_deref().unwrap_or("message")) ")"
            }
            @if let Some(text) = event.reply_text() {
                blockquote { (text) }
            }
        } @else {
            p {
                "Our message "
                @if let Some(id) = &event.message_id { (message_link(id)) " " }
                @match &event.status {
                    Some(name) => (status(Some(name))),
                    None => (event.family),
                }
            }
            @if !event.error_codes.is_empty() {
                p { (error_codes(&event.error_codes)) }
            }
        }
    }
}
