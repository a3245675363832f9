//! `GET /manage/webhooks?phoneNumber=N`: lists the sender's V2 OAuth 2.0 webhooks at Insider One.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let management = shared::config::management().await?;
    shared::lambda::serve(management, shared::http::manage::list_webhooks).await
}
