//! The one shape every Lambda binary has: build the dependencies once, then serve requests with
//! one handler from [`crate::http`].

use std::convert::Infallible;
use std::future::Future;

use lambda_http::RequestExt;

use crate::http::{Request, Response};

pub async fn serve<D, H, F>(dependencies: D, handler: H) -> Result<(), lambda_http::Error>
where
    D: Sync + 'static,
    H: Fn(&'static D, Request) -> F,
    F: Future<Output = Response> + Send,
{
    // The dependencies live as long as the execution environment, so leaking them is the
    // honest lifetime and lets handlers borrow them without reference counting.
    let dependencies: &'static D = Box::leak(Box::new(dependencies));
    lambda_http::run(lambda_http::service_fn(move |request: Request| {
        let request_id = request.lambda_context_ref().map(|c| c.request_id.clone());
        let response = handler(dependencies, request);
        async move {
            let response = response.await;
            crate::telemetry::flush_metrics(request_id.as_deref());
            Ok::<_, Infallible>(response)
        }
    }))
    .await
}
