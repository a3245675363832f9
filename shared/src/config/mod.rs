//! What a Lambda reads once per cold start: environment variables, secrets, SDK clients.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `TABLE_NAME` | the DynamoDB table | required |
//! | `EVENT_RETENTION_DAYS` | TTL of stored items | 90 |
//! | `STORE_TIMEOUT_MS` | bound on one DynamoDB call, retries included | 3000 |
//! | `STORE_BUDGET_MS` | bound on storing one delivery, all its DynamoDB calls together | receiver: 8000, less `FALLBACK_BUDGET_MS` with a fallback queue; drain: 15000 |
//! | `FALLBACK_QUEUE_URL` | SQS queue the receiver parks a delivery in when DynamoDB refuses it for a reason a retry may cure (throttled, unavailable, too slow); `fallback-drain` stores them | — (such a delivery is answered 503) |
//! | `FALLBACK_BUDGET_MS` | bound on parking one delivery, retries included | 2000 |
//! | `MAX_BODY_BYTES` | largest webhook body accepted | 1 MiB |
//! | `RAW_BUCKET` | S3 bucket for raw fragments too large for a DynamoDB item (receiver, query) | — (such an event is refused) |
//! | `WEBHOOK_TOKENS_SECRET` | Secrets Manager secret (name or ARN) with the webhook bearer tokens (receiver; settings functions, which refuse to register a key the receiver would refuse) | — |
//! | `WEBHOOK_TOKENS_PARAMETER` | or: SSM SecureString parameter with them | — |
//! | `OAUTH_SIGNING_KEYS_SECRET` | Secrets Manager secret with the access-token signing keys | — (token endpoint: required) |
//! | `OAUTH_CLIENTS_SECRET` | Secrets Manager secret with the configured OAuth clients | — |
//! | `OAUTH_ISSUER`, `OAUTH_AUDIENCE` | `iss` and `aud` of access tokens | `insider-webhooks`, `insider-webhooks-receiver` |
//! | `TRUSTED_ISSUERS` | external OAuth issuers whose access tokens the receiver accepts, comma-separated URLs (https; plain http only to a loopback host); the management functions accept their token endpoints as `tokenUrl` | — |
//! | `TRUSTED_AUDIENCE` | the `aud` (or, without one, the `client_id`) those tokens must carry; required with `TRUSTED_ISSUERS` | — |
//! | `INSIDER_CREDENTIALS_SECRET` | Secrets Manager secret with our Insider One credentials (management Lambdas) | — |
//! | `INSIDER_CLIENT_ID`, `INSIDER_CLIENT_SECRET`, `INSIDER_INS_AUTH_KEY` | or: those credentials in the environment (local use) | — |
//! | `INSIDER_GATEWAY_URL`, `INSIDER_WHATSAPP_URL` | Insider One's hosts: https (plain http only to a loopback host); redirects are never followed | `https://gw.useinsider.com`, `https://whatsapp.useinsider.com` |
//! | `INSIDER_TIMEOUT_MS`, `INSIDER_CONNECT_TIMEOUT_MS` | bound on one call to Insider One (one attempt), and on connecting | 10000, 3000 |
//! | `INSIDER_MAX_ATTEMPTS` | attempts of an idempotent call (list, update, delete) on 429, 5xx or a dropped connection | 3 |
//! | `INSIDER_REQUEST_BUDGET_MS` | bound on all the Insider One calls of one management request together | 25000 |
//! | `PUBLIC_BASE_URL` | this deployment's public URL, which left-out webhook and token URLs default to | the request's own |
//! | `EVENT_BUS_NAME` | the EventBridge bus (name or ARN) new events are published to | required by `event-publisher` and `event-replay` |
//! | `EVENT_SOURCE` | the `source` of the published events | `insider.webhooks` |
//! | `STALLED_HOURS` | hours without a delivery report after which `stalled-count` counts a message | 24 |
//!
//! A token secret holds one token, a JSON array of tokens, `{"tokens": [...]}`, or one token per
//! line; several tokens are accepted at once so they can be rotated.
//!
//! The signing keys secret is `{"keys": [{"kid": "2026-11", "secret": "<base64, 32+ bytes>"}, ...]}`:
//! the first key signs, all of them verify, so a new key goes first and the old one is removed
//! once the longest token lifetime has passed. The clients secret is a JSON array of
//! `{"client_id", "client_secret", "grants"?, "scopes"?, "token_lifetime_secs"?, "rotate_refresh_tokens"?}`.

