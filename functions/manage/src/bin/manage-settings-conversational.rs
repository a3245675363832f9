//! `POST /manage/settings/conversational`: saves the V2 conversational webhook settings.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let management = shared::config::management().await?;
    shared::lambda::serve(management, shared::http::manage::conversational_settings).await
}
