//! OAuth 2.0 for inbound delivery: every RFC 6749 error case, refresh-token rules, and the
//! receiver's checks on access tokens.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use e2e_tests::oauth::deliver_with;
use e2e_tests::payloads::status;
use e2e_tests::stack::{self, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, WEBHOOK_TOKEN, client};
use e2e_tests::stores;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::auth::access_tokens::{AccessTokens, SigningKey};
use shared::auth::oauth::{
    ConfiguredClient, REGISTERED_REFRESH_TOKEN_LIFETIME_SECS, TokenService, refresh_token_digest,
};
use shared::auth::{Authenticator, StaticTokens};
use shared::domain::oauth::{GrantType, MintedClient, MintedFor, OAuthClient};
use shared::http::oauth::token_endpoint;
use shared::http::receiver::{DEFAULT_MAX_BODY_BYTES, DEFAULT_STORE_BUDGET, Receiver, receive};
use shared::http::{Body, Request, unreadable_body};
use shared::store::embedded::EmbeddedStore;
use shared::store::{ClientStore, RefreshGrant, StoreError, StoreFuture};

const T0: i64 = 1_700_000_000;

#[tokio::test]
async fn the_receiver_refuses_wrongly_scoped_and_tampered_tokens() {
    let (stack, _dir) = stack::embedded().await;
    let base = stack.url();
    let token = |scope: &'static str| {
        let base = base.clone();
        async move {
            client()
                .post(format!("{base}/oauth/token"))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", OAUTH_CLIENT_ID),
                    ("client_secret", OAUTH_CLIENT_SECRET),
                    ("scope", scope),
                ])
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()["access_token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let read_only = token("whatsapp.read").await;
    let (code, answer, challenge) = deliver_with(&base, &read_only, "wamid.scope").await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert_eq!(answer["error"]["code"], "invalid_token");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("scope")
    );
    assert_eq!(challenge.as_deref(), Some("Bearer error=\"invalid_token\""));

    let good = token("whatsapp.write").await;
    let mut tampered = good.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let (code, answer, challenge) = deliver_with(
        &base,
        std::str::from_utf8(&tampered).unwrap(),
        "wamid.tamper",
    )
    .await;
    assert_eq!(
        (code, answer["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_token"))
    );
    assert_eq!(challenge.as_deref(), Some("Bearer error=\"invalid_token\""));

    let (_, by_key) = {
        let response = client()
            .get(format!("{base}/events?key=whatsapp-oauth"))
            .bearer_auth(e2e_tests::stack::ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        (response.status(), response.json::<Value>().await.unwrap())
    };
    assert_eq!(
        by_key["events"].as_array().unwrap().len(),
        0,
        "refused deliveries store nothing"
    );
    let (code, _, _) = deliver_with(&base, &good, "wamid.good").await;
    assert_eq!(code, StatusCode::OK);
}

/// A token service with two clients: one allowed both grants whose refresh tokens rotate, one
/// allowed only client_credentials.
fn service() -> (TokenService, tempfile::TempDir) {
    let (store, dir) = stores::embedded();
    (service_on(Arc::new(store)), dir)
}

fn service_on(store: Arc<dyn ClientStore>) -> TokenService {
    let client = |id: &str, grants: Vec<GrantType>| {
        ConfiguredClient {
            client_id: id.into(),
            client_secret: format!("{id}-secret-long-enough-0123456789"),
            rotate_refresh_tokens: grants.contains(&GrantType::RefreshToken),
            grants,
            scopes: vec!["webhook.write".into(), "whatsapp.read".into()],
            token_lifetime_secs: 600,
        }
        .into_client()
        .unwrap()
    };
    TokenService {
        configured: vec![
            client(
                "full",
                vec![GrantType::ClientCredentials, GrantType::RefreshToken],
            ),
            client("cc-only", vec![GrantType::ClientCredentials]),
        ],
        store,
        tokens: AccessTokens::new(vec![SigningKey::generate("k")], "iss", "aud").unwrap(),
    }
}

