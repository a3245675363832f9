//! The real `fallback-drain` executable under a local Lambda Runtime API, on DynamoDB Local: the
//! SQS event Lambda hands it, made of messages the receiver's own adapter parked in moto's SQS,
//! is stored through the receiver's write path, each event once; what it cannot store is named
//! in `batchItemFailures`, and nothing else is.

use std::borrow::Cow;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use e2e_tests::dynamodb_local::{self, unique_table_name};
use e2e_tests::moto::Moto;
use e2e_tests::payloads::{statuses, stored};
use lambda_emulator::{Function, FunctionSettings, Outcome};
use serde_json::{Value, json};
use shared::domain::SubProduct;
use shared::fallback::sqs::SqsQueue;
use shared::fallback::{ParkDelivery, ParkedDelivery};
use shared::store::dynamo::DynamoStore;
use shared::store::{ReadMessage, WriteEvents};

const BOOTSTRAP: &str = env!("CARGO_BIN_EXE_fallback-drain");
const RECEIVED_AT: i64 = 1_795_000_000_123;

/// Every message of `queue`, as the records of the SQS event Lambda would invoke the drain with.
async fn as_lambda_event(moto: &Moto, queue: &str) -> Value {
    let messages = moto.receive(queue).await;
    let records: Vec<Value> = messages
        .iter()
        .map(|message| {
            let attributes: serde_json::Map<String, Value> = message
                .message_attributes
                .iter()
                .flatten()
                .map(|(name, value)| {
                    let attribute = json!({
                        "stringValue": value.string_value(),
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": value.data_type(),
                    });
                    (name.clone(), attribute)
                })
                .collect();
            json!({
                "messageId": message.message_id(),
                "receiptHandle": message.receipt_handle(),
                "body": message.body(),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": attributes,
                "md5OfBody": message.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:fallback",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records })
}

#[tokio::test]
async fn parked_deliveries_are_stored_once_and_failures_named() {
    let local = dynamodb_local::shared().await;
    let table = unique_table_name("drain");
    let client = shared::config::endpoint_dynamo_client(local.endpoint(), Duration::from_secs(5));
    let store = DynamoStore::new(client, &table, Duration::from_secs(86_400));
    store.create_table_if_missing().await.unwrap();
    let moto = Moto::start().await;
    let (queue, _) = moto.queue_with_dead_letters("fallback", 5).await;

    // The first status was stored before the store failed; the delivery was parked whole.
    let life = statuses(
        &[
            ("wamid.drained", "sent", 1_795_000_000),
            ("wamid.drained", "delivered", 1_795_000_001),
        ],
        "key-drained",
    );
    let events = stored(&life, SubProduct::Conversational, RECEIVED_AT);
    store.write_events(&events[..1]).await.unwrap();
    let parking = SqsQueue::new(moto.sqs(), &queue);
    parking
        .park(&ParkedDelivery {
            body: Cow::Borrowed(life.as_bytes()),
            sub_product: SubProduct::Conversational,
            received_at: RECEIVED_AT,
            principal: Cow::Borrowed("static-token"),
        })
        .await
        .unwrap();
    let mut event = as_lambda_event(&moto, &queue).await;
    // And a message that is no parked delivery at all.
    event["Records"].as_array_mut().unwrap().push(json!({
        "messageId": "not-a-parked-delivery",
        "body": "{}",
        "messageAttributes": {}
    }));

    let settings = FunctionSettings {
        environment: [
            ("TABLE_NAME", table.as_str()),
            ("AWS_ENDPOINT_URL_DYNAMODB", local.endpoint()),
            ("AWS_ACCESS_KEY_ID", "local"),
            ("AWS_SECRET_ACCESS_KEY", "local"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect(),
        ..FunctionSettings::default()
    };
    let mut function = Function::start(Path::new(BOOTSTRAP), &settings)
        .await
        .unwrap();
    for _ in 0..2 {
        // The second time as SQS would give a message again: nothing is stored twice.
        let answer = function
            .invoke(Bytes::from(event.to_string()))
            .await
            .unwrap();
        let Outcome::Response(body) = answer.outcome else {
            panic!("the handler failed: {:?}", answer.outcome);
        };
        let answer: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            answer,
            json!({"batchItemFailures": [{"itemIdentifier": "not-a-parked-delivery"}]})
        );
        let record = store.read_message("wamid.drained").await.unwrap().unwrap();
        assert_eq!(record.events.len(), 2, "sent once, delivered once");
        assert_eq!(
            record.state.unwrap().progress.unwrap().as_str(),
            "delivered"
        );
        assert_eq!(record.key.as_deref(), Some("key-drained"));
        assert!(
            record.events.iter().all(|e| e.received_at == RECEIVED_AT),
            "stored with the time it was received at"
        );
    }
    function.stop().await;
}
