//! `POST /auth/token`, token expiry and the scope each V2 route needs.

use std::time::Duration;

use http::StatusCode;
use reqwest::Method;
use serde_json::json;

use crate::support::{ALL_SCOPES, Api, Auth, Receiver, SENDER, create_body, sim, sim_with};

#[tokio::test]
async fn issues_bearer_tokens_to_the_configured_client() {
    let sim = sim().await;
    let api = Api::anonymous(&sim);
    let (status, body) = api
        .post_json(
            "/auth/token",
            &json!({"client_id": "sim-client", "client_secret": "sim-secret", "scopes": ALL_SCOPES}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 5400, "90 minutes by default");
    assert!(body["access_token"].as_str().is_some_and(|t| t.len() > 20));
    assert_eq!(api.state().await["gateway_tokens_issued"], 1);
}

#[tokio::test]
async fn refuses_unknown_clients_and_bad_requests() {
    let sim = sim_with(|c| {
        c.client_id = "ours".into();
        c.client_secret = "s3cret".into();
    })
    .await;
    let api = Api::anonymous(&sim);
    for (body, expected) in [
        (
            json!({"client_id": "ours", "client_secret": "wrong", "scopes": []}),
            StatusCode::UNAUTHORIZED,
        ),
        (
            json!({"client_id": "sim-client", "client_secret": "sim-secret"}),
            StatusCode::UNAUTHORIZED,
        ),
        (json!({"client_id": "ours"}), StatusCode::BAD_REQUEST),
        (
            json!({"client_id": "ours", "client_secret": "s3cret", "scopes": ["wa-webhook-everything"]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"clientId": "ours", "clientSecret": "s3cret"}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (status, answer) = api.post_json("/auth/token", &body).await;
        assert_eq!(status, expected, "{body} -> {answer}");
        assert!(answer["message"].is_string(), "{answer}");
    }
    let (status, _) = api
        .post_json(
            "/auth/token",
            &json!({"client_id": "ours", "client_secret": "s3cret", "scopes": ["wa-webhook-read"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn routes_need_a_valid_unexpired_token() {
    let sim = sim_with(|c| c.token_lifetime = Duration::from_secs(60)).await;
    let mut api = Api::anonymous(&sim);
    let (status, body) = api.list(SENDER).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    api.token = Some("not-a-token-the-gateway-issued".into());
    assert_eq!(api.list(SENDER).await.0, StatusCode::UNAUTHORIZED);

    let token = api.gateway_token(&ALL_SCOPES).await;
    api.token = Some(token);
    assert_eq!(api.list(SENDER).await.0, StatusCode::OK);
    assert_eq!(
        api.settings("transactional", &json!({})).await.0,
        StatusCode::BAD_REQUEST,
        "settings accept the token (and then refuse the empty body)"
    );

    sim.advance_clock(Duration::from_secs(59));
    assert_eq!(api.list(SENDER).await.0, StatusCode::OK);
    let (status, answer) = api
        .post_json("/_sim/clock", &json!({"advance_secs": 1}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, body) = api.list(SENDER).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["message"], "the gateway token has expired");
    assert_eq!(
        api.settings("transactional", &json!({})).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn each_route_needs_its_scope() {
    let sim = sim().await;
    let receiver = Receiver::start(Auth::Open).await;
    let admin = Api::new(&sim).await;
    let id = admin.created(&create_body(&receiver, "/hook")).await;
    let body = create_body(&receiver, "/hook");
    let mut update = body.clone();
    update.as_object_mut().unwrap().remove("subProduct");

    let calls: [(&str, Method, String, Option<&serde_json::Value>); 4] = [
        (
            "wa-webhook-read",
            Method::GET,
            format!("/api/wa/v2/webhooks?phoneNumber={SENDER}"),
            None,
        ),
        (
            "wa-webhook-manage",
            Method::POST,
            format!("/api/wa/v2/webhooks?phoneNumber={SENDER}"),
            Some(&body),
        ),
        (
            "wa-webhook-update",
            Method::PUT,
            format!("/api/wa/v2/webhooks/{id}?phoneNumber={SENDER}"),
            Some(&update),
        ),
        (
            "wa-webhook-delete",
            Method::DELETE,
            format!("/api/wa/v2/webhooks/{id}?phoneNumber={SENDER}"),
            None,
        ),
    ];
    for (scope, method, path, payload) in &calls {
        let mut others = Api::anonymous(&sim);
        let all_but: Vec<&str> = ALL_SCOPES.into_iter().filter(|s| s != scope).collect();
        others.token = Some(others.gateway_token(&all_but).await);
        let (status, answer) = others.call(method.clone(), path, *payload).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} without {scope}");
        assert!(
            answer["message"].as_str().unwrap().contains(scope),
            "{answer}"
        );

        let mut only = Api::anonymous(&sim);
        only.token = Some(only.gateway_token(&[scope]).await);
        let (status, answer) = only.call(method.clone(), path, *payload).await;
        // The create repeats a URL, so it passes the scope check and fails on the duplicate.
        let expected = if *scope == "wa-webhook-manage" {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
        assert_eq!(status, expected, "{method} with {scope}: {answer}");
    }
}

#[tokio::test]
async fn a_token_request_that_is_not_json_is_a_400() {
    let sim = sim().await;
    let api = Api::anonymous(&sim);
    for raw in [
        "client_id=sim-client&client_secret=sim-secret",
        "{\"client_id\": \"sim-client\"",
        "",
    ] {
        let (status, answer) = api.post_raw("/auth/token", raw).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{raw:?}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .starts_with("invalid token request: "),
            "{raw:?}: {answer}"
        );
    }
    assert_eq!(api.state().await["gateway_tokens_issued"], 0);
}

#[tokio::test]
async fn every_v2_route_needs_an_authorization_header() {
    let sim = sim().await;
    let receiver = Receiver::start(Auth::Open).await;
    let id = Api::new(&sim)
        .await
        .created(&create_body(&receiver, "/hook"))
        .await;
    let mut update = create_body(&receiver, "/moved");
    update.as_object_mut().unwrap().remove("subProduct");
    let settings =
        json!({"webhook_url": receiver.url("/s"), "auth_type": "bearer", "api_key": "k"});
    let anonymous = Api::anonymous(&sim);
    let calls = [
        (
            Method::GET,
            format!("/api/wa/v2/webhooks?phoneNumber={SENDER}"),
            None,
        ),
        (
            Method::POST,
            format!("/api/wa/v2/webhooks?phoneNumber={SENDER}"),
            Some(create_body(&receiver, "/other")),
        ),
        (
            Method::PUT,
            format!("/api/wa/v2/webhooks/{id}?phoneNumber={SENDER}"),
            Some(update),
        ),
        (
            Method::DELETE,
            format!("/api/wa/v2/webhooks/{id}?phoneNumber={SENDER}"),
            None,
        ),
        (
            Method::POST,
            "/api/wa/v2/transactional/settings".to_owned(),
            Some(settings.clone()),
        ),
        (
            Method::POST,
            "/api/wa/v2/conversational/settings".to_owned(),
            Some(settings),
        ),
    ];
    for (method, path, body) in &calls {
        let (status, answer) = anonymous.call(method.clone(), path, body.as_ref()).await;
        assert_eq!(
            (status, answer),
            (
                StatusCode::UNAUTHORIZED,
                json!({"message": "missing Authorization: Bearer <gateway token>"})
            ),
            "{method} {path}"
        );
    }
    let state = anonymous.state().await;
    assert_eq!(receiver.hits().len(), 1, "only the first create probed");
    assert_eq!(state["webhooks"][0]["webhook_url"], receiver.url("/hook"));
    assert_eq!(state["webhooks"][0]["is_active"], true);
    assert_eq!(state["settings"], json!([]));
}
