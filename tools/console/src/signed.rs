//! The query API of a deployed stack, behind API Gateway's IAM authorization: each call signed
//! with SigV4 (service `execute-api`) with the operator's own credentials and region, found the
//! way the AWS CLI finds them (environment, profile, SSO, instance role).

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4::SigningParams;
use http::StatusCode;

use crate::api::{ApiAnswer, ApiError, ApiFuture, QueryApi};

/// Bound on one call, answer included; API Gateway itself gives up after 29 s.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

pub struct SignedApi {
    /// The stack's `ApiUrl`, without a trailing slash.
    base: String,
    region: String,
    credentials: SharedCredentialsProvider,
    client: reqwest::Client,
}

#[derive(Debug, thiserror::Error)]
pub enum SignedApiError {
    #[error(
        "no AWS credentials were found (set AWS_PROFILE, or run `aws configure` / `aws sso login`)"
    )]
    NoCredentials,
    #[error("no AWS region was found (set AWS_REGION, or a region in the profile)")]
    NoRegion,
    #[error("the API URL must start with https:// (or http:// to a loopback host): {0}")]
    Url(String),
    #[error("the HTTP client cannot be built: {0}")]
    Client(String),
}

impl SignedApi {
    /// With the credentials and region of the default chain.
    pub async fn from_environment(api_url: &str) -> Result<Self, SignedApiError> {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let credentials = config
            .credentials_provider()
            .ok_or(SignedApiError::NoCredentials)?;
        let region = config.region().ok_or(SignedApiError::NoRegion)?;
        Self::new(api_url, region.as_ref(), credentials)
    }

    pub fn new(
        api_url: &str,
        region: &str,
        credentials: SharedCredentialsProvider,
    ) -> Result<Self, SignedApiError> {
        let base = api_url.trim_end_matches('/').to_owned();
        let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"];
        if !base.starts_with("https://") && !loopback.iter().any(|p| base.starts_with(p)) {
            return Err(SignedApiError::Url(base));
        }
        let client = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            // A redirect would carry the signed request elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SignedApiError::Client(e.to_string()))?;
        Ok(Self {
            base,
            region: region.to_owned(),
            credentials,
            client,
        })
    }

    /// The request with SigV4's headers added.
    async fn signed(&self, method: &str, url: &str) -> Result<reqwest::Request, ApiError> {
        let signing = |e: &dyn std::fmt::Display| ApiError::Signing(e.to_string());
        let credentials = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| signing(&e))?;
        let identity = credentials.into();
        let params = SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("execute-api")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| signing(&e))?
            .into();
        let signable =
            SignableRequest::new(method, url, std::iter::empty(), SignableBody::Bytes(&[]))
                .map_err(|e| signing(&e))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| signing(&e))?
            .into_parts();
        let mut request = http::Request::builder()
            .method(method)
            .uri(url)
            .body(Vec::new())
            .map_err(|e| signing(&e))?;
        instructions.apply_to_request_http1x(&mut request);
        reqwest::Request::try_from(request).map_err(|e| signing(&e))
    }
}

impl SignedApi {
    async fn call(&self, method: &str, path_and_query: &str) -> Result<ApiAnswer, ApiError> {
        let url = format!("{}{path_and_query}", self.base);
        let request = self.signed(method, &url).await?;
        let response = self.client.execute(request).await.map_err(unreachable)?;
        let status =
            StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        let bytes = response.bytes().await.map_err(unreachable)?;
        let body = serde_json::from_slice(&bytes).map_err(|_| ApiError::NotJson(status))?;
        Ok(ApiAnswer { status, body })
    }
}

impl QueryApi for SignedApi {
    fn get<'a>(&'a self, path_and_query: &'a str) -> ApiFuture<'a> {
        Box::pin(self.call("GET", path_and_query))
    }

    fn post<'a>(&'a self, path_and_query: &'a str) -> ApiFuture<'a> {
        Box::pin(self.call("POST", path_and_query))
    }
}

/// reqwest's error with its causes (which say what failed: DNS, connect, TLS, timeout), without
/// the URL, which the page shows already.
fn unreachable(error: reqwest::Error) -> ApiError {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    ApiError::Unreachable(text)
}
