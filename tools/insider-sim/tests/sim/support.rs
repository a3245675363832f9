//! What the tests share: the simulator on a free loopback port, a client for its API, and a tiny
//! webhook receiver (with its own OAuth 2.0 token endpoint) that tests script and inspect.

use std::collections::{HashSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use http::{HeaderMap, Method, StatusCode, header};
use insider_sim::server::{self, RunningSim, SimConfig};
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub const SENDER: &str = "15551234567";
pub const ALL_SCOPES: [&str; 4] = [
    "wa-webhook-read",
    "wa-webhook-manage",
    "wa-webhook-update",
    "wa-webhook-delete",
];

pub async fn sim() -> RunningSim {
    sim_with(|_| {}).await
}

pub async fn sim_with(adjust: impl FnOnce(&mut SimConfig)) -> RunningSim {
    let mut config = SimConfig {
        probe_timeout: Duration::from_secs(2),
        ..SimConfig::default()
    };
    adjust(&mut config);
    server::start(config).await.expect("the simulator starts")
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

/// A status and a JSON body (`null` when the body is not JSON).
pub async fn answer(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("a readable body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Calls the simulator's API as our project would.
pub struct Api {
    pub base: String,
    pub token: Option<String>,
    http: reqwest::Client,
}

impl Api {
    /// With a gateway token holding every webhook scope.
    pub async fn new(sim: &RunningSim) -> Api {
        let mut api = Api::anonymous(sim);
        api.token = Some(api.gateway_token(&ALL_SCOPES).await);
        api
    }

    pub fn anonymous(sim: &RunningSim) -> Api {
        Api {
            base: sim.url(),
            token: None,
            http: http(),
        }
    }

    pub async fn gateway_token(&self, scopes: &[&str]) -> String {
        let (status, body) = self
            .post_json(
                "/auth/token",
                &json!({"client_id": "sim-client", "client_secret": "sim-secret", "scopes": scopes}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"]
            .as_str()
            .expect("an access token")
            .to_owned()
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        answer(request.send().await.expect("the simulator answers")).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn post_raw(&self, path: &str, body: &'static str) -> (StatusCode, Value) {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        answer(request.send().await.expect("the simulator answers")).await
    }

    pub async fn list(&self, phone: &str) -> (StatusCode, Value) {
        self.call(
            reqwest::Method::GET,
            &format!("/api/wa/v2/webhooks?phoneNumber={phone}"),
            None,
        )
        .await
    }

    pub async fn create(&self, phone: &str, body: &Value) -> (StatusCode, Value) {
        self.post_json(&format!("/api/wa/v2/webhooks?phoneNumber={phone}"), body)
            .await
    }

    pub async fn update(&self, id: u64, phone: &str, body: &Value) -> (StatusCode, Value) {
        self.call(
            reqwest::Method::PUT,
            &format!("/api/wa/v2/webhooks/{id}?phoneNumber={phone}"),
            Some(body),
        )
        .await
    }

    pub async fn delete(&self, id: u64, phone: &str) -> (StatusCode, Value) {
        self.call(
            reqwest::Method::DELETE,
            &format!("/api/wa/v2/webhooks/{id}?phoneNumber={phone}"),
            None,
        )
        .await
    }

    pub async fn settings(&self, sub_product: &str, body: &Value) -> (StatusCode, Value) {
        self.post_json(&format!("/api/wa/v2/{sub_product}/settings"), body)
            .await
    }

    pub async fn state(&self) -> Value {
        let (status, body) = self.call(reqwest::Method::GET, "/_sim/state", None).await;
        assert_eq!(status, StatusCode::OK);
        body
    }

    pub async fn fault(&self, spec: Value) {
        let (status, body) = self.post_json("/_sim/faults", &spec).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Creates a webhook that must be accepted; its id.
    pub async fn created(&self, body: &Value) -> u64 {
        let (status, answer) = self.create(SENDER, body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer["webhook"].as_u64().expect("a webhook id")
    }
}

/// The vendor's create example, pointed at a test receiver.
pub fn create_body(receiver: &Receiver, path: &str) -> Value {
    json!({
        "authType": "oauth2",
        "subProduct": "conversational",
        "webhookUrl": receiver.url(path),
        "events": ["sent", "delivered", "failed"],
        "oauth2": {
            "grantType": "client_credentials",
            "tokenUrl": receiver.token_url(),
            "clientId": "partner-whatsapp-client",
            "clientSecret": "partner-whatsapp-secret",
            "scopes": ["whatsapp.read", "whatsapp.write"],
            "expiresIn": 3600
        }
    })
}

/// What the receiver answers to its next webhook request.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    Status(u16),
    /// A redirect of this status to a path of the receiver, which answers 200 to any method
    /// there: following it would succeed, so a test sees whether the caller did.
    Redirect(u16, &'static str),
    /// Never answers: the caller's timeout has to end the request.
    Hang,
}

/// How the receiver authenticates webhook requests.
#[derive(Debug, Clone)]
pub enum Auth {
    Open,
    Bearer(String),
    /// Tokens issued by its own token endpoint and not revoked since.
    OAuth2,
}

#[derive(Debug, Clone)]
pub struct Hit {
    pub method: Method,
    pub path: String,
    pub body: Bytes,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TokenHit {
    pub form: Vec<(String, String)>,
    pub authorization: Option<String>,
}

impl TokenHit {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

struct ReceiverState {
    auth: Auth,
    script: VecDeque<Reply>,
    fallback: Reply,
    hits: Vec<Hit>,
    seen: HashSet<Bytes>,
    token_script: VecDeque<u16>,
    token_expires_in: Option<u64>,
    /// When set, every token answer carries a new refresh token, as rotating servers do.
    rotate_refresh_tokens: bool,
    token_hits: Vec<TokenHit>,
    issued: Vec<String>,
    revoked: HashSet<String>,
    /// Revoke every token issued so far when the webhook gets its n-th request.
    revoke_at_hit: Option<usize>,
    /// Paths a scripted redirect pointed to; they answer 200 to anything.
    redirect_targets: HashSet<&'static str>,
}

/// A webhook receiver on a free loopback port: `POST /token` is its OAuth 2.0 token endpoint,
/// any other request a webhook. Stops when dropped.
pub struct Receiver {
    addr: SocketAddr,
    state: Arc<Mutex<ReceiverState>>,
    _shutdown: oneshot::Sender<()>,
}

impl Receiver {
    pub async fn start(auth: Auth) -> Receiver {
        let state = Arc::new(Mutex::new(ReceiverState {
            auth,
            script: VecDeque::new(),
            fallback: Reply::Status(200),
            hits: Vec::new(),
            seen: HashSet::new(),
            token_script: VecDeque::new(),
            token_expires_in: Some(3600),
            rotate_refresh_tokens: false,
            token_hits: Vec::new(),
            issued: Vec::new(),
            revoked: HashSet::new(),
            revoke_at_hit: None,
            redirect_targets: HashSet::new(),
        }));
        let app = Router::new()
            .route("/token", post(token))
            .fallback(any(webhook))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("a bound address");
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Receiver {
            addr,
            state,
            _shutdown: shutdown,
        }
    }

    fn lock(&self) -> MutexGuard<'_, ReceiverState> {
        self.state.lock().expect("receiver state")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn token_url(&self) -> String {
        self.url("/token")
    }

    /// The next webhook answers, in order; then the fallback.
    pub fn script(&self, replies: &[Reply]) {
        self.lock().script.extend(replies);
    }

    pub fn fallback(&self, reply: Reply) {
        self.lock().fallback = reply;
    }

    /// The next token endpoint answers (HTTP statuses), in order; then 200.
    pub fn script_token(&self, statuses: &[u16]) {
        self.lock().token_script.extend(statuses);
    }

    pub fn token_expires_in(&self, seconds: Option<u64>) {
        self.lock().token_expires_in = seconds;
    }

    pub fn rotate_refresh_tokens(&self) {
        self.lock().rotate_refresh_tokens = true;
    }

    /// Every token issued before the webhook's n-th request stops working then, as after a key
    /// rotation.
    pub fn revoke_tokens_at_hit(&self, n: usize) {
        self.lock().revoke_at_hit = Some(n);
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.lock().hits.clone()
    }

    pub fn token_hits(&self) -> Vec<TokenHit> {
        self.lock().token_hits.clone()
    }
}

fn header_string(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn webhook(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    method: Method,
    uri: http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorization = header_string(&headers, header::AUTHORIZATION);
    let reply = {
        let mut state = state.lock().expect("receiver state");
        state.hits.push(Hit {
            method,
            path: uri.path().to_owned(),
            body: body.clone(),
            authorization: authorization.clone(),
            content_type: header_string(&headers, header::CONTENT_TYPE),
        });
        if state.redirect_targets.contains(uri.path()) {
            return (StatusCode::OK, "redirect target").into_response();
        }
        if state.revoke_at_hit == Some(state.hits.len()) {
            let issued = state.issued.clone();
            state.revoked.extend(issued);
        }
        let token = authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("Bearer "));
        let authorized = match &state.auth {
            Auth::Open => true,
            Auth::Bearer(expected) => token == Some(expected.as_str()),
            Auth::OAuth2 => token
                .is_some_and(|t| state.issued.iter().any(|i| i == t) && !state.revoked.contains(t)),
        };
        if !authorized {
            return (StatusCode::UNAUTHORIZED, "bad credentials").into_response();
        }
        let reply = state.script.pop_front().unwrap_or(state.fallback);
        if let Reply::Redirect(_, target) = reply {
            state.redirect_targets.insert(target);
        }
        if let Reply::Status(200) = reply {
            let new = state.seen.insert(body);
            let (stored, duplicates) = if new { (1, 0) } else { (0, 1) };
            return json_reply(
                StatusCode::OK,
                &json!({"stored": stored, "duplicates": duplicates}),
            );
        }
        reply
    };
    match reply {
        Reply::Hang => std::future::pending().await,
        Reply::Status(status) => (
            StatusCode::from_u16(status).expect("a scripted status"),
            "scripted answer",
        )
            .into_response(),
        Reply::Redirect(status, path) => (
            StatusCode::from_u16(status).expect("a scripted status"),
            [(header::LOCATION, path)],
            "moved",
        )
            .into_response(),
    }
}

async fn token(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = state.lock().expect("receiver state");
    state.token_hits.push(TokenHit {
        form: form_urlencoded::parse(&body).into_owned().collect(),
        authorization: header_string(&headers, header::AUTHORIZATION),
    });
    let status = state.token_script.pop_front().unwrap_or(200);
    if status != 200 {
        let status = StatusCode::from_u16(status).expect("a scripted status");
        return json_reply(status, &json!({"error": "invalid_client"}));
    }
    let access_token = format!("receiver-token-{}", state.issued.len() + 1);
    state.issued.push(access_token.clone());
    let mut answer = json!({"access_token": access_token, "token_type": "bearer"});
    if let Some(seconds) = state.token_expires_in {
        answer["expires_in"] = seconds.into();
    }
    if state.rotate_refresh_tokens {
        answer["refresh_token"] = format!("rotated-refresh-{}", state.issued.len()).into();
    }
    json_reply(StatusCode::OK, &answer)
}

fn json_reply(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A loopback address where nothing listens (its port was just given back).
pub async fn unreachable_url() -> String {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("a bound address");
    drop(listener);
    format!("http://{addr}/webhooks/conversational")
}
