//! Erases one contact's personal data on request (`DELETE /contacts/{wa_id}`): their numbers,
//! names and message text in every event of their messages, raw fragments in S3 included.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let erasure = shared::config::erasure().await?;
    shared::lambda::serve(erasure, shared::http::erasure::erase).await
}