fn token_request(content_type: Option<&str>, authorization: Option<String>, body: &str) -> Request {
    let mut builder = http::Request::builder().method("POST").uri("/oauth/token");
    if let Some(content_type) = content_type {
        builder = builder.header("content-type", content_type);
    }
    if let Some(authorization) = authorization {
        builder = builder.header("authorization", authorization);
    }
    builder.body(Body::from(body.to_owned())).unwrap()
}

fn basic(id: &str, secret: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

/// A form request to `path` without client authentication headers.
fn form_to(method: &str, path: &str, body: String) -> Request {
    http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn every_rfc_6749_error_case() {
    let (service, _dir) = service();
    let full = "client_id=full&client_secret=full-secret-long-enough-0123456789";
    let cases: Vec<(Request, StatusCode, &str, bool)> = vec![
        (
            token_request(FORM, None, full),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            false,
        ),
        (
            token_request(FORM, None, &format!("grant_type=password&{full}")),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            false,
        ),
        (
            token_request(FORM, None, "grant_type=client_credentials"),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            false,
        ),
        (
            token_request(
                FORM,
                None,
                "grant_type=client_credentials&client_id=full&client_secret=wrong",
            ),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            false,
        ),
        (
            token_request(
                FORM,
                Some(basic("full", "wrong")),
                "grant_type=client_credentials",
            ),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            true,
        ),
        (
            token_request(
                FORM,
                Some(basic("nobody", "x")),
                "grant_type=client_credentials",
            ),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            true,
        ),
        (
            token_request(
                FORM,
                Some("Basic !!!".into()),
                "grant_type=client_credentials",
            ),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            // RFC 6749 5.2: the client tried Basic, so the challenge is due even though its
            // credentials could not be read.
            true,
        ),
        (
            token_request(
                FORM,
                Some(basic("full", "full-secret-long-enough-0123456789")),
                &format!("grant_type=client_credentials&{full}"),
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            false,
        ),
        (
            token_request(
                FORM,
                None,
                "grant_type=refresh_token&refresh_token=x&client_id=cc-only&client_secret=cc-only-secret-long-enough-0123456789",
            ),
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            false,
        ),
        (
            token_request(
                FORM,
                None,
                &format!("grant_type=client_credentials&scope=admin&{full}"),
            ),
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            false,
        ),
        (
            token_request(FORM, None, &format!("grant_type=refresh_token&{full}")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            false,
        ),
        (
            token_request(
                FORM,
                None,
                &format!("grant_type=refresh_token&refresh_token=made-up&{full}"),
            ),
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            false,
        ),
        (
            token_request(
                FORM,
                None,
                &format!("grant_type=client_credentials&grant_type=refresh_token&{full}"),
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            false,
        ),
        (
            token_request(
                Some("text/plain"),
                None,
                &format!("grant_type=client_credentials&{full}"),
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            false,
        ),
        (
            token_request(Some("application/json"), None, "{not json"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            false,
        ),
    ];
    for (n, (request, status, code, challenge)) in cases.into_iter().enumerate() {
        let response = token_endpoint(&service, request).await;
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(
            (response.status(), body["error"].as_str()),
            (status, Some(code)),
            "case {n}: {body}"
        );
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "case {n}"
        );
        assert_eq!(
            response.headers().contains_key("www-authenticate"),
            challenge,
            "case {n}"
        );
        assert_eq!(response.headers()["cache-control"], "no-store", "case {n}");
        assert!(
            !String::from_utf8_lossy(response.body()).contains("secret-long-enough"),
            "case {n}"
        );
    }
}

/// RFC 6749 5.1 asks it of token responses; we answer so on every route of the endpoint, and
/// for bodies refused before it runs.
#[tokio::test]
async fn every_oauth_answer_forbids_caching() {
    let (service, _dir) = service();
    let granted = token_endpoint(
        &service,
        form_to(
            "POST",
            "/oauth/token",
            format!("grant_type=client_credentials&{FULL_CLIENT}"),
        ),
    )
    .await;
    assert_eq!(granted.status(), StatusCode::OK);
    let refresh = serde_json::from_slice::<Value>(granted.body()).unwrap()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let answers = [
        ("token granted", StatusCode::OK, granted),
        (
            "token revoked",
            StatusCode::OK,
            token_endpoint(
                &service,
                form_to(
                    "POST",
                    "/oauth/revoke",
                    format!("token={refresh}&{FULL_CLIENT}"),
                ),
            )
            .await,
        ),
        (
            "token refused",
            StatusCode::BAD_REQUEST,
            token_endpoint(&service, form_to("POST", "/oauth/token", String::new())).await,
        ),
        (
            "unknown route",
            StatusCode::NOT_FOUND,
            token_endpoint(&service, form_to("POST", "/oauth/authorize", String::new())).await,
        ),
        (
            "wrong method",
            StatusCode::METHOD_NOT_ALLOWED,
            token_endpoint(&service, form_to("GET", "/oauth/token", String::new())).await,
        ),
        (
            "unreadable body",
            StatusCode::BAD_REQUEST,
            unreadable_body("/oauth/token", "the body was cut short"),
        ),
    ];
    for (what, status, response) in answers {
        assert_eq!(response.status(), status, "{what}");
        assert_eq!(response.headers()["cache-control"], "no-store", "{what}");
        assert_eq!(response.headers()["pragma"], "no-cache", "{what}");
    }
}

#[tokio::test]
async fn rotating_refresh_tokens_are_single_use_and_keep_their_scope() {
    let (service, _dir) = service();
    let grant = |body: String| token_endpoint(&service, token_request(FORM, None, &body));
    let full = "client_id=full&client_secret=full-secret-long-enough-0123456789";
    let first = grant(format!("grant_type=client_credentials&{full}")).await;
    assert_eq!(first.status(), StatusCode::OK);
    let first: Value = serde_json::from_slice(first.body()).unwrap();
    assert_eq!(
        first["scope"], "webhook.write whatsapp.read",
        "no scope asked: every allowed scope"
    );
    assert_eq!(first["token_type"], "Bearer");
    let refresh = first["refresh_token"].as_str().unwrap();

    let cc_only = grant(
        "grant_type=client_credentials&client_id=cc-only&client_secret=cc-only-secret-long-enough-0123456789"
            .to_owned(),
    )
    .await;
    let cc_only: Value = serde_json::from_slice(cc_only.body()).unwrap();
    assert!(
        cc_only.get("refresh_token").is_none(),
        "no refresh token without the refresh grant"
    );

    let narrowed = grant(format!(
        "grant_type=refresh_token&refresh_token={refresh}&scope=webhook.write&{full}"
    ))
    .await;
    let narrowed: Value = serde_json::from_slice(narrowed.body()).unwrap();
    assert_eq!(
        narrowed["scope"], "webhook.write",
        "the access token has the narrowed scope"
    );
    let next = narrowed["refresh_token"].as_str().unwrap();
    assert_ne!(next, refresh, "a rotating client gets a new refresh token");
    // (A rotated-out token presented again revokes its family: see
    // a_replayed_refresh_token_revokes_its_family.)
    // RFC 6749 6: the new refresh token's scope is identical to the old one's, not the narrowed
    // scope of the access token, so it obtains the full original scope again.
    let restored = grant(format!(
        "grant_type=refresh_token&refresh_token={next}&{full}"
    ))
    .await;
    assert_eq!(restored.status(), StatusCode::OK);
    let restored: Value = serde_json::from_slice(restored.body()).unwrap();
    assert_eq!(
        restored["scope"], "webhook.write whatsapp.read",
        "the rotated refresh token keeps the original scope"
    );
    let after = restored["refresh_token"].as_str().unwrap();
    let asked_in_full = grant(format!(
        "grant_type=refresh_token&refresh_token={after}&scope=whatsapp.read%20webhook.write&{full}"
    ))
    .await;
    let asked_in_full: Value = serde_json::from_slice(asked_in_full.body()).unwrap();
    assert_eq!(asked_in_full["scope"], "whatsapp.read webhook.write");

    // A refresh never widens the grant: a refresh token granted only webhook.write, also one
    // rotated from it, cannot obtain whatsapp.read, though the client is allowed it.
    let narrow = grant(format!(
        "grant_type=client_credentials&scope=webhook.write&{full}"
    ))
    .await;
    let narrow: Value = serde_json::from_slice(narrow.body()).unwrap();
    let narrow = narrow["refresh_token"].as_str().unwrap();
    let widened = grant(format!(
        "grant_type=refresh_token&refresh_token={narrow}&scope=whatsapp.read&{full}"
    ))
    .await;
    let widened: Value = serde_json::from_slice(widened.body()).unwrap();
    assert_eq!(
        widened["error"], "invalid_scope",
        "a refresh never widens the grant"
    );
    let same = grant(format!(
        "grant_type=refresh_token&refresh_token={narrow}&{full}"
    ))
    .await;
    let same: Value = serde_json::from_slice(same.body()).unwrap();
    assert_eq!(
        same["scope"], "webhook.write",
        "the refused request used nothing up"
    );
    let narrow_next = same["refresh_token"].as_str().unwrap();
    let widened = grant(format!(
        "grant_type=refresh_token&refresh_token={narrow_next}&scope=webhook.write%20whatsapp.read&{full}"
    ))
    .await;
    let widened: Value = serde_json::from_slice(widened.body()).unwrap();
    assert_eq!(
        widened["error"], "invalid_scope",
        "nor does a rotation widen it"
    );

    // JSON bodies are accepted too, with the scope as a list.
    let json_body = json!({"grant_type": "client_credentials", "client_id": "full",
        "client_secret": "full-secret-long-enough-0123456789", "scope": ["webhook.write"]});
    let response = token_endpoint(
        &service,
        token_request(Some("application/json"), None, &json_body.to_string()),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// The answer of the token endpoint to a form body without client authentication headers.
#[tokio::test]
async fn a_replayed_refresh_token_revokes_its_family() {
    let (service, _dir) = service();
    let first = refresh_token_of(&service, FULL_CLIENT).await;
    let elsewhere = refresh_token_of(&service, FULL_CLIENT).await;
    let refresh =
        |token: &str| format!("grant_type=refresh_token&refresh_token={token}&{FULL_CLIENT}");
    let (status, rotated) = post_token(&service, &refresh(&first)).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();

    // RFC 9700 4.14.2: the rotated-out token again: refused, and the family's live token with it.
    let (status, replayed) = post_token(&service, &refresh(&first)).await;
    assert_eq!(
        (status, replayed["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{replayed}"
    );
    let (status, revoked) = post_token(&service, &refresh(&second)).await;
    assert_eq!(
        (status, revoked["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "the live token of the replayed family is revoked: {revoked}"
    );
    // Another family of the same client is not touched.
    let (status, other) = post_token(&service, &refresh(&elsewhere)).await;
    assert_eq!(status, StatusCode::OK, "{other}");
}

#[tokio::test]
async fn a_registered_refresh_token_is_renewed_when_used_and_a_configured_one_is_not() {
    let (service, _dir) = service();
    // A client minted at run time (not configured), with a registered refresh token that has
    // ten days left.
    let minted = ConfiguredClient {
        client_id: "insider-0a0b0c0d".into(),
        client_secret: "minted-secret-long-enough-0123456789".into(),
        grants: vec![GrantType::RefreshToken],
        scopes: vec!["webhook.write".into()],
        token_lifetime_secs: 600,
        rotate_refresh_tokens: false,
    }
    .into_client()
    .unwrap();
    assert!(stores::mint(service.store.as_ref(), &minted).await);
    let now = shared::clock::now_millis() / 1000;
    let token = "a-registered-refresh-token-0123456789";
    let grant = RefreshGrant::new(
        refresh_token_digest(token),
        minted.client_id.clone(),
        vec!["webhook.write".into()],
        now + 10 * 86_400,
    );
    service.store.save_refresh_token(&grant).await.unwrap();
    let body = format!(
        "grant_type=refresh_token&refresh_token={token}&client_id=insider-0a0b0c0d&client_secret=minted-secret-long-enough-0123456789"
    );
    let (status, answer) = post_token(&service, &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer.get("refresh_token").is_none(), "it does not rotate");
    let renewed = service
        .store
        .find_refresh_token(&grant.digest, &minted.client_id)
        .await
        .unwrap()
        .unwrap();
    let lifetime = i64::try_from(REGISTERED_REFRESH_TOKEN_LIFETIME_SECS).unwrap();
    assert!(
        (renewed.expires_at - (now + lifetime)).abs() < 60,
        "renewed for 90 days from now: {} vs {}",
        renewed.expires_at,
        now + lifetime
    );
    // Less than a day short of a full lifetime: used again, it is not written again (a day's
    // step), so its expiry stays where it was put.
    let nearly_full = RefreshGrant {
        expires_at: now + lifetime - 3600,
        ..renewed
    };
    service
        .store
        .save_refresh_token(&nearly_full)
        .await
        .unwrap();
    let (status, _) = post_token(&service, &body).await;
    assert_eq!(status, StatusCode::OK);
    let again = service
        .store
        .find_refresh_token(&grant.digest, &minted.client_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.expires_at, nearly_full.expires_at);
}

async fn post_token(service: &TokenService, body: &str) -> (StatusCode, Value) {
    let response = token_endpoint(service, token_request(FORM, None, body)).await;
    let answer = serde_json::from_slice(response.body()).unwrap();
    (response.status(), answer)
}

const FULL_CLIENT: &str = "client_id=full&client_secret=full-secret-long-enough-0123456789";

/// The embedded store, except that writing a refresh token fails while `failing` is set, as when
/// DynamoDB stops answering between reading the old token and writing the new one. A rotation
/// fails as a whole, as the store contract promises (`client_store_contract.rs` checks it).
struct RefreshTokenWritesFail {
    store: EmbeddedStore,
    failing: AtomicBool,
}

impl RefreshTokenWritesFail {
    fn refuse(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("injected failure".into()));
        }
        Ok(())
    }
}

impl ClientStore for RefreshTokenWritesFail {
    fn find_client<'a>(&'a self, client_id: &'a str) -> StoreFuture<'a, Option<OAuthClient>> {
        self.store.find_client(client_id)
    }

    fn create_client<'a>(
        &'a self,
        client: &'a OAuthClient,
        minted: &'a MintedClient,
    ) -> StoreFuture<'a, bool> {
        self.store.create_client(client, minted)
    }

    fn delete_client<'a>(&'a self, client_id: &'a str) -> StoreFuture<'a, bool> {
        self.store.delete_client(client_id)
    }

    fn minted_clients(&self) -> StoreFuture<'_, Vec<MintedClient>> {
        self.store.minted_clients()
    }

    fn set_minted_for<'a>(
        &'a self,
        client_id: &'a str,
        minted_for: &'a MintedFor,
    ) -> StoreFuture<'a, bool> {
        self.store.set_minted_for(client_id, minted_for)
    }

    fn save_refresh_token<'a>(&'a self, grant: &'a RefreshGrant) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.refuse()?;
            self.store.save_refresh_token(grant).await
        })
    }

    fn find_refresh_token<'a>(
        &'a self,
        digest: &'a str,
        client_id: &'a str,
    ) -> StoreFuture<'a, Option<RefreshGrant>> {
        self.store.find_refresh_token(digest, client_id)
    }

    fn take_refresh_token<'a>(
        &'a self,
        digest: &'a str,
        client_id: &'a str,
    ) -> StoreFuture<'a, Option<RefreshGrant>> {
        self.store.take_refresh_token(digest, client_id)
    }

    fn rotate_refresh_token<'a>(
        &'a self,
        digest: &'a str,
        client_id: &'a str,
        replacement: &'a RefreshGrant,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            self.refuse()?;
            self.store
                .rotate_refresh_token(digest, client_id, replacement)
                .await
        })
    }

    fn revoke_refresh_family<'a>(
        &'a self,
        family: &'a str,
        client_id: &'a str,
    ) -> StoreFuture<'a, bool> {
        self.store.revoke_refresh_family(family, client_id)
    }
}

