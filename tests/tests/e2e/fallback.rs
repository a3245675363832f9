//! Nothing lost even if Insider One never retries: while DynamoDB refuses writes (a proxy in
//! front of DynamoDB Local that drops every connection), the local stack parks deliveries in the
//! fallback queue (moto's SQS) and answers 200; once the store is back, its drain stores them,
//! each event once, whatever was stored before. What the store refuses for good is not parked;
//! when SQS fails too, the answer is 503; a delivery that keeps failing reaches the dead-letter
//! queue, and a redrive completes it.

use std::time::{Duration, Instant};

use e2e_tests::dynamodb_local::{self, unique_table_name};
use e2e_tests::fault_proxy::FaultProxy;
use e2e_tests::moto::Moto;
use e2e_tests::payloads::{status, statuses, text_reply};
use e2e_tests::readback::check_store;
use e2e_tests::stack::{WEBHOOK_TOKEN, config, deliver, error_code};
use insider_sim::deliver::{self, DeliverOptions, DeliveryAuth, Traffic};
use local_stack::{FallbackQueue, LocalStack, StoreChoice};
use reqwest::StatusCode;
use shared::fallback::DEFAULT_FALLBACK_BUDGET;
use shared::store::ReadMessage;
use shared::store::dynamo::DynamoStore;

const T0: i64 = 1_700_000_000;
/// How long the drain may take to empty the queue once the store is back.
const DRAIN_LIMIT: Duration = Duration::from_secs(90);

/// A local stack on DynamoDB Local behind a fault proxy, with a fallback queue in moto whose
/// messages move to a dead-letter queue after `max_receives` receives.
struct Rig {
    proxy: FaultProxy,
    sqs: aws_sdk_sqs::Client,
    queue: String,
    dead_letters: String,
    stack: LocalStack,
    /// The same table, read past the proxy.
    store: DynamoStore,
    moto: Moto,
}

impl Rig {
    async fn start(max_receives: u32) -> Rig {
        let local = dynamodb_local::shared().await;
        let proxy = FaultProxy::start(local.addr());
        let moto = Moto::start().await;
        let (queue, dead_letters) = moto.queue_with_dead_letters("fallback", max_receives).await;
        let table = unique_table_name("fallback");
        let mut config = config(
            StoreChoice::Dynamo {
                endpoint: proxy.url(),
                table: table.clone(),
                raw_bucket: None,
                fallback_queue: Some(FallbackQueue {
                    url: queue.clone(),
                    endpoint: moto.endpoint().to_owned(),
                    budget: DEFAULT_FALLBACK_BUDGET,
                }),
            },
            Duration::from_secs(1),
        );
        config.store_budget = Duration::from_secs(2);
        let stack = local_stack::start(config)
            .await
            .expect("local stack starts");
        let store = DynamoStore::new(
            shared::config::endpoint_dynamo_client(local.endpoint(), Duration::from_secs(10)),
            table,
            e2e_tests::stores::RETENTION,
        );
        Rig {
            proxy,
            sqs: moto.sqs(),
            queue,
            dead_letters,
            stack,
            store,
            moto,
        }
    }

    async fn deliver(&self, body: &str) -> (StatusCode, serde_json::Value) {
        deliver(
            &self.stack.url(),
            "conversational",
            Some(WEBHOOK_TOKEN),
            body,
        )
        .await
    }

    /// Waits until the drain has emptied the fallback queue.
    async fn drained(&self) {
        assert!(
            self.moto.wait_until_empty(&self.queue, DRAIN_LIMIT).await,
            "the fallback queue was not drained in {DRAIN_LIMIT:?}"
        );
    }

    async fn events_of(&self, message_id: &str) -> Vec<String> {
        match self.store.read_message(message_id).await.unwrap() {
            Some(record) => record
                .events
                .iter()
                .map(|e| format!("{:?}", e.event.status))
                .collect(),
            None => Vec::new(),
        }
    }
}

fn parked(answer: &(StatusCode, serde_json::Value)) -> bool {
    answer.0 == StatusCode::OK && answer.1["parked"] == true
}

