//! `DELETE /manage/webhooks/{id}?phoneNumber=N`: deletes a V2 webhook at Insider One.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let management = shared::config::management().await?;
    shared::lambda::serve(management, shared::http::manage::delete_webhook).await
}