#[cfg(feature = "secrets")]
mod secrets;

#[cfg(feature = "secrets")]
pub use secrets::insider_credentials;
#[cfg(feature = "secrets")]
pub use secrets::{parse_clients, parse_signing_keys, parse_token_list};

use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig, timeout::TimeoutConfig};
use aws_sdk_dynamodb::config::SharedCredentialsProvider;

use crate::auth::TrustedIssuers;
use crate::auth::trusted_issuers::IssuerError;
use crate::http::query::Query;
use crate::http::receiver::MIN_STORE_BUDGET;
use crate::ingest::Drain;
use crate::insider::{Credentials, InsiderSettings, RetryPolicy};
use crate::store::dynamo::{DynamoStore, RawBucket};
// What the functions that read secrets at a cold start are made of.
#[cfg(feature = "secrets")]
use crate::{
    auth::oauth::TokenService,
    auth::revocation::Revocations,
    auth::{Authenticator, StaticTokens},
    fallback::sqs::SqsQueue,
    fallback::{DEFAULT_FALLBACK_BUDGET, Fallback},
    http::receiver::{DEFAULT_MAX_BODY_BYTES, Receiver, default_store_budget},
    insider::{ClientBuildError, InsiderClient},
};
#[cfg(feature = "secrets")]
use secrets::{access_tokens, read_secret, webhook_tokens};

pub const DEFAULT_RETENTION_DAYS: u64 = 90;
/// How long init may spend opening the DynamoDB connection (a handshake in-region takes a few
/// milliseconds).
const WARM_UP_LIMIT: Duration = Duration::from_millis(500);
/// The `source` of downstream events unless `EVENT_SOURCE` says otherwise.
pub const DEFAULT_EVENT_SOURCE: &str = "insider.webhooks";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is not valid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error(
        "no access-token signing key: set OAUTH_SIGNING_KEYS_SECRET to a secret holding at least one key"
    )]
    NoSigningKey,
    #[error("secret {name} could not be read: {reason}")]
    Secret { name: String, reason: String },
}

/// Dependencies of the webhook receiver Lambda.
#[cfg(feature = "secrets")]
pub async fn receiver() -> Result<Receiver, ConfigError> {
    let sdk = sdk_config().await?;
    // Independent round trips: made at once, init waits for the slowest instead of the sum.
    let (tokens, access_tokens, store) =
        tokio::try_join!(webhook_tokens(&sdk), access_tokens(&sdk), event_store(&sdk))?;
    let mut auth = Authenticator::new();
    // First, so that a refusal of an external issuer's token is the one the caller reads.
    if let Some(trusted) = trusted_issuers()? {
        auth = auth.with(trusted);
    }
    if !tokens.is_empty() {
        auth = auth.with(StaticTokens::new(tokens));
    }
    if let Some(access_tokens) = access_tokens {
        // The client store is the event table: a minted client's tokens are checked there.
        let clients: std::sync::Arc<dyn crate::store::ClientStore> =
            std::sync::Arc::new(store.clone());
        auth = auth.with(access_tokens.with_revocations(Revocations::new(clients)));
    }
    if !auth.is_configured() {
        tracing::error!(
            "no webhook credentials are configured (WEBHOOK_TOKENS_SECRET, WEBHOOK_TOKENS_PARAMETER or OAUTH_SIGNING_KEYS_SECRET): every delivery is refused"
        );
    }
    let fallback = fallback(&sdk)?;
    let default_budget = default_store_budget(fallback.as_ref().map(|f| f.budget));
    Ok(Receiver {
        store: std::sync::Arc::new(store),
        auth,
        max_body_bytes: parse_env("MAX_BODY_BYTES")?.unwrap_or(DEFAULT_MAX_BODY_BYTES),
        store_budget: store_budget(default_budget)?,
        fallback,
    })
}

