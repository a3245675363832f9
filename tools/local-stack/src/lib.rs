//! The local stack: the project's routes on one HTTP server, running the very handlers the
//! Lambdas run (`shared::http`), on the embedded store or on a DynamoDB-compatible endpoint.
//! New events can be printed or POSTed as the EventBridge events AWS would publish
//! ([`Downstream`]). On DynamoDB, a fallback queue can take the deliveries the store refuses,
//! and the stack drains it itself ([`FallbackQueue`]). The web console is at `/console`, behind
//! the admin token.

mod console_query;
mod downstream;
mod drain;

pub use downstream::Downstream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use shared::auth::access_tokens::{AccessTokens, SigningKey};
use shared::auth::oauth::{ConfiguredClient, DEFAULT_TOKEN_LIFETIME_SECS, TokenService};
use shared::auth::revocation::Revocations;
use shared::auth::{Authenticator, StaticTokens, TrustedIssuers};
use shared::domain::oauth::GrantType;
use shared::fallback::Fallback;
use shared::fallback::sqs::SqsQueue;
use shared::http::erasure::{Erasure, erase};
use shared::http::manage::{Management, manage};
use shared::http::oauth::token_endpoint;
use shared::http::query::{Query, query};
use shared::http::receiver::{Receiver, receive};
use shared::http::replay::replay;
use shared::http::{ApiError, Body, Request, Response, authorization, unreadable_body};
use shared::ingest::Drain;
use shared::insider::{InsiderClient, InsiderSettings};
use shared::replay::Replay;
use shared::store::dynamo::{DynamoStore, RawBucket};
use shared::store::embedded::EmbeddedStore;
use shared::store::{ClientStore, EraseContact, ReadEvents, StoreError, WriteEvents};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// API Gateway refuses bodies above 10 MB before any Lambda runs; so does the local stack.
const GATEWAY_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// Bound on each call that creates the DynamoDB table (and its indexes) at start-up.
const TABLE_SETUP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub enum StoreChoice {
    /// The embedded SQLite store in this folder.
    Embedded(PathBuf),
    /// A DynamoDB-compatible endpoint (DynamoDB Local); the table is created when missing.
    Dynamo {
        endpoint: String,
        table: String,
        /// The S3 bucket for raw fragments too large for an item (the S3 endpoint from
        /// `AWS_ENDPOINT_URL_S3`, e.g. moto's); without it such an event is refused.
        raw_bucket: Option<String>,
        /// Where deliveries go that the store cannot take for a reason a retry may cure.
        fallback_queue: Option<FallbackQueue>,
    },
}

/// An SQS queue at an SQS-compatible endpoint (moto's), as `FALLBACK_QUEUE_URL` is in Lambda:
/// the receiver parks deliveries there when DynamoDB fails, and the stack drains it, as the
/// `fallback-drain` Lambda does in AWS.
#[derive(Debug, Clone)]
pub struct FallbackQueue {
    pub url: String,
    pub endpoint: String,
    /// Bound on parking one delivery, retries included (`FALLBACK_BUDGET_MS` in Lambda).
    pub budget: Duration,
}

/// Bound on one receive of the drain (a long poll of a second, and its answer).
const DRAIN_RECEIVE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub store: StoreChoice,
    pub retention: Duration,
    /// Bound on one store call, as `STORE_TIMEOUT_MS` is in Lambda.
    pub store_timeout: Duration,
    /// Bound on storing one delivery, as `STORE_BUDGET_MS` is in Lambda.
    pub store_budget: Duration,
    /// Largest webhook body accepted, as `MAX_BODY_BYTES` is in Lambda.
    pub max_body_bytes: usize,
    pub webhook_tokens: Vec<String>,
    pub admin_token: String,
    /// The one OAuth client of the local token endpoint, allowed both grants.
    pub oauth_client_id: String,
    pub oauth_client_secret: String,
    /// Where newly stored events go besides the store.
    pub downstream: Downstream,
    /// The key access tokens are signed with; when `None`, a new one at every start, so tokens
    /// issued before a restart stop working, as after a key rotation.
    pub signing_key: Option<SigningKey>,
    /// External OAuth issuers whose access tokens the receiver accepts too, as
    /// `TRUSTED_ISSUERS` in Lambda, and the audience their tokens must carry.
    pub trusted_issuers: Vec<String>,
    pub trusted_audience: Option<String>,
}

