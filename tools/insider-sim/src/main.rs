//! `insider-sim serve` runs the management side; `insider-sim deliver` sends event streams, to a
//! URL or, through a running simulator, to what is registered there.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use insider_sim::deliver::{DeliverOptions, DeliveryAuth, DeliverySummary, Registered, Traffic};
use insider_sim::oauth::{ClientAuth, Grant, OAuth2Credentials};
use insider_sim::server::{self, Limits, SimConfig};
use insider_sim::vocabulary::{GrantType, SubProduct};

#[derive(Parser)]
#[command(about = "A local Insider One: its webhook management API and its event sender")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the management API (gateway tokens, V2 webhooks, settings) and the /_sim routes.
    Serve(ServeArgs),
    /// Send a realistic event stream to a webhook receiver and summarize how it went: to a URL
    /// (--to), or to a webhook or settings registered with a running simulator (--sim).
    Deliver(Box<DeliverArgs>),
    /// Answer 200 to every request and do nothing else: a stand-in receiver for measuring the
    /// sender alone.
    Sink(SinkArgs),
}

#[derive(Args)]
struct ServeArgs {
    #[arg(long, default_value_t = 4000)]
    port: u16,
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// The gateway client accepted by POST /auth/token.
    #[arg(long, env = "SIM_CLIENT_ID", default_value = server::DEFAULT_CLIENT_ID)]
    client_id: String,
    #[arg(long, env = "SIM_CLIENT_SECRET", default_value = server::DEFAULT_CLIENT_SECRET, hide_env_values = true)]
    client_secret: String,
    /// The V1 X-INS-AUTH-KEY.
    #[arg(long, env = "SIM_INS_AUTH_KEY", default_value = server::DEFAULT_INS_AUTH_KEY, hide_env_values = true)]
    ins_auth_key: String,
    /// Lifetime of gateway tokens.
    #[arg(long, default_value_t = server::DEFAULT_TOKEN_LIFETIME.as_secs())]
    token_lifetime_secs: u64,
    /// A sender phone number of the account (repeat the flag for several); by default
    /// 15551234567 and +1234567890.
    #[arg(long = "sender")]
    senders: Vec<String>,
    /// Most active webhooks of the account.
    #[arg(long, default_value_t = 20)]
    max_webhooks: usize,
    /// Most active webhooks per auth type (bearer, oauth2).
    #[arg(long, default_value_t = 10)]
    max_per_auth_type: usize,
    /// Bound on each call of the webhook URL probe.
    #[arg(long, default_value_t = 5000)]
    probe_timeout_ms: u64,
}

#[derive(Args)]
struct SinkArgs {
    #[arg(long, default_value_t = 4100)]
    port: u16,
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
}

#[derive(Args)]
struct DeliverArgs {
    /// The webhook URL, e.g. http://127.0.0.1:3000/webhooks/conversational.
    #[arg(long, required_unless_present = "sim", conflicts_with_all = ["registration", "from"])]
    to: Option<String>,
    /// A running `insider-sim serve` (e.g. http://127.0.0.1:4000): it delivers to what is
    /// registered with it (--webhook or --settings), with the registered URL, credentials and
    /// subscribed events.
    #[arg(
        long,
        requires = "registration",
        conflicts_with_all = [
            "sub_product", "bearer", "oauth2_token_url", "client_id", "client_secret", "grant",
            "refresh_token", "scopes", "client_auth", "token_lifetime_secs",
        ],
    )]
    sim: Option<String>,
    #[command(flatten)]
    registration: RegistrationArgs,
    /// With --settings: the sender the settings were saved for (`from`); the default sender
    /// when not given.
    #[arg(long, requires = "settings", conflicts_with = "webhook")]
    from: Option<String>,
    /// The API type whose traffic to send (verify gets no replies); with --sim, the registered
    /// one's.
    #[arg(long, value_enum, default_value_t = SubProduct::Conversational)]
    sub_product: SubProduct,
    #[command(flatten)]
    traffic: Traffic,
    #[command(flatten)]
    auth: AuthArgs,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// What to deliver to through --sim: one of them.
#[derive(Args)]
#[group(id = "registration", multiple = false)]
struct RegistrationArgs {
    /// An active V2 webhook of the simulator, by id.
    #[arg(long, requires = "sim")]
    webhook: Option<u64>,
    /// The active settings of the simulator for this API type.
    #[arg(long, value_enum, requires = "sim")]
    settings: Option<SubProduct>,
}

impl RegistrationArgs {
    fn into_registered(self, from: Option<String>) -> Option<Registered> {
        match (self.webhook, self.settings) {
            (Some(id), _) => Some(Registered::Webhook(id)),
            (None, Some(sub_product)) => Some(Registered::Settings { sub_product, from }),
            (None, None) => None,
        }
    }
}

/// How to authenticate to the receiver given with --to (with --sim, the registered
/// credentials are used).
#[derive(Args)]
struct AuthArgs {
    /// Static bearer token (the apiKey a bearer webhook was registered with).
    #[arg(long, conflicts_with = "oauth2_token_url")]
    bearer: Option<String>,
    /// The receiver's OAuth 2.0 token endpoint.
    #[arg(long, requires_all = ["client_id", "client_secret"])]
    oauth2_token_url: Option<String>,
    /// The OAuth 2.0 client id Insider One was given.
    #[arg(long, requires = "oauth2_token_url")]
    client_id: Option<String>,
    /// The OAuth 2.0 client secret Insider One was given.
    #[arg(long, requires = "oauth2_token_url")]
    client_secret: Option<String>,
    /// The OAuth 2.0 grant used against the token endpoint.
    #[arg(long, value_enum, default_value_t = GrantType::ClientCredentials)]
    grant: GrantType,
    /// Required with --grant refresh_token.
    #[arg(long, required_if_eq("grant", "refresh_token"))]
    refresh_token: Option<String>,
    /// A scope to ask the token endpoint for (repeat for several).
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// Send the client credentials as form fields (body) or with HTTP Basic.
    #[arg(long, value_enum, default_value_t = ClientAuth::Body)]
    client_auth: ClientAuth,
    /// Use a token at most this long, even when the token endpoint allows longer.
    #[arg(long)]
    token_lifetime_secs: Option<u64>,
}

