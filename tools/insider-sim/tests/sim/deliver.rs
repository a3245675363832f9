//! The sender against a scripted receiver: what it sends, how it retries, how it authenticates,
//! and what it reports.

use std::collections::{BTreeMap, HashMap, HashSet};

use base64::Engine;
use http::StatusCode;
use insider_sim::deliver::{
    DeliverError, DeliverOptions, Delivery, DeliveryAuth, DeliverySummary, Rate, StatusName,
    StreamSpec, generate, generate_with_late_statuses, run,
};
use insider_sim::oauth::{ClientAuth, Grant, OAuth2Credentials};
use insider_sim::vocabulary::SubProduct;
use serde_json::{Value, json};

use crate::support::{Api, Auth, Receiver, Reply, SENDER, create_body, sim, unreachable_url};

fn options(receiver: &Receiver, count: usize, seed: u64) -> DeliverOptions {
    let mut options = DeliverOptions::new(receiver.url("/webhooks/conversational"));
    options.traffic.count = count;
    options.traffic.seed = Some(seed);
    options.traffic.retry_base_ms = 1;
    options.traffic.timeout_ms = 5000;
    options
}

async fn send(options: DeliverOptions) -> DeliverySummary {
    run(options).await.expect("valid options")
}

fn oauth2(receiver: &Receiver, grant: Grant) -> DeliveryAuth {
    DeliveryAuth::OAuth2(OAuth2Credentials {
        token_url: receiver.token_url(),
        client_id: "insider".into(),
        client_secret: "s3cret:with/odd chars".into(),
        grant,
        scopes: vec!["webhook.write".into(), "webhook.read".into()],
        client_auth: ClientAuth::Body,
        lifetime: None,
    })
}

fn bodies(receiver: &Receiver) -> Vec<Value> {
    receiver
        .hits()
        .iter()
        .map(|h| serde_json::from_slice(&h.body).expect("JSON bodies"))
        .collect()
}

/// `(message id, status)` of the accepted event or statuses a body reports, in body order.
fn statuses(body: &Value) -> Vec<(String, String)> {
    if body.get("messaging_product").is_some() && body.get("messages").is_some() {
        return vec![(
            body["messages"][0]["id"].as_str().unwrap().to_owned(),
            "accepted".into(),
        )];
    }
    let mut found = Vec::new();
    for entry in body["entry"].as_array().into_iter().flatten() {
        for change in entry["changes"].as_array().into_iter().flatten() {
            for status in change["value"]["statuses"].as_array().into_iter().flatten() {
                found.push((
                    status["id"].as_str().unwrap().to_owned(),
                    status["status"].as_str().unwrap().to_owned(),
                ));
            }
        }
    }
    found
}

fn rank(status: &str) -> Option<u8> {
    ["accepted", "sent", "delivered", "read"]
        .iter()
        .position(|s| *s == status)
        .map(|r| r as u8)
}

/// Messages whose statuses arrived with a lower step after a higher one.
fn out_of_order(bodies: &[Value]) -> usize {
    let mut highest: HashMap<String, u8> = HashMap::new();
    let mut late = 0;
    for (id, status) in bodies.iter().flat_map(statuses) {
        let Some(rank) = rank(&status) else { continue };
        let seen = highest.entry(id).or_insert(rank);
        if rank < *seen {
            late += 1;
        }
        *seen = (*seen).max(rank);
    }
    late
}

