//! The management side of Insider One: what our project calls to register its webhooks.
//!
//! Handlers are thin: each counts its request and applies injected faults ([`Sim::enter`]),
//! authenticates, decodes and validates the body, probes the webhook URL, then saves under the
//! state lock. Start it with [`start`]; dropping the returned [`RunningSim`] stops it.

mod auth;
mod delivery;
mod errors;
mod faults;
mod probe;
mod registration;
mod settings;
mod state;
mod webhooks;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::response::Response;
use axum::routing::{get, post, put};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use state::SimState;

/// Everything the simulator can be told; [`SimConfig::default`] is what `serve` uses.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub listen: SocketAddr,
    /// The one gateway client accepted by `POST /auth/token`.
    pub client_id: String,
    pub client_secret: String,
    /// The V1 `X-INS-AUTH-KEY`.
    pub ins_auth_key: String,
    /// Lifetime of gateway tokens (the vendor's is 90 minutes).
    pub token_lifetime: Duration,
    pub limits: Limits,
    /// Sender phone numbers the account has; others answer 404. Compared by digits only.
    pub senders: Vec<String>,
    /// Bound on each call of the URL probe (token endpoint, then webhook).
    pub probe_timeout: Duration,
}

/// Account limits on active webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub total: usize,
    /// Per auth type: oauth2 (V2 webhooks and oauth2 settings) and bearer (bearer settings).
    pub per_auth_type: usize,
}

pub const DEFAULT_CLIENT_ID: &str = "sim-client";
pub const DEFAULT_CLIENT_SECRET: &str = "sim-secret";
pub const DEFAULT_INS_AUTH_KEY: &str = "sim-key";
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(5400);
/// The vendor's documentation's dummy sender and the transactional settings sample's `from`.
pub const DEFAULT_SENDERS: [&str; 2] = ["15551234567", "+1234567890"];

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            client_id: DEFAULT_CLIENT_ID.into(),
            client_secret: DEFAULT_CLIENT_SECRET.into(),
            ins_auth_key: DEFAULT_INS_AUTH_KEY.into(),
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            limits: Limits {
                total: 20,
                per_auth_type: 10,
            },
            senders: DEFAULT_SENDERS.map(String::from).to_vec(),
            probe_timeout: Duration::from_secs(5),
        }
    }
}

/// The shared state behind every handler.
struct Sim {
    config: SimConfig,
    clock: Clock,
    state: Mutex<SimState>,
    /// For probes and the token requests they make (see [`crate::outbound::client_builder`]).
    http: reqwest::Client,
}

impl Sim {
    /// The state; a handler that panicked mid-update leaves nothing half-written worth refusing
    /// every later request for, so a poisoned lock is taken over.
    fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The configured sender matching `number`, normalized; `None` for an unknown sender.
    fn known_sender(&self, number: &str) -> Option<String> {
        let wanted = registration::normalize_phone(number);
        self.config
            .senders
            .iter()
            .map(|s| registration::normalize_phone(s))
            .find(|s| !s.is_empty() && *s == wanted)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// A running simulator. Dropping it stops the server; [`RunningSim::stop`] also waits for it.
pub struct RunningSim {
    addr: SocketAddr,
    sim: Arc<Sim>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl RunningSim {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Moves the simulator's clock forward (as `POST /_sim/clock` does).
    pub fn advance_clock(&self, by: Duration) {
        self.sim.clock.advance(by);
    }

    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

pub async fn start(config: SimConfig) -> Result<RunningSim, StartError> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| StartError::Listen(config.listen, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Listen(config.listen, e))?;
    let sim = Arc::new(Sim {
        http: crate::outbound::client_builder().build()?,
        config,
        clock: Clock::default(),
        state: Mutex::new(SimState::default()),
    });
    let (shutdown, stopped) = oneshot::channel::<()>();
    let app = router(Arc::clone(&sim));
    let server = tokio::spawn(async move {
        let serving = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(error) = serving.await {
            tracing::error!(%error, "the simulator's server stopped");
        }
    });
    Ok(RunningSim {
        addr,
        sim,
        shutdown: Some(shutdown),
        server: Some(server),
    })
}

fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/auth/token", post(auth::issue_token))
        .route(
            "/api/wa/v2/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/api/wa/v2/webhooks/{id}",
            put(webhooks::update).delete(webhooks::delete),
        )
        .route("/api/wa/v2/{sub_product}/settings", post(settings::save_v2))
        .route(
            "/v1/conversational/settings/update",
            post(settings::save_v1),
        )
        .route("/_sim/state", get(state::dump))
        .route("/_sim/clock", post(state::advance_clock))
        .route("/_sim/faults", post(faults::add).delete(faults::clear))
        .route("/_sim/webhooks/{id}/deliver", post(delivery::to_webhook))
        .route(
            "/_sim/settings/{sub_product}/deliver",
            post(delivery::to_settings),
        )
        .fallback(|| async { errors::ApiError::gateway(StatusCode::NOT_FOUND, "no such route") })
        .with_state(sim)
}

fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    let bytes = serde_json::to_vec(body).expect("response bodies are plain data");
    let mut response = Response::new(axum::body::Body::from(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
