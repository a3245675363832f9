//! A local Lambda Runtime API, so a function's real `bootstrap` runs the way Lambda runs it: the
//! process starts, initialises, polls `GET /2018-06-01/runtime/invocation/next` for an event and
//! posts its answer to `/response`. Timing those calls from outside the process measures what
//! Lambda reports as *Init Duration* and *Duration*, and `/proc` gives the peak memory (*Max
//! Memory Used*), without an AWS account.
//!
//! Only the parts of the API a Rust runtime uses are served: next, response, invocation error and
//! init error (<https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, mpsc, oneshot};

/// Lambda gives a function's init phase at most 10 s.
pub const INIT_LIMIT: Duration = Duration::from_secs(10);
const API_PREFIX: &str = "/2018-06-01/runtime";

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("could not start {path}: {source}")]
    Spawn {
        path: String,
        source: std::io::Error,
    },
    #[error("the function exited during init ({0})")]
    ExitedDuringInit(std::process::ExitStatus),
    #[error("the function reported an init error: {0}")]
    InitError(String),
    #[error("the function did not finish init within {0:?}")]
    InitTimeout(Duration),
    #[error("the function did not answer invocation {0} within its timeout")]
    InvocationTimeout(String),
    #[error("the function stopped serving")]
    Gone,
    #[error("the emulator could not listen on loopback: {0}")]
    Listen(std::io::Error),
    #[error("the function's log file could not be created: {0}")]
    Logs(std::io::Error),
}

/// What the function answered to one invocation, and how long it took from the moment the event
/// was handed to it (Lambda's *Duration*).
#[derive(Debug)]
pub struct Invocation {
    pub outcome: Outcome,
    pub duration: Duration,
}

#[derive(Debug)]
pub enum Outcome {
    /// The body posted to `/response`.
    Response(Bytes),
    /// The body posted to `/error`: the handler failed.
    Error(Bytes),
}

struct Pending {
    request_id: String,
    event: Bytes,
    deadline: SystemTime,
    answer: oneshot::Sender<(Outcome, Instant)>,
    handed_at: Arc<std::sync::Mutex<Option<Instant>>>,
}

struct Shared {
    events: Mutex<mpsc::Receiver<Pending>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<(Outcome, Instant)>>>,
    first_poll: Mutex<Option<oneshot::Sender<Instant>>>,
    init_error: Mutex<Option<oneshot::Sender<Bytes>>>,
}

/// The settings Lambda passes every function in its environment.
#[derive(Debug, Clone)]
pub struct FunctionSettings {
    pub name: String,
    pub memory_mb: u32,
    pub timeout: Duration,
    /// Extra variables, as the function's configuration would set them.
    pub environment: Vec<(String, String)>,
    /// Where the function's stdout and stderr (its logs) go.
    pub logs: Logs,
}

/// What becomes of a function's logs.
#[derive(Debug, Clone, Default)]
pub enum Logs {
    #[default]
    Dropped,
    /// Passed through to this process's stdout and stderr.
    Shown,
    /// Both written to this file, for a test to read.
    File(std::path::PathBuf),
}

impl Default for FunctionSettings {
    fn default() -> Self {
        Self {
            name: "emulated".into(),
            memory_mb: 256,
            timeout: Duration::from_secs(10),
            environment: Vec::new(),
            logs: Logs::Dropped,
        }
    }
}

/// One execution environment: a running `bootstrap` process behind its own Runtime API.
pub struct Function {
    child: Child,
    events: mpsc::Sender<Pending>,
    server: tokio::task::JoinHandle<()>,
    timeout: Duration,
    next_request: u64,
    /// Time from spawning the process to its first poll for an event.
    pub init_duration: Duration,
}