/// `STORE_BUDGET_MS`, or `default`; never below [`MIN_STORE_BUDGET`].
fn store_budget(default: Duration) -> Result<Duration, ConfigError> {
    let budget = parse_env("STORE_BUDGET_MS")?.map_or(default, Duration::from_millis);
    if budget < MIN_STORE_BUDGET {
        return Err(ConfigError::Invalid {
            name: "STORE_BUDGET_MS",
            reason: format!(
                "must be at least {} (milliseconds): below it every delivery would be answered 503",
                MIN_STORE_BUDGET.as_millis()
            ),
        });
    }
    Ok(budget)
}

/// The receiver's fallback queue (`FALLBACK_QUEUE_URL`), its SQS calls bounded by
/// `FALLBACK_BUDGET_MS`.
#[cfg(feature = "secrets")]
fn fallback(sdk: &SdkConfig) -> Result<Option<Fallback>, ConfigError> {
    let Some(url) = non_empty_env("FALLBACK_QUEUE_URL") else {
        return Ok(None);
    };
    let budget =
        parse_env("FALLBACK_BUDGET_MS")?.map_or(DEFAULT_FALLBACK_BUDGET, Duration::from_millis);
    let client = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(sdk)
            .timeout_config(timeouts(budget))
            .build(),
    );
    Ok(Some(Fallback {
        queue: std::sync::Arc::new(SqsQueue::new(client, url)),
        budget,
    }))
}

/// What the drain's `STORE_BUDGET_MS` defaults to: a parked delivery has no caller waiting, so
/// it may take longer than a delivery may.
pub const DEFAULT_DRAIN_BUDGET: Duration = Duration::from_secs(15);

/// Dependencies of the fallback queue's drain Lambda: the receiver's store (raw fragments too
/// large for an item included).
pub async fn drain() -> Result<Drain, ConfigError> {
    let sdk = sdk_config().await?;
    Ok(Drain {
        store: std::sync::Arc::new(event_store(&sdk).await?),
        budget: store_budget(DEFAULT_DRAIN_BUDGET)?,
    })
}

/// Dependencies of the OAuth 2.0 token endpoint Lambda.
#[cfg(feature = "secrets")]
pub async fn token_service() -> Result<TokenService, ConfigError> {
    let sdk = sdk_config().await?;
    let configured_clients = async {
        match std::env::var("OAUTH_CLIENTS_SECRET") {
            Ok(name) => parse_clients(&read_secret(&sdk, &name).await?)
                .map_err(|reason| ConfigError::Secret { name, reason }),
            Err(_) => Ok(Vec::new()),
        }
    };
    let (tokens, configured, store) = tokio::try_join!(
        access_tokens(&sdk),
        configured_clients,
        connected_dynamo_store(&sdk)
    )?;
    Ok(TokenService {
        configured,
        store: std::sync::Arc::new(store),
        tokens: tokens.ok_or(ConfigError::NoSigningKey)?,
    })
}

/// The external issuers of `TRUSTED_ISSUERS` with the audience of `TRUSTED_AUDIENCE`; `None`
/// when no issuer is set.
pub fn trusted_issuers() -> Result<Option<TrustedIssuers>, ConfigError> {
    let issuers: Vec<String> = non_empty_env("TRUSTED_ISSUERS")
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|url| !url.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if issuers.is_empty() {
        return Ok(None);
    }
    let audience = non_empty_env("TRUSTED_AUDIENCE").unwrap_or_default();
    TrustedIssuers::new(issuers, audience)
        .map(Some)
        .map_err(|error| ConfigError::Invalid {
            name: match error {
                IssuerError::NoAudience => "TRUSTED_AUDIENCE",
                _ => "TRUSTED_ISSUERS",
            },
            reason: error.to_string(),
        })
}

