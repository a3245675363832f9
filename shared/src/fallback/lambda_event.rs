//! The SQS event Lambda invokes the drain with, and the partial batch response it takes back:
//! only the fields the drain reads or writes. (`aws_lambda_events` has these types behind its
//! `sqs` feature, which would add serde_with, jiff and schemars to every Lambda's build.)

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::ParkedDelivery;
use super::sqs::{DecodeError, decode};

#[derive(Debug, Default, Deserialize)]
pub struct QueueEvent {
    #[serde(rename = "Records", default)]
    pub records: Vec<QueueMessage>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueMessage {
    pub message_id: Option<String>,
    pub body: Option<String>,
    #[serde(default)]
    pub message_attributes: HashMap<String, MessageAttribute>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageAttribute {
    pub string_value: Option<String>,
}

impl QueueMessage {
    pub fn parked_delivery(&self) -> Result<ParkedDelivery<'static>, DecodeError> {
        decode(self.body.as_deref(), |name| {
            self.message_attributes.get(name)?.string_value.as_deref()
        })
    }
}

/// With `ReportBatchItemFailures` on the event source mapping, only the messages named here are
/// given again; the others are deleted from the queue.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    pub batch_item_failures: Vec<BatchItemFailure>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BatchItemFailure {
    pub item_identifier: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_event_lambda_sends() {
        // The shape of AWS's sample SQS event, with a parked delivery's attributes.
        let event: QueueEvent = serde_json::from_value(serde_json::json!({
            "Records": [{
                "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
                "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
                "body": "{\"key\": \"k\"}",
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1545082649183"},
                "messageAttributes": {
                    "parked_delivery": {"stringValue": "1", "stringListValues": [], "binaryListValues": [], "dataType": "Number"},
                    "sub_product": {"stringValue": "conversational", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
                    "received_at": {"stringValue": "1700000000123", "stringListValues": [], "binaryListValues": [], "dataType": "Number"},
                    "principal": {"stringValue": "static-token", "stringListValues": [], "binaryListValues": [], "dataType": "String"}
                },
                "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:my-queue",
                "awsRegion": "us-east-2"
            }]
        }))
        .unwrap();
        let delivery = event.records[0].parked_delivery().unwrap();
        assert_eq!(delivery.body.as_ref(), br#"{"key": "k"}"#);
        assert_eq!(delivery.received_at, 1_700_000_000_123);
        assert_eq!(delivery.principal, "static-token");
        let answer = BatchResponse {
            batch_item_failures: vec![BatchItemFailure {
                item_identifier: "059f36b4".into(),
            }],
        };
        assert_eq!(
            serde_json::to_value(answer).unwrap(),
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "059f36b4"}]})
        );
    }
}
