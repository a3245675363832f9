//! Publishes every event the receiver stores, read from the table's DynamoDB stream, to the
//! EventBridge bus (`EVENT_BUS_NAME`), reporting partial batch failures.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let consumer = shared::config::event_publisher().await?;
    shared::lambda::serve_events(consumer, shared::publish::stream::publish_new_events).await
}