/// `iss` and `aud` of our access tokens, the same for the token endpoint and the receiver.
pub fn token_names() -> (String, String) {
    (
        std::env::var("OAUTH_ISSUER").unwrap_or_else(|_| "insider-webhooks".into()),
        std::env::var("OAUTH_AUDIENCE").unwrap_or_else(|_| "insider-webhooks-receiver".into()),
    )
}

/// Dependencies of the management Lambdas (`/manage/...`): the Insider One client, built once
/// so its connections are reused, and the client store credentials are minted into.
#[cfg(feature = "secrets")]
pub async fn management() -> Result<crate::management::Management, ConfigError> {
    let sdk = sdk_config().await?;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let credentials = insider_credentials(&secrets, process_env).await?;
    let client = InsiderClient::new(insider_settings(credentials)?).map_err(|e| {
        let name = match &e {
            ClientBuildError::InsecureUrl {
                setting: "whatsapp_url",
                ..
            } => "INSIDER_WHATSAPP_URL",
            _ => "INSIDER_GATEWAY_URL",
        };
        ConfigError::Invalid {
            name,
            reason: e.to_string(),
        }
    })?;
    // The functions that register bearer keys read the receiver's tokens, to refuse a key the
    // receiver would refuse; the others are not given them.
    let knows_tokens = ["WEBHOOK_TOKENS_SECRET", "WEBHOOK_TOKENS_PARAMETER"]
        .iter()
        .any(|name| std::env::var(name).is_ok());
    let accepts_bearer_key = if knows_tokens {
        let tokens = StaticTokens::new(webhook_tokens(&sdk).await?);
        let accepts: crate::management::AcceptsBearerKey =
            std::sync::Arc::new(move |key: &str| tokens.accepts(key));
        Some(accepts)
    } else {
        None
    };
    Ok(crate::management::Management {
        insider: std::sync::Arc::new(client),
        clients: std::sync::Arc::new(dynamo_store(&sdk)?),
        public_base_url: non_empty_env("PUBLIC_BASE_URL"),
        accepts_bearer_key,
        trusted_issuers: trusted_issuers()?.map(std::sync::Arc::new),
    })
}

/// Our Insider One credentials from `INSIDER_CLIENT_ID`, `INSIDER_CLIENT_SECRET` and
/// `INSIDER_INS_AUTH_KEY` in the process environment (the local stack).
pub fn insider_credentials_from_env() -> Credentials {
    insider_credentials_from(process_env)
}

