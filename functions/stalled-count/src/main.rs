//! Counts, every hour (an EventBridge schedule), the messages accepted or sent with no delivery
//! report for `STALLED_HOURS`, and emits the count as the `StalledMessages` metric.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let counter = shared::config::stalled_count().await?;
    shared::lambda::serve_events(counter, shared::stalled::count_on_schedule).await
}
