//! The OAuth 2.0 token endpoint Insider One calls for V2 webhooks (`/oauth/token`, `/oauth/revoke`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let service = shared::config::token_service().await?;
    shared::lambda::serve(service, shared::http::oauth::token_endpoint).await
}