pub(super) fn insider_credentials_from(env: impl Fn(&str) -> Option<String>) -> Credentials {
    Credentials {
        client_id: env("INSIDER_CLIENT_ID"),
        client_secret: env("INSIDER_CLIENT_SECRET"),
        ins_auth_key: env("INSIDER_INS_AUTH_KEY"),
    }
    .blank_as_unset()
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Hosts, timeouts and retries of the Insider One client, from the environment.
pub fn insider_settings(credentials: Credentials) -> Result<InsiderSettings, ConfigError> {
    let defaults = InsiderSettings::default();
    let millis = |name| parse_env::<u64>(name).map(|ms| ms.map(Duration::from_millis));
    let max_attempts =
        parse_env::<u32>("INSIDER_MAX_ATTEMPTS")?.unwrap_or(defaults.retry.max_attempts);
    if max_attempts == 0 {
        return Err(ConfigError::Invalid {
            name: "INSIDER_MAX_ATTEMPTS",
            reason: "must be at least 1".into(),
        });
    }
    let request_budget = millis("INSIDER_REQUEST_BUDGET_MS")?.unwrap_or(defaults.request_budget);
    if request_budget.is_zero() {
        return Err(ConfigError::Invalid {
            name: "INSIDER_REQUEST_BUDGET_MS",
            reason: "must be at least 1".into(),
        });
    }
    Ok(InsiderSettings {
        gateway_url: non_empty_env("INSIDER_GATEWAY_URL").unwrap_or(defaults.gateway_url),
        whatsapp_url: non_empty_env("INSIDER_WHATSAPP_URL").unwrap_or(defaults.whatsapp_url),
        credentials,
        timeout: millis("INSIDER_TIMEOUT_MS")?.unwrap_or(defaults.timeout),
        connect_timeout: millis("INSIDER_CONNECT_TIMEOUT_MS")?.unwrap_or(defaults.connect_timeout),
        retry: RetryPolicy {
            max_attempts,
            ..defaults.retry
        },
        request_budget,
    })
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Dependencies of the DynamoDB stream consumer that publishes new events to EventBridge.
#[cfg(feature = "eventbridge")]
pub async fn event_publisher() -> Result<crate::publish::stream::StreamPublisher, ConfigError> {
    let sdk = sdk_config().await?;
    Ok(crate::publish::stream::StreamPublisher {
        publisher: std::sync::Arc::new(event_bus(&sdk)?),
    })
}

/// Dependencies of the Lambda that counts stalled messages every hour (`STALLED_HOURS`).
pub async fn stalled_count() -> Result<crate::stalled::StalledCount, ConfigError> {
    let sdk = sdk_config().await?;
    Ok(crate::stalled::StalledCount {
        store: std::sync::Arc::new(connected_dynamo_store(&sdk).await?),
        hours: parse_env("STALLED_HOURS")?.unwrap_or(crate::stalled::DEFAULT_STALLED_HOURS),
        lookback: Duration::from_secs(86_400),
        budget: Duration::from_secs(50),
    })
}

/// Dependencies of the erasure Lambda: the event store with the raw fragments' bucket, whose
/// objects an erasure deletes.
pub async fn erasure() -> Result<crate::http::erasure::Erasure, ConfigError> {
    let sdk = sdk_config().await?;
    Ok(crate::http::erasure::Erasure {
        store: std::sync::Arc::new(event_store(&sdk).await?),
    })
}

/// Dependencies of the replay Lambda: the events as the query function reads them, and the bus.
#[cfg(feature = "eventbridge")]
pub async fn replay() -> Result<crate::replay::Replay, ConfigError> {
    let sdk = sdk_config().await?;
    Ok(crate::replay::Replay {
        store: std::sync::Arc::new(event_store(&sdk).await?),
        publishers: vec![std::sync::Arc::new(event_bus(&sdk)?)],
    })
}

/// The EventBridge bus new events go to (`EVENT_BUS_NAME`), as `EVENT_SOURCE`.
#[cfg(feature = "eventbridge")]
fn event_bus(
    sdk: &SdkConfig,
) -> Result<crate::publish::eventbridge::EventBridgePublisher, ConfigError> {
    let bus = non_empty_env("EVENT_BUS_NAME").ok_or(ConfigError::Missing("EVENT_BUS_NAME"))?;
    let source = non_empty_env("EVENT_SOURCE").unwrap_or_else(|| DEFAULT_EVENT_SOURCE.into());
    Ok(crate::publish::eventbridge::EventBridgePublisher::new(
        aws_sdk_eventbridge::Client::new(sdk),
        bus,
        source,
    ))
}

/// Dependencies of the read-back Lambda.
pub async fn query() -> Result<Query, ConfigError> {
    let sdk = sdk_config().await?;
    Ok(Query {
        store: std::sync::Arc::new(event_store(&sdk).await?),
    })
}

/// Shared SDK settings; every call is bounded so a slow store answers 503 well before the
/// Lambda's own timeout.
pub async fn sdk_config() -> Result<SdkConfig, ConfigError> {
    let timeout = Duration::from_millis(parse_env("STORE_TIMEOUT_MS")?.unwrap_or(3000));
    Ok(aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts(timeout))
        .load()
        .await)
}

/// SDK settings for an AWS-compatible endpoint outside AWS (DynamoDB Local, moto's SQS), with
/// the same timeouts as in Lambda and placeholder credentials, which such endpoints do not
/// check.
pub fn endpoint_sdk_config(endpoint: &str, timeout: Duration) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(
            aws_sdk_dynamodb::config::Credentials::new("local", "local", None, None, "endpoint"),
        ))
        .timeout_config(timeouts(timeout))
        .build()
}

/// A DynamoDB client for a DynamoDB-compatible endpoint (see [`endpoint_sdk_config`]).
pub fn endpoint_dynamo_client(endpoint: &str, timeout: Duration) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&endpoint_sdk_config(endpoint, timeout))
}

