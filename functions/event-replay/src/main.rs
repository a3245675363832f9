//! Publishes stored events to the EventBridge bus again (`/replay/messages/{message_id}`,
//! `/replay/events?...`), with the `event_id` they were first published with.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let replay = shared::config::replay().await?;
    shared::lambda::serve(replay, shared::http::replay::replay).await
}
