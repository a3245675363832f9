//! The query API's answers as the console reads them: only the fields it shows, each optional
//! (`#[serde(default)]`), so that a field the API adds or leaves out never breaks a page.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// One stored event, as `/messages/{id}` and the listings show it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Event {
    pub id: String,
    pub family: String,
    pub message_id: Option<String>,
    pub status: Option<String>,
    pub message_type: Option<String>,
    pub contact: Option<String>,
    pub contact_name: Option<String>,
    /// Epoch seconds, when the payload gives a time.
    pub occurred_at: Option<i64>,
    pub error_codes: Vec<i64>,
    pub sub_product: String,
    /// Epoch milliseconds.
    pub received_at: i64,
    pub raw: Value,
    pub raw_omitted: bool,
}

impl Event {
    /// When the API lists it: the payload's time, or when it arrived.
    pub fn listed_at(&self) -> i64 {
        self.occurred_at
            .unwrap_or(self.received_at.div_euclid(1000))
    }

    /// What a customer wrote or chose, for the reply types that carry text.
    pub fn reply_text(&self) -> Option<&str> {
        let kind = self.message_type.as_deref()?;
        let raw = &self.raw[kind];
        [&raw["body"], &raw["text"], &raw["caption"], &raw["title"]]
            .into_iter()
            .find_map(Value::as_str)
    }
}

/// `GET /messages/{id}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Message {
    pub message_id: String,
    pub status: Option<String>,
    pub progress: Option<String>,
    pub failed: bool,
    pub error_codes: Vec<i64>,
    pub key: Option<String>,
    pub events: Vec<Event>,
}

/// A page of `/events` or `/contacts/{wa_id}/messages`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Listing {
    pub events: Vec<Event>,
    pub next_cursor: Option<String>,
}

/// `GET /stats`: the funnel of whole hours.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Stats {
    pub since: String,
    pub until: String,
    pub sent: u64,
    pub delivered: u64,
    pub read: u64,
    pub failed: u64,
    /// JSON object keys are text; codes that do not read as numbers are kept as they came.
    pub failures_by_error_code: BTreeMap<String, u64>,
}
