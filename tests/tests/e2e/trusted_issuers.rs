//! Bring your own OAuth server: the receiver accepts the access tokens of configured external
//! issuers, verified with the keys their discovery document points to; an issuer on loopback
//! (`e2e_tests::issuer`) with keys the test generates stands in for Cognito, Auth0, Okta or
//! Keycloak. The hostile tokens of such an issuer are in the catalogue (`hostile_input.rs`).

use std::time::Duration;

use e2e_tests::issuer::{AUDIENCE, CLIENT_ID, CLIENT_SECRET, IssuerKey, TestIssuer, hs256};
use e2e_tests::manage::{Setup, webhooks_path};
use e2e_tests::payloads::status;
use e2e_tests::stack::deliver;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::auth::trusted_issuers::MAX_KID_CHARS;
use shared::auth::{TrustedIssuers, Verdict, VerifyBearer};

fn trusting(issuer: &TestIssuer) -> TrustedIssuers {
    TrustedIssuers::new([issuer.url()], AUDIENCE).expect("a loopback issuer")
}

fn accepted(verdict: &Verdict) -> bool {
    matches!(verdict, Verdict::Accepted(_))
}

#[tokio::test]
async fn rs256_and_es256_tokens_verify_with_the_scopes_and_audiences_providers_write() {
    let issuer = TestIssuer::start().await;
    let verifier = trusting(&issuer);
    for key in [&issuer.rsa, &issuer.ec] {
        let verdict = verifier.verify(&key.token(&issuer.claims())).await;
        assert_eq!(
            verdict,
            Verdict::Accepted(shared::auth::Principal {
                subject: CLIENT_ID.into()
            }),
            "{}",
            key.alg()
        );
    }
    let as_providers_write = [
        // Okta: `scp` as an array, `aud` as an array.
        json!({"scope": null, "scp": ["openid", "whatsapp.write"], "aud": ["other", AUDIENCE]}),
        // Entra ID: `scp` space-separated.
        json!({"scope": null, "scp": "read webhook.write"}),
        // Cognito: no `aud`, the app client in `client_id`, a resource server's scope.
        json!({"aud": null, "client_id": AUDIENCE, "scope": "https://hooks.example.com/webhook.write"}),
    ];
    for changes in as_providers_write {
        let token = issuer.rsa.token(&issuer.claims_with(changes.clone()));
        assert!(accepted(&verifier.verify(&token).await), "{changes}");
    }
    assert_eq!(issuer.jwks_fetches(), 1, "the keys were fetched once");
}

#[tokio::test]
async fn forged_stale_and_foreign_tokens_are_refused_with_their_reason() {
    let issuer = TestIssuer::start().await;
    let verifier = trusting(&issuer);
    let rsa = &issuer.rsa;
    let now = i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap();
    let refused = |reason: &'static str| Verdict::Rejected(reason);
    let cases: Vec<(&str, String, Verdict)> = vec![
        (
            "another audience",
            rsa.token(&issuer.claims_with(json!({"aud": "someone-else"}))),
            refused("the access token is for another audience"),
        ),
        (
            "the audience inside a longer aud",
            rsa.token(&issuer.claims_with(json!({"aud": format!("other {AUDIENCE}")}))),
            refused("the access token is for another audience"),
        ),
        (
            "no audience and another client",
            rsa.token(&issuer.claims_with(json!({"aud": null}))),
            refused("the access token is for another audience"),
        ),
        (
            "expired",
            rsa.token(&issuer.claims_with(json!({"iat": now - 7200, "exp": now - 3600}))),
            refused("the access token has expired"),
        ),
        (
            "not valid yet",
            rsa.token(&issuer.claims_with(json!({"nbf": now + 3600}))),
            refused("the access token is not valid yet"),
        ),
        (
            "without expiry",
            rsa.token(&issuer.claims_with(json!({"exp": null}))),
            refused("the access token is not valid"),
        ),
        (
            "without a delivery scope",
            rsa.token(&issuer.claims_with(json!({"scope": "whatsapp.read"}))),
            refused("the access token's scope does not allow webhook delivery"),
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "kid": "rsa-1"}).to_string()),
                b64(&issuer.claims().to_string())
            ),
            refused("the access token is malformed"),
        ),
        (
            "HS256 signed with the published public key",
            hs256(
                &json!({"alg": "HS256", "kid": "rsa-1"}),
                &issuer.claims(),
                &rsa.public_bytes(),
            ),
            refused(
                "the access token uses an algorithm this receiver does not accept from other issuers",
            ),
        ),
        (
            "RS256 named on the EC key",
            rsa.sign(&json!({"alg": "RS256", "kid": "ec-1"}), &issuer.claims()),
            refused("the access token's algorithm does not match its key"),
        ),
        (
            "claims changed after signing",
            {
                let token = rsa.token(&issuer.claims());
                let parts: Vec<&str> = token.split('.').collect();
                let forged = b64(&issuer
                    .claims_with(json!({"client_id": "someone-else"}))
                    .to_string());
                format!("{}.{forged}.{}", parts[0], parts[2])
            },
            refused("the access token's signature is not valid"),
        ),
        (
            "no key id",
            rsa.sign(&json!({"alg": "RS256"}), &issuer.claims()),
            refused("the access token names no signing key"),
        ),
        (
            "an over-long key id",
            rsa.sign(
                &json!({"alg": "RS256", "kid": "k".repeat(MAX_KID_CHARS + 1)}),
                &issuer.claims(),
            ),
            refused("the access token's key id is too long"),
        ),
        (
            "an unknown key id",
            IssuerKey::rsa("unpublished").token(&issuer.claims()),
            refused("the access token is signed with a key its issuer does not publish"),
        ),
        (
            "an issuer not trusted",
            rsa.token(&issuer.claims_with(json!({"iss": "https://elsewhere.example.com"}))),
            Verdict::NotMine,
        ),
    ];
    for (name, token, expected) in cases {
        assert_eq!(verifier.verify(&token).await, expected, "{name}");
    }
    // The unknown key id was fetched once at most: the first fetch is under a minute old.
    assert_eq!(issuer.jwks_fetches(), 1);
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[tokio::test]
async fn a_rotated_key_is_fetched_when_a_token_names_it_and_the_withdrawn_one_stops() {
    let issuer = TestIssuer::start().await;
    let verifier = trusting(&issuer).with_refetch_interval(Duration::ZERO);
    let old = issuer.rsa.token(&issuer.claims());
    assert!(accepted(&verifier.verify(&old).await));

    let next = IssuerKey::ec("ec-2");
    issuer.publish(&next);
    issuer.withdraw("rsa-1");
    assert!(accepted(
        &verifier.verify(&next.token(&issuer.claims())).await
    ));
    assert_eq!(
        issuer.jwks_fetches(),
        2,
        "the new kid fetched the keys again"
    );
    assert_eq!(
        verifier.verify(&old).await,
        Verdict::Rejected("the access token is signed with a key its issuer does not publish")
    );
}