#[tokio::test]
async fn a_rotation_that_cannot_be_stored_leaves_the_refresh_token_usable() {
    let (store, _dir) = stores::embedded();
    let store = Arc::new(RefreshTokenWritesFail {
        store,
        failing: AtomicBool::new(false),
    });
    let service = service_on(store.clone());
    let (_, first) = post_token(
        &service,
        &format!("grant_type=client_credentials&{FULL_CLIENT}"),
    )
    .await;
    let refresh = first["refresh_token"].as_str().unwrap();
    let refresh_request = format!("grant_type=refresh_token&refresh_token={refresh}&{FULL_CLIENT}");

    store.failing.store(true, Ordering::SeqCst);
    let (status, failed) = post_token(&service, &refresh_request).await;
    assert_eq!(
        (status, failed["error"].as_str()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Some("temporarily_unavailable")
        ),
        "{failed}"
    );

    store.failing.store(false, Ordering::SeqCst);
    let (status, retried) = post_token(&service, &refresh_request).await;
    assert_eq!(status, StatusCode::OK, "the retry succeeds: {retried}");
    let next = retried["refresh_token"].as_str().unwrap();
    assert_ne!(next, refresh, "and rotates the token");
    let (_, reused) = post_token(&service, &refresh_request).await;
    assert_eq!(
        reused["error"], "invalid_grant",
        "the old one is then used up"
    );
}

