//! The sending side of Insider One: POSTs realistic event streams to a webhook receiver, as
//! fast as asked, authenticated as the vendor does, retrying what a sender should retry.
//!
//! ```no_run
//! # async fn example() -> Result<(), insider_sim::deliver::DeliverError> {
//! use insider_sim::deliver::{DeliverOptions, DeliveryAuth, run};
//! let mut options = DeliverOptions::new("http://127.0.0.1:3000/webhooks/conversational");
//! options.auth = DeliveryAuth::Bearer("token".into());
//! options.traffic.count = 1000;
//! options.traffic.seed = Some(7);
//! let summary = run(options).await?;
//! assert_eq!(summary.failed, 0);
//! # Ok(()) }
//! ```

mod fixtures;
mod payloads;
mod registered;
mod sender;
mod summary;
mod values;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use payloads::{
    Delivery, EventInfo, StatusName, StreamSpec, duplicate_count, generate,
    generate_with_late_statuses,
};
pub use registered::{Registered, through_simulator};
pub use summary::{DeliverySummary, FailedDelivery, Latency, MessageStatus, ReceiverTotals};

use crate::oauth::{OAuth2Credentials, TokenSource};
use crate::vocabulary::{EventName, SubProduct};
use sender::{RetryPolicy, Sender, WorkerStats};

#[derive(Debug, Clone)]
pub struct DeliverOptions {
    /// The webhook URL.
    pub to: String,
    /// Which API type's traffic to imitate (verify gets no replies).
    pub sub_product: SubProduct,
    pub auth: DeliveryAuth,
    /// Only these events, as a webhook subscribed to them gets; `None` for everything.
    pub events: Option<Vec<EventName>>,
    pub traffic: Traffic,
}

impl DeliverOptions {
    /// Conversational traffic with the default [`Traffic`], unauthenticated.
    pub fn new(to: impl Into<String>) -> Self {
        Self {
            to: to.into(),
            sub_product: SubProduct::Conversational,
            auth: DeliveryAuth::None,
            events: None,
            traffic: Traffic::default(),
        }
    }
}

/// How the receiver is told who is calling.
#[derive(Debug, Clone)]
pub enum DeliveryAuth {
    None,
    /// `Authorization: Bearer <api key>`, the key registered with the webhook.
    Bearer(String),
    /// A token from the receiver's token endpoint, cached and renewed.
    OAuth2(OAuth2Credentials),
}

/// What to send and how hard: shared by the `deliver` command line and the JSON body of the
/// simulator's `/_sim/.../deliver` routes (snake_case, every field optional).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct Traffic {
    /// Deliveries (HTTP POSTs) to send, duplicates included.
    #[arg(long, default_value_t = Traffic::DEFAULT.count)]
    pub count: usize,
    /// Seed of the event stream; the same seed sends the same bytes. Random when not given
    /// (the summary says which).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Share of the deliveries that repeat an earlier one byte for byte, in [0, 1).
    #[arg(long, default_value_t = Traffic::DEFAULT.duplicates)]
    pub duplicates: f64,
    /// Send in random order (a read may come before its delivered) instead of per-message order;
    /// duplicates still come after their original.
    #[arg(long)]
    pub shuffle: bool,
    /// Share, in [0, 1], of the statuses followed by a later status of the same message that
    /// arrive after it (a delivered after its read); the rest in order.
    #[arg(long, default_value_t = Traffic::DEFAULT.late_fraction, conflicts_with = "shuffle")]
    pub late_fraction: f64,
    /// Deliveries started per second (`500`, `500/s`) or `unlimited`.
    #[arg(long, default_value = "unlimited")]
    pub rate: Rate,
    /// Deliveries in flight at once.
    #[arg(long, default_value_t = Traffic::DEFAULT.concurrency)]
    pub concurrency: usize,
    /// Retries of one delivery after a 5xx, a 429, a timeout or a connection error.
    #[arg(long, default_value_t = Traffic::DEFAULT.max_retries)]
    pub max_retries: u32,
    /// Bound on one attempt (and on one token request).
    #[arg(long, default_value_t = Traffic::DEFAULT.timeout_ms)]
    pub timeout_ms: u64,
    /// First retry delay; it doubles per retry (with jitter), up to 10 s.
    #[arg(long, default_value_t = Traffic::DEFAULT.retry_base_ms)]
    pub retry_base_ms: u64,
}

impl Traffic {
    pub const DEFAULT: Self = Self {
        count: 100,
        seed: None,
        duplicates: 0.0,
        shuffle: false,
        late_fraction: 0.0,
        rate: Rate::Unlimited,
        concurrency: 32,
        max_retries: 5,
        timeout_ms: 5000,
        retry_base_ms: 100,
    };
}

