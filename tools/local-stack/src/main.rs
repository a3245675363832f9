//! `cargo run --profile local -p local-stack`: every route on 127.0.0.1:3000, no AWS account needed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use local_stack::{Config, Downstream, FallbackQueue, ManagementConfig, StoreChoice};
use shared::auth::generate_token;
use shared::auth::oauth::SecretTooShort;
use shared::fallback::DEFAULT_FALLBACK_BUDGET;
use shared::http::receiver::{MIN_STORE_BUDGET, default_store_budget};

/// `--store-budget-ms` takes no less, as in Lambda.
const MIN_STORE_BUDGET_MS: u64 = MIN_STORE_BUDGET.as_millis() as u64;

#[derive(Parser)]
#[command(about = "Runs the Insider One webhook receiver and its read-back routes locally")]
struct Args {
    /// Port to listen on (on 127.0.0.1 unless --host says otherwise).
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// Folder of the embedded store.
    #[arg(long, default_value = "./.local-stack")]
    data_dir: PathBuf,
    /// Use this DynamoDB-compatible endpoint (e.g. DynamoDB Local) instead of the embedded store.
    #[arg(long)]
    dynamodb_endpoint: Option<String>,
    /// Table to use (and create when missing) with --dynamodb-endpoint.
    #[arg(long, default_value = "insider-webhooks-local")]
    table: String,
    /// With --dynamodb-endpoint: the S3 bucket for raw fragments too large for a DynamoDB item
    /// at the S3 endpoint AWS_ENDPOINT_URL_S3 names (required); without it such an event is
    /// refused.
    #[arg(long, env = "RAW_BUCKET", requires = "dynamodb_endpoint")]
    raw_bucket: Option<String>,
    /// With --dynamodb-endpoint: park the deliveries DynamoDB refuses for a reason a retry may
    /// cure (throttled, unavailable, too slow) in this SQS queue, and drain it into the table,
    /// as the receiver and the fallback-drain Lambda do in AWS. The SQS endpoint comes from
    /// AWS_ENDPOINT_URL_SQS (required: moto's, ElasticMQ's, ...).
    #[arg(
        long,
        env = "FALLBACK_QUEUE_URL",
        value_name = "URL",
        requires = "dynamodb_endpoint"
    )]
    fallback_queue_url: Option<String>,
    /// Bound on parking one delivery in that queue, retries included, as in Lambda.
    #[arg(long, env = "FALLBACK_BUDGET_MS", default_value_t = DEFAULT_FALLBACK_BUDGET.as_millis() as u64)]
    fallback_budget_ms: u64,
    #[arg(skip = std::env::var("AWS_ENDPOINT_URL_SQS").ok().filter(|url| !url.trim().is_empty()))]
    sqs_endpoint: Option<String>,
    /// Days stored events are kept.
    #[arg(long, default_value_t = shared::config::DEFAULT_RETENTION_DAYS)]
    retention_days: u64,
    /// Bound on one DynamoDB call, retries included (with --dynamodb-endpoint), as in Lambda.
    #[arg(long, env = "STORE_TIMEOUT_MS", default_value_t = 3000)]
    store_timeout_ms: u64,
    /// Bound on storing one delivery, all its store calls together, as in Lambda: 8000, less
    /// the fallback budget with a fallback queue.
    #[arg(long, env = "STORE_BUDGET_MS", value_parser = clap::value_parser!(u64).range(MIN_STORE_BUDGET_MS..))]
    store_budget_ms: Option<u64>,
    /// Largest webhook body accepted, as in Lambda (bodies declared over API Gateway's 10 MB
    /// are refused before they are read).
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = shared::http::receiver::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Insider One's gateway host for the /manage routes (e.g. a local insider-sim). The
    /// credentials come from INSIDER_CLIENT_ID, INSIDER_CLIENT_SECRET and INSIDER_INS_AUTH_KEY.
    #[arg(long, env = "INSIDER_GATEWAY_URL", default_value = shared::insider::PRODUCTION_GATEWAY_URL)]
    insider_gateway_url: String,
    /// Insider One's WhatsApp host, for the V1 settings call.
    #[arg(long, env = "INSIDER_WHATSAPP_URL", default_value = shared::insider::PRODUCTION_WHATSAPP_URL)]
    insider_whatsapp_url: String,
    /// The public URL that left-out webhook and token URLs default to (default: the URL each
    /// request came in on).
    #[arg(long, env = "PUBLIC_BASE_URL")]
    public_base_url: Option<String>,
    /// Print every newly stored event to stdout as a JSON line, as EventBridge would deliver it.
    #[arg(long, env = "PRINT_EVENTS")]
    print_events: bool,
    /// POST every newly stored event to this URL, as EventBridge would deliver it.
    #[arg(long, env = "PUBLISH_EVENTS_TO", value_name = "URL")]
    publish_to: Option<String>,
    /// The `source` of those events.
    #[arg(long, env = "EVENT_SOURCE", default_value = shared::config::DEFAULT_EVENT_SOURCE)]
    event_source: String,
    /// An external OAuth issuer (Cognito, Auth0, Okta, Keycloak, ...) whose access tokens the
    /// receiver accepts too, verified with the keys its discovery document points to; https,
    /// plain http only to a loopback host. Repeatable.
    #[arg(
        long = "trusted-issuer",
        value_name = "URL",
        env = "TRUSTED_ISSUERS",
        value_delimiter = ',',
        requires = "trusted_audience"
    )]
    trusted_issuers: Vec<String>,
    /// The `aud` (or, in a token without one, the `client_id`) those tokens must carry.
    #[arg(long, value_name = "AUD", env = "TRUSTED_AUDIENCE")]
    trusted_audience: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shared::telemetry::init_logs(std::io::stderr);
    let args = Args::parse();
    let webhook_token = Credential::from_env("WEBHOOK_BEARER_TOKEN");
    let admin_token = Credential::from_env("LOCAL_ADMIN_TOKEN");
    let oauth_secret = Credential::from_env("LOCAL_OAUTH_CLIENT_SECRET");
    // Checked before anything starts, so that the message names the variable to change.
    if let (false, Err(short)) = (
        oauth_secret.generated,
        SecretTooShort::check(&oauth_secret.value),
    ) {
        eprintln!(
            "local-stack: LOCAL_OAUTH_CLIENT_SECRET is too short: {short}; or unset it to have one generated"
        );
        std::process::exit(2);
    }
    // Generated when unset, like the secret: a fixed default would make the id a known half of
    // the credentials.
    let oauth_client_id = Credential::from_env_or("LOCAL_OAUTH_CLIENT_ID", || {
        format!("local-{}", &generate_token()[..8])
    });
    let fallback_queue = match (&args.fallback_queue_url, &args.sqs_endpoint) {
        (None, _) => None,
        (Some(url), Some(endpoint)) => Some(FallbackQueue {
            url: url.clone(),
            endpoint: endpoint.clone(),
            budget: Duration::from_millis(args.fallback_budget_ms),
        }),
        // Never AWS's own SQS from a local stack: only an endpoint named for it.
        (Some(_), None) => {
            eprintln!(
                "local-stack: --fallback-queue-url needs AWS_ENDPOINT_URL_SQS, the local SQS endpoint the queue is at (moto's, ElasticMQ's, ...)"
            );
            std::process::exit(2);
        }
    };
    let store_budget = args.store_budget_ms.map_or_else(
        || default_store_budget(fallback_queue.as_ref().map(|q| q.budget)),
        Duration::from_millis,
    );
    let store = match &args.dynamodb_endpoint {
        Some(endpoint) => StoreChoice::Dynamo {
            endpoint: endpoint.clone(),
            table: args.table.clone(),
            raw_bucket: args.raw_bucket.clone(),
            fallback_queue,
        },
        None => StoreChoice::Embedded(args.data_dir.clone()),
    };
    let insider = shared::insider::InsiderSettings {
        gateway_url: args.insider_gateway_url.clone(),
        whatsapp_url: args.insider_whatsapp_url.clone(),
        ..shared::config::insider_settings(shared::config::insider_credentials_from_env())?
    };
    let management = ManagementConfig {
        insider,
        public_base_url: args.public_base_url.clone(),
    };
    let stack = local_stack::start_with(
        Config {
            listen: SocketAddr::new(args.host, args.port),
            store: store.clone(),
            retention: Duration::from_secs(args.retention_days.max(1) * 86_400),
            store_timeout: Duration::from_millis(args.store_timeout_ms),
            store_budget,
            max_body_bytes: args.max_body_bytes,
            webhook_tokens: vec![webhook_token.value.clone()],
            admin_token: admin_token.value.clone(),
            oauth_client_id: oauth_client_id.value.clone(),
            oauth_client_secret: oauth_secret.value.clone(),
            downstream: Downstream {
                print: args.print_events,
                post_to: args.publish_to.clone(),
                source: args.event_source.clone(),
            },
            signing_key: None,
            trusted_issuers: args.trusted_issuers.clone(),
            trusted_audience: args.trusted_audience.clone(),
        },
        management,
    )
    .await
    .unwrap_or_else(|error| {
        // In words, not as the Debug form `?` would print.
        eprintln!("local-stack: {error}");
        std::process::exit(1);
    });
    let url = stack.url();
    let store = match store {
        StoreChoice::Embedded(dir) => format!("embedded store in {}", dir.display()),
        StoreChoice::Dynamo {
            endpoint,
            table,
            fallback_queue,
            ..
        } => format!(
            "DynamoDB table {table} at {endpoint}{}",
            fallback_queue
                .map(|queue| format!(", fallback queue {} drained into it", queue.url))
                .unwrap_or_default()
        ),
    };
    println!("local stack listening on {url} ({store})\n");
    println!(
        "  POST {url}/webhooks/{{conversational|transactional|verify}}  Insider One deliveries"
    );
    println!(
        "  GET  {url}/messages/{{message_id}}                             read back (admin token)"
    );
    println!(
        "  GET  {url}/events?since=&until=&family=&status=&sub_product=&error_code=   events of a window (admin token)"
    );
    println!(
        "  GET  {url}/events?key={{tracking key}}                         events of a tracking key (admin token)"
    );
    println!(
        "  GET  {url}/contacts/{{wa_id}}/messages                          conversation with a customer (admin token)"
    );
    println!(
        "  GET  {url}/stats?since=&until=                               delivery funnel by the hour (admin token)"
    );
    println!("       listings: &limit=, &cursor=, &format=ndjson for an export");
    println!(
        "  POST {url}/replay/messages/{{message_id}}, /replay/events?since=&...   publish stored events again (admin token; to the targets below)"
    );
    println!(
        "  POST {url}/oauth/token, /oauth/revoke                          OAuth 2.0 for V2 webhooks"
    );
    println!(
        "  GET|POST {url}/manage/webhooks?phoneNumber=N, PUT|DELETE .../{{id}}   Insider One V2 webhooks (admin token)"
    );
    println!(
        "  POST {url}/manage/settings/{{transactional|conversational}}[/v1]     Insider One settings (admin token)"
    );
    println!("     via {}", args.insider_gateway_url);
    println!(
        "  GET  {url}/console                                           web console (sign in with the admin token)\n"
    );
    match (args.print_events, &args.publish_to) {
        (false, None) => {}
        (print, url) => println!(
            "  new events ({}): {}{}{}\n",
            args.event_source,
            if print { "printed to stdout" } else { "" },
            if print && url.is_some() { ", " } else { "" },
            url.as_deref()
                .map(|u| format!("POSTed to {u}"))
                .unwrap_or_default()
        ),
    }
    println!("  webhook token:       {}", webhook_token.shown());
    println!("  admin token:         {}", admin_token.shown());
    println!(
        "  OAuth client id:     {}  {}",
        oauth_client_id.value,
        oauth_client_id.origin()
    );
    println!("  OAuth client secret: {}\n", oauth_secret.shown());
    println!("Try it:");
    println!(
        "  curl -s {url}/webhooks/conversational -H \"Authorization: Bearer {}\" \\\n    -H 'Content-Type: application/json' \\\n    -d '{{\"entry\":[{{\"id\":\"1\",\"changes\":[{{\"field\":\"messages\",\"value\":{{\"statuses\":[{{\"id\":\"wamid.demo\",\"status\":\"delivered\",\"timestamp\":\"1700000000\",\"recipient_id\":\"15551234567\"}}]}}}}]}}],\"key\":\"whatsapp-demo\",\"object\":\"whatsapp_business_account\"}}'",
        webhook_token.in_shell()
    );
    println!(
        "  curl -s {url}/messages/wamid.demo -H \"Authorization: Bearer {}\"",
        admin_token.in_shell()
    );
    println!(
        "  curl -s {url}/oauth/token -u \"{}:{}\" -d grant_type=client_credentials",
        oauth_client_id.in_shell(),
        oauth_secret.in_shell()
    );
    println!(
        "  curl -s '{url}/manage/webhooks?phoneNumber=15551234567' -H \"Authorization: Bearer {}\" \\\n    -d '{{\"authType\":\"oauth2\",\"subProduct\":\"conversational\",\"events\":[\"sent\",\"delivered\",\"read\"],\"oauth2\":{{\"grantType\":\"client_credentials\",\"expiresIn\":3600}}}}'",
        admin_token.in_shell()
    );
    tokio::signal::ctrl_c().await?;
    stack.stop().await;
    Ok(())
}