/// The refresh token of a client_credentials answer.
async fn refresh_token_of(service: &TokenService, client: &str) -> String {
    let (status, answer) =
        post_token(service, &format!("grant_type=client_credentials&{client}")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["refresh_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn expired_and_other_clients_refresh_tokens_are_invalid_grants() {
    let (service, _dir) = service();
    let refresh = |token: &str, client: &str| {
        format!("grant_type=refresh_token&refresh_token={token}&{client}")
    };
    // Expired, but not deleted yet: the table's TTL deletes expired items only eventually.
    let expired = "an-expired-refresh-token-of-the-full-client";
    service
        .store
        .save_refresh_token(&RefreshGrant::new(
            refresh_token_digest(expired),
            "full".into(),
            vec!["webhook.write".into()],
            shared::clock::now_millis() / 1000 - 1,
        ))
        .await
        .unwrap();
    let (status, answer) = post_token(&service, &refresh(expired, FULL_CLIENT)).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "expired: {answer}"
    );

    // A second client allowed the refresh grant, minted at run time.
    let other = ConfiguredClient {
        client_id: "other".into(),
        client_secret: "other-secret-long-enough-0123456789".into(),
        grants: vec![GrantType::ClientCredentials, GrantType::RefreshToken],
        scopes: vec!["webhook.write".into()],
        token_lifetime_secs: 600,
        rotate_refresh_tokens: false,
    }
    .into_client()
    .unwrap();
    assert!(stores::mint(service.store.as_ref(), &other).await);
    let other_client = "client_id=other&client_secret=other-secret-long-enough-0123456789";
    let others = refresh_token_of(&service, other_client).await;
    let (status, answer) = post_token(&service, &refresh(&others, FULL_CLIENT)).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "another client's: {answer}"
    );
    let fulls = refresh_token_of(&service, FULL_CLIENT).await;
    let (_, answer) = post_token(&service, &refresh(&fulls, other_client)).await;
    assert_eq!(answer["error"], "invalid_grant", "and the other way round");
    let (status, _) = post_token(&service, &refresh(&others, other_client)).await;
    assert_eq!(status, StatusCode::OK, "its own client still uses it");
}