/// How the `/manage/...` routes reach Insider One (or a simulator of it).
#[derive(Debug, Clone, Default)]
pub struct ManagementConfig {
    pub insider: InsiderSettings,
    /// The URL left-out webhook and token URLs default to; by default each request's own
    /// (`http://127.0.0.1:PORT` locally), which is what a simulator on this machine can reach.
    pub public_base_url: Option<String>,
}

struct Routes {
    receiver: Receiver,
    query: Arc<Query>,
    replay: Arc<Replay>,
    erasure: Erasure,
    console: console::Console,
    tokens: TokenService,
    manage: Management,
    admin: Authenticator,
}

struct Stores {
    writer: Arc<dyn WriteEvents>,
    reader: Arc<dyn ReadEvents>,
    eraser: Arc<dyn EraseContact>,
    clients: Arc<dyn ClientStore>,
}

/// A running local stack; dropping it stops the server.
pub struct LocalStack {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    server: Option<tokio::task::JoinHandle<()>>,
    drain: Option<tokio::task::JoinHandle<()>>,
}

impl LocalStack {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections (and draining the fallback queue) and waits for the tasks
    /// to end.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        for task in [self.server.take(), self.drain.take()]
            .into_iter()
            .flatten()
        {
            let _ = task.await;
        }
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Starts with the `/manage/...` routes pointed at Insider One's production hosts without
/// credentials; see [`start_with`] to give them.
pub async fn start(config: Config) -> Result<LocalStack, StartError> {
    start_with(config, ManagementConfig::default()).await
}

pub async fn start_with(
    config: Config,
    management: ManagementConfig,
) -> Result<LocalStack, StartError> {
    let stores = open_store(&config).await?;
    let insider =
        InsiderClient::new(management.insider).map_err(|e| StartError::Insider(e.to_string()))?;
    let oauth_client = ConfiguredClient {
        client_id: config.oauth_client_id.clone(),
        client_secret: config.oauth_client_secret.clone(),
        grants: vec![GrantType::ClientCredentials, GrantType::RefreshToken],
        scopes: ["webhook.write", "whatsapp.write", "whatsapp.read"]
            .map(String::from)
            .to_vec(),
        token_lifetime_secs: DEFAULT_TOKEN_LIFETIME_SECS,
        // As Insider One expects: it presents the same refresh token at every refresh.
        rotate_refresh_tokens: false,
    }
    .into_client()
    .map_err(StartError::OAuth)?;
    let signing_key = config
        .signing_key
        .clone()
        .unwrap_or_else(|| SigningKey::generate("local"));
    let (issuer, audience) = shared::config::token_names();
    let access_tokens = |key: SigningKey| {
        AccessTokens::new(vec![key], issuer.clone(), audience.clone())
            .map_err(|e| StartError::OAuth(e.to_string()))
    };
    let trusted_issuers = if config.trusted_issuers.is_empty() {
        None
    } else {
        let audience = config.trusted_audience.clone().unwrap_or_default();
        let issuers = TrustedIssuers::new(&config.trusted_issuers, audience)
            .map_err(|e| StartError::TrustedIssuers(e.to_string()))?;
        Some(Arc::new(issuers))
    };
    let mut receiver_auth = Authenticator::new();
    // First, so that a refusal of an external issuer's token is the one the caller reads.
    if let Some(issuers) = &trusted_issuers {
        receiver_auth = receiver_auth.with(Arc::clone(issuers));
    }
    let publishers = config
        .downstream
        .publishers()
        .map_err(|e| StartError::Downstream(e.to_string()))?;
    let writer = downstream::around(stores.writer, publishers.clone());
    let fallback_queue = match &config.store {
        StoreChoice::Dynamo { fallback_queue, .. } => fallback_queue.clone(),
        StoreChoice::Embedded(_) => None,
    };
    let fallback = fallback_queue.as_ref().map(|queue| Fallback {
        queue: Arc::new(SqsQueue::new(
            shared::config::endpoint_sqs_client(&queue.endpoint, queue.budget),
            &queue.url,
        )),
        budget: queue.budget,
    });
    let drain = Drain {
        store: Arc::clone(&writer),
        budget: shared::config::DEFAULT_DRAIN_BUDGET,
    };
    let query_routes = Arc::new(Query {
        store: Arc::clone(&stores.reader),
    });
    let replay_routes = Arc::new(Replay {
        store: stores.reader,
        publishers,
    });
    let routes = Arc::new(Routes {
        receiver: Receiver {
            store: writer,
            auth: receiver_auth
                .with(StaticTokens::new(&config.webhook_tokens))
                .with(
                    access_tokens(signing_key.clone())?
                        .with_revocations(Revocations::new(Arc::clone(&stores.clients))),
                ),
            max_body_bytes: config.max_body_bytes,
            store_budget: config.store_budget,
            fallback,
        },
        console: console::Console::new(
            Arc::new(console_query::InProcessApi {
                query: Arc::clone(&query_routes),
                replay: Arc::clone(&replay_routes),
            }),
            console::Access::Token(config.admin_token.clone()),
        ),
        query: query_routes,
        replay: replay_routes,
        erasure: Erasure {
            store: stores.eraser,
        },
        // Minted credentials go to the store the token endpoint reads, so Insider One (or the
        // simulator) can use them at once.
        manage: Management {
            insider: Arc::new(insider),
            clients: Arc::clone(&stores.clients),
            public_base_url: management.public_base_url,
            accepts_bearer_key: Some({
                let tokens = StaticTokens::new(&config.webhook_tokens);
                Arc::new(move |key: &str| tokens.accepts(key))
            }),
            trusted_issuers,
        },
        tokens: TokenService {
            configured: vec![oauth_client],
            store: stores.clients,
            tokens: access_tokens(signing_key)?,
        },
        admin: Authenticator::new().with(StaticTokens::new([&config.admin_token])),
    });
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| StartError::Listen(config.listen, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Listen(config.listen, e))?;
    let (shutdown, mut stopped) = watch::channel(false);
    let drain = fallback_queue.map(|queue| {
        let sqs = shared::config::endpoint_sqs_client(&queue.endpoint, DRAIN_RECEIVE_TIMEOUT);
        drain::spawn(sqs, queue.url, drain, stopped.clone())
    });
    let server = tokio::spawn(async move {
        loop {
            let (stream, _) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(connection) => connection,
                    Err(error) => {
                        tracing::warn!(%error, "accept failed");
                        continue;
                    }
                },
                _ = stopped.changed() => return,
            };
            let routes = Arc::clone(&routes);
            let mut stopped = stopped.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let routes = Arc::clone(&routes);
                    async move { Ok::<_, std::convert::Infallible>(handle(&routes, request).await) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                tokio::pin!(connection);
                tokio::select! {
                    _ = connection.as_mut() => {}
                    _ = stopped.changed() => connection.as_mut().graceful_shutdown(),
                }
            });
        }
    });
    Ok(LocalStack {
        addr,
        shutdown,
        server: Some(server),
        drain,
    })
}

