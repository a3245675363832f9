//! Receives Insider One's webhooks (`/webhooks/{sub_product}`) and stores them in DynamoDB.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let receiver = shared::config::receiver().await?;
    shared::lambda::serve(receiver, shared::http::receiver::receive).await
}