#[tokio::test]
async fn a_narrowed_client_gets_only_what_it_is_allowed_now_with_its_old_refresh_tokens() {
    let (store, _dir) = stores::embedded();
    let store: Arc<dyn ClientStore> = Arc::new(store);
    let before = service_on(Arc::clone(&store));
    let refresh = refresh_token_of(&before, FULL_CLIENT).await;
    let refresh_request = |scope: &str| {
        format!("grant_type=refresh_token&refresh_token={refresh}{scope}&{FULL_CLIENT}")
    };

    // The operators take whatsapp.read away from the client; the token keeps what it was granted.
    let mut narrowed = service_on(Arc::clone(&store));
    narrowed.configured[0].scopes = vec!["webhook.write".into()];
    for scope in [
        "",
        "&scope=whatsapp.read",
        "&scope=webhook.write%20whatsapp.read",
    ] {
        let (status, answer) = post_token(&narrowed, &refresh_request(scope)).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_scope")),
            "scope {scope:?}: {answer}"
        );
        assert!(
            answer["error_description"]
                .as_str()
                .unwrap()
                .contains("whatsapp.read")
        );
    }
    // The refused requests used nothing up: the scopes the client keeps are still granted.
    let (status, answer) = post_token(&narrowed, &refresh_request("&scope=webhook.write")).await;
    assert_eq!(
        (status, answer["scope"].as_str()),
        (StatusCode::OK, Some("webhook.write"))
    );
    let rotated = answer["refresh_token"].as_str().unwrap();

    // The rotated token kept the old one's scope, less what the client had lost: given
    // whatsapp.read back, the client does not get it through that token.
    let (status, answer) = post_token(
        &before,
        &format!("grant_type=refresh_token&refresh_token={rotated}&{FULL_CLIENT}"),
    )
    .await;
    assert_eq!(
        (status, answer["scope"].as_str()),
        (StatusCode::OK, Some("webhook.write")),
        "{answer}"
    );
    let rotated = answer["refresh_token"].as_str().unwrap();

    // Then the refresh grant itself is taken away.
    let mut without_refresh = service_on(Arc::clone(&store));
    without_refresh.configured[0].grants = vec![GrantType::ClientCredentials];
    let (status, answer) = post_token(
        &without_refresh,
        &format!("grant_type=refresh_token&refresh_token={rotated}&{FULL_CLIENT}"),
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client")),
        "{answer}"
    );
}

