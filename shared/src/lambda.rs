//! The one shape every Lambda binary has: build the dependencies once, then serve requests with
//! one handler from [`crate::http`].

use std::convert::Infallible;
use std::future::Future;

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_http::{LambdaEvent, lambda_runtime, service_fn};

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
    // The dependencies live as long as the execution environment, so leaking them is the
    // honest lifetime and lets handlers borrow them without reference counting.
    let dependencies: &'static D = Box::leak(Box::new(dependencies));
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
