//! The console's routes and pages without a browser, over a query API that answers from
//! memory: the login, a message's timeline and its replay button, the funnel, the search.

use std::sync::Arc;

use bytes::Bytes;
use console::{Access, ApiAnswer, ApiFuture, Console, QueryApi, Request, Response};
use http::{StatusCode, header};
use serde_json::{Value, json};

const TOKEN: &str = "the-admin-token";

/// Answers as the query API would for one failed message and a funnel of every window.
struct Canned;

impl QueryApi for Canned {
    fn get<'a>(&'a self, path_and_query: &'a str) -> ApiFuture<'a> {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let param = |name: &str| {
            form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        let (status, body) = match path {
            "/messages/wamid.failed" => (StatusCode::OK, message()),
            "/stats" if param("since").as_deref() == Some("yesterday") => (
                StatusCode::BAD_REQUEST,
                json!({"error": {"code": "invalid_parameter", "message": "since: not a time"}}),
            ),
            "/stats" => (
                StatusCode::OK,
                json!({"since": param("since"), "until": param("until"), "granularity": "hour",
                       "sent": 2, "delivered": 1, "read": 0, "failed": 1,
                       "failures_by_error_code": {"131026": 1}}),
            ),
            "/events" => (StatusCode::OK, json!({"events": [], "next_cursor": null})),
            _ => (
                StatusCode::NOT_FOUND,
                json!({"error": {"code": "message_not_found", "message": "no event has been stored for message x"}}),
            ),
        };
        Box::pin(async move { Ok(ApiAnswer { status, body }) })
    }

    /// The replay route: publishes the failed message's two events; knows no other message.
    fn post<'a>(&'a self, path_and_query: &'a str) -> ApiFuture<'a> {
        let (status, body) = match path_and_query {
            "/replay/messages/wamid.failed" => (StatusCode::OK, json!({"published": 2})),
            _ => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": {"code": "replay_not_configured", "message": "there is no downstream target to publish to"}}),
            ),
        };
        Box::pin(async move { Ok(ApiAnswer { status, body }) })
    }
}

fn message() -> Value {
    json!({
        "message_id": "wamid.failed", "status": "failed", "progress": "sent", "failed": true,
        "error_codes": [131026], "key": "whatsapp-1",
        "events": [
            {"id": "e1", "family": "status", "message_id": "wamid.failed", "status": "sent",
             "occurred_at": 1714557600, "received_at": 1714557601000i64, "error_codes": [],
             "sub_product": "conversational", "contact": "905551112233", "raw": {"status": "sent"}},
            {"id": "e2", "family": "status", "message_id": "wamid.failed", "status": "failed",
             "occurred_at": 1714557660, "received_at": 1714557661000i64, "error_codes": [131026],
             "sub_product": "conversational", "raw": {"status": "failed", "errors": [{"code": 131026}]}},
        ],
    })
}

fn console() -> Console {
    Console::new(Arc::new(Canned), Access::Token(TOKEN.into()))
}

fn get(path: &str, cookie: Option<&str>) -> Request {
    let mut request = http::Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.body(Bytes::new()).unwrap()
}

fn text(response: &Response) -> String {
    String::from_utf8(response.body().to_vec()).unwrap()
}

fn location(response: &Response) -> &str {
    response.headers()[header::LOCATION].to_str().unwrap()
}

