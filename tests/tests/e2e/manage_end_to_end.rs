//! Every management operation end to end: our route in the local stack, the shared handler, the
//! Insider One client over real HTTP to the simulator, the simulator's URL probe back into our
//! own receiver and token endpoint, and events delivered to what was registered.

use e2e_tests::manage::{SETTINGS_SENDER, Setup, minimal_webhook, webhooks_path};
use e2e_tests::stack::{OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, WEBHOOK_TOKEN, client};
use insider_sim::deliver::{StreamSpec, generate};
use insider_sim::vocabulary::{EventName, SubProduct};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::domain::management::REPLY_ADDED_NOTE;

/// Gets a token from our token endpoint with the credentials a registration minted.
async fn token_with(setup: &Setup, credentials: &Value, scope: &str) -> StatusCode {
    client()
        .post(setup.own_url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", credentials["clientId"].as_str().unwrap()),
            (
                "client_secret",
                credentials["clientSecret"].as_str().unwrap(),
            ),
            ("scope", scope),
        ])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_webhook_registered_with_every_default_is_probed_and_receives_events() {
    let setup = Setup::start().await;
    let created = setup
        .post(
            &webhooks_path(None),
            &minimal_webhook("conversational", &["sent", "delivered", "read"]),
        )
        .await;
    created.assert_ok();
    assert_eq!(created.body["status"], true);
    let id = created.body["webhook"]
        .as_u64()
        .expect("the vendor's webhook id");
    let credentials = &created.body["credentials"];
    let client_id = credentials["clientId"].as_str().unwrap();
    assert!(
        client_id.starts_with("insider-") && client_id.len() == "insider-".len() + 8,
        "{client_id}"
    );
    assert_eq!(credentials["clientSecret"].as_str().unwrap().len(), 64);
    assert!(credentials.get("refreshToken").is_none());
    let notes = created.body["notes"].as_array().unwrap();
    assert!(notes.contains(&json!(REPLY_ADDED_NOTE)), "{notes:?}");
    assert_eq!(notes.len(), 3, "reply, webhookUrl and tokenUrl: {notes:?}");

    // The simulator got a token from our endpoint with the minted credentials and probed our
    // receiver with it; what it stored points at this deployment.
    let probe = setup.last_probe().await;
    assert_eq!(probe["url"], setup.own_url("/webhooks/conversational"));
    let state = setup.sim_state().await;
    let webhook = &state["webhooks"][0];
    assert_eq!(
        webhook["webhook_url"],
        setup.own_url("/webhooks/conversational")
    );
    assert_eq!(
        webhook["oauth2"]["token_url"],
        setup.own_url("/oauth/token")
    );
    assert_eq!(webhook["oauth2"]["client_id"], client_id);
    assert_eq!(
        webhook["events"],
        json!(["sent", "delivered", "read", "reply"])
    );
    assert_eq!(
        token_with(&setup, credentials, "whatsapp.write").await,
        StatusCode::OK
    );

    // The list comes back with the secret masked.
    let listed = setup.get(&webhooks_path(None)).await;
    assert_eq!(listed.status, StatusCode::OK);
    let listed_oauth2 = &listed.body["webhooks"][0]["oauth2"];
    assert_eq!(listed.body["webhooks"][0]["id"], id);
    assert!(
        listed_oauth2["clientSecret"]
            .as_str()
            .unwrap()
            .ends_with("********")
    );
    assert!(
        !listed
            .body
            .to_string()
            .contains(credentials["clientSecret"].as_str().unwrap())
    );

    // Insider One (the simulator) delivers events with those credentials; they are stored and
    // read back.
    let delivered = setup.sim_deliver(id, 20, 7).await;
    assert!(delivered.body["receiver"]["stored"].as_u64().unwrap() > 0);
    let subscribed = [
        EventName::Sent,
        EventName::Delivered,
        EventName::Read,
        EventName::Reply,
    ];
    let stream = generate(&StreamSpec {
        sub_product: SubProduct::Conversational,
        events: Some(&subscribed),
        count: 20,
        seed: 7,
        duplicates: 0.0,
        shuffle: false,
    });
    let (message_id, _) = stream
        .iter()
        .flat_map(|delivery| delivery.events.iter())
        .find_map(|event| event.status.clone())
        .expect("the stream reports a status of one of our messages");
    let message = setup.get(&format!("/messages/{message_id}")).await;
    message.assert_ok();
    assert_eq!(message.body["message_id"], message_id.as_str());
    assert_eq!(message.body["events"][0]["sub_product"], "conversational");
}

