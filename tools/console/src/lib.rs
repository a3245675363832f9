//! The console: web pages over the query API, for support agents ("did my message arrive?"),
//! marketers ("why did the delivery rate fall?") and engineers. It only reads, and only through
//! [`QueryApi`], so the query API stays the one source of truth and the console knows nothing
//! of how the API is reached: the local stack calls its own handler in process, the `console`
//! binary signs each call to a deployed stack's IAM-protected API.
//!
//! Pages are rendered on the server (maud), charts drawn on the server as SVG; there is no
//! JavaScript. Every page but the login page wants a session (see [`Access`]).

mod api;
mod chart;
mod model;
mod pages;
mod session;
pub mod signed;
mod web;

use std::sync::Arc;

use bytes::Bytes;
use http::Method;

pub use api::{ApiAnswer, ApiError, ApiFuture, QueryApi};
pub use session::Access;

use session::Gate;

/// A request to the console, as the servers hand it over: the body read whole.
pub type Request = http::Request<Bytes>;
pub type Response = http::Response<Bytes>;

/// The path the console is served under, by the local stack and by the binary alike.
pub const MOUNT: &str = "/console";

pub struct Console {
    api: Arc<dyn QueryApi>,
    gate: Gate,
}

impl Console {
    pub fn new(api: Arc<dyn QueryApi>, access: Access) -> Self {
        Self {
            api,
            gate: Gate::new(access),
        }
    }
}

/// Every route under [`MOUNT`]. The style sheet and the login page are open; any other page
/// without a session (or, where [`Access::Token`] allows it, the bearer token) redirects to the
/// login page.
pub async fn handle(console: &Console, request: Request) -> Response {
    let Some(segments) = web::console_segments(request.uri().path()) else {
        return web::not_found();
    };
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = request.method().clone();
    match (segments.as_slice(), &method) {
        (["style.css"], &Method::GET) => web::style_sheet(),
        (["login"], &Method::GET) => pages::login::show(&console.gate, &request),
        (["login"], &Method::POST) => pages::login::submit(&console.gate, &request),
        (["login"] | ["style.css"], _) => web::method_not_allowed(),
        _ if !console.gate.admits(&request) => web::redirect(&format!("{MOUNT}/login")),
        (["logout"], &Method::POST) => pages::login::logout(&console.gate, &request),
        (["messages", message_id, "replay"], &Method::POST) => {
            pages::message::replay(console.api.as_ref(), message_id).await
        }
        (_, &Method::GET) => pages::render(console.api.as_ref(), &segments, &request).await,
        _ => web::method_not_allowed(),
    }
}
