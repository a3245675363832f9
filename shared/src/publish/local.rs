//! Publishers for use without AWS (the local stack): print each event as a JSON line, or POST
//! it to a URL. Both send the event in the envelope EventBridge gives it (`schemas/events/
//! envelope.schema.json`), so code written against the events a rule delivers in AWS reads these
//! unchanged.

use std::io::Write;
use std::time::Duration;

use serde::Serialize;
use serde_json::value::RawValue;

use super::{BatchLimits, PublishError, PublishEvents, PublishFuture};
use crate::domain::downstream::DownstreamEvent;
use crate::domain::query::format_time;

/// Stands in for the AWS account of an EventBridge event.
pub const LOCAL_ACCOUNT: &str = "000000000000";
/// Stands in for the AWS region of an EventBridge event.
pub const LOCAL_REGION: &str = "local";

/// An EventBridge event, as a rule's target receives it.
#[derive(Serialize)]
struct Envelope<'a> {
    version: &'static str,
    /// EventBridge gives each put a new id; here it is the event id, which is stable. Consumers
    /// dedupe on `detail.event_id` either way.
    id: &'a str,
    #[serde(rename = "detail-type")]
    detail_type: &'static str,
    source: &'a str,
    account: &'static str,
    time: String,
    region: &'static str,
    resources: [&'static str; 0],
    detail: &'a RawValue,
}

/// The event as EventBridge would deliver it, as one line of JSON.
pub fn envelope(source: &str, event: &DownstreamEvent) -> Result<String, PublishError> {
    let time = format_time(event.time);
    serde_json::to_string(&Envelope {
        version: "0",
        id: &event.event_id,
        detail_type: event.detail_type.as_str(),
        source,
        account: LOCAL_ACCOUNT,
        time,
        region: LOCAL_REGION,
        resources: [],
        detail: &event.detail,
    })
    .map_err(|e| PublishError::Refused(format!("the envelope cannot be written: {e}")))
}

/// Prints each event to stdout, one JSON line each.
pub struct PrintEvents {
    pub source: String,
}

impl PublishEvents for PrintEvents {
    fn limits(&self) -> BatchLimits {
        BatchLimits {
            entries: 100,
            bytes: usize::MAX,
        }
    }

    fn put_batch<'a>(&'a self, events: &'a [&'a DownstreamEvent]) -> PublishFuture<'a> {
        let mut out = std::io::stdout().lock();
        let outcomes = events
            .iter()
            .map(|event| {
                let line = envelope(&self.source, event)?;
                writeln!(out, "{line}")
                    .map_err(|e| PublishError::Unavailable(format!("stdout: {e}")))
            })
            .collect();
        Box::pin(async move { outcomes })
    }
}

/// POSTs each event to a URL as `application/json`, one request per event, in order; any 2xx
/// answer counts as delivered.
pub struct PostEvents {
    client: reqwest::Client,
    url: String,
    source: String,
}

impl PostEvents {
    pub fn new(url: impl Into<String>, source: impl Into<String>) -> Result<Self, PublishError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| PublishError::Refused(format!("the HTTP client cannot be built: {e}")))?;
        Ok(Self {
            client,
            url: url.into(),
            source: source.into(),
        })
    }

    async fn post(&self, event: &DownstreamEvent) -> Result<(), PublishError> {
        let body = envelope(&self.source, event)?;
        let response = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| PublishError::Unavailable(format!("POST {}: {e}", self.url)))?;
        let status = response.status();
        match status.as_u16() {
            200..=299 => Ok(()),
            408 | 429 | 500.. => Err(PublishError::Unavailable(format!(
                "POST {} answered {status}",
                self.url
            ))),
            _ => Err(PublishError::Refused(format!(
                "POST {} answered {status}",
                self.url
            ))),
        }
    }
}

impl PublishEvents for PostEvents {
    fn limits(&self) -> BatchLimits {
        BatchLimits {
            entries: 1,
            bytes: usize::MAX,
        }
    }

    fn put_batch<'a>(&'a self, events: &'a [&'a DownstreamEvent]) -> PublishFuture<'a> {
        Box::pin(async move {
            let mut outcomes = Vec::with_capacity(events.len());
            for event in events {
                outcomes.push(self.post(event).await);
            }
            outcomes
        })
    }
}