#[tokio::test]
async fn unknown_key_ids_fetch_the_keys_at_most_once_per_interval() {
    let issuer = TestIssuer::start().await;
    let verifier = trusting(&issuer);
    assert!(accepted(
        &verifier.verify(&issuer.ec.token(&issuer.claims())).await
    ));
    for n in 0..20 {
        let forged = issuer.rsa.sign(
            &json!({"alg": "RS256", "kid": format!("forged-{n}")}),
            &issuer.claims(),
        );
        assert!(!accepted(&verifier.verify(&forged).await));
    }
    assert_eq!(issuer.jwks_fetches(), 1);
}

#[tokio::test]
async fn an_issuer_whose_discovery_document_names_another_is_not_trusted() {
    let impostor = TestIssuer::start_naming(Some("https://accounts.example.com")).await;
    let verifier = trusting(&impostor);
    let token = impostor
        .rsa
        .token(&impostor.claims_with(json!({"iss": impostor.url()})));
    assert_eq!(
        verifier.verify(&token).await,
        Verdict::Rejected("the access token is signed with a key its issuer does not publish")
    );
    assert_eq!(impostor.jwks_fetches(), 0, "its keys were never read");
}

#[tokio::test]
async fn insider_one_delivers_with_tokens_of_the_customers_own_oauth_server() {
    let issuer = TestIssuer::start().await;
    let setup = Setup::trusting(&issuer).await;

    // A webhook to our receiver with the issuer's token endpoint and client: the simulator gets
    // a token there, probes our receiver with it, and it is accepted.
    let created = setup
        .post(
            &webhooks_path(None),
            &json!({
                "authType": "oauth2",
                "subProduct": "conversational",
                "events": ["sent", "delivered", "read"],
                "oauth2": {
                    "grantType": "client_credentials",
                    "tokenUrl": issuer.token_url(),
                    "clientId": CLIENT_ID,
                    "clientSecret": CLIENT_SECRET,
                    "scopes": ["webhook.write"],
                    "expiresIn": 300
                }
            }),
        )
        .await;
    created.assert_ok();
    assert!(created.body.get("credentials").is_none(), "nothing minted");
    assert!(
        issuer.tokens_issued() >= 1,
        "the probe's token came from the issuer"
    );
    setup.last_probe().await;

    let id = created.body["webhook"].as_u64().unwrap();
    setup.sim_deliver(id, 5, 11).await;

    // A token of the issuer for another audience is refused like any bad token.
    let base = setup.stack.url();
    let body = status("wamid.external", "delivered", 1_700_000_000, "whatsapp-ext");
    let foreign = issuer
        .rsa
        .token(&issuer.claims_with(json!({"aud": "another-receiver"})));
    let (code, answer): (StatusCode, Value) =
        deliver(&base, "conversational", Some(&foreign), &body).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert_eq!(answer["error"]["code"], "invalid_token");
    assert_eq!(
        answer["error"]["message"],
        "the access token is for another audience"
    );
}

#[tokio::test]
async fn a_token_url_of_a_server_the_receiver_does_not_trust_is_refused_with_how_to_trust_it() {
    let trusted = TestIssuer::start().await;
    let untrusted = TestIssuer::start().await;
    let setup = Setup::trusting(&trusted).await;
    let refused = setup
        .post(
            &webhooks_path(None),
            &json!({
                "authType": "oauth2",
                "subProduct": "transactional",
                "events": ["sent"],
                "oauth2": {
                    "grantType": "client_credentials",
                    "tokenUrl": untrusted.token_url(),
                    "clientId": CLIENT_ID,
                    "clientSecret": CLIENT_SECRET,
                    "expiresIn": 300
                }
            }),
        )
        .await;
    refused.assert_error(StatusCode::BAD_REQUEST, "validation_failed");
    assert_eq!(refused.fields(), ["oauth2.tokenUrl"]);
    assert!(
        refused.body.to_string().contains("--trusted-issuer"),
        "{}",
        refused.body
    );
    assert_eq!(
        setup.sim_count("create").await,
        0,
        "nothing reached Insider One"
    );
}
