//! The start page: one search box for a message id, a tracking key or a contact's number.

use http::StatusCode;
use maud::{Markup, html};

use super::{Page, layout};
use crate::api::{QueryApi, fetch};
use crate::model::{Listing, Message};
use crate::{MOUNT, Response, web};

pub fn page() -> Page {
    let failed = web::with_query(
        &format!("{MOUNT}/events"),
        [("family", "status"), ("status", "failed")],
    );
    let body = html! {
        (form(""))
        h2 { "Shortcuts" }
        ul {
            li { a href=(failed) { "Failed messages of the last 24 hours" } }
            li { a href=(format!("{MOUNT}/funnel")) { "The funnel of the last 24 hours, by hour, with its failures" } }
            li { a href=(format!("{MOUNT}/live")) { "Live events" } ", reloaded every few seconds" }
        }
    };
    Page::ok("Search", body)
}

fn form(value: &str) -> Markup {
    html! {
        form class="inline" role="search" method="get" action=(format!("{MOUNT}/search")) {
            div {
                label for="q" { "Message id, tracking key or contact number" }
                input id="q" name="q" type="search" required value=(value)
                    aria-describedby="q-hint";
            }
            button type="submit" { "Search" }
        }
        p id="q-hint" class="hint" {
            "A WhatsApp message id (" code { "wamid.…" } "), Insider One's tracking key ("
            code { "whatsapp-…" } ") or the customer's WhatsApp number, digits only."
        }
    }
}

/// Digits (a `+` before them allowed) are a contact; anything else a message id, or failing
/// that a tracking key.
pub async fn search(api: &dyn QueryApi, pairs: &[(String, String)]) -> Response {
    let Some(query) = web::param(pairs, "q") else {
        return web::redirect(MOUNT);
    };
    let digits = query.strip_prefix('+').unwrap_or(query);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return web::redirect(&format!("{MOUNT}/contacts/{}", web::segment(digits)));
    }
    let message = fetch::<Message>(api, &format!("/messages/{}", web::segment(query))).await;
    match message {
        Ok(_) => return web::redirect(&format!("{MOUNT}/messages/{}", web::segment(query))),
        Err(error) if !error.is_not_found() => return layout::page(super::failure(&error)),
        Err(_) => {}
    }
    let by_key = web::with_query("/events", [("key", query), ("limit", "1")]);
    match fetch::<Listing>(api, &by_key).await {
        Ok(listing) if !listing.events.is_empty() => web::redirect(&web::with_query(
            &format!("{MOUNT}/events"),
            [("key", query)],
        )),
        Ok(_) => layout::page(Page {
            status: StatusCode::NOT_FOUND,
            title: "Search".into(),
            body: html! {
                (form(query))
                p class="alert" role="alert" {
                    "Nothing found for " code { (query) } ": no message has this id and no event "
                    "carries this tracking key."
                }
            },
            refresh: false,
        }),
        Err(error) => layout::page(super::failure(&error)),
    }
}