async fn deliver_jwt(receiver: &Receiver, token: String, n: usize) -> (StatusCode, String) {
    let request = http::Request::builder()
        .method("POST")
        .uri("/webhooks/verify")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(status(
            &format!("wamid.jwt-{n}"),
            "sent",
            T0,
            "whatsapp-jwt",
        )))
        .unwrap();
    let response = receive(receiver, request).await;
    let body: Value = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
    (
        response.status(),
        body["error"]["message"].as_str().unwrap_or("").to_owned(),
    )
}

/// Signs claims with a given key, for tokens our endpoint would never issue.
fn sign(key: &[u8], kid: &str, claims: Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(key)).unwrap()
}

#[tokio::test]
async fn expired_foreign_and_rotated_out_tokens_get_401_and_store_nothing() {
    let (store, _dir) = stores::embedded();
    let store = Arc::new(store);
    let old_secret = [1u8; 32];
    let new_secret = [2u8; 32];
    let old = SigningKey::new("old", old_secret.to_vec()).unwrap();
    let new = SigningKey::new("new", new_secret.to_vec()).unwrap();
    let receiver = |keys: Vec<SigningKey>| Receiver {
        store: store.clone(),
        auth: Authenticator::new()
            .with(StaticTokens::new([WEBHOOK_TOKEN]))
            .with(AccessTokens::new(keys, "iss", "aud").unwrap()),
        max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        store_budget: DEFAULT_STORE_BUDGET,
        fallback: None,
    };
    let now = shared::clock::now_millis() / 1000;
    let claims = |aud: &str, exp: i64, scope: &str| {
        json!({"iss": "iss", "aud": aud, "sub": "c", "client_id": "c", "scope": scope,
               "iat": now - 10, "exp": exp, "jti": "j"})
    };
    let both = receiver(vec![new.clone(), old.clone()]);
    let signed_with_old = sign(
        &old_secret,
        "old",
        claims("aud", now + 600, "webhook.write"),
    );
    assert_eq!(
        deliver_jwt(&both, signed_with_old.clone(), 0).await.0,
        StatusCode::OK,
        "old key still works"
    );
    let signed_with_new = sign(
        &new_secret,
        "new",
        claims("aud", now + 600, "webhook.write"),
    );
    assert_eq!(
        deliver_jwt(&both, signed_with_new.clone(), 1).await.0,
        StatusCode::OK
    );

    let only_new = receiver(vec![new]);
    let refused = [
        (signed_with_old, "unknown key"),
        (
            sign(
                &new_secret,
                "new",
                claims("aud", now - 120, "webhook.write"),
            ),
            "expired",
        ),
        (
            sign(
                &new_secret,
                "new",
                claims("someone-else", now + 600, "webhook.write"),
            ),
            "audience",
        ),
        (
            sign(&[3u8; 32], "new", claims("aud", now + 600, "webhook.write")),
            "signature",
        ),
        (
            sign(
                &new_secret,
                "new",
                claims("aud", now + 600, "whatsapp.read"),
            ),
            "scope",
        ),
    ];
    for (n, (token, reason)) in refused.into_iter().enumerate() {
        let (code, message) = deliver_jwt(&only_new, token, 10 + n).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED, "{reason}");
        assert!(
            message.contains(reason),
            "{message} should mention {reason}"
        );
    }
    assert_eq!(
        e2e_tests::stores::events_of_key(store.as_ref(), "whatsapp-jwt", 100)
            .await
            .len(),
        2,
        "only the accepted deliveries"
    );
    assert_eq!(
        deliver_jwt(&only_new, WEBHOOK_TOKEN.into(), 99).await.0,
        StatusCode::OK,
        "static tokens still work"
    );
}

