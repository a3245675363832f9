//! How the console reaches the API: `GET` a path of the query API (what the pages read), or
//! `POST` one (the one action, publishing a message's events again); either way, its status and
//! JSON.

use std::future::Future;
use std::pin::Pin;

use http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// An answer of the query API: its status and its JSON body (an error answer included).
#[derive(Debug, Clone)]
pub struct ApiAnswer {
    pub status: StatusCode,
    pub body: Value,
}

pub type ApiFuture<'a> = Pin<Box<dyn Future<Output = Result<ApiAnswer, ApiError>> + Send + 'a>>;

/// The query API, however it is reached.
pub trait QueryApi: Send + Sync {
    /// `GET path_and_query` (`/messages/wamid.x`, `/stats?since=...`), percent-encoded.
    fn get<'a>(&'a self, path_and_query: &'a str) -> ApiFuture<'a>;
    /// `POST path_and_query` without a body (`/replay/messages/wamid.x`).
    fn post<'a>(&'a self, path_and_query: &'a str) -> ApiFuture<'a>;
}

/// The query API gave no answer to read.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the query API could not be reached: {0}")]
    Unreachable(String),
    #[error("the query API answered HTTP {0} with a body that is not JSON")]
    NotJson(StatusCode),
    #[error("the call to the query API could not be signed: {0}")]
    Signing(String),
}

/// Why a page could not get what it reads.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The API's own error answer (`{"error": {"code", "message"}}`), passed on to the reader.
    #[error("{message}")]
    Refused {
        status: StatusCode,
        code: String,
        message: String,
    },
    #[error("the query API's answer has an unexpected shape: {0}")]
    Shape(String),
}

impl FetchError {
    /// The status a page answers with when it cannot be shown: the API's own refusals (404,
    /// 400) as they are, anything else as a bad gateway.
    pub fn status(&self) -> StatusCode {
        match self {
            FetchError::Refused { status, .. } => *status,
            _ => StatusCode::BAD_GATEWAY,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, FetchError::Refused { status, .. } if *status == StatusCode::NOT_FOUND)
    }
}

/// `GET path` and read a success answer as `T`.
pub async fn fetch<T: DeserializeOwned>(api: &dyn QueryApi, path: &str) -> Result<T, FetchError> {
    let ApiAnswer { status, body } = api.get(path).await?;
    if !status.is_success() {
        let text = |field: &str| body["error"][field].as_str().unwrap_or_default().to_owned();
        return Err(FetchError::Refused {
            status,
            code: text("code"),
            message: match text("message") {
                message if message.is_empty() => format!("the query API answered HTTP {status}"),
                message => message,
            },
        });
    }
    serde_json::from_value(body).map_err(|e| FetchError::Shape(e.to_string()))
}
