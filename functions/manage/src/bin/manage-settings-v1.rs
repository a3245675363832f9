//! `POST /manage/settings/conversational/v1`: V1 "Save Webhook URL" (X-INS-AUTH-KEY).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let management = shared::config::management().await?;
    shared::lambda::serve(management, shared::http::manage::v1_settings).await
}
