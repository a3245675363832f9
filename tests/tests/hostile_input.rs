//! Hostile and broken input (issue #8): the catalogue of `e2e_tests::hostile`, sent byte for byte
//! to the local stack and, for what only exists at the Lambda boundary, as API Gateway events
//! through the Lambdas' conversion. Every request gets the status and error code README
//! documents; none changes the store (every row of every table compared), calls Insider One, or
//! shows a credential it presented in its answer or in any log line.
//!
//! Both tests capture logs on their own thread, so each one's subscriber sees what its servers
//! log (see `e2e_tests::logs`).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use base64::Engine;
use e2e_tests::hostile::{
    Case, EventCase, Family, Tokens, http_cases, judge, lambda_cases, store_snapshot,
    trusted_issuer_cases,
};
use e2e_tests::issuer::TestIssuer;
use e2e_tests::manage::Setup;
use e2e_tests::payloads::status;
use e2e_tests::stack::{
    ADMIN_TOKEN, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, SIGNING_KEY_ID, SIGNING_KEY_SECRET,
    WEBHOOK_TOKEN,
};
use e2e_tests::{gateway, logs, raw_http, stores};
use lambda_http::aws_lambda_events::encodings::Body;
use serde_json::Value;
use shared::auth::access_tokens::{AccessTokens, SigningKey};
use shared::auth::oauth::{ConfiguredClient, TokenService};
use shared::auth::{Authenticator, StaticTokens};
use shared::http::gateway::event_response;
use shared::http::oauth::token_endpoint;
use shared::http::query::{Query, query};
use shared::http::receiver::{DEFAULT_MAX_BODY_BYTES, DEFAULT_STORE_BUDGET, Receiver, receive};

/// Credentials of the test stack, which no answer and no log line may ever show.
const STACK_SECRETS: [&str; 3] = [WEBHOOK_TOKEN, ADMIN_TOKEN, OAUTH_CLIENT_SECRET];

fn count_by_family<'a>(families: impl Iterator<Item = &'a Family>) -> BTreeMap<Family, usize> {
    let mut counts = BTreeMap::new();
    for family in families {
        *counts.entry(*family).or_default() += 1;
    }
    counts
}

fn assert_unique<'a>(names: impl Iterator<Item = &'a String>) {
    let mut seen = HashSet::new();
    for name in names {
        assert!(seen.insert(name), "two cases are called {name:?}");
    }
}

/// No credential, of the stack or presented by a case, in any log line.
fn assert_no_secret_logged(logs: &str, secrets: impl Iterator<Item = Vec<u8>>) {
    let logs = logs.as_bytes();
    for secret in secrets.chain(STACK_SECRETS.map(|s| s.as_bytes().to_vec())) {
        if secret.len() >= 12 {
            assert!(
                !logs.windows(secret.len()).any(|w| w == secret.as_slice()),
                "a log line shows the credential {:?}",
                String::from_utf8_lossy(&secret)
            );
        }
    }
}

#[tokio::test]
async fn every_hostile_request_gets_its_documented_error_and_changes_nothing() {
    let (logs, _guard) = logs::capture();
    let issuer = TestIssuer::start().await;
    let setup = Setup::trusting(&issuer).await;
    let addr = setup.stack.addr();
    let delivery = |message_id: &str| {
        raw_http::request(
            format!(
                "POST /webhooks/conversational HTTP/1.1\r\nAuthorization: Bearer {WEBHOOK_TOKEN}\r\n"
            )
            .as_bytes(),
            status(message_id, "delivered", 1_700_000_000, "whatsapp-hostile").as_bytes(),
        )
    };
    // Something stored first, so that the read routes have data and a change would show.
    let first = raw_http::exchange(addr, &delivery("wamid.hostile"), false).await;
    assert_eq!(
        first.status,
        200,
        "{}",
        String::from_utf8_lossy(&first.body)
    );

    let mut cases: Vec<Case> = http_cases(&Tokens::default());
    cases.extend(trusted_issuer_cases(&issuer));
    assert_unique(cases.iter().map(|c| &c.name));
    let counts = count_by_family(cases.iter().map(|c| &c.family));
    println!("{} HTTP cases: {counts:?}", cases.len());
    assert!(
        cases.len() >= 100,
        "the catalogue has {} cases",
        cases.len()
    );
    assert_eq!(counts.len(), 4, "every route family has cases: {counts:?}");

    let mut snapshot = store_snapshot(setup.store_dir());
    let vendor_calls = setup.sim_requests().await;
    let mut failures = Vec::new();
    for case in &cases {
        let answer = raw_http::exchange(addr, &case.request, case.half_close).await;
        for problem in judge(
            &case.expect,
            &case.secrets,
            answer.status,
            &answer.headers,
            &answer.body,
        ) {
            failures.push(format!(
                "{}: {problem} (body {:?})",
                case.name,
                String::from_utf8_lossy(&answer.body[..answer.body.len().min(300)])
            ));
        }
        let after = store_snapshot(setup.store_dir());
        if after != snapshot {
            failures.push(format!("{}: the store changed", case.name));
            snapshot = after;
        }
    }
    assert_eq!(
        setup.sim_requests().await,
        vendor_calls,
        "no case reached Insider One"
    );
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // The store still takes a delivery, and the snapshot sees it.
    let after = raw_http::exchange(addr, &delivery("wamid.hostile-after"), false).await;
    assert_eq!(
        (
            after.status,
            serde_json::from_slice::<Value>(&after.body).ok()
        ),
        (200, Some(serde_json::json!({"stored": 1, "duplicates": 0})))
    );
    assert_ne!(store_snapshot(setup.store_dir()), snapshot);
    // The unknown key ids fetched the issuer's keys again at most once (a minute apart).
    assert!(
        issuer.jwks_fetches() <= 2,
        "{} fetches",
        issuer.jwks_fetches()
    );
    assert_no_secret_logged(&logs.text(), cases.into_iter().flat_map(|c| c.secrets));
}

