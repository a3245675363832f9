//! The console at `/console`, reaching this stack's own query and replay handlers in process, as
//! the deployed console reaches them through API Gateway: the same routes, the same answers.

use std::sync::Arc;

use console::{ApiAnswer, ApiError, ApiFuture, QueryApi};
use shared::http::query::{Query, query};
use shared::http::replay::replay;
use shared::http::{Body, Response};
use shared::replay::Replay;

pub struct InProcessApi {
    pub query: Arc<Query>,
    pub replay: Arc<Replay>,
}

impl QueryApi for InProcessApi {
    fn get<'a>(&'a self, path_and_query: &'a str) -> ApiFuture<'a> {
        Box::pin(async move {
            let request = http::Request::get(path_and_query)
                .body(Body::Empty)
                .map_err(|e| ApiError::Unreachable(e.to_string()))?;
            answer(query(&self.query, request).await)
        })
    }

    fn post<'a>(&'a self, path_and_query: &'a str) -> ApiFuture<'a> {
        Box::pin(async move {
            let request = http::Request::post(path_and_query)
                .body(Body::Empty)
                .map_err(|e| ApiError::Unreachable(e.to_string()))?;
            answer(replay(&self.replay, request).await)
        })
    }
}

fn answer(response: Response) -> Result<ApiAnswer, ApiError> {
    let status = response.status();
    let body = serde_json::from_slice(response.body()).map_err(|_| ApiError::NotJson(status))?;
    Ok(ApiAnswer { status, body })
}
