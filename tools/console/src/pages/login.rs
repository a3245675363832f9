//! The login page: the token in a password field opens a session (a cookie holding a random
//! id, never the token). The `console` binary's one-time link opens one from the address.

use http::{StatusCode, header};
use maud::html;

use super::layout::shell;
use crate::session::Gate;
use crate::{MOUNT, Request, Response, web};

pub fn show(gate: &Gate, request: &Request) -> Response {
    if gate.is_one_time()
        && let Some(token) = web::param(&web::query_pairs(request), "token")
    {
        return open(gate, token);
    }
    form(gate, StatusCode::OK, None)
}

/// The form's `token` field.
pub fn submit(gate: &Gate, request: &Request) -> Response {
    let token = form_urlencoded::parse(request.body())
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    open(gate, &token)
}

pub fn logout(gate: &Gate, request: &Request) -> Response {
    let mut response = web::redirect(&format!("{MOUNT}/login"));
    response
        .headers_mut()
        .insert(header::SET_COOKIE, gate.logout(request));
    response
}

fn open(gate: &Gate, token: &str) -> Response {
    match gate.login(token) {
        Some(cookie) => {
            let mut response = web::redirect(MOUNT);
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            response
        }
        None => form(
            gate,
            StatusCode::UNAUTHORIZED,
            Some("That token is not valid (a one-time link works once)."),
        ),
    }
}

fn form(gate: &Gate, status: StatusCode, error: Option<&str>) -> Response {
    let label = if gate.is_one_time() {
        "Access token (printed by the console at start)"
    } else {
        "Admin token"
    };
    let body = html! {
        @if let Some(error) = error {
            p class="alert" role="alert" id="login-error" { (error) }
        }
        form method="post" action=(format!("{MOUNT}/login")) {
            p {
                label for="token" { (label) }
                br;
                input id="token" name="token" type="password" required autofocus
                    autocomplete="current-password"
                    aria-describedby=[error.map(|_| "login-error")];
            }
            button type="submit" { "Sign in" }
        }
    };
    web::html(status, shell("Sign in", false, false, body))
}