/// An SQS client for an SQS-compatible endpoint (see [`endpoint_sdk_config`]).
pub fn endpoint_sqs_client(endpoint: &str, timeout: Duration) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&endpoint_sdk_config(endpoint, timeout))
}

fn timeouts(total: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(500))
        .operation_attempt_timeout(total / 2)
        .operation_timeout(total)
        .build()
}

pub fn dynamo_store(sdk: &SdkConfig) -> Result<DynamoStore, ConfigError> {
    Ok(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        table_name()?,
        retention()?,
    ))
}

/// The store of a function on the webhook path, its connection opened during init: resolving
/// credentials and the TCP and TLS handshakes with DynamoDB then happen in the init phase (which
/// runs before any caller waits) instead of inside the first request.
pub async fn connected_dynamo_store(sdk: &SdkConfig) -> Result<DynamoStore, ConfigError> {
    let table = table_name()?;
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let started = std::time::Instant::now();
    // DescribeTable reads no item, so a write-only function may make it too. Bounded on its
    // own: a store that does not answer at once is better waited for by a request, which
    // answers 503 and gets retried, than by a function stuck in init.
    let warm_up = client.describe_table().table_name(&table).send();
    match tokio::time::timeout(WARM_UP_LIMIT, warm_up).await {
        Ok(Ok(_)) => tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "DynamoDB connection opened"
        ),
        // A cold connection costs the first request some milliseconds, nothing more: never
        // fail init for it.
        Ok(Err(error)) => tracing::warn!(
            error = %aws_sdk_dynamodb::error::DisplayErrorContext(&error),
            "could not open the DynamoDB connection during init; the first request will"
        ),
        Err(_) => tracing::warn!(
            limit_ms = WARM_UP_LIMIT.as_millis() as u64,
            "DynamoDB did not answer during init; the first request will open the connection"
        ),
    }
    Ok(DynamoStore::new(client, table, retention()?))
}

/// The store of a function that writes, reads or erases events' raw fragments (the receiver, the
/// drain, the query, replay and erasure functions), with the bucket of those too large for an
/// item (`RAW_BUCKET`). Only these link the S3 client.
async fn event_store(sdk: &SdkConfig) -> Result<DynamoStore, ConfigError> {
    let store = connected_dynamo_store(sdk).await?;
    Ok(match non_empty_env("RAW_BUCKET") {
        Some(bucket) => store.with_raw_bucket(RawBucket::new(s3_client(sdk), bucket)),
        None => store,
    })
}

/// An S3 client; path-style addressing, which S3 serves too, so that an endpoint outside AWS
/// (`AWS_ENDPOINT_URL_S3`, moto in the tests) works without a host per bucket.
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

fn table_name() -> Result<String, ConfigError> {
    std::env::var("TABLE_NAME").map_err(|_| ConfigError::Missing("TABLE_NAME"))
}

pub fn retention() -> Result<Duration, ConfigError> {
    let days = parse_env::<u64>("EVENT_RETENTION_DAYS")?.unwrap_or(DEFAULT_RETENTION_DAYS);
    if days == 0 {
        return Err(ConfigError::Invalid {
            name: "EVENT_RETENTION_DAYS",
            reason: "must be at least 1".into(),
        });
    }
    Ok(Duration::from_secs(days * 86_400))
}

fn parse_env<T: std::str::FromStr>(name: &'static str) -> Result<Option<T>, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Err(_) => Ok(None),
        Ok(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|e: T::Err| ConfigError::Invalid {
                name,
                reason: e.to_string(),
            }),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_placeholder_insider_credentials_read_as_not_configured() {
        let placeholder: crate::insider::Credentials =
            serde_json::from_str(r#"{"client_id": "", "client_secret": " ", "ins_auth_key": ""}"#)
                .unwrap();
        let credentials = placeholder.blank_as_unset();
        assert!(credentials.client_id.is_none());
        assert!(credentials.client_secret.is_none());
        assert!(credentials.ins_auth_key.is_none());
    }
}