#[tokio::test]
async fn sends_count_deliveries_and_reports_what_happened() {
    let receiver = Receiver::start(Auth::Open).await;
    let mut options = options(&receiver, 300, 1);
    options.traffic.concurrency = 8;
    let summary = send(options).await;
    assert_eq!(
        (
            summary.sent,
            summary.acknowledged,
            summary.failed,
            summary.retried
        ),
        (300, 300, 0, 0)
    );
    assert_eq!(summary.responses, BTreeMap::from([(200, 300)]));
    assert_eq!(summary.seed, 1);
    let hits = receiver.hits();
    assert_eq!(hits.len(), 300);
    assert!(
        hits.iter()
            .all(|h| h.content_type.as_deref() == Some("application/json"))
    );
    assert!(hits.iter().all(|h| h.authorization.is_none()));
    assert_eq!(
        (
            summary.receiver.stored,
            summary.receiver.duplicates,
            summary.receiver.reports
        ),
        (300, 0, 300),
        "the receiver's own totals, summed"
    );
    assert!(summary.events_sent >= 300);
    assert_eq!(summary.distinct_events, summary.event_ids.len());
    assert_eq!(summary.distinct_events as u64, summary.events_sent);
    assert!(summary.unacknowledged_events.is_empty() && summary.failures.is_empty());
    let l = summary.latency_ms;
    assert!(0.0 < l.p50 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.max);
    assert!(
        summary.deliveries_per_sec > 0.0 && summary.events_per_sec >= summary.deliveries_per_sec
    );

    let json = serde_json::to_value(&summary).unwrap();
    for field in [
        "sent",
        "acknowledged",
        "retried",
        "failed",
        "duplicates_sent",
        "receiver",
        "latency_ms",
        "deliveries_per_sec",
    ] {
        assert!(json.get(field).is_some(), "{field} in the JSON summary");
    }
}

#[tokio::test]
async fn duplicates_are_exact_copies_at_the_chosen_ratio() {
    let receiver = Receiver::start(Auth::Open).await;
    let mut options = options(&receiver, 400, 2);
    options.traffic.duplicates = 0.05;
    let summary = send(options).await;
    assert_eq!(summary.duplicates_sent, 20);
    let hits = receiver.hits();
    let distinct: HashSet<_> = hits.iter().map(|h| h.body.clone()).collect();
    assert_eq!((hits.len(), distinct.len()), (400, 380));
    assert_eq!(
        (summary.receiver.stored, summary.receiver.duplicates),
        (380, 20)
    );
    assert!(summary.events_sent > summary.distinct_events as u64);
}

#[tokio::test]
async fn a_seed_gives_the_same_stream() {
    let sorted_bodies = |receiver: &Receiver| {
        let mut bodies: Vec<_> = receiver.hits().into_iter().map(|h| h.body).collect();
        bodies.sort();
        bodies
    };
    let mut streams = Vec::new();
    for seed in [11, 11, 12] {
        let receiver = Receiver::start(Auth::Open).await;
        let mut options = options(&receiver, 150, seed);
        options.traffic.concurrency = 16;
        options.traffic.duplicates = 0.1;
        options.traffic.shuffle = true;
        let summary = send(options).await;
        streams.push((sorted_bodies(&receiver), summary.event_ids));
    }
    assert_eq!(streams[0], streams[1]);
    assert_ne!(streams[0].0, streams[2].0);

    let receiver = Receiver::start(Auth::Open).await;
    let mut unseeded = options(&receiver, 40, 0);
    unseeded.traffic.seed = None;
    let first = send(unseeded.clone()).await;
    let again = Receiver::start(Auth::Open).await;
    unseeded.to = again.url("/webhooks/conversational");
    unseeded.traffic.seed = Some(first.seed);
    send(unseeded).await;
    assert_eq!(
        sorted_bodies(&receiver),
        sorted_bodies(&again),
        "the reported seed replays"
    );
}

#[tokio::test]
async fn statuses_arrive_in_order_unless_shuffled() {
    let receiver = Receiver::start(Auth::Open).await;
    let mut ordered = options(&receiver, 400, 5);
    ordered.traffic.concurrency = 1;
    send(ordered.clone()).await;
    assert_eq!(out_of_order(&bodies(&receiver)), 0);

    let shuffled_receiver = Receiver::start(Auth::Open).await;
    ordered.to = shuffled_receiver.url("/webhooks/conversational");
    ordered.traffic.shuffle = true;
    send(ordered).await;
    assert!(out_of_order(&bodies(&shuffled_receiver)) > 10);
}