impl AuthArgs {
    fn into_auth(self) -> Result<DeliveryAuth, String> {
        let (Some(token_url), Some(client_id), Some(client_secret)) =
            (self.oauth2_token_url, self.client_id, self.client_secret)
        else {
            return Ok(self.bearer.map_or(DeliveryAuth::None, DeliveryAuth::Bearer));
        };
        let grant = match (self.grant, self.refresh_token) {
            (GrantType::RefreshToken, Some(token)) => Grant::RefreshToken(token),
            (GrantType::ClientCredentials, None) => Grant::ClientCredentials,
            (GrantType::ClientCredentials, Some(_)) => {
                return Err("--refresh-token goes with --grant refresh_token".into());
            }
            (GrantType::RefreshToken, None) => {
                return Err("--grant refresh_token needs --refresh-token".into());
            }
        };
        Ok(DeliveryAuth::OAuth2(OAuth2Credentials {
            token_url,
            client_id,
            client_secret,
            grant,
            scopes: self.scopes,
            client_auth: self.client_auth,
            lifetime: self.token_lifetime_secs.map(Duration::from_secs),
        }))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::Serve(_) => "info",
        Command::Deliver(_) | Command::Sink(_) => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_level.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let outcome = match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Deliver(args) => deliver(*args).await,
        Command::Sink(args) => sink(args).await,
    };
    outcome.unwrap_or_else(|message| {
        eprintln!("insider-sim: {message}");
        ExitCode::from(2)
    })
}

async fn serve(args: ServeArgs) -> Result<ExitCode, String> {
    let defaults = SimConfig::default();
    let config = SimConfig {
        listen: SocketAddr::new(args.host, args.port),
        client_id: args.client_id,
        client_secret: args.client_secret,
        ins_auth_key: args.ins_auth_key,
        token_lifetime: Duration::from_secs(args.token_lifetime_secs),
        limits: Limits {
            total: args.max_webhooks,
            per_auth_type: args.max_per_auth_type,
        },
        senders: if args.senders.is_empty() {
            defaults.senders
        } else {
            args.senders
        },
        probe_timeout: Duration::from_millis(args.probe_timeout_ms),
    };
    let sim = server::start(config.clone())
        .await
        .map_err(|e| e.to_string())?;
    let url = sim.url();
    println!("Insider One simulator listening on {url}");
    println!();
    println!(
        "  gateway client: client_id={} client_secret={}",
        config.client_id, config.client_secret
    );
    println!("  V1 X-INS-AUTH-KEY: {}", config.ins_auth_key);
    println!("  senders: {}", config.senders.join(", "));
    println!(
        "  gateway token lifetime: {} s",
        config.token_lifetime.as_secs()
    );
    println!();
    println!("  POST   {url}/auth/token");
    println!("  GET    {url}/api/wa/v2/webhooks?phoneNumber=N");
    println!("  POST   {url}/api/wa/v2/webhooks?phoneNumber=N");
    println!("  PUT    {url}/api/wa/v2/webhooks/{{id}}?phoneNumber=N");
    println!("  DELETE {url}/api/wa/v2/webhooks/{{id}}?phoneNumber=N");
    println!("  POST   {url}/api/wa/v2/{{transactional|conversational}}/settings");
    println!("  POST   {url}/v1/conversational/settings/update");
    println!("  GET    {url}/_sim/state         POST|DELETE {url}/_sim/faults");
    println!("  POST   {url}/_sim/clock         POST {url}/_sim/webhooks/{{id}}/deliver");
    println!("  POST   {url}/_sim/settings/{{sub_product}}/deliver[?from=N]");
    println!();
    println!("  deliver to a registered webhook: insider-sim deliver --sim {url} --webhook ID");
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    sim.stop().await;
    Ok(ExitCode::SUCCESS)
}

/// Exit status 1 when some delivery was never acknowledged.
async fn deliver(args: DeliverArgs) -> Result<ExitCode, String> {
    let registered = args.registration.into_registered(args.from);
    let summary = match (args.to, args.sim, registered) {
        (Some(to), None, None) => {
            let options = DeliverOptions {
                to,
                sub_product: args.sub_product,
                auth: args.auth.into_auth()?,
                events: None,
                traffic: args.traffic,
            };
            insider_sim::deliver::run(options).await
        }
        (None, Some(sim), Some(registered)) => {
            insider_sim::deliver::through_simulator(&sim, &registered, &args.traffic).await
        }
        // The argument parser admits nothing else.
        _ => return Err("give --to URL, or --sim URL with --webhook ID or --settings TYPE".into()),
    }
    .map_err(|e| e.to_string())?;
    print_summary(&summary, args.json)?;
    Ok(if summary.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_summary(summary: &DeliverySummary, json: bool) -> Result<(), String> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(summary).map_err(|e| e.to_string())?
        );
    } else {
        print!("{summary}");
    }
    Ok(())
}

async fn sink(args: SinkArgs) -> Result<ExitCode, String> {
    let listen = SocketAddr::new(args.host, args.port);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    println!("sink answering 200 on http://{listen}");
    let app = axum::Router::new().fallback(|| async { http::StatusCode::OK });
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}
