//! Verifying bearer tokens (`shared::auth`), on any bytes, never yields a valid verdict that it
//! should not:
//!
//! - the bytes as a token are never accepted (no one can guess an HS256 signature), and as an
//!   `Authorization` header only when it carries the configured static token;
//! - the bytes as a JWT header and claims, signed with the verifier's key, are accepted only
//!   when an independent reading of the claims says they should be (issuer, audience, expiry
//!   with the leeway, a delivery scope, HS256 with the configured key id), as the client they
//!   name; signed with another key, never.

use std::sync::OnceLock;

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde::Deserialize;
use serde_json::Value;
use shared::auth::access_tokens::{AccessTokens, LEEWAY_SECS, SigningKey};
use shared::auth::{Authenticator, Principal, StaticTokens, Verdict, bearer_token};
use shared::domain::oauth::DELIVERY_SCOPES;

const KID: &str = "fuzz";
const KEY: &[u8] = b"fuzz-signing-key-0123456789abcdef";
const OTHER_KEY: &[u8] = b"fuzz-other-signing-key-0123456789";
const STATIC_TOKEN: &str = "fuzz-static-token-0123456789";
const ISSUER: &str = "fuzz-issuer";
const AUDIENCE: &str = "fuzz-audience";
/// The header of the tokens the verifier issues, for inputs that give only claims.
const HEADER: &[u8] = br#"{"alg":"HS256","typ":"JWT","kid":"fuzz"}"#;

struct Verifiers {
    tokens: AccessTokens,
    auth: Authenticator,
}

/// Built once: building keys per input would only slow the fuzzer down.
fn verifiers() -> &'static Verifiers {
    static VERIFIERS: OnceLock<Verifiers> = OnceLock::new();
    VERIFIERS.get_or_init(|| {
        let tokens = || {
            let key = SigningKey::new(KID, KEY.to_vec()).expect("a long enough key");
            AccessTokens::new(vec![key], ISSUER, AUDIENCE).expect("one key")
        };
        Verifiers {
            tokens: tokens(),
            auth: Authenticator::new()
                .with(StaticTokens::new([STATIC_TOKEN]))
                .with(tokens()),
        }
    })
}

pub fn check(data: &[u8]) {
    let verifiers = verifiers();
    let text = String::from_utf8_lossy(data);
    let verdict = verifiers.tokens.check(&text);
    assert!(
        !matches!(verdict, Verdict::Accepted(_)),
        "arbitrary bytes were accepted as an access token: {text:?}"
    );
    if let Ok(principal) = without_io(verifiers.auth.authenticate(Some(&text))) {
        assert_eq!(
            (bearer_token(&text), principal.subject.as_str()),
            (Some(STATIC_TOKEN), "static-token"),
            "an Authorization header was accepted without the static token: {text:?}"
        );
    }

    // Header and claims: before and after the first NUL byte, or the verifier's own header.
    let (header, claims) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (HEADER, data),
    };
    let encode = |part: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(part);
    let unsigned = format!("{}.{}", encode(header), encode(claims));
    let sign = |key: &[u8]| {
        let signature = jsonwebtoken::crypto::sign(
            unsigned.as_bytes(),
            &EncodingKey::from_secret(key),
            Algorithm::HS256,
        )
        .expect("HS256 signs with any key");
        format!("{unsigned}.{signature}")
    };
    if let Verdict::Accepted(principal) = verifiers.tokens.check(&sign(KEY)) {
        check_accepted(header, claims, &principal);
    }
    assert!(
        !matches!(
            verifiers.tokens.check(&sign(OTHER_KEY)),
            Verdict::Accepted(_)
        ),
        "a token signed with another key was accepted"
    );
}

/// The outcome of a future that does no I/O, as verifying static and HS256 tokens does not.
fn without_io<T>(future: impl std::future::Future<Output = T>) -> T {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(outcome) => outcome,
        std::task::Poll::Pending => panic!("verifying a static or HS256 token waited on I/O"),
    }
}

/// The members of a header that decide a verdict, as plain JSON; the others are skipped unread,
/// as the verifier skips them (a claim it does not know may hold a number no f64 holds).
#[derive(Deserialize)]
struct DecidingHeader {
    #[serde(default)]
    alg: Value,
    #[serde(default)]
    kid: Value,
}

/// The claims that decide a verdict, likewise.
#[derive(Deserialize)]
struct DecidingClaims {
    #[serde(default)]
    iss: Value,
    #[serde(default)]
    aud: Value,
    #[serde(default)]
    exp: Value,
    #[serde(default)]
    scope: Value,
    #[serde(default)]
    client_id: Value,
}

/// What must hold of a token that was accepted, read with plain JSON rather than the verifier's
/// own types.
fn check_accepted(header: &[u8], claims: &[u8], principal: &Principal) {
    let header: DecidingHeader =
        serde_json::from_slice(header).expect("an accepted header is a JSON object");
    assert_eq!(header.alg, "HS256", "accepted with another algorithm");
    assert_eq!(header.kid, KID, "accepted with another key id");
    let claims: DecidingClaims =
        serde_json::from_slice(claims).expect("accepted claims are a JSON object");
    assert_eq!(claims.iss, ISSUER, "accepted from another issuer");
    let audience_ok = match &claims.aud {
        Value::String(audience) => audience == AUDIENCE,
        Value::Array(audiences) => audiences.iter().any(|a| a == AUDIENCE),
        _ => false,
    };
    assert!(audience_ok, "accepted for another audience: {}", claims.aud);
    let now = jsonwebtoken::get_current_timestamp() as f64;
    let expiry = claims.exp.as_f64().expect("accepted without a numeric exp");
    assert!(
        expiry >= now - LEEWAY_SECS as f64,
        "accepted after it expired: exp {expiry}, now {now}"
    );
    let scope = claims.scope.as_str().expect("accepted without a scope");
    assert!(
        scope.split(' ').any(|s| DELIVERY_SCOPES.contains(&s)),
        "accepted without a delivery scope: {scope:?}"
    );
    assert_eq!(
        claims.client_id.as_str(),
        Some(principal.subject.as_str()),
        "accepted as another client than the one named"
    );
}