fn conversational(count: usize, seed: u64, duplicates: f64, shuffle: bool) -> StreamSpec<'static> {
    StreamSpec {
        sub_product: SubProduct::Conversational,
        events: None,
        count,
        seed,
        duplicates,
        shuffle,
    }
}

/// The messages of ours a delivery reports a status of.
fn reported_messages(delivery: &Delivery) -> impl Iterator<Item = &str> {
    delivery
        .events
        .iter()
        .filter_map(|e| e.status.as_ref().map(|(message, _)| message.as_str()))
}

/// For each delivery of `arrived`, whether it came after a report of one of its messages that
/// happened later, the order of `happened` (the same deliveries, in the order they happened).
fn arrived_late(happened: &[Delivery], arrived: &[Delivery]) -> Vec<bool> {
    let happened_at: HashMap<&[u8], usize> = happened
        .iter()
        .enumerate()
        .map(|(i, d)| (&d.body[..], i))
        .collect();
    let mut latest: HashMap<&str, usize> = HashMap::new();
    arrived
        .iter()
        .map(|delivery| {
            let at = happened_at[&delivery.body[..]];
            let late = reported_messages(delivery)
                .any(|message| latest.get(message).is_some_and(|&seen| seen > at));
            for message in reported_messages(delivery) {
                let seen = latest.entry(message).or_insert(at);
                *seen = (*seen).max(at);
            }
            late
        })
        .collect()
}

#[test]
fn late_statuses_are_the_chosen_share_and_the_rest_stay_in_order() {
    let spec = conversational(6000, 21, 0.0, false);
    let in_order = generate(&spec);
    let late = generate_with_late_statuses(&spec, 0.1);
    let bodies = |stream: &[Delivery]| stream.iter().map(|d| d.body.clone()).collect::<Vec<_>>();
    assert_eq!(
        bodies(&late),
        bodies(&generate_with_late_statuses(&spec, 0.1)),
        "same seed, same stream"
    );
    let mut sorted = (bodies(&in_order), bodies(&late));
    sorted.0.sort();
    sorted.1.sort();
    assert_eq!(sorted.0, sorted.1, "the same deliveries, reordered");
    assert!(arrived_late(&in_order, &in_order).iter().all(|late| !late));

    // The deliveries that could be late: followed by another report of one of their messages.
    let mut reported_later: HashSet<&str> = HashSet::new();
    let mut could_be_late = 0;
    for delivery in in_order.iter().rev() {
        if reported_messages(delivery).any(|m| reported_later.contains(m)) {
            could_be_late += 1;
        }
        reported_later.extend(reported_messages(delivery));
    }
    let lateness = arrived_late(&in_order, &late);
    let late_count = lateness.iter().filter(|late| **late).count();
    let share = late_count as f64 / could_be_late as f64;
    assert!(
        (0.08..=0.12).contains(&share),
        "{late_count} of {could_be_late}"
    );
    // Everything else kept its order.
    let happened_at: HashMap<&[u8], usize> = in_order
        .iter()
        .enumerate()
        .map(|(i, d)| (&d.body[..], i))
        .collect();
    let on_time: Vec<usize> = late
        .iter()
        .zip(&lateness)
        .filter(|(_, late)| !**late)
        .map(|(d, _)| happened_at[&d.body[..]])
        .collect();
    assert!(on_time.is_sorted());
    let json: Vec<Value> = late
        .iter()
        .map(|d| serde_json::from_slice(&d.body).unwrap())
        .collect();
    assert!(out_of_order(&json) > 0, "some status went backwards");
}

