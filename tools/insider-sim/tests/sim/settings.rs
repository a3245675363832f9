//! V2 settings (snake_case, bearer or oauth2, 20xx error codes) and V1 settings
//! (`X-INS-AUTH-KEY`, `webhookUrl` or `url`).

use std::net::SocketAddr;

use http::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use insider_sim::server::{Limits, RunningSim};

use crate::support::{
    Api, Auth, Receiver, Reply, create_body, http, sim, sim_with, unreachable_url,
};

const SAVED: &str = "Settings updated successfully";

fn oauth2_settings(receiver: &Receiver) -> Value {
    json!({
        "webhook_url": receiver.url("/webhooks/transactional"),
        "from": "+1234567890",
        "auth_type": "oauth2",
        "oauth2": {
            "grant_type": "refresh_token",
            "token_url": receiver.token_url(),
            "client_id": "your_client_id",
            "client_secret": "your_client_secret",
            "refresh_token": "your_refresh_token",
            "scopes": ["webhook.write"],
            "expires_in": 3600
        }
    })
}

fn bearer_settings(receiver: &Receiver) -> Value {
    json!({
        "webhook_url": receiver.url("/webhooks/conversational"),
        "auth_type": "bearer",
        "api_key": "our-webhook-api-key"
    })
}

#[tokio::test]
async fn saves_oauth2_settings_after_a_probe_with_a_token() {
    let sim = sim().await;
    let receiver = Receiver::start(Auth::OAuth2).await;
    let api = Api::new(&sim).await;
    let (status, answer) = api
        .settings("transactional", &oauth2_settings(&receiver))
        .await;
    assert_eq!(
        (status, answer),
        (StatusCode::OK, json!({"message": SAVED}))
    );

    let token = &receiver.token_hits()[0];
    assert_eq!(token.param("grant_type"), Some("refresh_token"));
    assert_eq!(token.param("refresh_token"), Some("your_refresh_token"));
    assert_eq!(token.param("scope"), Some("webhook.write"));
    assert_eq!(
        receiver.hits()[0].authorization.as_deref(),
        Some("Bearer receiver-token-1")
    );
    let state = api.state().await;
    let saved = &state["settings"][0];
    assert_eq!(saved["sub_product"], "transactional");
    assert_eq!(saved["from"], "1234567890");
    assert_eq!(saved["auth_type"], "oauth2");
    assert_eq!(saved["source"], "v2");
    assert_eq!(state["probes"][0]["route"], "settings");
}

#[tokio::test]
async fn saves_bearer_settings_and_saving_again_replaces_them() {
    let sim = sim().await;
    let receiver = Receiver::start(Auth::Bearer("our-webhook-api-key".into())).await;
    let api = Api::new(&sim).await;
    let (status, answer) = api
        .settings("conversational", &bearer_settings(&receiver))
        .await;
    assert_eq!(
        (status, answer),
        (StatusCode::OK, json!({"message": SAVED}))
    );
    assert_eq!(
        receiver.hits()[0].authorization.as_deref(),
        Some("Bearer our-webhook-api-key")
    );
    let mut moved = bearer_settings(&receiver);
    moved["webhook_url"] = json!(receiver.url("/moved"));
    assert_eq!(
        api.settings("conversational", &moved).await.0,
        StatusCode::OK
    );
    let state = api.state().await;
    assert_eq!(state["settings"].as_array().unwrap().len(), 1);
    assert_eq!(state["settings"][0]["webhook_url"], receiver.url("/moved"));
    assert_eq!(state["settings"][0]["api_key"], "our-webhook-api-key");
}

