//! `POST /manage/settings/transactional`: saves the V2 transactional webhook settings.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let management = shared::config::management().await?;
    shared::lambda::serve(management, shared::http::manage::transactional_settings).await
}
