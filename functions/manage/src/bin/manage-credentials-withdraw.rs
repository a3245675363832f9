//! `DELETE /manage/credentials/{client_id}`: withdraws one OAuth client minted for Insider One.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let management = shared::config::management().await?;
    shared::lambda::serve(management, shared::http::manage::withdraw_credential).await
}
