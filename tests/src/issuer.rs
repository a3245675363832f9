//! An external OAuth 2.0 issuer on loopback, as Cognito, Auth0, Okta or Keycloak would be for the
//! receiver: an OpenID discovery document, a JWKS with keys the test generates (RSA and P-256,
//! with aws-lc-rs, independently of the verifier's `jsonwebtoken`), and a `client_credentials`
//! token endpoint that Insider One (the simulator) can get RS256 access tokens from.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use http::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The audience every stack that trusts a test issuer expects.
pub const AUDIENCE: &str = "insider-webhooks-test-receiver";
/// The client the issuer's token endpoint knows.
pub const CLIENT_ID: &str = "insider-one-at-partner";
pub const CLIENT_SECRET: &str = "partner-issued-client-secret-0123456789";

fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A signing key of the issuer.
pub struct IssuerKey {
    pub kid: String,
    pair: Pair,
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

impl IssuerKey {
    pub fn rsa(kid: &str) -> Self {
        Self {
            kid: kid.into(),
            pair: Pair::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).expect("an RSA key")),
        }
    }

    pub fn ec(kid: &str) -> Self {
        Self {
            kid: kid.into(),
            pair: Pair::Ec(
                EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("a P-256 key"),
            ),
        }
    }

    /// The algorithm its tokens name.
    pub fn alg(&self) -> &'static str {
        match self.pair {
            Pair::Rsa(_) => "RS256",
            Pair::Ec(_) => "ES256",
        }
    }

    /// Its public half as a JWK.
    pub fn jwk(&self) -> Value {
        match &self.pair {
            Pair::Rsa(pair) => {
                let public = pair.public_key();
                json!({
                    "kty": "RSA", "use": "sig", "kid": self.kid,
                    "n": b64(public.modulus().big_endian_without_leading_zero()),
                    "e": b64(public.exponent().big_endian_without_leading_zero()),
                })
            }
            Pair::Ec(pair) => {
                // Uncompressed point: 0x04, x, y.
                let point = pair.public_key().as_ref();
                json!({
                    "kty": "EC", "use": "sig", "crv": "P-256", "kid": self.kid,
                    "x": b64(&point[1..33]), "y": b64(&point[33..65]),
                })
            }
        }
    }

    /// The bytes an attacker would use as an HMAC secret: the published public key.
    pub fn public_bytes(&self) -> Vec<u8> {
        self.jwk().to_string().into_bytes()
    }

    /// `header.claims.signature` over exactly these header and claims.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let message = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let signature = match &self.pair {
            Pair::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message.as_bytes(),
                    &mut signature,
                )
                .expect("RSA signs");
                signature
            }
            Pair::Ec(pair) => pair
                .sign(&SystemRandom::new(), message.as_bytes())
                .expect("ECDSA signs")
                .as_ref()
                .to_vec(),
        };
        format!("{message}.{}", b64(signature))
    }

    /// The header of its tokens.
    pub fn header(&self) -> Value {
        json!({"alg": self.alg(), "typ": "JWT", "kid": self.kid})
    }

    /// A token over `claims` with its own header.
    pub fn token(&self, claims: &Value) -> String {
        self.sign(&self.header(), claims)
    }
}

/// `header.claims.` signed HS256 with `secret`, as an attacker holding only public material would.
pub fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let message = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, message.as_bytes());
    format!("{message}.{}", b64(tag.as_ref()))
}

struct Published {
    /// The issuer's own URL (what `iss` says); may differ from where it is served, to test a
    /// discovery document that names another issuer.
    issuer: String,
    url: String,
    keys: Mutex<Vec<Value>>,
    /// The key its token endpoint signs with: the published RSA key.
    signer: Arc<IssuerKey>,
    jwks_fetches: AtomicUsize,
    tokens_issued: AtomicUsize,
}