#[test]
fn duplicates_come_after_their_original_in_every_order() {
    for (shuffle, late_fraction) in [(false, 0.0), (false, 0.3), (true, 0.0)] {
        for seed in 0..5 {
            let stream = generate_with_late_statuses(
                &conversational(400, seed, 0.2, shuffle),
                late_fraction,
            );
            assert_eq!(stream.iter().filter(|d| d.duplicate).count(), 80);
            let mut originals_seen = HashSet::new();
            for delivery in &stream {
                if delivery.duplicate {
                    assert!(
                        originals_seen.contains(&delivery.body),
                        "shuffle {shuffle}, late {late_fraction}, seed {seed}"
                    );
                } else {
                    originals_seen.insert(delivery.body.clone());
                }
            }
        }
    }
}

#[tokio::test]
async fn the_sender_sends_late_statuses_in_the_generated_order() {
    let receiver = Receiver::start(Auth::Open).await;
    let mut options = options(&receiver, 300, 22);
    options.traffic.concurrency = 1;
    options.traffic.duplicates = 0.05;
    options.traffic.late_fraction = 0.25;
    let summary = send(options).await;
    assert_eq!(summary.acknowledged, 300);
    let expected = generate_with_late_statuses(&conversational(300, 22, 0.05, false), 0.25);
    let received: Vec<_> = receiver.hits().into_iter().map(|h| h.body).collect();
    let expected: Vec<_> = expected.into_iter().map(|d| d.body).collect();
    assert_eq!(received, expected);
    assert!(out_of_order(&bodies(&receiver)) > 0);
}

#[tokio::test]
async fn streams_hold_every_family_batches_and_reply_type() {
    let receiver = Receiver::start(Auth::Open).await;
    let summary = send(options(&receiver, 1500, 6)).await;
    for family in [
        "accepted:",
        "status:",
        "reply:",
        "template:",
        "error:",
        "on_premise_error:",
        "unknown:",
    ] {
        assert!(
            summary.event_ids.iter().any(|id| id.starts_with(family)),
            "{family}"
        );
    }
    let bodies = bodies(&receiver);
    let mut reply_types = HashSet::new();
    let mut keys = HashSet::new();
    let mut keyless_batches = 0;
    let mut same_message_batches = 0;
    for body in &bodies {
        if let Some(key) = body
            .get("key")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty())
        {
            let hex = key.strip_prefix("whatsapp-").expect("an Insider key");
            assert!(
                hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()),
                "{key}"
            );
            keys.insert(key.to_owned());
        }
        for entry in body["entry"].as_array().into_iter().flatten() {
            for change in entry["changes"].as_array().into_iter().flatten() {
                for message in change["value"]["messages"].as_array().into_iter().flatten() {
                    reply_types.insert(message["type"].as_str().unwrap().to_owned());
                    assert!(message["id"].as_str().unwrap().starts_with("wamid.HBg"));
                    assert!(
                        message["from"]
                            .as_str()
                            .unwrap()
                            .chars()
                            .all(|c| c.is_ascii_digit())
                    );
                    let timestamp = message["timestamp"].as_str().expect("a string timestamp");
                    assert!(timestamp.parse::<u64>().is_ok_and(|t| t > 1_700_000_000));
                }
            }
        }
        let reported = statuses(body);
        if reported.len() > 1 {
            let messages: HashSet<_> = reported.iter().map(|(id, _)| id).collect();
            if messages.len() > 1 {
                assert!(
                    body.get("key").is_none(),
                    "a batch of several messages has no key"
                );
                keyless_batches += 1;
            } else {
                same_message_batches += 1;
            }
        }
    }
    let expected_types = [
        "text",
        "button",
        "image",
        "video",
        "document",
        "sticker",
        "audio",
        "location",
        "contacts",
        "interactive",
        "reaction",
        "order",
        "system",
        "unsupported",
    ];
    for kind in expected_types {
        assert!(reply_types.contains(kind), "a {kind} reply");
    }
    assert!(keyless_batches > 0 && same_message_batches > 0);
    assert!(keys.len() > 100);
    let failed: Vec<_> = summary
        .message_statuses
        .values()
        .filter(|s| s.failed)
        .collect();
    assert!(!failed.is_empty());
    assert!(
        summary
            .message_statuses
            .values()
            .any(|s| s.highest == Some(StatusName::Read))
    );
}

