//! Pieces several pages show: a table of events, a status, error codes with their meaning.

use maud::{Markup, html};

use crate::model::Event;
use crate::{MOUNT, web};
use shared::domain::error_codes::meaning;

pub fn message_link(message_id: &str) -> Markup {
    html! { a href=(format!("{MOUNT}/messages/{}", web::segment(message_id))) { (message_id) } }
}

pub fn contact_link(wa_id: &str) -> Markup {
    html! { a href=(format!("{MOUNT}/contacts/{}", web::segment(wa_id))) { (wa_id) } }
}

pub fn status(status: Option<&str>) -> Markup {
    match status {
        Some(status) => html! { span class=(format!("status status-{status}")) { (status) } },
        None => html! { "—" },
    }
}

/// Each code with what it means, when that is known.
pub fn error_codes(codes: &[i64]) -> Markup {
    html! {
        @for code in codes {
            span class="code" {
                strong { (code) }
                @if let Some(meaning) = meaning(*code) {
                    span class="meaning" { (meaning) }
                }
            }
        }
    }
}

/// What an event is, in a few words: `status`, `reply (text)`, ...
pub fn kind(event: &Event) -> String {
    match &event.message_type {
        Some(kind) => format!("{} ({kind})", event.family),
        None => event.family.clone(),
    }
}

/// Events as rows, in the order given.
pub fn events(events: &[Event]) -> Markup {
    html! {
        @if events.is_empty() {
            p { "No events." }
        } @else {
            table {
                thead {
                    tr {
                        th scope="col" { "Time" }
                        th scope="col" { "Message" }
                        th scope="col" { "Event" }
                        th scope="col" { "Status" }
                        th scope="col" { "Error codes" }
                        th scope="col" { "Contact" }
                        th scope="col" { "Sub-product" }
                    }
                }
                tbody {
                    @for event in events {
                        tr {
                            td { (web::time(event.listed_at())) }
                            td class="id" {
                                @if let Some(id) = &event.message_id { (message_link(id)) }
                            }
                            td { (kind(event)) }
                            td { (status(event.status.as_deref())) }
                            td { (error_codes(&event.error_codes)) }
                            td { @if let Some(wa_id) = &event.contact { (contact_link(wa_id)) } }
                            td { (event.sub_product) }
                        }
                    }
                }
            }
        }
    }
}
