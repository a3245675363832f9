//! The read-back routes over HTTP, on the local stack (which mounts the query Lambda's handler)
//! with the embedded store and with DynamoDB Local: a customer's conversation, filtered
//! windows, NDJSON exports, the funnel, and the refusals of bad parameters and cursors.

use std::time::Duration;

use e2e_tests::dynamodb_local;
use e2e_tests::fault_proxy::FaultProxy;
use e2e_tests::payloads::{reply_of_type, status_report, statuses};
use e2e_tests::stack::{self, ADMIN_TOKEN, WEBHOOK_TOKEN, client, deliver, error_code, read};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// 2023-11-15T00:00:00Z.
const DAY0: i64 = 1_700_006_400;
const CUSTOMER: &str = "905551112233";
const OTHER: &str = "905550000000";

/// A conversation with `CUSTOMER` (two messages of ours, two replies) and a failed message to
/// someone else, all in the hour after `DAY0`.
async fn deliver_conversation(base: &str) {
    let first = statuses_to(
        CUSTOMER,
        &[
            ("wamid.out-1", "sent", 10),
            ("wamid.out-1", "delivered", 20),
            ("wamid.out-1", "read", 300),
        ],
        "whatsapp-out-1",
    );
    let deliveries = [
        ("conversational", first),
        (
            "conversational",
            reply_of_type("wamid.in-1", CUSTOMER, "text", DAY0 + 200),
        ),
        (
            "conversational",
            reply_of_type("wamid.in-2", CUSTOMER, "image", DAY0 + 400),
        ),
        (
            "conversational",
            status_report(
                "wamid.out-2",
                "sent",
                DAY0 + 500,
                CUSTOMER,
                "whatsapp-out-2",
                None,
            ),
        ),
        (
            "conversational",
            status_report(
                "wamid.out-2",
                "failed",
                DAY0 + 510,
                CUSTOMER,
                "whatsapp-out-2",
                Some(131026),
            ),
        ),
        (
            "transactional",
            status_report(
                "wamid.other",
                "sent",
                DAY0 + 50,
                OTHER,
                "whatsapp-other",
                None,
            ),
        ),
        (
            "transactional",
            status_report(
                "wamid.other",
                "failed",
                DAY0 + 60,
                OTHER,
                "whatsapp-other",
                Some(470),
            ),
        ),
    ];
    for (sub_product, body) in deliveries {
        let (code, _) = deliver(base, sub_product, Some(WEBHOOK_TOKEN), &body).await;
        assert_eq!(code, StatusCode::OK);
    }
}

/// Several statuses of messages to `recipient` in one delivery, `DAY0 + offset` each.
fn statuses_to(recipient: &str, items: &[(&str, &str, i64)], key: &str) -> String {
    let body = statuses(
        &items
            .iter()
            .map(|(id, status, offset)| (*id, *status, DAY0 + offset))
            .collect::<Vec<_>>(),
        key,
    );
    body.replace("905551112233", recipient)
}

/// Every page of a JSON listing, following `next_cursor`; the events and the page count.
async fn all_pages(base: &str, path: &str) -> (Vec<Value>, usize) {
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    for pages in 1..100 {
        let url = match &cursor {
            Some(cursor) => format!("{path}&cursor={cursor}"),
            None => path.to_owned(),
        };
        let (code, page) = read(base, &url).await;
        assert_eq!(code, StatusCode::OK, "{url}: {page}");
        events.extend(page["events"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (events, pages),
        }
    }
    panic!("{path} never ended")
}

/// `family/status-or-type@offset` of each event, to compare orders at a glance.
fn summary(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let what = e["status"]
                .as_str()
                .or(e["message_type"].as_str())
                .unwrap_or("-");
            let at = e["occurred_at"].as_i64().unwrap() - DAY0;
            format!("{}/{what}@{at}", e["family"].as_str().unwrap())
        })
        .collect()
}

