//! Every validation rule of the management routes, one case each: a 400 `validation_failed`
//! naming the fields as the request spells them, and not one call to Insider One (the
//! simulator's request counters stay empty).

use e2e_tests::manage::{SENDER, Setup, minimal_webhook, webhooks_path};
use e2e_tests::stack::WEBHOOK_TOKEN;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// `minimal_webhook` (transactional, defaults everywhere) with `changes` merged into it, one
/// level deep for `oauth2`; a `null` removes the field.
fn webhook(changes: Value) -> Value {
    let mut body = minimal_webhook("transactional", &["sent"]);
    merge(&mut body, changes);
    body
}

fn merge(target: &mut Value, changes: Value) {
    let Value::Object(changes) = changes else {
        return;
    };
    for (key, change) in changes {
        match (target.get_mut(&key), change) {
            (_, Value::Null) => {
                target.as_object_mut().unwrap().remove(&key);
            }
            (Some(existing @ Value::Object(_)), change @ Value::Object(_)) => {
                merge(existing, change);
            }
            (_, change) => {
                target[key.as_str()] = change;
            }
        }
    }
}

fn settings(changes: Value) -> Value {
    let mut body = json!({"auth_type": "oauth2",
                          "oauth2": {"grant_type": "client_credentials", "expires_in": 3600}});
    merge(&mut body, changes);
    body
}

fn v1(changes: Value) -> Value {
    let mut body = json!({"isActive": true, "apiKey": WEBHOOK_TOKEN});
    merge(&mut body, changes);
    body
}

struct Case {
    rule: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
    fields: &'static [&'static str],
}