/// The running issuer; dropping it stops the server.
pub struct TestIssuer {
    published: Arc<Published>,
    server: tokio::task::JoinHandle<()>,
    /// The keys it publishes at start: an RSA and a P-256 key.
    pub rsa: Arc<IssuerKey>,
    pub ec: Arc<IssuerKey>,
}

impl TestIssuer {
    pub async fn start() -> Self {
        Self::start_naming(None).await
    }

    /// One whose discovery document names `issuer` instead of its own URL.
    pub async fn start_naming(issuer: Option<&str>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let rsa = Arc::new(IssuerKey::rsa("rsa-1"));
        let ec = Arc::new(IssuerKey::ec("ec-1"));
        let published = Arc::new(Published {
            issuer: issuer.map_or_else(|| url.clone(), str::to_owned),
            url,
            keys: Mutex::new(vec![rsa.jwk(), ec.jwk()]),
            signer: Arc::clone(&rsa),
            jwks_fetches: AtomicUsize::new(0),
            tokens_issued: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .with_state(Arc::clone(&published));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            published,
            server,
            rsa,
            ec,
        }
    }

    /// Where it is served, which is also its issuer URL.
    pub fn url(&self) -> String {
        self.published.url.clone()
    }

    /// Its token endpoint.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.published.url)
    }

    /// Adds a key to the published set.
    pub fn publish(&self, key: &IssuerKey) {
        self.published.keys.lock().unwrap().push(key.jwk());
    }

    /// Removes a key from the published set.
    pub fn withdraw(&self, kid: &str) {
        self.published
            .keys
            .lock()
            .unwrap()
            .retain(|key| key["kid"] != kid);
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.published.jwks_fetches.load(Ordering::SeqCst)
    }

    /// How many access tokens its token endpoint issued.
    pub fn tokens_issued(&self) -> usize {
        self.published.tokens_issued.load(Ordering::SeqCst)
    }

    /// Claims a receiver trusting this issuer with [`AUDIENCE`] accepts.
    pub fn claims(&self) -> Value {
        claims(&self.published.issuer)
    }

    /// Valid claims with `changes` merged in (`null` removes a claim).
    pub fn claims_with(&self, changes: Value) -> Value {
        crate::oauth::merged(self.claims(), changes)
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn now() -> i64 {
    i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap_or(i64::MAX)
}

fn claims(issuer: &str) -> Value {
    let now = now();
    json!({
        "iss": issuer, "aud": AUDIENCE, "sub": CLIENT_ID, "client_id": CLIENT_ID,
        "scope": "webhook.write", "iat": now, "nbf": now, "exp": now + 300,
    })
}

async fn discovery(State(published): State<Arc<Published>>) -> Json<Value> {
    let url = &published.url;
    Json(json!({
        "issuer": published.issuer,
        "jwks_uri": format!("{url}/jwks"),
        "token_endpoint": format!("{url}/token"),
        "grant_types_supported": ["client_credentials"],
    }))
}

async fn jwks(State(published): State<Arc<Published>>) -> Json<Value> {
    published.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    Json(json!({"keys": *published.keys.lock().unwrap()}))
}

/// `client_credentials` with the client in the form (`client_secret_post`) or in Basic.
async fn token(
    State(published): State<Arc<Published>>,
    headers: http::HeaderMap,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    let basic = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
        })
        .and_then(|decoded| String::from_utf8(decoded).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            Some((id.to_owned(), secret.to_owned()))
        });
    let (id, secret) = basic.unwrap_or_else(|| {
        (
            form.get("client_id").cloned().unwrap_or_default(),
            form.get("client_secret").cloned().unwrap_or_default(),
        )
    });
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "unsupported_grant_type"})),
        );
    }
    if (id.as_str(), secret.as_str()) != (CLIENT_ID, CLIENT_SECRET) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        );
    }
    published.tokens_issued.fetch_add(1, Ordering::SeqCst);
    let token = published.signer.token(&claims(&published.issuer));
    (
        StatusCode::OK,
        Json(json!({"access_token": token, "token_type": "Bearer", "expires_in": 300})),
    )
}
