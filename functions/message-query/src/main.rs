//! Reads stored events back: `/messages/{message_id}`, `/events`, `/contacts/{wa_id}/messages`
//! and `/stats`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let query = shared::config::query().await?;
    shared::lambda::serve(query, shared::http::query::query).await
}