async fn get_ndjson(
    base: &str,
    path: &str,
) -> (StatusCode, Option<String>, Option<String>, String) {
    let response = client()
        .get(format!("{base}{path}"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("request is answered");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (content_type, cursor) = (header("content-type"), header("x-next-cursor"));
    (
        response.status(),
        content_type,
        cursor,
        response.text().await.unwrap(),
    )
}

async fn every_read_route_answers(base: &str) {
    deliver_conversation(base).await;
    let conversation = [
        "status/sent@10",
        "status/delivered@20",
        "reply/text@200",
        "status/read@300",
        "reply/image@400",
        "status/sent@500",
        "status/failed@510",
    ];

    let (events, pages) = all_pages(base, &format!("/contacts/{CUSTOMER}/messages?limit=3")).await;
    assert_eq!(
        summary(&events),
        conversation,
        "in time order, replies among statuses"
    );
    assert_eq!(pages, 3);
    let (events, _) = all_pages(
        base,
        &format!("/contacts/%2B{CUSTOMER}/messages?limit=1000"),
    )
    .await;
    assert_eq!(
        summary(&events),
        conversation,
        "a leading + names the same customer"
    );
    let (_, page) = read(base, &format!("/contacts/{CUSTOMER}/messages?status=read")).await;
    assert_eq!(page["contact"], CUSTOMER);
    assert_eq!(
        summary(page["events"].as_array().unwrap()),
        ["status/read@300"]
    );

    let since = "2023-11-15T00:00:00Z";
    let window = format!("/events?since={since}&until={}", DAY0 + 3600);
    let (events, _) = all_pages(base, &format!("{window}&status=failed")).await;
    assert_eq!(summary(&events), ["status/failed@60", "status/failed@510"]);
    assert_eq!(events[0]["error_codes"], json!([470]));
    assert_eq!(events[1]["error_codes"], json!([131026]));
    assert_eq!(events[1]["contact"], CUSTOMER);
    let (events, _) = all_pages(base, &format!("{window}&error_code=470")).await;
    assert_eq!(summary(&events), ["status/failed@60"]);
    let (events, _) = all_pages(base, &format!("{window}&family=reply&limit=1")).await;
    assert_eq!(summary(&events), ["reply/text@200", "reply/image@400"]);
    let (events, _) = all_pages(base, &format!("{window}&sub_product=transactional")).await;
    assert_eq!(summary(&events), ["status/sent@50", "status/failed@60"]);
    let (events, _) = all_pages(
        base,
        &format!(
            "/events?since=2023-11-15T00:03:00%2B00:00&until={}&limit=2",
            DAY0 + 400
        ),
    )
    .await;
    assert_eq!(summary(&events), ["reply/text@200", "status/read@300"]);

    // The tracking key route of before, unchanged.
    let (code, by_key) = read(base, "/events?key=whatsapp-out-1").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(by_key["key"], "whatsapp-out-1");
    assert_eq!(by_key["events"].as_array().unwrap().len(), 3);
    assert_eq!(by_key["next_cursor"], Value::Null);

    // An export: one event per line, the continuation in a header.
    let (code, content_type, cursor, body) =
        get_ndjson(base, &format!("{window}&format=ndjson&limit=4")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(content_type.as_deref(), Some("application/x-ndjson"));
    let first: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(first.len(), 4);
    let cursor = cursor.expect("more follow");
    let (_, _, none, body) =
        get_ndjson(base, &format!("{window}&format=ndjson&cursor={cursor}")).await;
    assert_eq!(none, None, "the export is complete");
    let rest: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (everything, _) = all_pages(base, &window).await;
    assert_eq!(
        [first, rest].concat(),
        everything,
        "the export holds the listing"
    );
    assert_eq!(everything.len(), 9);

    let (code, stats) = read(base, &format!("/stats?since={since}&until={}", DAY0 + 1)).await;
    assert_eq!(code, StatusCode::OK, "{stats}");
    assert_eq!(
        stats,
        json!({
            "since": "2023-11-15T00:00:00Z", "until": "2023-11-15T01:00:00Z", "granularity": "hour",
            "events": 9, "accepted": 0, "sent": 3, "delivered": 1, "read": 1, "failed": 2,
            "failures_by_error_code": {"470": 1, "131026": 1},
            "replies_by_type": {"image": 1, "text": 1},
            "events_by_family": {"reply": 2, "status": 7},
            "other_statuses": {},
        })
    );
}

async fn bad_parameters_and_cursors_are_refused(base: &str) {
    deliver_conversation(base).await;
    let (code, answer) = read(
        base,
        "/events?since=yesterday&family=sms&limit=0&colour=red",
    )
    .await;
    assert_eq!(
        (code, error_code(&answer)),
        (StatusCode::BAD_REQUEST, "invalid_parameter")
    );
    let fields: Vec<&str> = answer["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["colour", "since", "family", "limit"],
        "every problem at once"
    );
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("RFC 3339"), "{message}");
    assert!(
        message.contains("must be one of accepted, error, status"),
        "{message}"
    );

    for (path, code, field) in [
        ("/events?status=failed", "missing_parameter", "since"),
        ("/stats", "missing_parameter", "since"),
        (
            "/events?since=0&until=9999999",
            "invalid_parameter",
            "since",
        ),
        (
            "/events?since=2023-11-15T01:00:00Z&until=2023-11-15T00:00:00Z",
            "invalid_parameter",
            "since",
        ),
        (
            "/events?since=0&until=10&error_code=abc",
            "invalid_parameter",
            "error_code",
        ),
        (
            "/events?since=0&until=10&format=csv",
            "invalid_parameter",
            "format",
        ),
        (
            "/events?since=0&until=10&status=pending",
            "invalid_parameter",
            "status",
        ),
        ("/events?key=k&key=l", "invalid_parameter", "key"),
        ("/contacts/%2B/messages", "invalid_parameter", "wa_id"),
        ("/contacts/1/messages?key=k", "invalid_parameter", "key"),
        (
            "/stats?since=0&status=failed",
            "invalid_parameter",
            "status",
        ),
    ] {
        let (status, answer) = read(base, path).await;
        assert_eq!(
            (status, error_code(&answer)),
            (StatusCode::BAD_REQUEST, code),
            "{path}: {answer}"
        );
        assert_eq!(answer["error"]["fields"][0]["field"], field, "{path}");
    }

    let listing = format!("/contacts/{CUSTOMER}/messages?limit=2");
    let (_, page) = read(base, &listing).await;
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (code, _) = read(base, &format!("{listing}&cursor={cursor}")).await;
    assert_eq!(code, StatusCode::OK);
    let mut tampered = cursor.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for path in [
        format!("{listing}&cursor={tampered}"),
        format!("{listing}&status=failed&cursor={cursor}"),
        format!("/contacts/{OTHER}/messages?limit=2&cursor={cursor}"),
        format!("/events?since=0&until=10&cursor={cursor}"),
        format!("{listing}&cursor=not-a-cursor"),
    ] {
        let (code, answer) = read(base, &path).await;
        assert_eq!(
            (code, error_code(&answer)),
            (StatusCode::BAD_REQUEST, "invalid_cursor"),
            "{path}"
        );
    }

    let post = client()
        .post(format!("{base}/stats"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    let anonymous = client()
        .get(format!("{base}/stats?since=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        anonymous.status(),
        StatusCode::UNAUTHORIZED,
        "behind the admin token"
    );
}

/// Messages with no delivery report: sent 30 hours ago and nothing since, among messages that
/// were delivered or failed after being sent, and one sent 2 hours ago.
async fn stalled_messages_are_listed(base: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let sent = now - 30 * 3600;
    for body in [
        statuses(&[("wamid.stalled", "sent", sent)], "campaign-stalled"),
        statuses(
            &[
                ("wamid.reported", "sent", sent),
                ("wamid.reported", "delivered", sent + 60),
            ],
            "campaign-stalled",
        ),
        statuses(
            &[
                ("wamid.failed", "sent", sent),
                ("wamid.failed", "failed", sent + 60),
            ],
            "campaign-stalled",
        ),
        statuses(
            &[("wamid.recent", "sent", now - 2 * 3600)],
            "campaign-stalled",
        ),
    ] {
        let (status, _) = deliver(base, "conversational", Some(WEBHOOK_TOKEN), &body).await;
        assert_eq!(status, StatusCode::OK);
    }
    let since = now - 2 * 86_400;
    let ids = |page: &Value| -> Vec<String> {
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["message_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, page) = read(base, &format!("/stalled?since={since}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(ids(&page), ["wamid.stalled"], "24 hours by default");
    assert_eq!(page["messages"][0]["status"], "sent");
    assert_eq!(page["messages"][0]["since"], sent);
    assert_eq!(page["messages"][0]["key"], "campaign-stalled");
    let (_, page) = read(base, &format!("/stalled?since={since}&hours=1")).await;
    let mut found = ids(&page);
    found.sort();
    assert_eq!(found, ["wamid.recent", "wamid.stalled"]);
    // A campaign's, by its tracking key, page by page.
    let mut path = "/stalled?key=campaign-stalled&hours=1&limit=1".to_owned();
    let mut found = Vec::new();
    loop {
        let (status, page) = read(base, &path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        found.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                path = format!("/stalled?key=campaign-stalled&hours=1&limit=1&cursor={cursor}")
            }
            None => break,
        }
    }
    found.sort();
    assert_eq!(found, ["wamid.recent", "wamid.stalled"]);
    let (_, page) = read(base, &format!("/stalled?since={since}&status=accepted")).await;
    assert_eq!(ids(&page), Vec::<String>::new());
    for (query, code) in [
        ("hours=0", "invalid_parameter"),
        ("hours=721", "invalid_parameter"),
        ("hours=1&hours=2", "invalid_parameter"),
        ("status=delivered", "invalid_parameter"),
        ("format=ndjson", "invalid_parameter"),
    ] {
        let (status, page) = read(base, &format!("/stalled?since={since}&{query}")).await;
        assert_eq!(
            (status, error_code(&page)),
            (StatusCode::BAD_REQUEST, code),
            "{query}: {page}"
        );
    }
    let (status, page) = read(base, "/stalled").await;
    assert_eq!(
        (status, error_code(&page)),
        (StatusCode::BAD_REQUEST, "missing_parameter")
    );
}

#[tokio::test]
async fn stalled_messages_are_listed_on_the_embedded_store() {
    let (stack, _dir) = stack::embedded().await;
    stalled_messages_are_listed(&stack.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_messages_are_listed_on_dynamodb_local() {
    let dynamodb = dynamodb_local::shared().await;
    let stack = stack::dynamo(dynamodb.endpoint(), Duration::from_secs(10)).await;
    stalled_messages_are_listed(&stack.url()).await;
}

#[tokio::test]
async fn every_read_route_answers_on_the_embedded_store() {
    let (stack, _dir) = stack::embedded().await;
    every_read_route_answers(&stack.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_route_answers_on_dynamodb_local() {
    let dynamodb = dynamodb_local::shared().await;
    let stack = stack::dynamo(dynamodb.endpoint(), Duration::from_secs(10)).await;
    every_read_route_answers(&stack.url()).await;
}

#[tokio::test]
async fn bad_parameters_and_cursors_are_refused_on_the_embedded_store() {
    let (stack, _dir) = stack::embedded().await;
    bad_parameters_and_cursors_are_refused(&stack.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_and_cursors_are_refused_on_dynamodb_local() {
    let dynamodb = dynamodb_local::shared().await;
    let stack = stack::dynamo(dynamodb.endpoint(), Duration::from_secs(10)).await;
    bad_parameters_and_cursors_are_refused(&stack.url()).await;
}

/// A write whose answer was lost (the store may well have committed it; the receiver timed out
/// and answered 503) is delivered again, twice: whether the first attempt landed or not, the
/// funnel counts every event once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_lost_answer_counts_once() {
    let dynamodb = dynamodb_local::shared().await;
    let proxy = FaultProxy::start(dynamodb.addr());
    let stack = stack::dynamo(&proxy.url(), Duration::from_secs(1)).await;
    let base = stack.url();
    let body = statuses_to(
        CUSTOMER,
        &[
            ("wamid.lost-1", "sent", 10),
            ("wamid.lost-1", "delivered", 20),
            ("wamid.lost-2", "sent", 30),
        ],
        "whatsapp-lost",
    );
    // Requests reach DynamoDB Local; its answers are held back past the store timeout.
    proxy.set_delay(Duration::from_secs(5));
    let (code, answer) = deliver(&base, "conversational", Some(WEBHOOK_TOKEN), &body).await;
    assert_eq!(
        (code, error_code(&answer)),
        (StatusCode::SERVICE_UNAVAILABLE, "storage_timeout")
    );
    proxy.set_delay(Duration::ZERO);
    for _ in 0..2 {
        let (code, _) = deliver(&base, "conversational", Some(WEBHOOK_TOKEN), &body).await;
        assert_eq!(code, StatusCode::OK);
    }
    let (_, stats) = read(&base, &format!("/stats?since={DAY0}&until={}", DAY0 + 3600)).await;
    assert_eq!(
        (
            stats["events"].as_u64(),
            stats["sent"].as_u64(),
            stats["delivered"].as_u64()
        ),
        (Some(3), Some(2), Some(1))
    );
    let (events, _) = all_pages(&base, &format!("/contacts/{CUSTOMER}/messages?limit=2")).await;
    assert_eq!(events.len(), 3, "every event exactly once");
}
