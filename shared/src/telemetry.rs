//! Logs as JSON lines (or text when `AWS_LAMBDA_LOG_FORMAT=Text`), at the level of
//! `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `info`, as Lambda's advanced logging controls
//! expect; the libraries below us never more verbose than `info`, whatever the level: at `TRACE`
//! `lambda_runtime` logs every raw event (bearer tokens, phone numbers, message text), and the
//! HTTP and SDK crates log headers. Inside Lambda the runtime's span adds the request id to
//! every line.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{Directive, LevelFilter};

static COLD_START: AtomicBool = AtomicBool::new(true);

/// Logs to stdout and, in Lambda, metrics.
pub fn init() {
    init_metrics();
    init_logs(std::io::stdout);
}

/// Logs to `writer`: the local stack logs to stderr, so its stdout holds what a user reads or
/// pipes (the banner, `--print-events`).
pub fn init_logs<W>(writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(log_filter(&level))
        .with_target(false)
        .with_writer(writer);
    let text = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("text"));
    // try_init: a second call (tests, the local stack) keeps the first subscriber.
    let _ = if text {
        builder.try_init()
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    };
}

/// Targets (prefixes) of the libraries that may log what requests carry: the Lambda runtime, the
/// AWS SDKs and their HTTP stack, and the HTTP crates under reqwest and the local stack.
const LIBRARY_TARGETS: [&str; 7] = [
    "lambda_", "aws_", "hyper", "h2", "reqwest", "rustls", "tower",
];

/// The filter of `level` (a level such as Lambda's `TRACE`, or `RUST_LOG` directives), with the
/// libraries capped at `info` (or at `level`, if it is quieter).
pub fn log_filter(level: &str) -> EnvFilter {
    let level = level.to_lowercase();
    let filter = EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new("info"));
    let cap = level
        .parse::<LevelFilter>()
        .map_or(LevelFilter::INFO, |level| level.min(LevelFilter::INFO));
    LIBRARY_TARGETS.iter().fold(filter, |filter, target| {
        match format!("{target}={cap}").parse::<Directive>() {
            Ok(directive) => filter.add_directive(directive),
            Err(_) => filter,
        }
    })
}

/// True for the first request this process handles, false after.
pub fn take_cold_start() -> bool {
    COLD_START.swap(false, Ordering::Relaxed)
}

static METRICS: OnceLock<&'static metrics_cloudwatch_embedded::Collector> = OnceLock::new();

/// Starts collecting metrics in CloudWatch Embedded Metric Format when `METRICS_NAMESPACE` is
/// set (the template sets it); elsewhere the recording calls below cost next to nothing.
pub fn init_metrics() {
    if let Ok(namespace) = std::env::var("METRICS_NAMESPACE") {
        init_metrics_in(namespace);
    }
}

/// Installs the EMF collector for `namespace`; once per process.
pub fn init_metrics_in(namespace: String) {
    match metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(namespace)
        .init()
    {
        Ok(collector) => {
            metrics::describe_histogram!(
                "StoreLatency",
                metrics::Unit::Milliseconds,
                "one store write or read"
            );
            metrics::describe_histogram!(
                "VendorCallLatency",
                metrics::Unit::Milliseconds,
                "one Insider One call"
            );
            let _ = METRICS.set(collector);
        }
        Err(error) => tracing::error!(%error, "metrics are off: the EMF collector did not start"),
    }
}

/// Writes the metrics of one invocation to stdout, where Lambda's log pipeline turns them into
/// CloudWatch metrics.
pub fn flush_metrics(request_id: Option<&str>) {
    if let Err(error) = write_metrics(request_id, std::io::stdout().lock()) {
        tracing::warn!(%error, "metrics could not be written");
    }
}

/// Writes the EMF documents collected since the last write, tagged with the request id.
pub fn write_metrics(request_id: Option<&str>, writer: impl std::io::Write) -> std::io::Result<()> {
    let Some(collector) = METRICS.get() else {
        return Ok(());
    };
    if let Some(id) = request_id {
        collector.set_property("RequestId", id.to_owned());
    }
    collector.flush(writer)
}

/// The project's metrics; names and dimensions are what the template's alarms and dashboard use.
/// Each labelled metric is also emitted without labels, the total the alarms watch.
pub mod record {
    use std::time::Duration;

    use crate::domain::error_codes;
    use crate::domain::{DeliveryStatus, Event, EventFamily, SubProduct};
    use crate::store::WriteReport;