#[tokio::test]
async fn update_looks_up_the_type_and_delete_removes_the_webhook() {
    let setup = Setup::start().await;
    let created = setup
        .post(
            &webhooks_path(None),
            &minimal_webhook("conversational", &["sent"]),
        )
        .await;
    let id = created.body["webhook"].as_u64().unwrap();
    let first_client = created.body["credentials"]["clientId"].clone();
    let lists_before = setup.sim_count("list").await;

    let updated = setup
        .put(
            &webhooks_path(Some(id)),
            &json!({"authType": "oauth2", "events": ["read"],
                    "oauth2": {"grantType": "client_credentials", "expiresIn": 600,
                               "scopes": ["webhook.write"]}}),
        )
        .await;
    updated.assert_ok();
    assert_eq!(updated.body["webhook"], id);
    assert!(
        updated.body["notes"]
            .as_array()
            .unwrap()
            .contains(&json!(REPLY_ADDED_NOTE)),
        "the existing webhook is conversational"
    );
    assert_ne!(updated.body["credentials"]["clientId"], first_client);
    assert_eq!(
        setup.sim_count("list").await,
        lists_before + 1,
        "the type was looked up"
    );
    assert_eq!(setup.sim_count("update").await, 1);
    setup.last_probe().await;
    let state = setup.sim_state().await;
    assert_eq!(state["webhooks"][0]["events"], json!(["read", "reply"]));
    assert_eq!(
        state["webhooks"][0]["oauth2"]["scopes"],
        json!(["webhook.write"])
    );
    assert_eq!(state["webhooks"][0]["oauth2"]["expires_in"], 600);

    let deleted = setup.delete(&webhooks_path(Some(id))).await;
    assert_eq!(
        (deleted.status, &deleted.body["status"]),
        (StatusCode::OK, &json!(true))
    );
    let second_client = updated.body["credentials"]["clientId"].as_str().unwrap();
    assert_eq!(
        deleted.body["notes"],
        json!([format!(
            "withdrew the client {second_client}, minted for the deleted webhook"
        )]),
        "the webhook's credentials went with it"
    );
    let listed = setup.get(&webhooks_path(None)).await;
    assert_eq!(listed.body, json!({"webhooks": []}));
    let again = setup.delete(&webhooks_path(Some(id))).await;
    again.assert_error(StatusCode::NOT_FOUND, "vendor_not_found");

    let missing = setup
        .put(
            &webhooks_path(Some(id)),
            &json!({"authType": "oauth2", "events": ["read"],
                    "oauth2": {"grantType": "client_credentials", "expiresIn": 600}}),
        )
        .await;
    missing.assert_error(StatusCode::NOT_FOUND, "webhook_not_found");
    assert_eq!(
        setup.sim_count("update").await,
        1,
        "no update is sent for a webhook the list does not have"
    );
}

#[tokio::test]
async fn the_refresh_token_grant_gets_a_minted_refresh_token() {
    let setup = Setup::start().await;
    let created = setup
        .post(
            &webhooks_path(None),
            &json!({"authType": "oauth2", "subProduct": "transactional",
                    "events": ["sent", "failed"],
                    "oauth2": {"grantType": "refresh_token", "expiresIn": 900}}),
        )
        .await;
    created.assert_ok();
    let credentials = &created.body["credentials"];
    assert_eq!(credentials["refreshToken"].as_str().unwrap().len(), 64);
    assert!(
        created
            .body
            .get("notes")
            .is_some_and(|n| !n.to_string().contains("reply")),
        "transactional webhooks keep their events"
    );
    // The simulator redeemed the refresh token at our endpoint to probe.
    let probe = setup.last_probe().await;
    assert_eq!(probe["url"], setup.own_url("/webhooks/transactional"));
    let state = setup.sim_state().await;
    assert_eq!(
        state["webhooks"][0]["oauth2"]["grant_type"],
        "refresh_token"
    );
    assert_eq!(
        token_with(&setup, credentials, "webhook.write").await,
        StatusCode::BAD_REQUEST,
        "a client minted for the refresh_token grant is not allowed client_credentials"
    );
}

