//! `cargo run --release -p console -- --api <ApiUrl>`: the console of a deployed stack on
//! 127.0.0.1, each call to its IAM-protected query API signed with your own AWS credentials.
//! Nothing new faces the internet; a one-time link printed at start keeps other local users
//! out.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use clap::Parser;
use console::signed::SignedApi;
use console::{Access, Console, MOUNT};
use http_body_util::{BodyExt, Full, Limited};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The console's requests are page loads and a login form: a few KiB at most.
const MAX_BODY_BYTES: usize = 16 * 1024;

#[derive(Parser)]
#[command(about = "Serves the web console of a deployed stack on 127.0.0.1")]
struct Args {
    /// The stack's ApiUrl (a CloudFormation output), e.g.
    /// https://abc123.execute-api.eu-west-1.amazonaws.com
    #[arg(long, value_name = "URL")]
    api: String,
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 3001)]
    port: u16,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let api = SignedApi::from_environment(&args.api).await?;
    let token = shared::auth::generate_token();
    let console = Arc::new(Console::new(Arc::new(api), Access::OneTime(token.clone())));
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port))).await?;
    let addr = listener.local_addr()?;
    // The link is the way in; it works once, and the session it opens lives in this process.
    println!("Console of {} on http://{addr}{MOUNT}", args.api);
    println!("Open (works once): http://{addr}{MOUNT}/login?token={token}");
    loop {
        let (stream, _) = listener.accept().await?;
        let console = Arc::clone(&console);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let console = Arc::clone(&console);
                async move { Ok::<_, Infallible>(serve(&console, request).await) }
            });
            if let Err(error) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%error, "connection ended");
            }
        });
    }
}

/// `/` leads to the console; the rest is the console's.
async fn serve(
    console: &Console,
    request: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let response = if parts.uri.path() == "/" {
        hyper::Response::builder()
            .status(http::StatusCode::SEE_OTHER)
            .header(http::header::LOCATION, MOUNT)
            .body(Bytes::new())
            .unwrap_or_default()
    } else {
        match Limited::new(body, MAX_BODY_BYTES).collect().await {
            Ok(body) => {
                let request = hyper::Request::from_parts(parts, body.to_bytes());
                console::handle(console, request).await
            }
            Err(_) => hyper::Response::builder()
                .status(http::StatusCode::PAYLOAD_TOO_LARGE)
                .body(Bytes::new())
                .unwrap_or_default(),
        }
    };
    response.map(Full::new)
}
