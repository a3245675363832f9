//! The seven management Lambdas' handlers, each bound to its route as its binary in
//! `functions/manage` binds it, driven by API Gateway HTTP API (payload 2.0) events converted as
//! the Lambdas convert them, and answering as API Gateway receives the answer. They call the
//! Insider One simulator over real HTTP; the simulator probes the local stack's receiver and
//! token endpoint, which share the client store the handlers mint into.

use std::future::Future;
use std::sync::Arc;

use base64::Engine;
use e2e_tests::gateway::{request, route_event};
use e2e_tests::manage::{
    Answer, SENDER, SETTINGS_SENDER, Setup, insider_settings, minimal_webhook,
};
use e2e_tests::stack::{OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, WEBHOOK_TOKEN, client};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::http::manage::{self, Management};
use shared::http::{Request, Response};
use shared::insider::InsiderClient;

fn lambda_management(setup: &Setup) -> &'static Management {
    let client = InsiderClient::new(insider_settings(&setup.sim.url())).expect("client builds");
    setup.lambda_management(Arc::new(client))
}

/// The event of a request to this deployment (the local stack, as `Host`, behind a proxy that
/// speaks http to it, so the simulator can reach what URLs default to), matched to
/// `route_key`. A body is sent base64-encoded when `base64` says so, as API Gateway does with
/// bodies it does not take for text.
fn event(
    setup: &Setup,
    route_key: &str,
    path: &str,
    query: &str,
    body: Option<&Value>,
    base64: bool,
) -> Value {
    let host = setup.host();
    let headers = [
        ("host", host.as_str()),
        ("x-forwarded-proto", "http"),
        ("content-type", "application/json"),
    ];
    let body = body.map(|body| {
        let text = body.to_string();
        if base64 {
            base64::engine::general_purpose::STANDARD.encode(text)
        } else {
            text
        }
    });
    route_event(route_key, path, query, &headers, body.as_deref(), base64)
}