/// A client store that must not be called: it counts the calls and answers as empty.
#[derive(Default)]
struct CountingStore(std::sync::atomic::AtomicUsize);

impl CountingStore {
    fn call<'a, T: Send + 'a>(&'a self, answer: T) -> StoreFuture<'a, T> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move { Ok(answer) })
    }
}

impl ClientStore for CountingStore {
    fn find_client<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Option<OAuthClient>> {
        self.call(None)
    }
    fn create_client<'a>(
        &'a self,
        _: &'a OAuthClient,
        _: &'a MintedClient,
    ) -> StoreFuture<'a, bool> {
        self.call(false)
    }
    fn delete_client<'a>(&'a self, _: &'a str) -> StoreFuture<'a, bool> {
        self.call(false)
    }
    fn minted_clients(&self) -> StoreFuture<'_, Vec<MintedClient>> {
        self.call(Vec::new())
    }
    fn set_minted_for<'a>(&'a self, _: &'a str, _: &'a MintedFor) -> StoreFuture<'a, bool> {
        self.call(false)
    }
    fn save_refresh_token<'a>(&'a self, _: &'a RefreshGrant) -> StoreFuture<'a, ()> {
        self.call(())
    }
    fn find_refresh_token<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
    ) -> StoreFuture<'a, Option<RefreshGrant>> {
        self.call(None)
    }
    fn take_refresh_token<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
    ) -> StoreFuture<'a, Option<RefreshGrant>> {
        self.call(None)
    }
    fn rotate_refresh_token<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: &'a RefreshGrant,
    ) -> StoreFuture<'a, bool> {
        self.call(false)
    }
    fn revoke_refresh_family<'a>(&'a self, _: &'a str, _: &'a str) -> StoreFuture<'a, bool> {
        self.call(false)
    }
}