#[derive(Debug)]
pub enum StartError {
    Store(StoreError),
    OAuth(String),
    Insider(String),
    Downstream(String),
    TrustedIssuers(String),
    Listen(SocketAddr, std::io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Store(e) => write!(f, "the store could not be opened: {e}"),
            StartError::OAuth(e) => write!(f, "the OAuth client is not valid: {e}"),
            StartError::Insider(e) => write!(f, "the Insider One client cannot be built: {e}"),
            StartError::Downstream(e) => write!(f, "new events cannot be published: {e}"),
            StartError::TrustedIssuers(e) => write!(f, "the trusted issuers are not valid: {e}"),
            StartError::Listen(addr, e) => write!(f, "cannot listen on {addr}: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

async fn open_store(config: &Config) -> Result<Stores, StartError> {
    fn stores<S: WriteEvents + ReadEvents + EraseContact + ClientStore + Clone + 'static>(
        store: S,
    ) -> Stores {
        Stores {
            writer: Arc::new(store.clone()),
            reader: Arc::new(store.clone()),
            eraser: Arc::new(store.clone()),
            clients: Arc::new(store),
        }
    }
    match &config.store {
        StoreChoice::Embedded(dir) => {
            let store = EmbeddedStore::open(dir, config.retention).map_err(StartError::Store)?;
            Ok(stores(store))
        }
        StoreChoice::Dynamo {
            endpoint,
            table,
            raw_bucket,
            ..
        } => {
            // Creating a table takes a busy DynamoDB Local longer than a delivery may wait, so
            // the start-up is bounded on its own and only the store that serves requests keeps
            // the delivery's bound.
            let store = |timeout| {
                let client = shared::config::endpoint_dynamo_client(endpoint, timeout);
                DynamoStore::new(client, table.clone(), config.retention)
            };
            store(TABLE_SETUP_TIMEOUT)
                .create_table_if_missing()
                .await
                .map_err(StartError::Store)?;
            let serving = store(config.store_timeout);
            Ok(match raw_bucket {
                Some(bucket) => {
                    // Never AWS's own S3 from a local stack: only an endpoint named for it.
                    if std::env::var("AWS_ENDPOINT_URL_S3")
                        .map_or(true, |url| url.trim().is_empty())
                    {
                        return Err(StartError::Store(StoreError::Unavailable(format!(
                            "--raw-bucket {bucket} needs AWS_ENDPOINT_URL_S3, the local S3 endpoint to keep raw fragments at (moto's, MinIO's, ...)"
                        ))));
                    }
                    let sdk = shared::config::sdk_config()
                        .await
                        .map_err(|e| StartError::Store(StoreError::Unavailable(e.to_string())))?;
                    let s3 = shared::config::s3_client(&sdk);
                    stores(serving.with_raw_bucket(RawBucket::new(s3, bucket.clone())))
                }
                None => stores(serving),
            })
        }
    }
}

/// Routes as API Gateway does: the webhook routes authenticate themselves; the read-back,
/// management, replay and erasure routes sit behind IAM in AWS and behind the admin token here,
/// and so does the console (its login page takes the token, or a script sends it as a bearer
/// token). The family is the
/// first path segment, read as the handlers read paths (empty segments dropped), so that
/// `/events/` reaches the same route as `/messages/x/` does.
async fn handle(
    routes: &Routes,
    request: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let response = match into_lambda_request(request).await {
        Err(response) => response,
        Ok(request) => {
            let family = request
                .uri()
                .path()
                .split('/')
                .find(|segment| !segment.is_empty())
                .unwrap_or("");
            match family {
                "webhooks" => receive(&routes.receiver, request).await,
                "oauth" => token_endpoint(&routes.tokens, request).await,
                "contacts" if request.method() == http::Method::DELETE => {
                    as_admin(routes, request, |request| erase(&routes.erasure, request)).await
                }
                "messages" | "events" | "contacts" | "stats" | "stalled" => {
                    as_admin(routes, request, |request| query(&routes.query, request)).await
                }
                "manage" => {
                    as_admin(routes, request, |request| manage(&routes.manage, request)).await
                }
                "replay" => {
                    as_admin(routes, request, |request| replay(&routes.replay, request)).await
                }
                "console" => {
                    let (parts, body) = request.into_parts();
                    let request = http::Request::from_parts(parts, Bytes::from(body.to_vec()));
                    console::handle(&routes.console, request)
                        .await
                        .map(|body| Body::Binary(body.to_vec()))
                }
                _ => ApiError::not_found().into_response(),
            }
        }
    };
    let (parts, body) = response.into_parts();
    hyper::Response::from_parts(parts, Full::new(Bytes::from(body.to_vec())))
}

/// Runs `handler` for callers with the admin token, which stands in locally for API Gateway's
/// IAM authorization.
async fn as_admin<F>(
    routes: &Routes,
    request: Request,
    handler: impl FnOnce(Request) -> F,
) -> Response
where
    F: std::future::Future<Output = Response>,
{
    match routes
        .admin
        .authenticate(authorization(&request).as_deref())
        .await
    {
        Ok(_) => handler(request).await,
        Err(error) => ApiError::from(error).into_response(),
    }
}

async fn into_lambda_request(request: hyper::Request<Incoming>) -> Result<Request, Response> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is over {GATEWAY_MAX_BODY_BYTES} bytes, the API Gateway limit"),
        )
        .into_response()
    };
    // A declared length over the limit is refused before a byte of the body is read.
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > GATEWAY_MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let bytes = Limited::new(body, GATEWAY_MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|error| {
            if error.is::<LengthLimitError>() {
                too_large()
            } else {
                // Cut short or badly chunked: the client's framing, not its size.
                unreadable_body(&path, &format!("the body could not be read: {error}"))
            }
        })?
        .to_bytes();
    let body = if bytes.is_empty() {
        Body::Empty
    } else {
        Body::Binary(bytes.to_vec())
    };
    Ok(Request::from_parts(parts, body))
}