#[tokio::test]
async fn retries_5xx_and_429_then_succeeds() {
    let receiver = Receiver::start(Auth::Open).await;
    receiver.script(&[
        Reply::Status(503),
        Reply::Status(503),
        Reply::Status(429),
        Reply::Status(500),
    ]);
    let mut options = options(&receiver, 5, 7);
    options.traffic.concurrency = 1;
    let summary = send(options).await;
    assert_eq!(
        (summary.acknowledged, summary.failed, summary.retried),
        (5, 0, 4)
    );
    assert_eq!(
        summary.responses,
        BTreeMap::from([(200, 5), (429, 1), (500, 1), (503, 2)])
    );
    assert_eq!(receiver.hits().len(), 9);
    let first = receiver.hits()[0].body.clone();
    assert!(
        receiver.hits()[1..5].iter().all(|h| h.body == first),
        "the same delivery, again"
    );
}

#[tokio::test]
async fn never_retries_other_4xx_and_reports_every_event_not_acknowledged() {
    let receiver = Receiver::start(Auth::Open).await;
    receiver.fallback(Reply::Status(400));
    let mut options = options(&receiver, 10, 8);
    options.auth = DeliveryAuth::Bearer("static".into());
    let summary = send(options).await;
    assert_eq!(
        (summary.acknowledged, summary.failed, summary.retried),
        (0, 10, 0)
    );
    assert_eq!(receiver.hits().len(), 10);
    assert!(
        receiver
            .hits()
            .iter()
            .all(|h| h.authorization.as_deref() == Some("Bearer static"))
    );
    let reported: HashSet<&String> = summary.unacknowledged_events.iter().collect();
    assert_eq!(reported, summary.event_ids.iter().collect());
    assert_eq!(summary.failures.len(), 10);
    assert!(
        summary
            .failures
            .iter()
            .all(|f| f.error.starts_with("HTTP 400") && !f.events.is_empty())
    );
    assert!(summary.to_string().contains("not acknowledged"));
}

#[tokio::test]
async fn a_redirect_is_neither_followed_nor_acknowledged_nor_retried() {
    let receiver = Receiver::start(Auth::Open).await;
    receiver.script(&[Reply::Redirect(303, "/landing")]);
    receiver.fallback(Reply::Redirect(302, "/landing"));
    let mut options = options(&receiver, 4, 18);
    options.traffic.concurrency = 1;
    let summary = send(options).await;
    assert_eq!(
        (summary.acknowledged, summary.failed, summary.retried),
        (0, 4, 0)
    );
    assert_eq!(summary.responses, BTreeMap::from([(302, 3), (303, 1)]));
    let hits = receiver.hits();
    assert_eq!(hits.len(), 4, "nobody went to the redirect's target");
    assert!(
        hits.iter()
            .all(|h| h.method == http::Method::POST && h.path == "/webhooks/conversational")
    );
    assert_eq!(
        summary.failures[0].error,
        "HTTP 303 (a redirect, not followed): moved"
    );
    assert!(
        summary.failures[1..]
            .iter()
            .all(|f| f.error == "HTTP 302 (a redirect, not followed): moved")
    );
    let reported: HashSet<&String> = summary.unacknowledged_events.iter().collect();
    assert_eq!(reported, summary.event_ids.iter().collect());
}

