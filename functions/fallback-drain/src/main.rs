//! Stores the deliveries the receiver parked in the fallback queue (`FALLBACK_QUEUE_URL`) when
//! DynamoDB refused them, each exactly once, reporting partial batch failures.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let drain = shared::config::drain().await?;
    shared::lambda::serve_events(drain, shared::ingest::queue_batch::store_parked_deliveries).await
}
