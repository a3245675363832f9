//! The console at `/console`, reading through this stack's own query handler in process, as
//! the deployed console reads through API Gateway: the same routes, the same answers.

use std::sync::Arc;

use console::{ApiAnswer, ApiError, ApiFuture, QueryApi};
use shared::http::Body;
use shared::http::query::{Query, query};

pub struct InProcessQuery(pub Arc<Query>);

impl QueryApi for InProcessQuery {
    fn get<'a>(&'a self, path_and_query: &'a str) -> ApiFuture<'a> {
        Box::pin(async move {
            let request = http::Request::get(path_and_query)
                .body(Body::Empty)
                .map_err(|e| ApiError::Unreachable(e.to_string()))?;
            let response = query(&self.0, request).await;
            let status = response.status();
            let body =
                serde_json::from_slice(response.body()).map_err(|_| ApiError::NotJson(status))?;
            Ok(ApiAnswer { status, body })
        })
    }
}
