//! Credentials minted for Insider One have a life: each is recorded with what it was minted for,
//! listed without its secret, and withdrawn when the webhook or the settings it serves are
//! deleted or replaced (once Insider One confirms), or on request.

use std::sync::Arc;
use std::time::Duration;

use e2e_tests::manage::{Setup, minimal_webhook};
use e2e_tests::payloads::status;
use e2e_tests::stack::{OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, client, deliver};
use e2e_tests::stores;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::auth::access_tokens::{AccessTokens, SigningKey};
use shared::auth::revocation::Revocations;
use shared::auth::{Verdict, VerifyBearer};
use shared::domain::oauth::{GrantType, OAuthClient, SecretHash};
use shared::store::ClientStore;

/// What our token endpoint answers to `credentials` (as a registration returned them, in
/// camelCase for webhooks, snake_case for settings).
async fn token_status(setup: &Setup, credentials: &Value) -> StatusCode {
    let field = |camel: &str, snake: &str| {
        credentials[camel]
            .as_str()
            .or(credentials[snake].as_str())
            .unwrap()
            .to_owned()
    };
    client()
        .post(setup.own_url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", field("clientId", "client_id")),
            ("client_secret", field("clientSecret", "client_secret")),
        ])
        .send()
        .await
        .unwrap()
        .status()
}

