//! `GET /manage/credentials`: the OAuth clients minted for Insider One, never a secret.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let management = shared::config::management().await?;
    shared::lambda::serve(management, shared::http::manage::list_credentials).await
}