#[tokio::test]
async fn settings_v2_and_v1_register_this_deployment() {
    let setup = Setup::start().await;
    let transactional = setup
        .post(
            "/manage/settings/transactional",
            &json!({"auth_type": "oauth2",
                    "oauth2": {"grant_type": "client_credentials", "expires_in": 3600}}),
        )
        .await;
    transactional.assert_ok();
    assert_eq!(
        transactional.body["message"],
        "Settings updated successfully"
    );
    let credentials = &transactional.body["credentials"];
    assert!(
        credentials["client_id"]
            .as_str()
            .unwrap()
            .starts_with("insider-")
    );
    assert!(credentials["client_secret"].is_string());

    let conversational = setup
        .post(
            "/manage/settings/conversational",
            &json!({"auth_type": "bearer", "api_key": WEBHOOK_TOKEN, "from": SETTINGS_SENDER}),
        )
        .await;
    conversational.assert_ok();
    assert!(conversational.body.get("credentials").is_none());

    let v1 = setup
        .post(
            "/manage/settings/conversational/v1",
            &json!({"isActive": true, "apiKey": WEBHOOK_TOKEN}),
        )
        .await;
    v1.assert_ok();

    let state = setup.sim_state().await;
    let settings = state["settings"].as_array().unwrap();
    assert_eq!(settings.len(), 3);
    for saved in settings {
        let sub_product = saved["sub_product"].as_str().unwrap();
        assert_eq!(
            saved["webhook_url"],
            setup.own_url(&format!("/webhooks/{sub_product}"))
        );
    }
    assert!(settings.iter().any(|s| s["source"] == "v1"));
    assert_eq!(setup.sim_count("v1").await, 1);
    assert_eq!(setup.sim_count("settings").await, 2);

    // Deliveries to the saved settings, with OAuth 2.0 and with the bearer token.
    for path in [
        "/_sim/settings/transactional/deliver".to_owned(),
        format!(
            "/_sim/settings/conversational/deliver?from={}",
            &SETTINGS_SENDER[1..]
        ),
    ] {
        let delivered = setup
            .sim_call(Method::POST, &path, Some(json!({"count": 5, "seed": 3})))
            .await;
        assert_eq!(
            delivered.status,
            StatusCode::OK,
            "{path}: {}",
            delivered.body
        );
        assert_eq!(
            delivered.body["acknowledged"], 5,
            "{path}: {}",
            delivered.body
        );
    }
}

#[tokio::test]
async fn the_vendors_examples_work_with_our_urls_and_client() {
    let setup = Setup::start().await;
    // The vendor's create example, with this deployment's URLs and OAuth client in place of
    // partner.example.com's: conversational without reply.
    let created = setup
        .post(
            &webhooks_path(None),
            &json!({
                "authType": "oauth2",
                "subProduct": "conversational",
                "webhookUrl": setup.own_url("/webhooks/conversational"),
                "events": ["sent", "delivered", "failed"],
                "oauth2": {
                    "grantType": "client_credentials",
                    "tokenUrl": setup.own_url("/oauth/token"),
                    "clientId": OAUTH_CLIENT_ID,
                    "clientSecret": OAUTH_CLIENT_SECRET,
                    "scopes": ["whatsapp.read", "whatsapp.write"],
                    "expiresIn": 3600
                }
            }),
        )
        .await;
    created.assert_ok();
    assert_eq!(created.body["notes"], json!([REPLY_ADDED_NOTE]));
    assert!(created.body.get("credentials").is_none(), "nothing minted");

    // The transactional settings example, likewise.
    let saved = setup
        .post(
            "/manage/settings/transactional",
            &json!({
                "webhook_url": setup.own_url("/webhooks/transactional"),
                "from": SETTINGS_SENDER,
                "auth_type": "oauth2",
                "oauth2": {
                    "grant_type": "client_credentials",
                    "token_url": setup.own_url("/oauth/token"),
                    "client_id": OAUTH_CLIENT_ID,
                    "client_secret": OAUTH_CLIENT_SECRET,
                    "scopes": ["webhook.write"],
                    "expires_in": 3600
                }
            }),
        )
        .await;
    saved.assert_ok();
    assert!(saved.body.get("notes").is_none());

    // The V1 sample, with webhookUrl as in the sample rather than url as in the table.
    let v1 = setup
        .post(
            "/manage/settings/conversational/v1",
            &json!({"isActive": true, "webhookUrl": setup.own_url("/webhooks/conversational"),
                    "apiKey": WEBHOOK_TOKEN}),
        )
        .await;
    v1.assert_ok();
}

#[tokio::test]
async fn the_routes_want_the_admin_token_and_known_methods() {
    let setup = Setup::start().await;
    let anonymous = client()
        .get(setup.own_url(&webhooks_path(None)))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let webhook_token = client()
        .get(setup.own_url(&webhooks_path(None)))
        .bearer_auth(WEBHOOK_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(webhook_token.status(), StatusCode::UNAUTHORIZED);
    let patch = setup
        .call(Method::PATCH, &webhooks_path(Some(1)), None)
        .await;
    patch.assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let unknown = setup.get("/manage/settings/verify").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(
        setup.sim_requests().await.is_empty(),
        "nothing reached Insider One"
    );
}