    pub fn delivery(sub_product: SubProduct, events: &[Event], report: &WriteReport) {
        for event in events {
            metrics::counter!("EventsReceived", "SubProduct" => sub_product.as_str(), "Family" => event.family.as_str())
                .increment(1);
            if let Some(status) = &event.status {
                let status = match status {
                    DeliveryStatus::Other(_) => "other",
                    known => static_status(known),
                };
                metrics::counter!("StatusesReceived", "Status" => status).increment(1);
            }
            if event.family == EventFamily::Unknown {
                metrics::counter!("UnknownShapes").increment(1);
            }
            let failed = event.status == Some(DeliveryStatus::Failed)
                || matches!(
                    event.family,
                    EventFamily::Error | EventFamily::OnPremiseError
                );
            if failed {
                for code in &event.error_codes {
                    failure_code(*code);
                }
            }
        }
        metrics::counter!("EventsReceived").increment(events.len() as u64);
        metrics::counter!("DuplicateEvents").increment(report.duplicates as u64);
    }

    /// One failure's error code, by code for the known ones (which bound the dimension's
    /// values), `other` for the rest; the business alarms watch a jump in one of them.
    fn failure_code(code: i64) {
        let code = match error_codes::lookup(code) {
            Some(known) => known.code.to_string(),
            None => "other".to_owned(),
        };
        metrics::counter!("FailuresByErrorCode", "Code" => code).increment(1);
    }

    fn static_status(status: &DeliveryStatus) -> &'static str {
        match status {
            DeliveryStatus::Accepted => "accepted",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Read => "read",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Other(_) => "other",
        }
    }

    pub fn auth_failure(route: &'static str) {
        metrics::counter!("AuthFailures", "Route" => route).increment(1);
        metrics::counter!("AuthFailures").increment(1);
    }

    pub fn store_call(elapsed: Duration, succeeded: bool) {
        metrics::histogram!("StoreLatency").record(elapsed.as_secs_f64() * 1000.0);
        if !succeeded {
            metrics::counter!("StoreFailures").increment(1);
        }
    }

    /// One attempt of an Insider One call: the vendor's HTTP status, or why no answer came.
    pub fn vendor_call(
        operation: &'static str,
        elapsed: Duration,
        answer: Result<u16, &'static str>,
    ) {
        metrics::histogram!("VendorCallLatency", "Operation" => operation)
            .record(elapsed.as_secs_f64() * 1000.0);
        let code = match answer {
            Ok(status) if status < 400 => None,
            Ok(400) => Some("400"),
            Ok(401) => Some("401"),
            Ok(403) => Some("403"),
            Ok(404) => Some("404"),
            Ok(429) => Some("429"),
            Ok(status) if status < 500 => Some("4xx"),
            Ok(500) => Some("500"),
            Ok(502) => Some("502"),
            Ok(503) => Some("503"),
            Ok(504) => Some("504"),
            Ok(_) => Some("5xx"),
            Err(reason) => Some(reason),
        };
        if let Some(code) = code {
            metrics::counter!("VendorErrors", "Operation" => operation, "Code" => code)
                .increment(1);
            metrics::counter!("VendorErrors").increment(1);
        }
    }

    /// One downstream event published (EventBridge in AWS), by its detail-type.
    pub fn event_published(detail_type: &'static str) {
        metrics::counter!("EventsPublished", "DetailType" => detail_type).increment(1);
        metrics::counter!("EventsPublished").increment(1);
    }

    /// One downstream event that could not be published in the end (after the publisher's own
    /// retries): `refused` or `unavailable`.
    pub fn publish_failure(kind: &'static str) {
        metrics::counter!("PublishFailures", "Reason" => kind).increment(1);
        metrics::counter!("PublishFailures").increment(1);
    }

    /// A delivery the store could not take, parked in the fallback queue.
    pub fn parked(events: usize) {
        metrics::counter!("DeliveriesParked").increment(1);
        metrics::counter!("EventsParked").increment(events as u64);
    }

    /// A delivery neither the store nor the fallback queue took: answered 503.
    pub fn park_failure() {
        metrics::counter!("ParkFailures").increment(1);
    }

    /// A parked delivery stored by the drain.
    pub fn drained() {
        metrics::counter!("DeliveriesDrained").increment(1);
    }

    /// A parked delivery the drain could not store (yet): `unreadable`, `refused` or
    /// `unavailable`.
    pub fn drain_failure(reason: &'static str) {
        metrics::counter!("DrainFailures", "Reason" => reason).increment(1);
        metrics::counter!("DrainFailures").increment(1);
    }

    /// Messages with no delivery report for the configured hours, counted on a schedule.
    pub fn stalled_messages(count: usize) {
        metrics::gauge!("StalledMessages").set(count as f64);
    }

    pub fn token_issued(grant: &'static str) {
        metrics::counter!("TokensIssued", "Grant" => grant).increment(1);
        metrics::counter!("TokensIssued").increment(1);
    }
}