#[tokio::test]
async fn the_summary_lists_every_event_never_acknowledged_and_only_those() {
    let (count, seed, duplicates) = (60, 19, 0.2);
    let stream = generate(&StreamSpec {
        sub_product: SubProduct::Conversational,
        events: None,
        count,
        seed,
        duplicates,
        shuffle: false,
    });
    // Every original is refused, every duplicate copy acknowledged: the events of an original
    // that has a copy were acknowledged after all, the others never.
    let receiver = Receiver::start(Auth::Open).await;
    let replies: Vec<Reply> = stream
        .iter()
        .map(|d| Reply::Status(if d.duplicate { 200 } else { 400 }))
        .collect();
    receiver.script(&replies);
    let copied = |original: &Delivery| {
        stream
            .iter()
            .any(|d| d.duplicate && d.body == original.body)
    };
    let ids = |copied_or_not: bool| -> HashSet<String> {
        stream
            .iter()
            .filter(|d| !d.duplicate && copied(d) == copied_or_not)
            .flat_map(|d| d.events.iter().map(|e| e.identity.clone()))
            .collect()
    };
    let (never_acknowledged, acknowledged_by_a_copy) = (ids(false), ids(true));
    assert!(never_acknowledged.len() > 20 && !acknowledged_by_a_copy.is_empty());

    let mut options = options(&receiver, count, seed);
    options.traffic.duplicates = duplicates;
    options.traffic.concurrency = 1;
    let summary = send(options).await;
    assert_eq!(summary.failed, 48);
    assert_eq!(
        summary
            .unacknowledged_events
            .iter()
            .cloned()
            .collect::<HashSet<_>>(),
        never_acknowledged
    );

    let text = summary.to_string();
    let (_, listed) = text
        .split_once(&format!(
            "events never acknowledged: {}\n",
            never_acknowledged.len()
        ))
        .expect("the list of events never acknowledged");
    let listed: HashSet<String> = listed.lines().map(|l| l.trim().to_owned()).collect();
    assert_eq!(listed, never_acknowledged, "every one, and nothing else");
    assert!(
        text.contains("... and 28 more failed deliveries"),
        "the failed deliveries' errors are capped: {text}"
    );
}

#[tokio::test]
async fn gives_up_after_max_retries() {
    let receiver = Receiver::start(Auth::Open).await;
    receiver.fallback(Reply::Status(503));
    let mut options = options(&receiver, 4, 9);
    options.traffic.max_retries = 2;
    let summary = send(options).await;
    assert_eq!(
        (summary.acknowledged, summary.failed, summary.retried),
        (0, 4, 8)
    );
    assert_eq!(receiver.hits().len(), 12);
    assert_eq!(summary.unacknowledged_events.len(), summary.distinct_events);
}

#[tokio::test]
async fn retries_timeouts_and_connection_errors() {
    let receiver = Receiver::start(Auth::Open).await;
    receiver.script(&[Reply::Hang]);
    let mut hanging = options(&receiver, 3, 10);
    hanging.traffic.concurrency = 1;
    hanging.traffic.timeout_ms = 200;
    let summary = send(hanging).await;
    assert_eq!(
        (
            summary.acknowledged,
            summary.retried,
            summary.transport_errors
        ),
        (3, 1, 1)
    );

    let mut nowhere = DeliverOptions::new(unreachable_url().await);
    nowhere.traffic.count = 2;
    nowhere.traffic.max_retries = 1;
    nowhere.traffic.retry_base_ms = 1;
    let summary = send(nowhere).await;
    assert_eq!(
        (summary.failed, summary.retried, summary.transport_errors),
        (2, 2, 4)
    );
    assert!(
        summary.failures[0].error.contains("connect"),
        "{}",
        summary.failures[0].error
    );
}

#[tokio::test]
async fn oauth2_token_is_fetched_once_and_cached() {
    let receiver = Receiver::start(Auth::OAuth2).await;
    let mut options = options(&receiver, 100, 12);
    options.traffic.concurrency = 8;
    options.auth = oauth2(&receiver, Grant::ClientCredentials);
    let summary = send(options).await;
    assert_eq!((summary.acknowledged, summary.token_fetches), (100, 1));
    let tokens = receiver.token_hits();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].param("grant_type"), Some("client_credentials"));
    assert_eq!(tokens[0].param("client_id"), Some("insider"));
    assert_eq!(
        tokens[0].param("client_secret"),
        Some("s3cret:with/odd chars")
    );
    assert_eq!(tokens[0].param("scope"), Some("webhook.write webhook.read"));
    assert!(
        receiver
            .hits()
            .iter()
            .all(|h| h.authorization.as_deref() == Some("Bearer receiver-token-1"))
    );
}