#[tokio::test]
async fn error_codes_2010_2011_2012_2020() {
    let sim = sim().await;
    let receiver = Receiver::start(Auth::OAuth2).await;
    let api = Api::new(&sim).await;
    let good = oauth2_settings(&receiver);

    let code = |answer: &Value| answer["errorCode"].as_str().unwrap_or_default().to_owned();
    for raw in ["{\"webhook_url\": ", "[1, 2]", ""] {
        let (status, answer) = api.post_raw("/api/wa/v2/transactional/settings", raw).await;
        assert_eq!(
            (status, code(&answer).as_str()),
            (StatusCode::BAD_REQUEST, "2010"),
            "{raw:?}"
        );
    }
    let (status, answer) = api
        .settings(
            "transactional",
            &json!({"webhook_url": 42, "auth_type": "bearer"}),
        )
        .await;
    assert_eq!(
        (status, code(&answer).as_str()),
        (StatusCode::BAD_REQUEST, "2010")
    );
    assert!(answer["message"].as_str().unwrap().contains("webhook_url"));

    let mutate = |change: &dyn Fn(&mut Value)| {
        let mut body = good.clone();
        change(&mut body);
        body
    };
    let invalid = [
        (mutate(&|b| b["webhook_url"] = Value::Null), "webhook_url"),
        (
            mutate(&|b| b["webhook_url"] = json!("partner.example.com/hook")),
            "webhook_url",
        ),
        (mutate(&|b| b["auth_type"] = Value::Null), "auth_type"),
        (mutate(&|b| b["auth_type"] = json!("basic")), "auth_type"),
        (mutate(&|b| b["oauth2"] = Value::Null), "oauth2"),
        (
            mutate(&|b| b["oauth2"]["grant_type"] = json!("implicit")),
            "oauth2.grant_type",
        ),
        (
            mutate(&|b| b["oauth2"]["refresh_token"] = Value::Null),
            "oauth2.refresh_token",
        ),
        (
            mutate(&|b| b["oauth2"]["expires_in"] = json!(0)),
            "oauth2.expires_in",
        ),
        (
            mutate(&|b| b["oauth2"]["token_url"] = Value::Null),
            "oauth2.token_url",
        ),
        (
            mutate(&|b| b["oauth2"]["client_secret"] = Value::Null),
            "oauth2.client_secret",
        ),
        (mutate(&|b| b["api_key"] = json!("k")), "api_key"),
        (mutate(&|b| b["from"] = json!("+4930000000")), "from"),
        (
            json!({"webhook_url": receiver.url("/b"), "auth_type": "bearer"}),
            "api_key",
        ),
    ];
    for (body, field) in invalid {
        let (status, answer) = api.settings("transactional", &body).await;
        assert_eq!(
            (status, code(&answer).as_str()),
            (StatusCode::BAD_REQUEST, "2011"),
            "{body}"
        );
        assert!(
            answer["message"].as_str().unwrap().contains(field),
            "{field}: {answer}"
        );
    }
    assert!(receiver.hits().is_empty(), "nothing invalid was probed");

    api.fault(json!({"route": "settings", "save_failure": true}))
        .await;
    let (status, answer) = api.settings("transactional", &good).await;
    assert_eq!(
        (status, code(&answer).as_str()),
        (StatusCode::BAD_REQUEST, "2012")
    );
    assert_eq!(
        receiver.hits().len(),
        1,
        "the probe passed, then saving failed"
    );
    assert_eq!(api.state().await["settings"], json!([]));

    receiver.script(&[Reply::Status(404)]);
    let (status, answer) = api.settings("transactional", &good).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer,
        json!({"message": "failed to validate the webhook", "errorCode": "2020"})
    );
    let mut unreachable = good.clone();
    unreachable["webhook_url"] = json!(unreachable_url().await);
    assert_eq!(
        code(&api.settings("transactional", &unreachable).await.1),
        "2020"
    );
    receiver.script_token(&[401]);
    assert_eq!(code(&api.settings("transactional", &good).await.1), "2020");

    assert_eq!(api.settings("transactional", &good).await.0, StatusCode::OK);
    let (status, _) = api.settings("verify", &good).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no verify settings route");
}

#[tokio::test]
async fn settings_take_a_refresh_token_only_with_the_refresh_token_grant() {
    let sim = sim().await;
    let receiver = Receiver::start(Auth::OAuth2).await;
    let api = Api::new(&sim).await;
    let mut client_credentials = oauth2_settings(&receiver);
    client_credentials["oauth2"]["grant_type"] = json!("client_credentials");
    let mut empty_refresh = oauth2_settings(&receiver);
    empty_refresh["oauth2"]["refresh_token"] = json!("");
    let mut client_credentials_empty = client_credentials.clone();
    client_credentials_empty["oauth2"]["refresh_token"] = json!("");
    for (body, expected) in [
        (
            &client_credentials,
            "oauth2.refresh_token must not be sent when oauth2.grant_type is client_credentials",
        ),
        (
            &client_credentials_empty,
            "oauth2.refresh_token must not be sent when oauth2.grant_type is client_credentials",
        ),
        (
            &empty_refresh,
            "oauth2.refresh_token is required when oauth2.grant_type is refresh_token",
        ),
    ] {
        let (status, answer) = api.settings("transactional", body).await;
        assert_eq!(
            (status, answer),
            (
                StatusCode::BAD_REQUEST,
                json!({"message": expected, "errorCode": "2011"})
            ),
            "{body}"
        );
    }
    assert!(receiver.hits().is_empty(), "nothing invalid was probed");
    client_credentials["oauth2"]
        .as_object_mut()
        .unwrap()
        .remove("refresh_token");
    let (status, answer) = api.settings("transactional", &client_credentials).await;
    assert_eq!(
        (status, answer),
        (StatusCode::OK, json!({"message": SAVED}))
    );
}