impl Function {
    /// Starts `bootstrap` and waits until it has initialised (its first poll for an event).
    pub async fn start(
        bootstrap: &Path,
        settings: &FunctionSettings,
    ) -> Result<Function, EmulatorError> {
        let (events, receiver) = mpsc::channel(1);
        let (first_poll, polled) = oneshot::channel();
        let (init_error, init_failed) = oneshot::channel();
        let shared = Arc::new(Shared {
            events: Mutex::new(receiver),
            in_flight: Mutex::new(HashMap::new()),
            first_poll: Mutex::new(Some(first_poll)),
            init_error: Mutex::new(Some(init_error)),
        });
        let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .map_err(EmulatorError::Listen)?;
        let addr = listener.local_addr().map_err(EmulatorError::Listen)?;
        let server = tokio::spawn(async move {
            // The server lives as long as the function; an accept error ends both.
            let _ = axum::serve(listener, router(shared)).await;
        });

        let (stdout, stderr) = log_outputs(&settings.logs).map_err(EmulatorError::Logs)?;
        let spawned_at = Instant::now();
        let mut child = Command::new(bootstrap)
            .env_clear()
            .envs(lambda_environment(addr, settings))
            .envs(settings.environment.iter().cloned())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| EmulatorError::Spawn {
                path: bootstrap.display().to_string(),
                source,
            })?;
        let init_duration = tokio::select! {
            polled = polled => polled.map_err(|_| EmulatorError::Gone)? - spawned_at,
            failure = init_failed => {
                return Err(EmulatorError::InitError(
                    String::from_utf8_lossy(&failure.unwrap_or_default()).into_owned(),
                ));
            }
            status = child.wait() => {
                return Err(status.map_or(EmulatorError::Gone, EmulatorError::ExitedDuringInit));
            }
            () = tokio::time::sleep(INIT_LIMIT) => return Err(EmulatorError::InitTimeout(INIT_LIMIT)),
        };
        Ok(Function {
            child,
            events,
            server,
            timeout: settings.timeout,
            next_request: 0,
            init_duration,
        })
    }

    /// Hands `event` to the function and waits for its answer, at most the function's timeout.
    pub async fn invoke(&mut self, event: Bytes) -> Result<Invocation, EmulatorError> {
        self.next_request += 1;
        let request_id = format!("00000000-0000-4000-8000-{:012}", self.next_request);
        let (answer, answered) = oneshot::channel();
        let handed_at = Arc::new(std::sync::Mutex::new(None));
        let pending = Pending {
            request_id: request_id.clone(),
            event,
            deadline: SystemTime::now() + self.timeout,
            answer,
            handed_at: Arc::clone(&handed_at),
        };
        self.events
            .send(pending)
            .await
            .map_err(|_| EmulatorError::Gone)?;
        let (outcome, answered_at) = tokio::time::timeout(self.timeout, answered)
            .await
            .map_err(|_| EmulatorError::InvocationTimeout(request_id))?
            .map_err(|_| EmulatorError::Gone)?;
        let handed_at = handed_at
            .lock()
            .expect("the handed-at lock is never poisoned")
            .ok_or(EmulatorError::Gone)?;
        Ok(Invocation {
            outcome,
            duration: answered_at - handed_at,
        })
    }

    /// The process's peak resident memory so far (`VmHWM`), Lambda's *Max Memory Used*.
    pub fn peak_memory_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()?)).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Ends the execution environment.
    pub async fn stop(mut self) {
        // Already exited is as good as killed.
        let _ = self.child.kill().await;
        self.server.abort();
    }
}

/// The function's stdout and stderr.
fn log_outputs(logs: &Logs) -> std::io::Result<(Stdio, Stdio)> {
    Ok(match logs {
        Logs::Dropped => (Stdio::null(), Stdio::null()),
        Logs::Shown => (Stdio::inherit(), Stdio::inherit()),
        Logs::File(path) => {
            let file = std::fs::File::create(path)?;
            (Stdio::from(file.try_clone()?), Stdio::from(file))
        }
    })
}

fn lambda_environment(
    runtime_api: SocketAddr,
    settings: &FunctionSettings,
) -> Vec<(String, String)> {
    let path = std::env::var("PATH").unwrap_or_default();
    [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", settings.name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            settings.memory_mb.to_string(),
        ),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", settings.name),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "emulated".into()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("PATH", path),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(&format!("{API_PREFIX}/invocation/next"), get(next))
        .route(
            &format!("{API_PREFIX}/invocation/{{request_id}}/response"),
            post(response),
        )
        .route(
            &format!("{API_PREFIX}/invocation/{{request_id}}/error"),
            post(invocation_error),
        )
        .route(&format!("{API_PREFIX}/init/error"), post(init_error))
        .with_state(shared)
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    if let Some(first_poll) = shared.first_poll.lock().await.take() {
        // The measurement ends here whether or not anyone still waits for it.
        let _ = first_poll.send(Instant::now());
    }
    let Some(pending) = shared.events.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    *pending
        .handed_at
        .lock()
        .expect("the handed-at lock is never poisoned") = Some(Instant::now());
    let deadline_ms = pending
        .deadline
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.insert(name, value);
        }
    };
    set("lambda-runtime-aws-request-id", pending.request_id.clone());
    set("lambda-runtime-deadline-ms", deadline_ms.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:000000000000:function:emulated".into(),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
    );
    set("content-type", "application/json".into());
    shared
        .in_flight
        .lock()
        .await
        .insert(pending.request_id, pending.answer);
    (headers, pending.event).into_response()
}

async fn response(
    State(shared): State<Arc<Shared>>,
    UrlPath(request_id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    complete(&shared, &request_id, Outcome::Response(body)).await
}

async fn invocation_error(
    State(shared): State<Arc<Shared>>,
    UrlPath(request_id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    complete(&shared, &request_id, Outcome::Error(body)).await
}

async fn complete(shared: &Shared, request_id: &str, outcome: Outcome) -> StatusCode {
    let answered_at = Instant::now();
    match shared.in_flight.lock().await.remove(request_id) {
        Some(answer) => {
            // The invoker may have given up (timeout); the function's answer is then dropped, as
            // Lambda drops a late one.
            let _ = answer.send((outcome, answered_at));
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    if let Some(failed) = shared.init_error.lock().await.take() {
        let _ = failed.send(body);
    }
    StatusCode::ACCEPTED
}
