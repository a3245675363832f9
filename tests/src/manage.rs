//! The management routes end to end: the Insider One simulator in-process, and the local stack
//! with its `/manage/...` routes pointed at it, both on loopback ports. The simulator probes and
//! delivers to the same local stack, so both directions meet.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use insider_sim::server::{self, RunningSim, SimConfig};
use local_stack::{LocalStack, ManagementConfig, StoreChoice};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::http::manage::Management;
use shared::insider::{
    Credentials, Deadline, InsiderApi, InsiderClient, InsiderFuture, InsiderSettings, RetryPolicy,
    VendorCall, VendorReply,
};
use shared::store::embedded::EmbeddedStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::stack::{self, ADMIN_TOKEN, client};

/// A sender the simulator's account has (the vendor documentation's dummy number).
pub const SENDER: &str = "15551234567";
/// The sender of the vendor's transactional settings example, also in the account.
pub const SETTINGS_SENDER: &str = "+1234567890";

/// What the tests give the Insider One client: the simulator's credentials, short waits.
pub fn insider_settings(sim_url: &str) -> InsiderSettings {
    InsiderSettings {
        gateway_url: sim_url.to_owned(),
        whatsapp_url: sim_url.to_owned(),
        credentials: Credentials {
            client_id: Some(server::DEFAULT_CLIENT_ID.into()),
            client_secret: Some(server::DEFAULT_CLIENT_SECRET.into()),
            ins_auth_key: Some(server::DEFAULT_INS_AUTH_KEY.into()),
        },
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(2),
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_secs(2),
        },
        request_budget: Duration::from_secs(25),
    }
}

/// An answer of ours: status, `Retry-After` when there is one, and the JSON body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub retry_after: Option<String>,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["error"]["code"]
            .as_str()
            .unwrap_or("<no error code>")
    }

    /// The error message of an error answer.
    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }

    /// Asserts a 200, showing the body otherwise.
    #[track_caller]
    pub fn assert_ok(&self) {
        assert_eq!(self.status, StatusCode::OK, "{}", self.body);
    }

    /// Asserts an error answer's status and code, showing its body when they differ.
    #[track_caller]
    pub fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!((self.status, self.code()), (status, code), "{}", self.body);
    }

    /// Asserts a `vendor_rate_limited` answer passing on the vendor's `Retry-After`.
    #[track_caller]
    pub fn assert_rate_limited(&self, retry_after: &str) {
        self.assert_error(StatusCode::TOO_MANY_REQUESTS, "vendor_rate_limited");
        assert_eq!(self.retry_after.as_deref(), Some(retry_after));
    }

    /// The `field` of every problem a `validation_failed` answer lists.
    pub fn fields(&self) -> Vec<&str> {
        self.body["error"]["fields"]
            .as_array()
            .map(|fields| fields.iter().filter_map(|f| f["field"].as_str()).collect())
            .unwrap_or_default()
    }
}

/// The simulator and the local stack wired to it; dropping it stops both.
pub struct Setup {
    pub sim: RunningSim,
    pub stack: LocalStack,
    dir: tempfile::TempDir,
}

impl Setup {
    pub async fn start() -> Setup {
        Self::start_with(|_| {}, |_, _| {}).await
    }

    /// With the Insider One client adjusted (credentials, URLs, timeouts).
    pub async fn with_insider(insider: impl FnOnce(&RunningSim, &mut InsiderSettings)) -> Setup {
        Self::start_with(|_| {}, insider).await
    }

    /// `sim` adjusts the simulator's configuration, `insider` the client's, once the simulator
    /// runs (its URLs are the simulator's unless changed, e.g. to a proxy in front of it).
    pub async fn start_with(
        sim: impl FnOnce(&mut SimConfig),
        insider: impl FnOnce(&RunningSim, &mut InsiderSettings),
    ) -> Setup {
        Self::launch(sim, insider, |_| {}).await
    }

    /// With a receiver that also accepts the access tokens of an external issuer.
    pub async fn trusting(issuer: &crate::issuer::TestIssuer) -> Setup {
        Self::launch(
            |_| {},
            |_, _| {},
            |config| {
                config.trusted_issuers = vec![issuer.url()];
                config.trusted_audience = Some(crate::issuer::AUDIENCE.into());
            },
        )
        .await
    }

    async fn launch(
        sim: impl FnOnce(&mut SimConfig),
        insider: impl FnOnce(&RunningSim, &mut InsiderSettings),
        stack_config: impl FnOnce(&mut local_stack::Config),
    ) -> Setup {
        let mut sim_config = SimConfig {
            probe_timeout: Duration::from_secs(5),
            ..SimConfig::default()
        };
        sim(&mut sim_config);
        let sim = server::start(sim_config)
            .await
            .expect("the simulator starts");
        let mut settings = insider_settings(&sim.url());
        insider(&sim, &mut settings);
        let dir = tempfile::tempdir().expect("temporary folder");
        let mut config = stack::config(
            StoreChoice::Embedded(dir.path().to_owned()),
            Duration::from_secs(3),
        );
        stack_config(&mut config);
        let management = ManagementConfig {
            insider: settings,
            public_base_url: None,
        };
        let stack = local_stack::start_with(config, management)
            .await
            .expect("the local stack starts");
        Setup { sim, stack, dir }
    }