/// Signs in through the form; the cookie to send back.
async fn sign_in(console: &Console) -> String {
    let request = http::Request::post("/console/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Bytes::from(format!("token={TOKEN}")))
        .unwrap();
    let response = console::handle(console, request).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn pages_want_a_session_that_the_login_form_opens() {
    let console = console();
    let response = console::handle(&console, get("/console/funnel", None)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/console/login");

    let form = console::handle(&console, get("/console/login", None)).await;
    let page = text(&form);
    assert!(
        page.contains(r#"<label for="token">Admin token</label>"#),
        "{page}"
    );
    assert!(
        page.contains(r#"id="token" name="token" type="password""#),
        "{page}"
    );

    let wrong = http::Request::post("/console/login")
        .body(Bytes::from_static(b"token=nope"))
        .unwrap();
    let refused = console::handle(&console, wrong).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(text(&refused).contains(r#"role="alert""#));

    let cookie = sign_in(&console).await;
    let home = console::handle(&console, get("/console", Some(&cookie))).await;
    assert_eq!(home.status(), StatusCode::OK);
    assert!(text(&home).contains(r#"role="search""#));
    assert_eq!(
        home.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .split(';')
            .next(),
        Some("default-src 'none'"),
        "no script runs on a console page"
    );
}

#[tokio::test]
async fn a_message_shows_its_failure_and_what_the_code_means() {
    let console = console();
    let cookie = sign_in(&console).await;
    let response = console::handle(
        &console,
        get("/console/messages/wamid.failed", Some(&cookie)),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = text(&response);
    assert!(page.contains(r#"<span class="status status-failed">failed</span>"#));
    assert!(page.contains("Message undeliverable"));
    assert_eq!(
        page.matches("<details>").count(),
        2,
        "raw JSON folded per event"
    );
    assert!(page.contains(r#"href="/console/contacts/905551112233""#));

    let missing = console::handle(
        &console,
        get("/console/messages/wamid.other", Some(&cookie)),
    )
    .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(text(&missing).contains("no event has been stored"));
}

#[tokio::test]
async fn the_funnel_counts_draws_and_links_each_failure_code_to_its_events() {
    let console = console();
    let cookie = sign_in(&console).await;
    let path = "/console/funnel?since=2024-05-01T10:00:00Z&until=2024-05-01T12:00:00Z";
    let response = console::handle(&console, get(path, Some(&cookie))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = text(&response);
    assert!(page.contains(r#"<dd id="count-sent">2</dd>"#), "{page}");
    assert!(page.contains(r#"<dd id="count-failed">1</dd>"#));
    assert!(page.contains("<svg class=\"chart\""));
    assert!(
        page.contains("<title>10:00, sent: 2</title>"),
        "one group per hour"
    );
    assert!(page.contains("<title>11:00, failed: 1</title>"));
    assert!(page.contains(
        r#"href="/console/events?since=2024-05-01T10%3A00%3A00Z&amp;until=2024-05-01T12%3A00%3A00Z&amp;error_code=131026">131026</a>"#
    ));

    let refused = console::handle(
        &console,
        get("/console/funnel?since=yesterday", Some(&cookie)),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let page = text(&refused);
    assert!(
        page.contains(r#"value="yesterday""#),
        "the form again, to fix: {page}"
    );
    assert!(page.contains("since: not a time"));
}

#[tokio::test]
async fn the_search_tells_numbers_message_ids_and_nothing_apart() {
    let console = console();
    let cookie = sign_in(&console).await;
    let search = |q: &str| {
        console::handle(
            &console,
            get(&format!("/console/search?q={q}"), Some(&cookie)),
        )
    };
    let contact = search("%2B905551112233").await;
    assert_eq!(location(&contact), "/console/contacts/905551112233");
    let message = search("wamid.failed").await;
    assert_eq!(location(&message), "/console/messages/wamid.failed");
    let nothing = search("whatsapp-unknown").await;
    assert_eq!(nothing.status(), StatusCode::NOT_FOUND);
    assert!(text(&nothing).contains("Nothing found"));
}

#[tokio::test]
async fn a_one_time_link_opens_one_session_and_no_bearer_use() {
    let console = Console::new(Arc::new(Canned), Access::OneTime("link-token".into()));
    let link = "/console/login?token=link-token";
    let opened = console::handle(&console, get(link, None)).await;
    assert_eq!(opened.status(), StatusCode::SEE_OTHER);
    assert!(opened.headers().contains_key(header::SET_COOKIE));
    let again = console::handle(&console, get(link, None)).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED, "used once");
    let bearer = http::Request::get("/console")
        .header(header::AUTHORIZATION, "Bearer link-token")
        .body(Bytes::new())
        .unwrap();
    assert_eq!(
        console::handle(&console, bearer).await.status(),
        StatusCode::SEE_OTHER,
        "the link's token is no bearer token"
    );
}

#[tokio::test]
async fn the_replay_button_publishes_a_message_again_and_says_so() {
    let console = console();
    let cookie = sign_in(&console).await;
    let page = text(
        &console::handle(
            &console,
            get("/console/messages/wamid.failed", Some(&cookie)),
        )
        .await,
    );
    assert!(
        page.contains(r#"<form method="post" action="/console/messages/wamid.failed/replay">"#),
        "{page}"
    );
    let post = |path: &str, cookie: Option<&str>| {
        let mut request = http::Request::post(path);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        request.body(Bytes::new()).unwrap()
    };
    let without = console::handle(
        &console,
        post("/console/messages/wamid.failed/replay", None),
    )
    .await;
    assert_eq!(without.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&without),
        "/console/login",
        "no session, no replay"
    );

    let done = console::handle(
        &console,
        post("/console/messages/wamid.failed/replay", Some(&cookie)),
    )
    .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&done), "/console/messages/wamid.failed?replayed=2");
    let shown = text(&console::handle(&console, get(location(&done), Some(&cookie))).await);
    assert!(
        shown.contains("2 events published to the event bus again"),
        "{shown}"
    );

    let refused = console::handle(
        &console,
        post("/console/messages/wamid.other/replay", Some(&cookie)),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(text(&refused).contains("there is no downstream target"));
}