#[tokio::test]
async fn hostile_api_gateway_events_get_their_documented_error_and_change_nothing() {
    let (logs, _guard) = logs::capture();
    let (store, dir) = stores::embedded();
    let store = Arc::new(store);
    let access_tokens = || {
        let key = SigningKey::new(SIGNING_KEY_ID, SIGNING_KEY_SECRET.to_vec()).expect("a key");
        let (issuer, audience) = shared::config::token_names();
        AccessTokens::new(vec![key], issuer, audience).expect("access tokens")
    };
    let receiver = Receiver {
        store: store.clone(),
        auth: Authenticator::new()
            .with(StaticTokens::new([WEBHOOK_TOKEN]))
            .with(access_tokens()),
        max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        store_budget: DEFAULT_STORE_BUDGET,
        fallback: None,
    };
    let reader = Query {
        store: store.clone(),
    };
    let tokens = TokenService {
        configured: vec![
            ConfiguredClient {
                client_id: OAUTH_CLIENT_ID.into(),
                client_secret: OAUTH_CLIENT_SECRET.into(),
                grants: vec![shared::domain::oauth::GrantType::ClientCredentials],
                scopes: shared::domain::oauth::default_scopes(),
                token_lifetime_secs: 600,
                rotate_refresh_tokens: false,
            }
            .into_client()
            .expect("a valid client"),
        ],
        store: store.clone(),
        tokens: access_tokens(),
    };
    // API Gateway routes each path to its function; these are the functions' handlers.
    let lambda = |event: &Value, family: Family| {
        let request = gateway::request(event);
        let (receiver, reader, tokens) = (&receiver, &reader, &tokens);
        async move {
            let response = match request {
                Err(refused) => *refused,
                Ok(request) => match family {
                    Family::Receiver => receive(receiver, request).await,
                    Family::Query => query(reader, request).await,
                    Family::OAuth => token_endpoint(tokens, request).await,
                    Family::Manage => unreachable!("no management event in the catalogue"),
                },
            };
            event_response(response)
        }
    };

    let cases: Vec<EventCase> = lambda_cases();
    assert_unique(cases.iter().map(|c| &c.name));
    println!(
        "{} API Gateway cases: {:?}",
        cases.len(),
        count_by_family(cases.iter().map(|c| &c.family))
    );
    let good = gateway::event(
        "POST",
        "/webhooks/verify",
        "",
        &[("authorization", &format!("Bearer {WEBHOOK_TOKEN}"))],
        Some(&status(
            "wamid.lambda",
            "sent",
            1_700_000_000,
            "whatsapp-lambda",
        )),
        false,
    );
    assert_eq!(lambda(&good, Family::Receiver).await.status_code, 200);
    let mut snapshot = store_snapshot(dir.path());
    let mut failures = Vec::new();
    for case in &cases {
        let answer = lambda(&case.event, case.family).await;
        let body = match answer.body {
            None => Vec::new(),
            Some(Body::Text(text)) if !answer.is_base64_encoded => text.into_bytes(),
            Some(Body::Binary(bytes)) if answer.is_base64_encoded => bytes,
            Some(other) => {
                failures.push(format!(
                    "{}: a body not labelled as it is encoded: {other:?}",
                    case.name
                ));
                continue;
            }
        };
        let headers: Vec<(String, Vec<u8>)> = answer
            .headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
            .collect();
        let status = u16::try_from(answer.status_code).unwrap_or_default();
        for problem in judge(&case.expect, &case.secrets, status, &headers, &body) {
            failures.push(format!(
                "{}: {problem} (body {:?})",
                case.name,
                String::from_utf8_lossy(&body[..body.len().min(300)])
            ));
        }
        let after = store_snapshot(dir.path());
        if after != snapshot {
            failures.push(format!("{}: the store changed", case.name));
            snapshot = after;
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // A base64-encoded delivery is still stored, and the snapshot sees it.
    let encoded = base64::engine::general_purpose::STANDARD.encode(status(
        "wamid.lambda-after",
        "read",
        1_700_000_000,
        "whatsapp-lambda",
    ));
    let after = gateway::event(
        "POST",
        "/webhooks/verify",
        "",
        &[("authorization", &format!("Bearer {WEBHOOK_TOKEN}"))],
        Some(&encoded),
        true,
    );
    assert_eq!(lambda(&after, Family::Receiver).await.status_code, 200);
    assert_ne!(store_snapshot(dir.path()), snapshot);
    assert_no_secret_logged(&logs.text(), cases.into_iter().flat_map(|c| c.secrets));
}
