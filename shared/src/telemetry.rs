//! Logs as JSON lines (or text when `AWS_LAMBDA_LOG_FORMAT=Text`), at the level of
//! `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `info`, as Lambda's advanced logging controls
//! expect. Inside Lambda the runtime's span adds the request id to every line.

use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::EnvFilter;

static COLD_START: AtomicBool = AtomicBool::new(true);

pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_new(level.to_lowercase()).unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_target(false);
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

/// True for the first request this process handles, false after.
pub fn take_cold_start() -> bool {
    COLD_START.swap(false, Ordering::Relaxed)
}