#[tokio::test]
async fn deliveries_the_store_refuses_are_parked_then_stored_once() {
    let rig = Rig::start(10).await;
    let first = status("wamid.fallback-1", "sent", T0, "key-1");
    let answer = rig.deliver(&first).await;
    assert_eq!(answer.0, StatusCode::OK);
    assert_eq!(answer.1["stored"], 1, "{answer:?}");

    rig.proxy.set_up(false);
    // Its first event is stored already: the drain must not store it again.
    let life = statuses(
        &[
            ("wamid.fallback-1", "sent", T0),
            ("wamid.fallback-1", "delivered", T0 + 1),
            ("wamid.fallback-1", "read", T0 + 2),
        ],
        "key-1",
    );
    let reply = text_reply("wamid.fallback-reply", "merhaba", T0 + 3);
    for body in [&life, &reply] {
        let answer = rig.deliver(body).await;
        assert!(parked(&answer), "{answer:?}");
    }
    // The drain tries meanwhile and fails: nothing more is stored, nothing is lost.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rig.events_of("wamid.fallback-1").await.len(), 1);

    rig.proxy.set_up(true);
    rig.drained().await;
    let record = rig
        .store
        .read_message("wamid.fallback-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.events.len(), 3, "sent, delivered, read; each once");
    let state = record.state.unwrap();
    assert_eq!(state.progress.unwrap().as_str(), "read");
    assert_eq!(record.key.as_deref(), Some("key-1"));
    assert_eq!(rig.events_of("wamid.fallback-reply").await.len(), 1);
    assert_eq!(rig.moto.messages_in(&rig.dead_letters).await, 0);

    // Insider One sending the parked delivery again after all: already stored, all of it.
    let again = rig.deliver(&life).await;
    assert_eq!(
        (again.1["stored"].as_u64(), again.1["duplicates"].as_u64()),
        (Some(0), Some(3)),
        "{again:?}"
    );
}

#[tokio::test]
async fn what_the_store_refuses_for_good_is_not_parked() {
    let rig = Rig::start(10).await;
    // Too large for an item, and no bucket for its raw fragment: no retry will store it.
    let huge = text_reply("wamid.fallback-huge", &"x".repeat(500_000), T0);
    let (status, body) = rig.deliver(&huge).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(error_code(&body), "storage_rejected");
    assert_eq!(rig.moto.messages_in(&rig.queue).await, 0);
}

#[tokio::test]
async fn when_the_queue_fails_too_the_answer_is_503() {
    let rig = Rig::start(10).await;
    rig.sqs
        .delete_queue()
        .queue_url(&rig.queue)
        .send()
        .await
        .unwrap();
    rig.proxy.set_up(false);
    let started = Instant::now();
    let response = shared_client_post(&rig, &status("wamid.fallback-503", "sent", T0, "")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(b"1".as_slice())
    );
    // The store's own answer: it timed out or was unavailable, as the sender may retry.
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        ["storage_timeout", "storage_unavailable"].contains(&error_code(&body)),
        "{body}"
    );
    // The store's budget (2 s) and the fallback's (2 s), with room to answer.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

async fn shared_client_post(rig: &Rig, body: &str) -> reqwest::Response {
    e2e_tests::stack::client()
        .post(format!("{}/webhooks/conversational", rig.stack.url()))
        .bearer_auth(WEBHOOK_TOKEN)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_delivery_that_keeps_failing_reaches_the_dead_letter_queue_and_a_redrive_completes_it() {
    let rig = Rig::start(1).await;
    rig.proxy.set_up(false);
    let body = status("wamid.fallback-dlq", "delivered", T0, "key-dlq");
    assert!(parked(&rig.deliver(&body).await));
    let started = Instant::now();
    while rig.moto.messages_in(&rig.dead_letters).await == 0 {
        assert!(
            started.elapsed() < DRAIN_LIMIT,
            "nothing reached the dead-letter queue"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    rig.proxy.set_up(true);
    assert!(rig.events_of("wamid.fallback-dlq").await.is_empty());

    // What `aws sqs start-message-move-task` does (moto has no move tasks): each message back
    // to its queue, body and attributes unchanged.
    let moved = rig.moto.receive(&rig.dead_letters).await;
    assert_eq!(moved.len(), 1);
    for message in moved {
        rig.sqs
            .send_message()
            .queue_url(&rig.queue)
            .message_body(message.body().unwrap())
            .set_message_attributes(message.message_attributes)
            .send()
            .await
            .unwrap();
        rig.sqs
            .delete_message()
            .queue_url(&rig.dead_letters)
            .receipt_handle(message.receipt_handle.unwrap())
            .send()
            .await
            .unwrap();
    }
    rig.drained().await;
    assert_eq!(rig.events_of("wamid.fallback-dlq").await.len(), 1);
}

/// The proof: a simulated stream from a sender that never resends, with the store refusing
/// every write for the first seconds of it; every distinct event ends up stored once, with the
/// highest status sent, and every delivery was answered 200.
#[tokio::test]
async fn a_sender_that_never_retries_loses_nothing() {
    let rig = Rig::start(10).await;
    rig.proxy.set_up(false);
    let mut options = DeliverOptions::new(format!("{}/webhooks/conversational", rig.stack.url()));
    options.auth = DeliveryAuth::Bearer(WEBHOOK_TOKEN.into());
    options.traffic = Traffic {
        count: 400,
        seed: Some(15),
        duplicates: 0.05,
        shuffle: true,
        concurrency: 8,
        max_retries: 0,
        ..Traffic::DEFAULT
    };
    let outage = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        rig.proxy.set_up(true);
    };
    let (summary, ()) = tokio::join!(deliver::run(options), outage);
    let summary = summary.expect("the simulator runs");
    assert_eq!(summary.retried, 0, "the sender never retries");
    assert_eq!(summary.failed, 0, "{:?}", summary.failures);
    assert!(
        summary.receiver.parked > 0,
        "the outage parked nothing: {summary}"
    );

    rig.drained().await;
    let problems = check_store(&rig.store, &summary).await;
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(rig.moto.messages_in(&rig.dead_letters).await, 0);
}