/// An access token from our token endpoint for a client's id and secret.
async fn access_token(setup: &Setup, client_id: &str, client_secret: &str) -> String {
    let answer: Value = client()
        .post(setup.own_url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", client_secret),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["access_token"].as_str().expect("a token").to_owned()
}

async fn ledger(setup: &Setup) -> Vec<Value> {
    let listed = setup.get("/manage/credentials").await;
    listed.assert_ok();
    listed.body["credentials"].as_array().unwrap().clone()
}

fn path(phone: &str, id: Option<u64>) -> String {
    match id {
        Some(id) => format!("/manage/webhooks/{id}?phoneNumber={phone}"),
        None => format!("/manage/webhooks?phoneNumber={phone}"),
    }
}

const SENDER: &str = "15551234567";

/// A webhook created with minted credentials: its id and the credentials.
async fn create_webhook(setup: &Setup, sub_product: &str) -> (u64, Value) {
    let created = setup
        .post(
            &path(SENDER, None),
            &minimal_webhook(sub_product, &["sent"]),
        )
        .await;
    created.assert_ok();
    let id = created.body["webhook"].as_u64().unwrap();
    (id, created.body["credentials"].clone())
}

#[tokio::test]
async fn a_webhooks_credentials_are_listed_replaced_and_withdrawn_with_it() {
    let setup = Setup::start().await;
    let (id, first) = create_webhook(&setup, "conversational").await;

    // Listed with the webhook Insider One created, without any secret.
    let listed = ledger(&setup).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let entry = &listed[0];
    assert_eq!(entry["clientId"], first["clientId"]);
    assert_eq!(
        entry["mintedFor"],
        json!({"kind": "webhook", "webhookId": id, "phoneNumber": "********4567"})
    );
    assert_eq!(entry["grantTypes"], json!(["client_credentials"]));
    assert!(entry["mintedAt"].as_i64().unwrap() > 0);
    let text = Value::Array(listed.clone()).to_string();
    assert!(!text.contains(first["clientSecret"].as_str().unwrap()));
    assert!(!text.contains(SENDER), "the sender's number is masked");

    // An update with new minted credentials: the old client is withdrawn once Insider One
    // confirmed the new one, and says so.
    let updated = setup
        .put(
            &path(SENDER, Some(id)),
            &json!({"authType": "oauth2", "events": ["read"],
                    "oauth2": {"grantType": "client_credentials", "expiresIn": 600}}),
        )
        .await;
    updated.assert_ok();
    let second = updated.body["credentials"].clone();
    let withdrawn = format!(
        "withdrew the client {}, minted for what this request replaced",
        first["clientId"].as_str().unwrap()
    );
    assert!(
        updated.body["notes"]
            .as_array()
            .unwrap()
            .contains(&json!(withdrawn)),
        "{}",
        updated.body
    );
    assert_eq!(token_status(&setup, &first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(token_status(&setup, &second).await, StatusCode::OK);
    let listed = ledger(&setup).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["clientId"], second["clientId"]);
    assert_eq!(listed[0]["mintedFor"]["webhookId"], id);

    // Deleted at Insider One: its credentials go with it.
    let deleted = setup.delete(&path(SENDER, Some(id))).await;
    deleted.assert_ok();
    assert_eq!(
        token_status(&setup, &second).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(ledger(&setup).await, Vec::<Value>::new());
}

#[tokio::test]
async fn a_refused_update_keeps_the_credentials_it_would_have_replaced() {
    let setup = Setup::start().await;
    let (id, first) = create_webhook(&setup, "transactional").await;
    // Insider One refuses the update (its probe of a closed port fails).
    let refused = setup
        .put(
            &path(SENDER, Some(id)),
            &json!({"authType": "oauth2", "events": ["read"],
                    "webhookUrl": e2e_tests::manage::closed_port_url(),
                    "oauth2": {"grantType": "client_credentials", "expiresIn": 600}}),
        )
        .await;
    assert_ne!(refused.status, StatusCode::OK, "{}", refused.body);
    assert_eq!(token_status(&setup, &first).await, StatusCode::OK);
    let listed = ledger(&setup).await;
    assert_eq!(
        listed.len(),
        1,
        "the update's own client was withdrawn: {listed:?}"
    );
    assert_eq!(listed[0]["clientId"], first["clientId"]);
}

#[tokio::test]
async fn new_settings_withdraw_the_credentials_minted_for_the_old() {
    let setup = Setup::start().await;
    let settings = json!({"auth_type": "oauth2",
                          "oauth2": {"grant_type": "client_credentials", "expires_in": 3600}});
    let first = setup
        .post("/manage/settings/transactional", &settings)
        .await;
    first.assert_ok();
    let second = setup
        .post("/manage/settings/transactional", &settings)
        .await;
    second.assert_ok();
    let (first, second) = (&first.body["credentials"], &second.body["credentials"]);
    assert_eq!(token_status(&setup, first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(token_status(&setup, second).await, StatusCode::OK);
    let listed = ledger(&setup).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0]["mintedFor"],
        json!({"kind": "settings", "subProduct": "transactional"})
    );
}

#[tokio::test]
async fn one_client_is_withdrawn_on_request_and_then_is_not_found() {
    let setup = Setup::start().await;
    let (_, credentials) = create_webhook(&setup, "conversational").await;
    let client_id = credentials["clientId"].as_str().unwrap();

    let withdrawn = setup
        .delete(&format!("/manage/credentials/{client_id}"))
        .await;
    withdrawn.assert_ok();
    assert_eq!(withdrawn.body, json!({"withdrawn": client_id}));
    assert_eq!(
        token_status(&setup, &credentials).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(ledger(&setup).await, Vec::<Value>::new());

    let again = setup
        .delete(&format!("/manage/credentials/{client_id}"))
        .await;
    again.assert_error(StatusCode::NOT_FOUND, "credential_not_found");
    let long = setup
        .delete(&format!("/manage/credentials/{}", "x".repeat(300)))
        .await;
    long.assert_error(StatusCode::NOT_FOUND, "credential_not_found");
    let wrong_method = setup
        .call(reqwest::Method::POST, "/manage/credentials", None)
        .await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_withdrawn_clients_access_tokens_are_refused_and_a_configured_clients_are_not() {
    let setup = Setup::start().await;
    let (_, credentials) = create_webhook(&setup, "conversational").await;
    let client_id = credentials["clientId"].as_str().unwrap();
    let minted = access_token(
        &setup,
        client_id,
        credentials["clientSecret"].as_str().unwrap(),
    )
    .await;
    let configured = access_token(&setup, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET).await;

    setup
        .delete(&format!("/manage/credentials/{client_id}"))
        .await
        .assert_ok();
    let base = setup.stack.url();
    let body = status(
        "wamid.revoked",
        "delivered",
        1_700_000_000,
        "whatsapp-revoked",
    );
    let (code, answer) = deliver(&base, "conversational", Some(&minted), &body).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED, "{answer}");
    assert_eq!(
        answer["error"]["message"],
        "the access token's client was withdrawn"
    );
    let (code, answer) = deliver(&base, "conversational", Some(&configured), &body).await;
    assert_eq!(code, StatusCode::OK, "{answer}");
}

#[tokio::test]
async fn a_client_store_answer_is_used_for_at_most_the_checks_interval() {
    let (store, _dir) = stores::embedded();
    let clients: Arc<dyn ClientStore> = Arc::new(store);
    let client = OAuthClient {
        client_id: "insider-0badc0de".into(),
        secret_hash: SecretHash::new("a-long-enough-client-secret"),
        grants: vec![GrantType::ClientCredentials],
        scopes: vec!["webhook.write".into()],
        token_lifetime_secs: 600,
        rotate_refresh_tokens: false,
    };
    assert!(stores::mint(clients.as_ref(), &client).await);
    let interval = Duration::from_millis(300);
    let key = SigningKey::generate("k");
    let signer = AccessTokens::new(vec![key.clone()], "issuer", "receiver").unwrap();
    let verifier = AccessTokens::new(vec![key], "issuer", "receiver")
        .unwrap()
        .with_revocations(Revocations::new(Arc::clone(&clients)).with_interval(interval));
    let scopes = ["webhook.write".to_owned()];
    let minted = signer.issue(&client.client_id, &scopes, 600, true).token;
    let configured = signer
        .issue("configured-elsewhere", &scopes, 600, false)
        .token;
    let accepted = |verdict: Verdict| matches!(verdict, Verdict::Accepted(_));

    assert!(accepted(verifier.verify(&minted).await));
    assert!(clients.delete_client(&client.client_id).await.unwrap());
    // Within the interval the store's last answer stands; after it, the withdrawal shows.
    assert!(accepted(verifier.verify(&minted).await));
    tokio::time::sleep(interval).await;
    assert_eq!(
        verifier.verify(&minted).await,
        Verdict::Rejected("the access token's client was withdrawn")
    );
    // A configured client's tokens are not looked up: that client is in no store.
    assert!(accepted(verifier.verify(&configured).await));
}