    /// The folder of the stack's embedded store.
    pub fn store_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// A call to one of our routes with the admin token; `body` is sent as is.
    pub async fn call(&self, method: Method, path: &str, body: Option<&str>) -> Answer {
        let mut request = client()
            .request(method, format!("{}{path}", self.stack.url()))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        answer(request.send().await.expect("the local stack answers")).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.call(Method::POST, path, Some(&body.to_string())).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Answer {
        self.call(Method::PUT, path, Some(&body.to_string())).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.call(Method::DELETE, path, None).await
    }

    /// The simulator's `/_sim/state`.
    pub async fn sim_state(&self) -> Value {
        self.sim_call(Method::GET, "/_sim/state", None).await.body
    }

    /// Requests the simulator received, per route (`token`, `list`, `create`, ...).
    pub async fn sim_requests(&self) -> BTreeMap<String, u64> {
        serde_json::from_value(self.sim_state().await["requests"].clone())
            .expect("request counters")
    }

    /// Requests to one route.
    pub async fn sim_count(&self, route: &str) -> u64 {
        self.sim_requests().await.get(route).copied().unwrap_or(0)
    }

    pub async fn gateway_tokens_issued(&self) -> u64 {
        self.sim_state().await["gateway_tokens_issued"]
            .as_u64()
            .expect("a token count")
    }

    /// Makes the next matching requests fail (`POST /_sim/faults`).
    pub async fn fault(&self, spec: Value) {
        let answer = self
            .sim_call(Method::POST, "/_sim/faults", Some(spec))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "fault accepted: {}",
            answer.body
        );
    }

    /// The last probe the simulator made, which must have passed.
    pub async fn last_probe(&self) -> Value {
        let state = self.sim_state().await;
        let probe = state["probes"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(probe["ok"], true, "the probe passed: {probe}");
        probe
    }

    /// Has the simulator deliver `count` generated events (from `seed`) to webhook `id`, one at
    /// a time, as Insider One would; asserts they were all acknowledged.
    pub async fn sim_deliver(&self, id: u64, count: u64, seed: u64) -> Answer {
        let delivered = self
            .sim_call(
                Method::POST,
                &format!("/_sim/webhooks/{id}/deliver"),
                Some(json!({"count": count, "seed": seed, "concurrency": 1})),
            )
            .await;
        delivered.assert_ok();
        assert_eq!(
            (&delivered.body["failed"], &delivered.body["acknowledged"]),
            (&json!(0), &json!(count)),
            "{}",
            delivered.body
        );
        delivered
    }

    /// Calls a simulator route (test hooks such as `/_sim/webhooks/{id}/deliver`).
    pub async fn sim_call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = client().request(method, format!("{}{path}", self.sim.url()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request.send().await.expect("the simulator answers")).await
    }

    /// `http://127.0.0.1:PORT/<path>` of the local stack: what left-out URLs default to.
    pub fn own_url(&self, path: &str) -> String {
        format!("{}{path}", self.stack.url())
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().expect("an ASCII header").to_owned());
    let text = response.text().await.expect("a readable body");
    Answer {
        status,
        retry_after,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

/// A V2 webhook body relying on every default: no URL, no credentials.
pub fn minimal_webhook(sub_product: &str, events: &[&str]) -> Value {
    json!({
        "authType": "oauth2",
        "subProduct": sub_product,
        "events": events,
        "oauth2": {"grantType": "client_credentials", "expiresIn": 3600},
    })
}

/// `/manage/webhooks?phoneNumber=SENDER`, or with `/{id}`.
pub fn webhooks_path(id: Option<u64>) -> String {
    match id {
        Some(id) => format!("/manage/webhooks/{id}?phoneNumber={SENDER}"),
        None => format!("/manage/webhooks?phoneNumber={SENDER}"),
    }
}

/// A loopback port nothing listens on: connections to it are refused at once.
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a loopback port");
    let addr = listener.local_addr().expect("a bound address");
    drop(listener);
    format!("http://{addr}")
}

impl Answer {
    /// A handler's response as API Gateway receives it from the Lambda.
    pub fn from_lambda(response: shared::http::Response) -> Answer {
        let (status, headers, body) = crate::gateway::as_received(response);
        Answer {
            status: StatusCode::from_u16(status).expect("a valid status"),
            retry_after: headers
                .get("retry-after")
                .and_then(Value::as_str)
                .map(str::to_owned),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        }
    }
}

impl Setup {
    /// The management dependencies as a management Lambda builds them, in this process, to run
    /// its handlers on: Insider One through `insider`, and the local stack's client store, so
    /// that the stack's token endpoint (which the simulator's probe uses) knows the clients the
    /// handlers mint. Leaked, as the Lambdas leak theirs, for the handlers' `&'static` borrow.
    pub fn lambda_management(&self, insider: Arc<dyn InsiderApi>) -> &'static Management {
        let clients = EmbeddedStore::open(self.store_dir(), crate::stores::RETENTION)
            .expect("the stack's store opens a second time");
        Box::leak(Box::new(Management {
            insider,
            clients: Arc::new(clients),
            public_base_url: None,
            accepts_bearer_key: Some(Arc::new(|key: &str| key == crate::stack::WEBHOOK_TOKEN)),
            trusted_issuers: None,
        }))
    }

    /// The `Host` under which the local stack is reached, for events that stand for requests to
    /// this deployment.
    pub fn host(&self) -> String {
        self.stack.addr().to_string()
    }
}

/// The production client in front of the simulator, remembering every call it is asked to make
/// (bodies as sent, minted credentials included), so that tests can use what a failed call
/// carried.
pub struct RecordingInsider {
    client: InsiderClient,
    calls: Mutex<Vec<VendorCall>>,
}

impl RecordingInsider {
    pub fn new(settings: InsiderSettings) -> Arc<RecordingInsider> {
        Arc::new(RecordingInsider {
            client: InsiderClient::new(settings).expect("the Insider One client builds"),
            calls: Mutex::new(Vec::new()),
        })
    }

