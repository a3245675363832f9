//! Who may read the console: a session cookie opened by the login page, or (for scripts, where
//! [`Access::Token`] allows it) the bearer token itself. A session id is random and kept in
//! memory only; the token never goes into a cookie.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::{HeaderValue, header};
use subtle::ConstantTimeEq;

use crate::{MOUNT, Request};

const COOKIE: &str = "console_session";
/// How long a session lasts; a working day, then the token is asked for again.
const SESSION_LIFE: Duration = Duration::from_secs(12 * 3600);

/// The secret that opens a session.
pub enum Access {
    /// A standing token (the local stack's admin token): the login form takes it as often as
    /// it is given, and a request with `Authorization: Bearer <token>` needs no session.
    Token(String),
    /// A one-time token (the `console` binary prints a link with it at start): the first
    /// login with it opens a session, and it opens none after that.
    OneTime(String),
}

pub struct Gate {
    access: Access,
    /// `false` once a one-time token is used.
    unused: Mutex<bool>,
    /// Session id → when it was opened.
    sessions: Mutex<HashMap<String, Instant>>,
}

impl Gate {
    pub fn new(access: Access) -> Self {
        Self {
            access,
            unused: Mutex::new(true),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    pub fn is_one_time(&self) -> bool {
        matches!(self.access, Access::OneTime(_))
    }

    /// A new session's `Set-Cookie` value when `given` is the token (a one-time token only
    /// once).
    pub fn login(&self, given: &str) -> Option<HeaderValue> {
        let admitted = match &self.access {
            Access::Token(token) => equal(given, token),
            Access::OneTime(token) => {
                let mut unused = lock(&self.unused);
                let admitted = *unused && equal(given, token);
                if admitted {
                    *unused = false;
                }
                admitted
            }
        };
        if !admitted {
            return None;
        }
        let id = shared::auth::generate_token();
        let mut sessions = lock(&self.sessions);
        sessions.retain(|_, opened| opened.elapsed() < SESSION_LIFE);
        sessions.insert(id.clone(), Instant::now());
        Some(cookie(&id, SESSION_LIFE))
    }

    /// Ends the request's session; the `Set-Cookie` value that drops the cookie.
    pub fn logout(&self, request: &Request) -> HeaderValue {
        if let Some(id) = session_id(request) {
            lock(&self.sessions).remove(id);
        }
        cookie("", Duration::ZERO)
    }

    /// A live session, or the standing token as a bearer token.
    pub fn admits(&self, request: &Request) -> bool {
        if let Some(id) = session_id(request)
            && lock(&self.sessions)
                .get(id)
                .is_some_and(|opened| opened.elapsed() < SESSION_LIFE)
        {
            return true;
        }
        let Access::Token(token) = &self.access else {
            return false;
        };
        request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| equal(given.trim(), token))
    }
}

/// The session cookie: out of scripts' reach, never sent from another site's page, only to the
/// console's paths.
fn cookie(id: &str, life: Duration) -> HeaderValue {
    let text = format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path={MOUNT}; Max-Age={}",
        life.as_secs()
    );
    // A session id is hex, so the value is always a valid header.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Compared in constant time, so that the answer's timing says nothing of the token.
fn equal(given: &str, token: &str) -> bool {
    !token.is_empty() && bool::from(given.as_bytes().ct_eq(token.as_bytes()))
}

/// A poisoned lock only means a request panicked while holding it; the map is still whole.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn session_id(request: &Request) -> Option<&str> {
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(set_cookie: &HeaderValue) -> Request {
        let pair = set_cookie.to_str().unwrap().split(';').next().unwrap();
        http::Request::get("/console")
            .header(header::COOKIE, format!("other=1; {pair}"))
            .body(Default::default())
            .unwrap()
    }

    fn bare() -> Request {
        http::Request::get("/console")
            .body(Default::default())
            .unwrap()
    }

    #[test]
    fn a_login_opens_a_session_that_a_logout_closes() {
        let gate = Gate::new(Access::Token("secret-token".into()));
        assert!(gate.login("wrong").is_none());
        let cookie = gate
            .login("secret-token")
            .expect("the token opens a session");
        let text = cookie.to_str().unwrap();
        assert!(
            text.contains("HttpOnly; SameSite=Strict; Path=/console"),
            "{text}"
        );
        assert!(
            !text.contains("secret-token"),
            "the cookie is not the token"
        );
        let request = with_cookie(&cookie);
        assert!(gate.admits(&request));
        assert!(!gate.admits(&bare()));
        gate.logout(&request);
        assert!(!gate.admits(&request));
    }

    #[test]
    fn the_standing_token_works_as_a_bearer_token_and_a_one_time_token_only_once() {
        let bearer = |token: &str| {
            http::Request::get("/console")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Default::default())
                .unwrap()
        };
        let standing = Gate::new(Access::Token("admin".into()));
        assert!(standing.admits(&bearer("admin")));
        assert!(!standing.admits(&bearer("nimda")));

        let once = Gate::new(Access::OneTime("link-token".into()));
        assert!(
            !once.admits(&bearer("link-token")),
            "no bearer use of a link"
        );
        assert!(once.login("wrong").is_none());
        assert!(once.login("link-token").is_some());
        assert!(once.login("link-token").is_none(), "used up");
    }
}