impl Default for Traffic {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    Unlimited,
    PerSecond(f64),
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("unlimited") {
            return Ok(Self::Unlimited);
        }
        text.strip_suffix("/s")
            .unwrap_or(text)
            .parse::<f64>()
            .ok()
            .filter(|r| r.is_finite() && *r > 0.0)
            .map(Self::PerSecond)
            .ok_or_else(|| {
                format!("rate must be a positive number per second or unlimited, got {text:?}")
            })
    }
}

/// As read: `"unlimited"` or deliveries per second.
impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Unlimited => s.serialize_str("unlimited"),
            Self::PerSecond(per_second) => s.serialize_f64(*per_second),
        }
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Given {
            Number(f64),
            Text(String),
        }
        match Given::deserialize(d)? {
            Given::Number(n) => Self::from_str(&n.to_string()),
            Given::Text(text) => Self::from_str(&text),
        }
        .map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error("{0}")]
    InvalidOptions(String),
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// Delivering through a running simulator ([`through_simulator`]): it could not be reached,
    /// or it refused (no such webhook, say).
    #[error("{0}")]
    Simulator(String),
}

/// An `http(s)` URL, or the error naming the option it came from.
fn check_http_url(option: &str, url: &str) -> Result<(), DeliverError> {
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(()),
        _ => Err(DeliverError::InvalidOptions(format!(
            "{option} must be an http(s) URL, got {url:?}"
        ))),
    }
}

impl DeliverOptions {
    fn check(&self) -> Result<(), DeliverError> {
        check_http_url("--to", &self.to)?;
        self.traffic.check()
    }
}

impl Traffic {
    fn check(&self) -> Result<(), DeliverError> {
        let invalid = |message: String| Err(DeliverError::InvalidOptions(message));
        if !(0.0..1.0).contains(&self.duplicates) {
            return invalid(format!(
                "duplicates must be in [0, 1), got {}",
                self.duplicates
            ));
        }
        if !(0.0..=1.0).contains(&self.late_fraction) {
            return invalid(format!(
                "late fraction must be in [0, 1], got {}",
                self.late_fraction
            ));
        }
        if self.shuffle && self.late_fraction > 0.0 {
            return invalid(
                "shuffle sends everything in random order already: give a late fraction or \
                 shuffle, not both"
                    .into(),
            );
        }
        if self.concurrency == 0 {
            return invalid("concurrency must be at least 1".into());
        }
        if self.timeout_ms == 0 {
            return invalid("timeout must be at least 1 ms".into());
        }
        Ok(())
    }
}

/// Generates the stream, sends it, and tells how it went. Deliveries that were never
/// acknowledged are in the summary, not an error.
pub async fn run(options: DeliverOptions) -> Result<DeliverySummary, DeliverError> {
    options.check()?;
    let traffic = &options.traffic;
    let seed = traffic.seed.unwrap_or_else(|| fastrand::u64(..));
    let deliveries: Arc<[Delivery]> = generate_with_late_statuses(
        &StreamSpec {
            sub_product: options.sub_product,
            events: options.events.as_deref(),
            count: traffic.count,
            seed,
            duplicates: traffic.duplicates,
            shuffle: traffic.shuffle,
        },
        traffic.late_fraction,
    )
    .into();
    let timeout = Duration::from_millis(traffic.timeout_ms);
    let http = crate::outbound::client_builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(traffic.concurrency)
        .build()?;
    let tokens = match &options.auth {
        DeliveryAuth::OAuth2(credentials) => {
            Some(TokenSource::new(credentials.clone(), http.clone(), timeout))
        }
        DeliveryAuth::None | DeliveryAuth::Bearer(_) => None,
    };
    let sender = Arc::new(Sender {
        http,
        url: options.to.clone(),
        bearer: match &options.auth {
            DeliveryAuth::Bearer(token) => Some(token.clone()),
            DeliveryAuth::None | DeliveryAuth::OAuth2(_) => None,
        },
        tokens,
        policy: RetryPolicy {
            max_retries: traffic.max_retries,
            timeout,
            base: Duration::from_millis(traffic.retry_base_ms),
        },
    });
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..traffic.concurrency.min(deliveries.len().max(1)) {
        let (sender, deliveries, next) = (
            Arc::clone(&sender),
            Arc::clone(&deliveries),
            Arc::clone(&next),
        );
        let rate = traffic.rate;
        workers.spawn(async move {
            let mut stats = WorkerStats::default();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(delivery) = deliveries.get(index) else {
                    return stats;
                };
                if let Rate::PerSecond(per_second) = rate {
                    let due = started + Duration::from_secs_f64(index as f64 / per_second);
                    tokio::time::sleep_until(due.into()).await;
                }
                sender.deliver(index, delivery, &mut stats).await;
            }
        });
    }
    let mut stats = WorkerStats::default();
    while let Some(worker) = workers.join_next().await {
        stats.merge(worker.expect("a delivery worker panicked"));
    }
    Ok(summary::summarize(
        &options.to,
        seed,
        &deliveries,
        stats,
        sender.tokens.as_ref().map_or(0, TokenSource::fetches),
        started.elapsed(),
    ))
}
