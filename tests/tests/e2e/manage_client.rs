//! The Insider One client's behaviour, counted at the simulator: gateway tokens cached per scope
//! and renewed before they expire, one fresh token after a 401, retries with backoff for the
//! idempotent calls (list, update, delete) on 429, 5xx and dropped connections, and never for
//! create and the settings calls.

use std::time::{Duration, Instant};

use e2e_tests::manage::{HangUpProxy, SENDER, Setup, minimal_webhook, webhooks_path};
use e2e_tests::stack::WEBHOOK_TOKEN;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn one_gateway_token_serves_every_call_of_its_scope() {
    let setup = Setup::start().await;
    for _ in 0..3 {
        assert_eq!(setup.get(&webhooks_path(None)).await.status, StatusCode::OK);
    }
    assert_eq!(setup.sim_count("list").await, 3);
    assert_eq!(setup.gateway_tokens_issued().await, 1, "3 lists, 1 token");

    // Each call asks only for its own scope, so another operation gets its own token.
    let created = setup
        .post(&webhooks_path(None), &minimal_webhook("verify", &["sent"]))
        .await;
    created.assert_ok();
    let id = created.body["webhook"].as_u64().unwrap();
    assert_eq!(setup.gateway_tokens_issued().await, 2);
    assert_eq!(
        setup.delete(&webhooks_path(Some(id))).await.status,
        StatusCode::OK
    );
    assert_eq!(
        setup.delete(&webhooks_path(Some(id))).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(setup.gateway_tokens_issued().await, 3);
    assert_eq!(setup.get(&webhooks_path(None)).await.status, StatusCode::OK);
    assert_eq!(
        setup.gateway_tokens_issued().await,
        3,
        "the read token is still cached"
    );
}

#[tokio::test]
async fn a_token_is_renewed_shortly_before_it_expires() {
    let setup =
        Setup::start_with(|sim| sim.token_lifetime = Duration::from_secs(2), |_, _| {}).await;
    assert_eq!(setup.get(&webhooks_path(None)).await.status, StatusCode::OK);
    assert_eq!(setup.get(&webhooks_path(None)).await.status, StatusCode::OK);
    assert_eq!(setup.gateway_tokens_issued().await, 1);
    tokio::time::sleep(Duration::from_millis(1900)).await;
    assert_eq!(setup.get(&webhooks_path(None)).await.status, StatusCode::OK);
    assert_eq!(setup.gateway_tokens_issued().await, 2, "renewed");
    assert_eq!(setup.sim_count("list").await, 3, "no call was refused");
}

#[tokio::test]
async fn a_refused_token_is_replaced_once() {
    let setup = Setup::start().await;
    assert_eq!(setup.get(&webhooks_path(None)).await.status, StatusCode::OK);
    // The gateway expires the token early (its clock runs ahead of ours).
    setup.sim.advance_clock(Duration::from_secs(3 * 3600));
    assert_eq!(setup.get(&webhooks_path(None)).await.status, StatusCode::OK);
    assert_eq!(setup.gateway_tokens_issued().await, 2);
    assert_eq!(
        setup.sim_count("list").await,
        3,
        "the refused call and its one repeat"
    );
}

#[tokio::test]
async fn a_second_refusal_is_our_configuration_not_the_callers() {
    // Tokens that are dead on arrival: the call is refused with the new token too.
    let setup = Setup::start_with(|sim| sim.token_lifetime = Duration::ZERO, |_, _| {}).await;
    let answer = setup.get(&webhooks_path(None)).await;
    answer.assert_error(StatusCode::BAD_GATEWAY, "vendor_auth_failed");
    assert_eq!(answer.body["error"]["vendor"]["status"], 401);
    assert_eq!(
        setup.gateway_tokens_issued().await,
        2,
        "refetched once, not more"
    );
    assert_eq!(setup.sim_count("list").await, 2);

    // A gateway client the gateway does not know.
    let setup = Setup::with_insider(|_, insider| {
        insider.credentials.client_secret = Some("wrong-secret".into())
    })
    .await;
    let answer = setup.get(&webhooks_path(None)).await;
    answer.assert_error(StatusCode::BAD_GATEWAY, "vendor_auth_failed");
    assert!(answer.message().contains("gateway token endpoint"));
    assert_eq!(
        setup.sim_count("token").await,
        1,
        "a refusal is not retried"
    );
    assert_eq!(setup.sim_count("list").await, 0);

    // A wrong V1 key.
    let setup = Setup::with_insider(|_, insider| {
        insider.credentials.ins_auth_key = Some("wrong-key".into())
    })
    .await;
    let answer = setup
        .post(
            "/manage/settings/conversational/v1",
            &json!({"isActive": true, "apiKey": WEBHOOK_TOKEN}),
        )
        .await;
    answer.assert_error(StatusCode::BAD_GATEWAY, "vendor_auth_failed");
}

#[tokio::test]
async fn list_update_and_delete_are_retried_on_429_and_5xx() {
    let setup = Setup::start().await;
    setup
        .fault(json!({"route": "list", "status": 503, "count": 2}))
        .await;
    assert_eq!(setup.get(&webhooks_path(None)).await.status, StatusCode::OK);
    assert_eq!(
        setup.sim_count("list").await,
        3,
        "two failures, then success"
    );

    let created = setup
        .post(
            &webhooks_path(None),
            &minimal_webhook("transactional", &["read"]),
        )
        .await;
    let id = created.body["webhook"].as_u64().unwrap();
    setup
        .fault(json!({"route": "update", "status": 502, "count": 1}))
        .await;
    let updated = setup
        .put(
            &webhooks_path(Some(id)),
            &json!({"authType": "oauth2", "events": ["read", "failed"],
                    "oauth2": {"grantType": "client_credentials", "expiresIn": 60}}),
        )
        .await;
    updated.assert_ok();
    assert_eq!(setup.sim_count("update").await, 2);

    // A 429 is retried after the vendor's Retry-After.
    setup
        .fault(json!({"route": "delete", "status": 429, "retry_after": 1}))
        .await;
    let started = Instant::now();
    assert_eq!(
        setup.delete(&webhooks_path(Some(id))).await.status,
        StatusCode::OK
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
    assert_eq!(setup.sim_count("delete").await, 2);

    // Attempts are bounded: the last failure is answered.
    setup
        .fault(json!({"route": "list", "status": 500, "count": 5}))
        .await;
    let answer = setup.get(&webhooks_path(None)).await;
    answer.assert_error(StatusCode::BAD_GATEWAY, "vendor_error");
    assert_eq!(answer.body["error"]["vendor"]["status"], 500);
    assert_eq!(setup.sim_count("list").await, 3 + 1 + 3, "3 attempts");

    // A Retry-After longer than we wait goes back to the caller at once.
    setup
        .sim_call(reqwest::Method::DELETE, "/_sim/faults", None)
        .await;
    setup
        .fault(json!({"route": "list", "status": 429, "retry_after": 30}))
        .await;
    let answer = setup.get(&webhooks_path(None)).await;
    answer.assert_rate_limited("30");
    assert_eq!(setup.sim_count("list").await, 8);
}

#[tokio::test]
async fn create_and_settings_are_never_retried() {
    let setup = Setup::start().await;
    let bearer = json!({"auth_type": "bearer", "api_key": WEBHOOK_TOKEN, "from": SENDER});
    let cases = [
        (
            "create",
            503,
            webhooks_path(None),
            minimal_webhook("verify", &["sent"]),
        ),
        (
            "settings",
            500,
            "/manage/settings/transactional".into(),
            bearer,
        ),
        (
            "v1",
            429,
            "/manage/settings/conversational/v1".into(),
            json!({"isActive": true, "apiKey": WEBHOOK_TOKEN}),
        ),
    ];
    for (route, status, path, body) in cases {
        setup
            .fault(json!({"route": route, "status": status, "count": 3}))
            .await;
        let answer = setup.post(&path, &body).await;
        if status == 429 {
            answer.assert_rate_limited("1");
        } else {
            answer.assert_error(StatusCode::BAD_GATEWAY, "vendor_error");
        }
        assert_eq!(setup.sim_count(route).await, 1, "{route} was not retried");
    }
}

#[tokio::test]
async fn a_dropped_connection_is_retried_for_idempotent_calls_only() {
    let mut proxy = None;
    let setup = Setup::with_insider(|sim, insider| {
        let started = HangUpProxy::start(sim.addr());
        insider.gateway_url = started.url();
        proxy = Some(started);
    })
    .await;
    let proxy = proxy.unwrap();

    // The list's connection closes without an answer: a fresh one gets it.
    proxy.hang_up_on("GET /api/wa/v2/webhooks", 1);
    let listed = setup.get(&webhooks_path(None)).await;
    listed.assert_ok();
    assert_eq!(proxy.hung_up(), 1);
    assert_eq!(
        setup.sim_count("list").await,
        1,
        "the dropped attempt never arrived; the retry did"
    );

    // A create may have been saved before its connection dropped: never sent twice.
    proxy.hang_up_on("POST /api/wa/v2/webhooks", 1);
    let created = setup
        .post(&webhooks_path(None), &minimal_webhook("verify", &["sent"]))
        .await;
    created.assert_error(StatusCode::BAD_GATEWAY, "vendor_unreachable");
    assert_eq!(proxy.hung_up(), 2);
    assert_eq!(setup.sim_count("create").await, 0);
}
