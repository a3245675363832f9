//! The console's pages: each reads what it shows through the query API and renders it.

mod contact;
mod events;
mod funnel;
mod home;
mod layout;
pub mod login;
pub(crate) mod message;
mod table;

use http::StatusCode;
use maud::Markup;

use crate::api::{FetchError, QueryApi};
use crate::{Request, Response, web};

/// A page's content, put in the common layout by [`layout::page`].
pub struct Page {
    pub status: StatusCode,
    pub title: String,
    pub body: Markup,
    /// Reloaded every few seconds (the live view).
    pub refresh: bool,
}

impl Page {
    fn ok(title: impl Into<String>, body: Markup) -> Self {
        Self {
            status: StatusCode::OK,
            title: title.into(),
            body,
            refresh: false,
        }
    }
}

/// The `GET` pages behind the login; `segments` are the path's under the mount.
pub async fn render(api: &dyn QueryApi, segments: &[&str], request: &Request) -> Response {
    let pairs = web::query_pairs(request);
    let now = shared::clock::now_millis().div_euclid(1000);
    let page = match segments {
        [] => Ok(home::page()),
        ["search"] => return home::search(api, &pairs).await,
        ["messages", message_id] => message::page(api, message_id, &pairs).await,
        ["contacts", wa_id] => contact::page(api, wa_id, &pairs).await,
        ["funnel"] => funnel::page(api, &pairs, now).await,
        ["events"] => events::page(api, &pairs, now).await,
        ["live"] => events::live(api, now).await,
        _ => return web::not_found(),
    };
    layout::page(page.unwrap_or_else(|error| failure(&error)))
}

/// A page that could not be read: the API's reason, and its status.
pub(crate) fn failure(error: &FetchError) -> Page {
    let title = if error.is_not_found() {
        "Not found"
    } else {
        "This page could not be shown"
    };
    Page {
        status: error.status(),
        title: title.into(),
        body: maud::html! { p class="alert" role="alert" { (error) } },
        refresh: false,
    }
}
