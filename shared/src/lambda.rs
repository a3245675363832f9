//! The one shape every Lambda binary has: build the dependencies once, then answer each
//! invocation with one handler: from [`crate::http`] behind API Gateway ([`serve`]), or one that
//! takes an event source's batch, such as the DynamoDB stream consumer ([`serve_events`]).

use std::convert::Infallible;
use std::future::Future;

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_runtime::{LambdaEvent, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::http::gateway::{event_response, request_from_event};
use crate::http::{Request, Response};

/// Serves API Gateway HTTP API events (the only trigger of these functions) with `handler`,
/// converting events with [`crate::http::gateway`], which answers an event that cannot be a
/// request instead of panicking on it.
pub async fn serve<D, H, F>(dependencies: D, handler: H) -> Result<(), lambda_http::Error>
where
    D: Sync + 'static,
    H: Fn(&'static D, Request) -> F,
    F: Future<Output = Response> + Send,
{
    let dependencies = leak(dependencies);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2httpRequest>| {
            let LambdaEvent { payload, context } = event;
            let handled = request_from_event(payload).map(|request| handler(dependencies, request));
            async move {
                let response = match handled {
                    Ok(response) => response.await,
                    Err(refused) => {
                        tracing::warn!(status = refused.status().as_u16(), "event refused");
                        *refused
                    }
                };
                crate::telemetry::flush_metrics(Some(&context.request_id));
                Ok::<_, Infallible>(event_response(response))
            }
        },
    ))
    .await
}

/// Like [`serve`], for a Lambda invoked with an event `E` (e.g. a batch of stream records) that
/// answers with `R` (e.g. the batch item failures). The handler reports failures in `R`, so
/// the invocation itself always succeeds.
pub async fn serve_events<D, E, R, H, F>(
    dependencies: D,
    handler: H,
) -> Result<(), lambda_runtime::Error>
where
    D: Sync + 'static,
    E: DeserializeOwned + Send + 'static,
    R: Serialize + Send + 'static,
    H: Fn(&'static D, E) -> F,
    F: Future<Output = R> + Send,
{
    let dependencies = leak(dependencies);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<E>| {
            let request_id = event.context.request_id.clone();
            let response = handler(dependencies, event.payload);
            async move {
                let response = response.await;
                crate::telemetry::flush_metrics(Some(&request_id));
                Ok::<_, Infallible>(response)
            }
        },
    ))
    .await
}

/// The dependencies live as long as the execution environment, so leaking them is the honest
/// lifetime and lets handlers borrow them without reference counting.
fn leak<D>(dependencies: D) -> &'static D {
    Box::leak(Box::new(dependencies))
}