#[tokio::test]
async fn oauth2_client_credentials_can_go_in_http_basic() {
    let receiver = Receiver::start(Auth::OAuth2).await;
    let mut options = options(&receiver, 3, 13);
    let mut credentials = match oauth2(&receiver, Grant::ClientCredentials) {
        DeliveryAuth::OAuth2(c) => c,
        _ => unreachable!(),
    };
    credentials.client_auth = ClientAuth::Basic;
    options.auth = DeliveryAuth::OAuth2(credentials);
    assert_eq!(send(options).await.acknowledged, 3);
    let token = &receiver.token_hits()[0];
    assert_eq!(token.param("client_secret"), None);
    let encoded =
        base64::engine::general_purpose::STANDARD.encode("insider:s3cret%3Awith%2Fodd+chars");
    assert_eq!(token.authorization, Some(format!("Basic {encoded}")));
}

#[tokio::test]
async fn a_401_gets_one_fresh_token() {
    let receiver = Receiver::start(Auth::OAuth2).await;
    receiver.revoke_tokens_at_hit(10);
    let mut options = options(&receiver, 20, 14);
    options.traffic.concurrency = 1;
    options.auth = oauth2(&receiver, Grant::ClientCredentials);
    let summary = send(options).await;
    assert_eq!(
        (summary.acknowledged, summary.token_fetches, summary.retried),
        (20, 2, 1)
    );
    assert_eq!(summary.responses[&401], 1);
    let hits = receiver.hits();
    assert_eq!(
        hits[9].authorization.as_deref(),
        Some("Bearer receiver-token-1")
    );
    assert_eq!(
        hits[10].authorization.as_deref(),
        Some("Bearer receiver-token-2")
    );
    assert_eq!(hits[9].body, hits[10].body);
}