    /// The `oauth2` object of the last call that sent one, as sent.
    pub fn last_oauth2(&self) -> Value {
        self.calls
            .lock()
            .expect("the call log")
            .iter()
            .rev()
            .find_map(|call| call.body().map(|body| body["oauth2"].clone()))
            .filter(|oauth2| oauth2.is_object())
            .expect("a call that sent oauth2")
    }
}

impl InsiderApi for RecordingInsider {
    fn call_within<'a>(
        &'a self,
        call: &'a VendorCall,
        deadline: Deadline,
    ) -> InsiderFuture<'a, VendorReply> {
        self.calls.lock().expect("the call log").push(call.clone());
        self.client.call_within(call, deadline)
    }

    fn request_budget(&self) -> Duration {
        self.client.request_budget()
    }
}

/// A TCP proxy in front of the simulator that hangs up on the next requests whose first line
/// starts with a given prefix (`"GET /api/wa/v2/webhooks"`), as a load balancer being replaced
/// does: the connection closes with no answer. Everything else is forwarded. Dropping it stops
/// it.
pub struct HangUpProxy {
    addr: std::net::SocketAddr,
    rules: Arc<HangUps>,
    task: tokio::task::JoinHandle<()>,
}

/// Prefixes with the hang-ups left for each, and the hang-ups made.
#[derive(Default)]
struct HangUps {
    left: Mutex<Vec<(String, usize)>>,
    made: std::sync::atomic::AtomicUsize,
}

impl HangUps {
    /// Uses up one hang-up of a prefix `chunk` starts with, if any is left.
    fn take(&self, chunk: &[u8]) -> bool {
        let mut left = self.left.lock().expect("the proxy's rules");
        let Some((_, count)) = left
            .iter_mut()
            .find(|(prefix, count)| *count > 0 && chunk.starts_with(prefix.as_bytes()))
        else {
            return false;
        };
        *count -= 1;
        self.made.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        true
    }
}

impl HangUpProxy {
    /// Starts on a free loopback port; call it within a tokio runtime, which serves it.
    pub fn start(upstream: std::net::SocketAddr) -> HangUpProxy {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .expect("a loopback port for the proxy");
        let addr = listener.local_addr().expect("a bound address");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let listener = TcpListener::from_std(listener).expect("a tokio listener");
        let rules = Arc::new(HangUps::default());
        let shared_rules = Arc::clone(&rules);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(forward_or_hang_up(
                    client,
                    upstream,
                    Arc::clone(&shared_rules),
                ));
            }
        });
        HangUpProxy { addr, rules, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Hangs up on the next `count` requests starting with `prefix`.
    pub fn hang_up_on(&self, prefix: &str, count: usize) {
        self.rules
            .left
            .lock()
            .expect("the proxy's rules")
            .push((prefix.to_owned(), count));
    }

    /// How many requests it has hung up on.
    pub fn hung_up(&self) -> usize {
        self.rules.made.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for HangUpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Forwards one connection. Each read from the client that begins a matching request line ends
/// the connection instead (requests are small, so a request's head comes in one read).
async fn forward_or_hang_up(
    client: TcpStream,
    upstream: std::net::SocketAddr,
    rules: Arc<HangUps>,
) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let requests = async {
        let mut buffer = vec![0; 16 * 1024];
        loop {
            let read = client_read.read(&mut buffer).await?;
            if read == 0 || rules.take(&buffer[..read]) {
                return Ok::<_, std::io::Error>(());
            }
            server_write.write_all(&buffer[..read]).await?;
        }
    };
    let answers = tokio::io::copy(&mut server_read, &mut client_write);
    // Whichever side ends first ends the connection: dropping both halves closes it.
    tokio::select! {
        _ = requests => {}
        _ = answers => {}
    }
}
