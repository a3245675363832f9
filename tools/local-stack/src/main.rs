//! `cargo run --release -p local-stack`: every route on 127.0.0.1:3000, no AWS account needed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use local_stack::{Config, StoreChoice};
use shared::auth::generate_token;

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
    /// Days stored events are kept.
    #[arg(long, default_value_t = shared::config::DEFAULT_RETENTION_DAYS)]
    retention_days: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shared::telemetry::init();
    let args = Args::parse();
    let (webhook_token, webhook_generated) = token_from_env("WEBHOOK_BEARER_TOKEN");
    let (admin_token, admin_generated) = token_from_env("LOCAL_ADMIN_TOKEN");
    let store = match &args.dynamodb_endpoint {
        Some(endpoint) => StoreChoice::Dynamo {
            endpoint: endpoint.clone(),
            table: args.table.clone(),
        },
        None => StoreChoice::Embedded(args.data_dir.clone()),
    };
    let stack = local_stack::start(Config {
        listen: SocketAddr::new(args.host, args.port),
        store: store.clone(),
        retention: Duration::from_secs(args.retention_days.max(1) * 86_400),
        store_timeout: Duration::from_secs(3),
        webhook_tokens: vec![webhook_token.clone()],
        admin_token: admin_token.clone(),
    })
    .await?;
    let url = stack.url();
    let store = match store {
        StoreChoice::Embedded(dir) => format!("embedded store in {}", dir.display()),
        StoreChoice::Dynamo { endpoint, table } => format!("DynamoDB table {table} at {endpoint}"),
    };
    println!("local stack listening on {url} ({store})");
    println!();
    println!(
        "  POST {url}/webhooks/{{conversational|transactional|verify}}   Insider One deliveries"
    );
    println!(
        "  GET  {url}/messages/{{message_id}}                              read back (admin token)"
    );
    println!(
        "  GET  {url}/events?key={{tracking key}}                          read back (admin token)"
    );
    println!();
    println!(
        "  webhook token: {}",
        shown(&webhook_token, webhook_generated, "WEBHOOK_BEARER_TOKEN")
    );
    println!(
        "  admin token:   {}",
        shown(&admin_token, admin_generated, "LOCAL_ADMIN_TOKEN")
    );
    println!();
    // A token the user chose stays out of the terminal: the example names its variable.
    let shell_token = |token: &str, generated: bool, variable: &str| {
        if generated {
            token.to_owned()
        } else {
            format!("${variable}")
        }
    };
    let webhook_token = shell_token(&webhook_token, webhook_generated, "WEBHOOK_BEARER_TOKEN");
    let admin_token = shell_token(&admin_token, admin_generated, "LOCAL_ADMIN_TOKEN");
    println!("Try it:");
    println!(
        "  curl -s {url}/webhooks/conversational -H \"Authorization: Bearer {webhook_token}\" \\\n    -H 'Content-Type: application/json' \\\n    -d '{{\"entry\":[{{\"id\":\"1\",\"changes\":[{{\"field\":\"messages\",\"value\":{{\"statuses\":[{{\"id\":\"wamid.demo\",\"status\":\"delivered\",\"timestamp\":\"1700000000\",\"recipient_id\":\"15551234567\"}}]}}}}]}}],\"key\":\"whatsapp-demo\",\"object\":\"whatsapp_business_account\"}}'"
    );
    println!("  curl -s {url}/messages/wamid.demo -H \"Authorization: Bearer {admin_token}\"");
    tokio::signal::ctrl_c().await?;
    stack.stop().await;
    Ok(())
}

/// The token from the environment, or a fresh one (printed so the user can use it).
fn token_from_env(name: &str) -> (String, bool) {
    match std::env::var(name) {
        Ok(token) if !token.trim().is_empty() => (token.trim().to_owned(), false),
        _ => (generate_token(), true),
    }
}

/// A token the user chose is masked the way Insider One masks secrets; a generated one is shown
/// in full, since nobody else knows it.
fn shown(token: &str, generated: bool, variable: &str) -> String {
    if generated {
        format!("{token}  (generated; set {variable} to choose one)")
    } else {
        format!("{}  (from {variable})", shared::auth::mask_secret(token))
    }
}