#[tokio::test]
async fn an_expired_token_is_fetched_again_and_refresh_tokens_rotate() {
    let receiver = Receiver::start(Auth::OAuth2).await;
    receiver.token_expires_in(Some(0));
    receiver.rotate_refresh_tokens();
    let mut options = options(&receiver, 4, 15);
    options.traffic.concurrency = 1;
    options.auth = oauth2(&receiver, Grant::RefreshToken("first-refresh".into()));
    let summary = send(options).await;
    assert_eq!((summary.acknowledged, summary.token_fetches), (4, 4));
    let refresh: Vec<_> = receiver
        .token_hits()
        .iter()
        .map(|t| {
            (
                t.param("grant_type").unwrap().to_owned(),
                t.param("refresh_token").unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        refresh,
        [
            ("refresh_token".to_owned(), "first-refresh".to_owned()),
            ("refresh_token".to_owned(), "rotated-refresh-1".to_owned()),
            ("refresh_token".to_owned(), "rotated-refresh-2".to_owned()),
            ("refresh_token".to_owned(), "rotated-refresh-3".to_owned()),
        ]
    );
}

#[tokio::test]
async fn a_token_endpoint_failure_is_retried_only_when_transient() {
    let receiver = Receiver::start(Auth::OAuth2).await;
    receiver.script_token(&[503, 400]);
    let mut options = options(&receiver, 3, 16);
    options.traffic.concurrency = 1;
    options.auth = oauth2(&receiver, Grant::ClientCredentials);
    let summary = send(options).await;
    assert_eq!(
        (summary.acknowledged, summary.failed, summary.retried),
        (2, 1, 1)
    );
    assert_eq!(summary.token_fetches, 3);
    assert!(
        summary.failures[0].error.contains("HTTP 400"),
        "{}",
        summary.failures[0].error
    );
}

#[tokio::test]
async fn a_rate_spaces_the_deliveries() {
    let receiver = Receiver::start(Auth::Open).await;
    let mut options = options(&receiver, 21, 17);
    options.traffic.rate = "200/s".parse().unwrap();
    let summary = send(options).await;
    assert_eq!(summary.acknowledged, 21);
    assert!(
        summary.elapsed_ms >= 100.0,
        "21 deliveries at 200/s take 100 ms at least"
    );
    assert_eq!("unlimited".parse::<Rate>(), Ok(Rate::Unlimited));
    assert!("0".parse::<Rate>().is_err() && "fast".parse::<Rate>().is_err());
}

#[tokio::test]
async fn refuses_meaningless_options() {
    let receiver = Receiver::start(Auth::Open).await;
    for adjust in [
        (|o: &mut DeliverOptions| o.traffic.duplicates = 1.0) as fn(&mut DeliverOptions),
        |o| o.traffic.concurrency = 0,
        |o| o.traffic.late_fraction = 1.5,
        |o| o.traffic.late_fraction = -0.1,
        |o| {
            o.traffic.shuffle = true;
            o.traffic.late_fraction = 0.1;
        },
        |o| o.to = "ftp://127.0.0.1/x".into(),
    ] {
        let mut options = options(&receiver, 1, 1);
        adjust(&mut options);
        assert!(matches!(
            run(options).await,
            Err(DeliverError::InvalidOptions(_))
        ));
    }
    assert!(receiver.hits().is_empty());
}

#[tokio::test]
async fn registered_webhooks_get_their_events_with_their_credentials() {
    let sim = sim().await;
    let receiver = Receiver::start(Auth::OAuth2).await;
    let api = Api::new(&sim).await;
    let mut body = create_body(&receiver, "/webhooks/transactional");
    body["subProduct"] = json!("transactional");
    body["events"] = json!(["read", "failed"]);
    let id = api.created(&body).await;

    let (status, summary) = api
        .post_json(
            &format!("/_sim/webhooks/{id}/deliver"),
            &json!({"count": 60, "seed": 4, "retry_base_ms": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(
        (summary["acknowledged"].clone(), summary["failed"].clone()),
        (json!(60), json!(0))
    );
    let deliveries = &receiver.hits()[1..];
    assert_eq!(deliveries.len(), 60);
    assert!(deliveries.iter().all(|h| {
        h.authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Bearer receiver-token-"))
    }));
    for body in deliveries
        .iter()
        .map(|h| serde_json::from_slice::<Value>(&h.body).unwrap())
    {
        for (_, status) in statuses(&body) {
            assert!(
                ["read", "failed", "deleted"].contains(&status.as_str()),
                "{status}"
            );
        }
        for entry in body["entry"].as_array().into_iter().flatten() {
            assert!(
                entry["changes"][0]["value"].get("messages").is_none(),
                "no replies subscribed"
            );
        }
    }

    let (status, _) = api.post_json("/_sim/webhooks/99/deliver", &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api
        .post_json(
            &format!("/_sim/webhooks/{id}/deliver"),
            &json!({"count": "many"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn saved_settings_get_events_with_their_api_key() {
    let sim = sim().await;
    let receiver = Receiver::start(Auth::Bearer("settings-key".into())).await;
    let api = Api::new(&sim).await;
    let (status, _) = api
        .settings(
            "conversational",
            &json!({"webhook_url": receiver.url("/c"), "from": SENDER, "auth_type": "bearer", "api_key": "settings-key"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, summary) = api
        .post_json(
            &format!("/_sim/settings/conversational/deliver?from={SENDER}"),
            &json!({"count": 10}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(summary["acknowledged"], 10);
    assert_eq!(receiver.hits().len(), 11);
    let (status, _) = api
        .post_json("/_sim/settings/conversational/deliver", &json!({}))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "no settings for the default sender"
    );
}