fn create(rule: &'static str, body: Value, fields: &'static [&'static str]) -> Case {
    Case {
        rule,
        method: Method::POST,
        path: webhooks_path(None),
        body: Some(body),
        fields,
    }
}

fn post(rule: &'static str, path: &str, body: Value, fields: &'static [&'static str]) -> Case {
    Case {
        rule,
        method: Method::POST,
        path: path.to_owned(),
        body: Some(body),
        fields,
    }
}

fn cases() -> Vec<Case> {
    let update_body = webhook(json!({"subProduct": null}));
    vec![
        create(
            "authType must be oauth2",
            webhook(json!({"authType": "bearer"})),
            &["authType"],
        ),
        create(
            "authType is required",
            webhook(json!({"authType": null})),
            &["authType"],
        ),
        create(
            "subProduct is required on create",
            webhook(json!({"subProduct": null})),
            &["subProduct"],
        ),
        create(
            "subProduct is one of three",
            webhook(json!({"subProduct": "marketing"})),
            &["subProduct"],
        ),
        create(
            "event names",
            webhook(json!({"events": ["sent", "opened"]})),
            &["events"],
        ),
        create(
            "at least one event",
            webhook(json!({"events": []})),
            &["events"],
        ),
        create(
            "reply is refused on verify",
            webhook(json!({"subProduct": "verify", "events": ["sent", "reply"]})),
            &["events"],
        ),
        create(
            "oauth2 is required",
            webhook(json!({"oauth2": null})),
            &["oauth2"],
        ),
        create(
            "grant types",
            webhook(json!({"oauth2": {"grantType": "password"}})),
            &["oauth2.grantType"],
        ),
        create(
            "refreshToken only with refresh_token",
            webhook(json!({"oauth2": {"clientId": "c", "clientSecret": "s", "refreshToken": "r"}})),
            &["oauth2.refreshToken"],
        ),
        create(
            "refreshToken only with refresh_token, even empty",
            webhook(json!({"oauth2": {"clientId": "c", "clientSecret": "s", "refreshToken": ""}})),
            &["oauth2.refreshToken"],
        ),
        create(
            "refreshToken always with refresh_token",
            webhook(
                json!({"oauth2": {"grantType": "refresh_token", "clientId": "c", "clientSecret": "s"}}),
            ),
            &["oauth2.refreshToken"],
        ),
        create(
            "a blank refreshToken is no refreshToken",
            webhook(
                json!({"oauth2": {"grantType": "refresh_token", "clientId": "c", "clientSecret": "s", "refreshToken": " "}}),
            ),
            &["oauth2.refreshToken"],
        ),
        create(
            "no refreshToken for minted credentials",
            webhook(json!({"oauth2": {"grantType": "refresh_token", "refreshToken": "r"}})),
            &["oauth2.refreshToken"],
        ),
        create(
            "expiresIn > 0",
            webhook(json!({"oauth2": {"expiresIn": 0}})),
            &["oauth2.expiresIn"],
        ),
        create(
            "expiresIn at most a day",
            webhook(json!({"oauth2": {"expiresIn": 86_401}})),
            &["oauth2.expiresIn"],
        ),
        create(
            "expiresIn is required",
            webhook(json!({"oauth2": {"expiresIn": null}})),
            &["oauth2.expiresIn"],
        ),
        create(
            "expiresIn is a number",
            webhook(json!({"oauth2": {"expiresIn": "3600"}})),
            &["oauth2.expiresIn"],
        ),
        create(
            "client id and secret go together",
            webhook(json!({"oauth2": {"clientId": "partner-whatsapp-client"}})),
            &["oauth2.clientSecret"],
        ),
        create(
            "no client secret without its client id",
            webhook(json!({"oauth2": {"clientSecret": "partner-whatsapp-secret"}})),
            &["oauth2.clientId"],
        ),
        create(
            "each scope is one word",
            webhook(json!({"oauth2": {"scopes": ["webhook.write", "whatsapp read"]}})),
            &["oauth2.scopes"],
        ),
        create(
            "no empty scope",
            webhook(json!({"oauth2": {"scopes": ["webhook.write", ""]}})),
            &["oauth2.scopes"],
        ),
        create(
            "credentials are minted only for our token endpoint",
            webhook(json!({"webhookUrl": "https://partner.example.com/hooks",
                           "oauth2": {"tokenUrl": "https://partner.example.com/oauth/token"}})),
            &["oauth2.clientId"],
        ),
        create(
            "our receiver takes only our token endpoint's tokens",
            webhook(
                json!({"oauth2": {"tokenUrl": "https://partner.example.com/oauth/token",
                                      "clientId": "partner-client", "clientSecret": "partner-secret"}}),
            ),
            &["oauth2.tokenUrl"],
        ),
        create(
            "webhook URLs use https",
            webhook(json!({"webhookUrl": "http://partner.example.com/hooks"})),
            &["webhookUrl"],
        ),
        create(
            "webhook URLs are absolute",
            webhook(json!({"webhookUrl": "/webhooks/verify"})),
            &["webhookUrl"],
        ),
        create(
            "token URLs use https",
            webhook(
                json!({"oauth2": {"tokenUrl": "http://10.0.0.1/oauth/token", "clientId": "c", "clientSecret": "s"}}),
            ),
            &["oauth2.tokenUrl"],
        ),
        create(
            "our receiver needs a delivery scope",
            webhook(json!({"oauth2": {"scopes": ["whatsapp.read"]}})),
            &["oauth2.scopes"],
        ),
        create(
            "unknown fields are refused",
            webhook(json!({"webhookURL": "https://a.example"})),
            &["webhookURL"],
        ),
        Case {
            rule: "phoneNumber is required",
            method: Method::POST,
            path: "/manage/webhooks".into(),
            body: Some(webhook(json!({}))),
            fields: &["phoneNumber"],
        },
        Case {
            rule: "phoneNumber is E.164: no leading 0",
            method: Method::GET,
            path: "/manage/webhooks?phoneNumber=05551234567".into(),
            body: None,
            fields: &["phoneNumber"],
        },
        Case {
            rule: "phoneNumber is E.164: 7 to 15 digits",
            method: Method::GET,
            path: "/manage/webhooks?phoneNumber=%2B123456".into(),
            body: None,
            fields: &["phoneNumber"],
        },
        Case {
            rule: "subProduct is refused on update",
            method: Method::PUT,
            path: webhooks_path(Some(84)),
            body: Some(webhook(json!({}))),
            fields: &["subProduct"],
        },
        Case {
            rule: "an update's events are checked before the webhook is looked up",
            method: Method::PUT,
            path: webhooks_path(Some(84)),
            body: Some(webhook(
                json!({"subProduct": null, "events": ["sent", "opened"]}),
            )),
            fields: &["events"],
        },
        Case {
            rule: "an update's oauth2 is checked before the webhook is looked up",
            method: Method::PUT,
            path: webhooks_path(Some(84)),
            body: Some(webhook(
                json!({"subProduct": null, "oauth2": {"grantType": "password", "expiresIn": 0}}),
            )),
            fields: &["oauth2.grantType", "oauth2.expiresIn"],
        },
        Case {
            rule: "webhook ids are numbers",
            method: Method::PUT,
            path: format!("/manage/webhooks/eighty-four?phoneNumber={SENDER}"),
            body: Some(update_body),
            fields: &["id"],
        },
        Case {
            rule: "delete needs a valid id and sender",
            method: Method::DELETE,
            path: "/manage/webhooks/0?phoneNumber=555".into(),
            body: None,
            fields: &["phoneNumber", "id"],
        },
        post(
            "expires_in at most a day, in V2 settings too",
            "/manage/settings/transactional",
            settings(json!({"oauth2": {"expires_in": 86_401}})),
            &["oauth2.expires_in"],
        ),
        post(
            "auth_type is bearer or oauth2",
            "/manage/settings/transactional",
            settings(json!({"auth_type": "basic"})),
            &["auth_type"],
        ),
        post(
            "bearer needs api_key",
            "/manage/settings/conversational",
            json!({"auth_type": "bearer"}),
            &["api_key"],
        ),
        post(
            "bearer takes no oauth2",
            "/manage/settings/conversational",
            settings(json!({"auth_type": "bearer", "api_key": WEBHOOK_TOKEN})),
            &["oauth2"],
        ),
        post(
            "a bearer key for our receiver is one it accepts",
            "/manage/settings/conversational",
            json!({"auth_type": "bearer", "api_key": "not-a-key-our-receiver-accepts"}),
            &["api_key"],
        ),
        post(
            "oauth2 needs oauth2",
            "/manage/settings/transactional",
            settings(json!({"oauth2": null})),
            &["oauth2"],
        ),
        post(
            "oauth2 takes no api_key",
            "/manage/settings/transactional",
            settings(json!({"api_key": "k"})),
            &["api_key"],
        ),
        post(
            "from is E.164",
            "/manage/settings/transactional",
            settings(json!({"from": "+12"})),
            &["from"],
        ),
        post(
            "settings URLs use https",
            "/manage/settings/transactional",
            settings(json!({"webhook_url": "http://partner.example.com/hooks"})),
            &["webhook_url"],
        ),
        post(
            "settings spell oauth2 in snake_case",
            "/manage/settings/transactional",
            settings(
                json!({"oauth2": {"expires_in": -1, "grant_type": "refresh_token", "refresh_token": "r"}}),
            ),
            &["oauth2.refresh_token", "oauth2.expires_in"],
        ),
        post(
            "settings grant types",
            "/manage/settings/conversational",
            settings(json!({"oauth2": {"grant_type": "authorization_code"}})),
            &["oauth2.grant_type"],
        ),
        post(
            "settings token URLs use https",
            "/manage/settings/transactional",
            settings(
                json!({"oauth2": {"token_url": "http://partner.example.com/oauth/token",
                                       "client_id": "c", "client_secret": "s"}}),
            ),
            &["oauth2.token_url"],
        ),
        post(
            "settings refresh_token only with refresh_token",
            "/manage/settings/transactional",
            settings(json!({"oauth2": {"client_id": "c", "client_secret": "s",
                                       "refresh_token": "r"}})),
            &["oauth2.refresh_token"],
        ),
        post(
            "V1 isActive is required",
            "/manage/settings/conversational/v1",
            v1(json!({"isActive": null})),
            &["isActive"],
        ),
        post(
            "V1 apiKey is required",
            "/manage/settings/conversational/v1",
            v1(json!({"apiKey": null})),
            &["apiKey"],
        ),
        post(
            "V1: a bearer key for our receiver is one it accepts",
            "/manage/settings/conversational/v1",
            v1(json!({"apiKey": "not-a-key-our-receiver-accepts"})),
            &["apiKey"],
        ),
        post(
            "V1 URL given once",
            "/manage/settings/conversational/v1",
            v1(json!({"url": "https://a.example/1", "webhookUrl": "https://a.example/2"})),
            &["url"],
        ),
        post(
            "V1 URLs use https",
            "/manage/settings/conversational/v1",
            v1(json!({"url": "http://partner.example.com/hooks"})),
            &["webhookUrl"],
        ),
    ]
}

#[tokio::test]
async fn every_rule_is_checked_before_any_call() {
    let setup = Setup::start().await;
    for case in cases() {
        let body = case.body.as_ref().map(Value::to_string);
        let answer = setup.call(case.method, &case.path, body.as_deref()).await;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::BAD_REQUEST, "validation_failed"),
            "{}: {}",
            case.rule,
            answer.body
        );
        assert_eq!(
            answer.fields(),
            case.fields,
            "{}: {}",
            case.rule,
            answer.body
        );
        for field in answer.body["error"]["fields"].as_array().unwrap() {
            assert!(
                field["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{}",
                case.rule
            );
        }
        assert!(
            setup.sim_requests().await.is_empty(),
            "{}: Insider One was called",
            case.rule
        );
    }
}

#[tokio::test]
async fn every_problem_of_a_request_is_listed_at_once() {
    let setup = Setup::start().await;
    let answer = setup
        .post(
            "/manage/webhooks?phoneNumber=abc",
            &json!({"authType": "bearer", "subProduct": "verify",
                    "webhookUrl": "http://partner.example.com/x", "events": ["reply"],
                    "oauth2": {"grantType": "password", "tokenUrl": "ftp://x", "expiresIn": 0,
                               "clientId": "partner-whatsapp-client"}}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.fields(),
        [
            "phoneNumber",
            "authType",
            "webhookUrl",
            "events",
            "oauth2.grantType",
            "oauth2.tokenUrl",
            "oauth2.clientSecret",
            "oauth2.expiresIn"
        ]
    );
    let message = answer.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("oauth2.expiresIn"), "{message}");
    assert!(setup.sim_requests().await.is_empty());
}

#[tokio::test]
async fn malformed_json_is_invalid_json() {
    let setup = Setup::start().await;
    for path in [
        webhooks_path(None),
        webhooks_path(Some(84)),
        "/manage/settings/transactional".into(),
        "/manage/settings/conversational".into(),
        "/manage/settings/conversational/v1".into(),
    ] {
        let method = if path.contains("/84") {
            Method::PUT
        } else {
            Method::POST
        };
        for body in ["{,}", "not json", "", "{} trailing"] {
            let answer = setup.call(method.clone(), &path, Some(body)).await;
            assert_eq!(
                (answer.status, answer.code()),
                (StatusCode::BAD_REQUEST, "invalid_json"),
                "{path} {body:?}"
            );
        }
    }
    assert!(setup.sim_requests().await.is_empty());
}

#[tokio::test]
async fn every_unknown_event_is_named() {
    let setup = Setup::start().await;
    let answer = setup
        .post(
            &webhooks_path(None),
            &webhook(json!({"events": ["sent", "opened", "reply", "clicked"]})),
        )
        .await;
    answer.assert_error(StatusCode::BAD_REQUEST, "validation_failed");
    assert_eq!(answer.fields(), ["events"]);
    let message = answer.body["error"]["fields"][0]["message"]
        .as_str()
        .unwrap();
    assert!(
        message.starts_with(r#""opened", "clicked" are not events"#),
        "{message}"
    );
    assert!(setup.sim_requests().await.is_empty());
}

#[tokio::test]
async fn what_needs_the_stored_webhook_is_checked_after_the_list_and_before_the_update() {
    let setup = Setup::start().await;
    let created = setup
        .post(&webhooks_path(None), &minimal_webhook("verify", &["sent"]))
        .await;
    created.assert_ok();
    let id = created.body["webhook"].as_u64().unwrap();
    let clients_before = minted_clients(&setup);
    assert_eq!(clients_before, 1, "the create minted one");

    // Only the vendor's list says the webhook is a verify one, which refuses reply.
    let answer = setup
        .put(
            &webhooks_path(Some(id)),
            &webhook(json!({"subProduct": null, "events": ["sent", "reply"]})),
        )
        .await;
    answer.assert_error(StatusCode::BAD_REQUEST, "validation_failed");
    assert_eq!(answer.fields(), ["events"]);
    assert_eq!(setup.sim_count("list").await, 1, "the type was looked up");
    assert_eq!(setup.sim_count("update").await, 0, "no update was sent");
    assert_eq!(minted_clients(&setup), clients_before, "nothing was minted");
    assert_eq!(
        setup.sim_state().await["webhooks"][0]["events"],
        json!(["sent"])
    );
}

#[tokio::test]
async fn quoted_secrets_and_url_credentials_are_masked() {
    let setup = Setup::start().await;
    let answer = setup
        .post(
            &webhooks_path(None),
            &webhook(json!({
                "webhookUrl": "http://hook-user:hook-password@partner.example.com/hooks",
                "events": ["sent", "partner-whatsapp-secret"],
                "oauth2": {"tokenUrl": "ftp://token-user:token-password@partner.example.com/t",
                           "clientId": "partner-whatsapp-client",
                           "clientSecret": "partner-whatsapp-secret"},
            })),
        )
        .await;
    answer.assert_error(StatusCode::BAD_REQUEST, "validation_failed");
    assert_eq!(answer.fields(), ["webhookUrl", "events", "oauth2.tokenUrl"]);
    let text = answer.body.to_string();
    for secret in ["hook-password", "token-password", "partner-whatsapp-secret"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(text.contains("partner.example.com"), "{text}");
    assert!(setup.sim_requests().await.is_empty());
}

/// The clients in the stack's store (the configured one is not stored there).
fn minted_clients(setup: &Setup) -> i64 {
    let store = rusqlite::Connection::open(setup.store_dir().join("events.sqlite3"))
        .expect("the stack's store file opens");
    store
        .query_row("SELECT COUNT(*) FROM oauth_clients", [], |row| row.get(0))
        .expect("the clients table")
}