/// Runs `handler` on `event` as the Lambda runtime does.
async fn invoke<H, F>(management: &'static Management, handler: H, event: &Value) -> Answer
where
    H: Fn(&'static Management, Request) -> F,
    F: Future<Output = Response>,
{
    let response = match request(event) {
        Ok(request) => handler(management, request).await,
        Err(refused) => *refused,
    };
    Answer::from_lambda(response)
}

#[tokio::test]
async fn each_route_runs_through_its_own_handler() {
    let setup = Setup::start().await;
    let management = lambda_management(&setup);
    let query = format!("phoneNumber={SENDER}");

    // Create with every default, its body base64-encoded: the webhook and token URLs come from
    // the event's Host, the credentials are minted into the stack's store.
    let body = minimal_webhook("conversational", &["sent", "delivered"]);
    let created = invoke(
        management,
        manage::create_webhook,
        &event(
            &setup,
            "POST /manage/webhooks",
            "/manage/webhooks",
            &query,
            Some(&body),
            true,
        ),
    )
    .await;
    created.assert_ok();
    let id = created.body["webhook"].as_u64().expect("the vendor's id");
    let state = setup.sim_state().await;
    let stored = &state["webhooks"][0];
    assert_eq!(stored["phone_number"], SENDER, "{stored}");
    assert_eq!(
        stored["webhook_url"],
        setup.own_url("/webhooks/conversational")
    );
    assert_eq!(stored["oauth2"]["token_url"], setup.own_url("/oauth/token"));
    assert_eq!(
        stored["oauth2"]["client_id"],
        created.body["credentials"]["clientId"]
    );
    let probe = state["probes"].as_array().unwrap().last().unwrap();
    assert_eq!(
        probe["ok"], true,
        "the stack knew the minted client: {probe}"
    );

    let list_event = event(
        &setup,
        "GET /manage/webhooks",
        "/manage/webhooks",
        &query,
        None,
        false,
    );
    let listed = invoke(management, manage::list_webhooks, &list_event).await;
    listed.assert_ok();
    assert_eq!(listed.body["webhooks"][0]["id"], id);

    // Update and delete read {id} from the event's path.
    let path = format!("/manage/webhooks/{id}");
    let change = json!({"authType": "oauth2", "events": ["read"],
                        "oauth2": {"grantType": "client_credentials", "expiresIn": 600}});
    let updated = invoke(
        management,
        manage::update_webhook,
        &event(
            &setup,
            "PUT /manage/webhooks/{id}",
            &path,
            &query,
            Some(&change),
            true,
        ),
    )
    .await;
    updated.assert_ok();
    assert_eq!(updated.body["webhook"], id);
    assert_eq!(setup.sim_count("update").await, 1);
    let state = setup.sim_state().await;
    assert_eq!(state["webhooks"][0]["events"], json!(["read", "reply"]));
    assert_eq!(
        state["webhooks"][0]["webhook_url"],
        setup.own_url("/webhooks/conversational")
    );

    let deleted = invoke(
        management,
        manage::delete_webhook,
        &event(
            &setup,
            "DELETE /manage/webhooks/{id}",
            &path,
            &query,
            None,
            false,
        ),
    )
    .await;
    assert_eq!(
        (deleted.status, &deleted.body["status"]),
        (StatusCode::OK, &json!(true))
    );
    assert_eq!(
        deleted.body["notes"].as_array().map(Vec::len),
        Some(1),
        "the update's minted client went with the webhook: {}",
        deleted.body
    );
    let listed = invoke(management, manage::list_webhooks, &list_event).await;
    assert_eq!(listed.body, json!({"webhooks": []}));

    // The settings, with this deployment's receiver as their URL.
    let transactional = invoke(
        management,
        manage::transactional_settings,
        &event(
            &setup,
            "POST /manage/settings/transactional",
            "/manage/settings/transactional",
            "",
            Some(
                &json!({"auth_type": "bearer", "api_key": WEBHOOK_TOKEN, "from": SETTINGS_SENDER}),
            ),
            false,
        ),
    )
    .await;
    transactional.assert_ok();
    let conversational = invoke(
        management,
        manage::conversational_settings,
        &event(
            &setup,
            "POST /manage/settings/conversational",
            "/manage/settings/conversational",
            "",
            // A sender of its own: the V1 call below saves the account's default one.
            Some(&json!({"auth_type": "oauth2", "from": SENDER,
                         "oauth2": {"grant_type": "client_credentials", "expires_in": 3600}})),
            true,
        ),
    )
    .await;
    conversational.assert_ok();
    assert!(conversational.body["credentials"]["client_id"].is_string());
    let v1 = invoke(
        management,
        manage::v1_settings,
        &event(
            &setup,
            "POST /manage/settings/conversational/v1",
            "/manage/settings/conversational/v1",
            "",
            Some(&json!({"isActive": true, "apiKey": WEBHOOK_TOKEN})),
            true,
        ),
    )
    .await;
    v1.assert_ok();
    let state = setup.sim_state().await;
    let settings = state["settings"].as_array().unwrap();
    assert_eq!(settings.len(), 3, "{settings:?}");
    for saved in settings {
        let sub_product = saved["sub_product"].as_str().unwrap();
        assert_eq!(
            saved["webhook_url"],
            setup.own_url(&format!("/webhooks/{sub_product}"))
        );
    }
    assert_eq!(setup.sim_count("settings").await, 2);
    assert_eq!(setup.sim_count("v1").await, 1);

    // The minted settings client gets tokens from the stack's endpoint.
    let credentials = &conversational.body["credentials"];
    let token = client()
        .post(setup.own_url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", credentials["client_id"].as_str().unwrap()),
            (
                "client_secret",
                credentials["client_secret"].as_str().unwrap(),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_sender_is_read_from_the_events_query_string() {
    let setup = Setup::start().await;
    let management = lambda_management(&setup);
    // `+` percent-encoded, as a client sends it; the simulator matches the sender by digits.
    let listed = invoke(
        management,
        manage::list_webhooks,
        &event(
            &setup,
            "GET /manage/webhooks",
            "/manage/webhooks",
            "phoneNumber=%2B1234567890",
            None,
            false,
        ),
    )
    .await;
    assert_eq!(
        (listed.status, listed.body),
        (StatusCode::OK, json!({"webhooks": []}))
    );
    assert_eq!(setup.sim_count("list").await, 1);

    let missing = invoke(
        management,
        manage::list_webhooks,
        &event(
            &setup,
            "GET /manage/webhooks",
            "/manage/webhooks",
            "other=1",
            None,
            false,
        ),
    )
    .await;
    missing.assert_error(StatusCode::BAD_REQUEST, "validation_failed");
    assert_eq!(missing.fields(), ["phoneNumber"]);
    assert_eq!(setup.sim_count("list").await, 1, "nothing was sent");
}

#[tokio::test]
async fn a_handler_answers_404_to_any_route_but_its_own() {
    let setup = Setup::start().await;
    let management = lambda_management(&setup);
    let query = format!("phoneNumber={SENDER}");
    let body = minimal_webhook("verify", &["sent"]);
    let webhooks = |method: &str| {
        event(
            &setup,
            &format!("{method} /manage/webhooks"),
            "/manage/webhooks",
            &query,
            Some(&body),
            false,
        )
    };
    let webhook = |method: &str| {
        event(
            &setup,
            &format!("{method} /manage/webhooks/{{id}}"),
            "/manage/webhooks/84",
            &query,
            Some(&body),
            false,
        )
    };
    let settings = |path: &str| {
        event(
            &setup,
            &format!("POST {path}"),
            path,
            "",
            Some(&json!({"auth_type": "bearer", "api_key": WEBHOOK_TOKEN})),
            false,
        )
    };
    let answers = [
        invoke(management, manage::list_webhooks, &webhooks("POST")).await,
        invoke(management, manage::list_webhooks, &webhooks("PATCH")).await,
        invoke(management, manage::create_webhook, &webhooks("GET")).await,
        invoke(management, manage::update_webhook, &webhook("DELETE")).await,
        invoke(management, manage::delete_webhook, &webhook("PUT")).await,
        invoke(management, manage::delete_webhook, &webhooks("DELETE")).await,
        invoke(
            management,
            manage::transactional_settings,
            &settings("/manage/settings/conversational"),
        )
        .await,
        invoke(
            management,
            manage::conversational_settings,
            &settings("/manage/settings/conversational/v1"),
        )
        .await,
        invoke(
            management,
            manage::v1_settings,
            &settings("/manage/settings/transactional"),
        )
        .await,
        invoke(management, manage::v1_settings, &settings("/messages/x")).await,
        invoke(management, manage::list_credentials, &webhooks("GET")).await,
        invoke(
            management,
            manage::withdraw_credential,
            &settings("/manage/credentials"),
        )
        .await,
    ];
    for answer in answers {
        answer.assert_error(StatusCode::NOT_FOUND, "not_found");
    }
    assert!(
        setup.sim_requests().await.is_empty(),
        "nothing reached Insider One"
    );
}

#[tokio::test]
async fn an_update_whose_url_cannot_default_is_refused_before_any_call() {
    let setup = Setup::start().await;
    let management = lambda_management(&setup);
    let created = setup
        .post(
            &format!("/manage/webhooks?phoneNumber={SENDER}"),
            &minimal_webhook("transactional", &["sent"]),
        )
        .await;
    created.assert_ok();
    let id = created.body["webhook"].as_u64().unwrap();
    let before = setup.sim_requests().await;

    // Behind a proxy speaking plain http to a host that is not loopback, the left-out
    // webhookUrl would default to an http URL Insider One must not be given: refused without
    // listing the webhooks first, whatever their type.
    let path = format!("/manage/webhooks/{id}");
    let change = json!({"authType": "oauth2", "events": ["read"],
                        "oauth2": {"grantType": "client_credentials", "expiresIn": 600,
                                   "tokenUrl": setup.own_url("/oauth/token"),
                                   "clientId": OAUTH_CLIENT_ID,
                                   "clientSecret": OAUTH_CLIENT_SECRET}});
    let refused = invoke(
        management,
        manage::update_webhook,
        &route_event(
            "PUT /manage/webhooks/{id}",
            &path,
            &format!("phoneNumber={SENDER}"),
            &[("x-forwarded-proto", "http")],
            Some(&change.to_string()),
            false,
        ),
    )
    .await;
    refused.assert_error(StatusCode::BAD_REQUEST, "validation_failed");
    assert_eq!(refused.fields(), ["webhookUrl"]);
    assert_eq!(setup.sim_requests().await, before, "no call was made");
}
