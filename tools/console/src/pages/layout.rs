//! The frame every page shares: head, navigation, landmarks.

use maud::{DOCTYPE, Markup, html};

use super::Page;
use crate::{MOUNT, Response, web};

/// Seconds between reloads of a live page.
pub const REFRESH_SECS: u32 = 5;

pub fn page(page: Page) -> Response {
    web::html(
        page.status,
        shell(&page.title, true, page.refresh, page.body),
    )
}

/// The document: a skip link, the navigation (signed-in pages only), the page in `main`.
pub fn shell(title: &str, signed_in: bool, refresh: bool, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if refresh {
                    meta http-equiv="refresh" content=(REFRESH_SECS);
                }
                title { (title) " · WhatsApp webhooks console" }
                link rel="stylesheet" href=(format!("{MOUNT}/style.css"));
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header {
                    nav aria-label="Console" {
                        a class="brand" href=(MOUNT) { "WhatsApp webhooks console" }
                        @if signed_in {
                            ul {
                                li { a href=(MOUNT) { "Search" } }
                                li { a href=(format!("{MOUNT}/funnel")) { "Funnel" } }
                                li { a href=(format!("{MOUNT}/events")) { "Events" } }
                                li { a href=(format!("{MOUNT}/live")) { "Live" } }
                            }
                            form method="post" action=(format!("{MOUNT}/logout")) {
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
                footer { "Read through the query API; its one action publishes a message's events again, and changes nothing stored." }
            }
        }
    }
}
