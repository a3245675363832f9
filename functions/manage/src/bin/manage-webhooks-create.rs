//! `POST /manage/webhooks?phoneNumber=N`: creates a V2 webhook at Insider One.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let management = shared::config::management().await?;
    shared::lambda::serve(management, shared::http::manage::create_webhook).await
}