#[tokio::test]
async fn over_long_credentials_are_refused_before_any_store_call() {
    let store = Arc::new(CountingStore::default());
    let service = service_on(store.clone());
    let long = "x".repeat(3_000);
    for (body, field, status, error) in [
        (
            format!("grant_type=client_credentials&client_id={long}&client_secret=s"),
            "client_id",
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            format!("grant_type=client_credentials&client_id=full&client_secret={long}"),
            "client_secret",
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            format!("grant_type=refresh_token&refresh_token={long}&{FULL_CLIENT}"),
            "refresh_token",
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
    ] {
        let (answered, answer) = post_token(&service, &body).await;
        assert_eq!(
            (answered, answer["error"].as_str()),
            (status, Some(error)),
            "{answer}"
        );
        let description = answer["error_description"].as_str().unwrap_or_default();
        assert!(description.starts_with(field), "{description}");
        assert!(
            !description.contains(&long[..100]),
            "the value is not repeated"
        );
    }
    // An over-long token to revoke is no token of ours: ignored, as RFC 7009 asks.
    let revoked = token_endpoint(
        &service,
        form_to(
            "POST",
            "/oauth/revoke",
            format!("token={long}&{FULL_CLIENT}"),
        ),
    )
    .await;
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(store.0.load(Ordering::SeqCst), 0, "no store call");
}