/// A credential from the environment, or a fresh one when the variable is unset.
struct Credential {
    value: String,
    variable: &'static str,
    generated: bool,
}

impl Credential {
    /// A secret: a random token unless `variable` is set.
    fn from_env(variable: &'static str) -> Self {
        Self::from_env_or(variable, generate_token)
    }

    fn from_env_or(variable: &'static str, generate: impl FnOnce() -> String) -> Self {
        match std::env::var(variable) {
            Ok(value) if !value.trim().is_empty() => Self {
                value: value.trim().to_owned(),
                variable,
                generated: false,
            },
            _ => Self {
                value: generate(),
                variable,
                generated: true,
            },
        }
    }

    /// A generated secret is shown in full, since nobody else knows it; one the user chose is
    /// masked the way Insider One masks secrets.
    fn shown(&self) -> String {
        let value = if self.generated {
            self.value.clone()
        } else {
            shared::auth::mask_secret(&self.value)
        };
        format!("{value}  {}", self.origin())
    }

    /// Where the value came from, and how to choose another.
    fn origin(&self) -> String {
        if self.generated {
            format!("(generated; set {} to choose one)", self.variable)
        } else {
            format!("(from {})", self.variable)
        }
    }

    /// What a copy-pasted command should say: the value, or the variable that holds it.
    fn in_shell(&self) -> String {
        if self.generated {
            self.value.clone()
        } else {
            format!("${}", self.variable)
        }
    }
}