/// One request written by hand, so the header name goes out exactly as spelled.
async fn raw_v1(addr: SocketAddr, header: &str, body: &str) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let request = format!(
        "POST /v1/conversational/settings/update HTTP/1.1\r\nHost: {addr}\r\n{header}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("writes");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("reads");
    let status = response[9..12].parse().expect("a status line");
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn v1_takes_the_key_in_any_header_case_and_either_url_field() {
    let sim = sim().await;
    let receiver = Receiver::start(Auth::Bearer("v1-key".into())).await;
    let sample = json!({"isActive": true, "webhookUrl": receiver.url("/v1"), "apiKey": "v1-key"})
        .to_string();
    let table =
        json!({"isActive": true, "url": receiver.url("/v1"), "apiKey": "v1-key"}).to_string();
    for header in [
        "X-INS-AUTH-KEY: sim-key",
        "x-ins-auth-key: sim-key",
        "X-Ins-Auth-Key: sim-key",
    ] {
        for body in [&sample, &table] {
            let (status, answer) = raw_v1(sim.addr(), header, body).await;
            assert_eq!(
                (status, answer),
                (200, json!({"message": SAVED})),
                "{header} {body}"
            );
        }
    }
    assert_eq!(receiver.hits().len(), 6);
    assert!(
        receiver
            .hits()
            .iter()
            .all(|h| h.authorization.as_deref() == Some("Bearer v1-key"))
    );
    for header in ["X-INS-AUTH-KEY: wrong", "X-Other: sim-key"] {
        let (status, answer) = raw_v1(sim.addr(), header, &sample).await;
        assert_eq!(status, 401, "{header}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .contains("X-INS-AUTH-KEY")
        );
    }
    let state = Api::anonymous(&sim).state().await;
    assert_eq!(state["settings"][0]["source"], "v1");
    assert_eq!(state["requests"]["v1"], 8);
}

/// A V1 settings request with the right key.
async fn post_v1(sim: &RunningSim, body: String) -> (StatusCode, Value) {
    let request = http()
        .post(format!("{}/v1/conversational/settings/update", sim.url()))
        .header("X-INS-AUTH-KEY", "sim-key")
        .header("content-type", "application/json")
        .body(body);
    crate::support::answer(request.send().await.expect("the simulator answers")).await
}

#[tokio::test]
async fn v1_refuses_what_the_vendor_refuses() {
    let sim = sim().await;
    let receiver = Receiver::start(Auth::Open).await;
    let post = |body: String| post_v1(&sim, body);
    receiver.script(&[Reply::Status(500)]);
    let (status, answer) = post(
        json!({"isActive": true, "webhookUrl": receiver.url("/v1"), "apiKey": "k"}).to_string(),
    )
    .await;
    assert_eq!(
        (status, answer),
        (
            StatusCode::BAD_REQUEST,
            json!({"message": "failed to validate the webhook", "errorCode": "2020"})
        )
    );
    let (_, answer) = post("not json".into()).await;
    assert_eq!(answer["errorCode"], "2010");
    for body in [
        json!({"webhookUrl": receiver.url("/v1"), "apiKey": "k"}),
        json!({"isActive": true, "apiKey": "k"}),
        json!({"isActive": true, "webhookUrl": receiver.url("/v1")}),
        json!({"isActive": true, "webhookUrl": receiver.url("/a"), "url": receiver.url("/b"), "apiKey": "k"}),
    ] {
        let (status, answer) = post(body.to_string()).await;
        assert_eq!(
            (status, answer["errorCode"].clone()),
            (StatusCode::BAD_REQUEST, json!("2011")),
            "{body}"
        );
    }
    // Switching delivery off needs no live URL.
    let hits = receiver.hits().len();
    let (status, _) = post(
        json!({"isActive": false, "webhookUrl": unreachable_url().await, "apiKey": "k"})
            .to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(receiver.hits().len(), hits);
    let state = Api::anonymous(&sim).state().await;
    assert_eq!(state["settings"][0]["is_active"], false);
}

#[tokio::test]
async fn bearer_settings_refuse_an_oauth2_object() {
    let sim = sim().await;
    let receiver = Receiver::start(Auth::OAuth2).await;
    let api = Api::new(&sim).await;
    let mut body = bearer_settings(&receiver);
    body["oauth2"] = oauth2_settings(&receiver)["oauth2"].clone();
    let (status, answer) = api.settings("conversational", &body).await;
    assert_eq!(
        (status, answer),
        (
            StatusCode::BAD_REQUEST,
            json!({"message": "oauth2 must not be sent when auth_type is bearer", "errorCode": "2011"})
        )
    );
    assert!(receiver.hits().is_empty() && receiver.token_hits().is_empty());
}

#[tokio::test]
async fn a_v1_save_failure_is_2012_after_the_probe() {
    let sim = sim().await;
    let receiver = Receiver::start(Auth::Bearer("k".into())).await;
    let api = Api::new(&sim).await;
    api.fault(json!({"route": "v1", "save_failure": true}))
        .await;
    let body = json!({"isActive": true, "webhookUrl": receiver.url("/v1"), "apiKey": "k"});
    let (status, answer) = post_v1(&sim, body.to_string()).await;
    assert_eq!(
        (status, answer),
        (
            StatusCode::BAD_REQUEST,
            json!({"message": "an error occurred while saving the settings", "errorCode": "2012"})
        )
    );
    assert_eq!(
        receiver.hits().len(),
        1,
        "the probe passed, then saving failed"
    );
    assert_eq!(api.state().await["settings"], json!([]));
    assert_eq!(post_v1(&sim, body.to_string()).await.0, StatusCode::OK);
}

#[tokio::test]
async fn v1_settings_count_as_bearer_webhooks_toward_the_limits() {
    let sim = sim_with(|c| {
        c.limits = Limits {
            total: 3,
            per_auth_type: 2,
        }
    })
    .await;
    let receiver = Receiver::start(Auth::Open).await;
    let api = Api::new(&sim).await;
    let v1 = |active: bool| {
        json!({"isActive": active, "webhookUrl": receiver.url("/v1"), "apiKey": "k"}).to_string()
    };
    let bearer_from = |from: Option<&str>| {
        let mut body = bearer_settings(&receiver);
        if let Some(from) = from {
            body["from"] = json!(from);
        }
        body
    };
    let refused = |answer: &Value, limit: &str| {
        answer["errorCode"] == "2011" && answer["message"].as_str().unwrap().contains(limit)
    };

    assert_eq!(post_v1(&sim, v1(true)).await.0, StatusCode::OK);
    let (status, _) = api.settings("transactional", &bearer_from(None)).await;
    assert_eq!(status, StatusCode::OK);
    // V1 is the second bearer webhook: a third is refused.
    let (status, answer) = api
        .settings("conversational", &bearer_from(Some("+1234567890")))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused(&answer, "at most 2 bearer webhooks"), "{answer}");
    // Saving V1 again replaces it, adding nothing; switched off it stops counting.
    assert_eq!(post_v1(&sim, v1(true)).await.0, StatusCode::OK);
    assert_eq!(post_v1(&sim, v1(false)).await.0, StatusCode::OK);
    let (status, answer) = api
        .settings("conversational", &bearer_from(Some("+1234567890")))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // Two bearer and one oauth2: switching V1 back on would make four.
    api.created(&create_body(&receiver, "/hook")).await;
    let (status, answer) = post_v1(&sim, v1(true)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused(&answer, "at most 3 webhooks"), "{answer}");
    let state = api.state().await;
    let v1_settings: Vec<&Value> = state["settings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["source"] == "v1")
        .collect();
    assert_eq!(v1_settings.len(), 1);
    assert_eq!(v1_settings[0]["is_active"], false);
}
