//! V2 webhook CRUD: the documented bodies and answers, every validation rule, soft delete,
//! account limits, masking, and the URL probe.

use http::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    Api, Auth, Receiver, Reply, SENDER, create_body, sim, sim_with, unreachable_url,
};

/// `body` with `path` (`oauth2.clientId`, say) set to `value`, or removed when `value` is null.
fn with(body: &Value, path: &str, value: Value) -> Value {
    let mut body = body.clone();
    let (parents, last) = path.rsplit_once('.').map_or(("", path), |(p, l)| (p, l));
    let mut target = &mut body;
    for part in parents.split('.').filter(|p| !p.is_empty()) {
        target = &mut target[part];
    }
    let object = target.as_object_mut().expect("an object");
    if value.is_null() {
        object.remove(last);
    } else {
        object.insert(last.to_owned(), value);
    }
    body
}

fn update_body(receiver: &Receiver, path: &str) -> Value {
    with(&create_body(receiver, path), "subProduct", Value::Null)
}

#[tokio::test]
async fn the_vendor_example_round_trips() {
    let sim = sim().await;
    let receiver = Receiver::start(Auth::OAuth2).await;
    let api = Api::new(&sim).await;
    let (status, answer) = api.create(SENDER, &create_body(&receiver, "/hook")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, json!({"status": true, "webhook": 1}));

    let (status, listed) = api.list(SENDER).await;
    assert_eq!(status, StatusCode::OK);
    let webhooks = listed["webhooks"].as_array().unwrap();
    assert_eq!(webhooks.len(), 1);
    let webhook = &webhooks[0];
    assert_eq!(webhook["id"], 1);
    assert_eq!(webhook["subProduct"], "conversational");
    assert_eq!(webhook["webhookUrl"], receiver.url("/hook"));
    assert_eq!(
        webhook["events"],
        json!(["sent", "delivered", "failed", "reply"]),
        "conversational webhooks always get reply"
    );
    assert_eq!(webhook["isActive"], true);
    assert_eq!(webhook["authType"], "oauth2");
    assert_eq!(
        webhook["oauth2"],
        json!({
            "grantType": "client_credentials",
            "tokenUrl": receiver.token_url(),
            "clientId": "partner-whatsapp-client",
            "clientSecret": "partner-whatsa********",
            "scopes": ["whatsapp.read", "whatsapp.write"],
            "expiresIn": 3600
        })
    );
    let created_at = webhook["createdAt"].as_str().unwrap();
    assert_eq!(created_at.len(), "2026-04-15T12:45:00Z".len());
    assert!(created_at.ends_with('Z') && created_at.as_bytes()[10] == b'T');

    // The probe got a token from the receiver's endpoint and POSTed `{}` with it.
    let tokens = receiver.token_hits();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].param("grant_type"), Some("client_credentials"));
    assert_eq!(
        tokens[0].param("client_id"),
        Some("partner-whatsapp-client")
    );
    assert_eq!(
        tokens[0].param("client_secret"),
        Some("partner-whatsapp-secret")
    );
    assert_eq!(
        tokens[0].param("scope"),
        Some("whatsapp.read whatsapp.write")
    );
    let hits = receiver.hits();
    assert_eq!(hits.len(), 1);
    assert_eq!(&hits[0].body[..], b"{}");
    assert_eq!(hits[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(
        hits[0].authorization.as_deref(),
        Some("Bearer receiver-token-1")
    );
}

#[tokio::test]
async fn secrets_are_listed_masked_like_the_vendor() {
    let sim = sim().await;
    let receiver = Receiver::start(Auth::Open).await;
    let api = Api::new(&sim).await;
    let body = with(
        &with(
            &create_body(&receiver, "/hook"),
            "oauth2.clientSecret",
            json!("partner-whatsapp-client-secret-2026"),
        ),
        "oauth2.grantType",
        json!("refresh_token"),
    );
    let body = with(&body, "oauth2.refreshToken", json!("refresh-abcdefgh"));
    api.created(&body).await;
    let (_, listed) = api.list(SENDER).await;
    let oauth2 = &listed["webhooks"][0]["oauth2"];
    assert_eq!(oauth2["clientSecret"], "partner-whatsa********");
    assert_eq!(oauth2["refreshToken"], "refresh-********");
    assert_eq!(oauth2["grantType"], "refresh_token");
    let text = listed.to_string();
    assert!(!text.contains("client-secret-2026") && !text.contains("abcdefgh"));
    assert_eq!(
        receiver.token_hits()[0].param("refresh_token"),
        Some("refresh-abcdefgh")
    );
}

#[tokio::test]
async fn every_field_is_validated_with_a_message_naming_it() {
    let sim = sim().await;
    let receiver = Receiver::start(Auth::Open).await;
    let api = Api::new(&sim).await;
    let good = create_body(&receiver, "/hook");
    let refresh = with(&good, "oauth2.grantType", json!("refresh_token"));
    let cases = [
        (with(&good, "authType", Value::Null), "authType"),
        (
            with(&good, "authType", json!("bearer")),
            "unsupported auth type",
        ),
        (with(&good, "subProduct", Value::Null), "subProduct"),
        (with(&good, "subProduct", json!("marketing")), "subProduct"),
        (with(&good, "webhookUrl", Value::Null), "webhookUrl"),
        (
            with(&good, "webhookUrl", json!("/relative/path")),
            "webhookUrl",
        ),
        (
            with(&good, "webhookUrl", json!("ftp://files.example/x")),
            "webhookUrl",
        ),
        (with(&good, "events", Value::Null), "events"),
        (with(&good, "events", json!([])), "events"),
        (with(&good, "events", json!(["sent", "clicked"])), "events"),
        (with(&good, "events", json!("sent")), "events"),
        (
            with(
                &with(&good, "subProduct", json!("verify")),
                "events",
                json!(["sent", "reply"]),
            ),
            "reply",
        ),
        (with(&good, "oauth2", Value::Null), "oauth2"),
        (
            with(&good, "oauth2.grantType", Value::Null),
            "oauth2.grantType",
        ),
        (
            with(&good, "oauth2.grantType", json!("password")),
            "oauth2.grantType",
        ),
        (
            with(&good, "oauth2.tokenUrl", Value::Null),
            "oauth2.tokenUrl",
        ),
        (
            with(&good, "oauth2.tokenUrl", json!("token")),
            "oauth2.tokenUrl",
        ),
        (
            with(&good, "oauth2.clientId", Value::Null),
            "oauth2.clientId",
        ),
        (with(&good, "oauth2.clientId", json!("")), "oauth2.clientId"),
        (
            with(&good, "oauth2.clientSecret", Value::Null),
            "oauth2.clientSecret",
        ),
        (refresh.clone(), "oauth2.refreshToken"),
        (
            with(&good, "oauth2.refreshToken", json!("r-1")),
            "oauth2.refreshToken",
        ),
        (
            with(&good, "oauth2.expiresIn", Value::Null),
            "oauth2.expiresIn",
        ),
        (
            with(&good, "oauth2.expiresIn", json!(0)),
            "oauth2.expiresIn",
        ),
        (
            with(&good, "oauth2.expiresIn", json!(-5)),
            "oauth2.expiresIn",
        ),
        (
            with(&good, "oauth2.expiresIn", json!(1.5)),
            "oauth2.expiresIn",
        ),
        (
            with(&good, "oauth2.expiresIn", json!("3600")),
            "oauth2.expiresIn",
        ),
        // The snake_case spelling belongs to the token request and the settings APIs.
        (
            with(
                &with(&good, "oauth2.grantType", Value::Null),
                "oauth2.grant_type",
                json!("client_credentials"),
            ),
            "oauth2.grantType",
        ),
        (
            with(
                &with(&good, "webhookUrl", Value::Null),
                "webhook_url",
                json!(receiver.url("/hook")),
            ),
            "webhookUrl",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = api.create(SENDER, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer["status"], false, "{answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(message.contains(field), "{field}: {message}");
    }
    let (status, answer) = api
        .post_raw(
            &format!("/api/wa/v2/webhooks?phoneNumber={SENDER}"),
            "{not json",
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["status"], false);
    assert!(receiver.hits().is_empty(), "nothing invalid was probed");
    assert_eq!(api.list(SENDER).await.1["webhooks"], json!([]));
}

#[tokio::test]
async fn the_sender_phone_number_is_required_and_must_be_known() {
    let sim = sim_with(|c| c.senders = vec!["+1234567890".into()]).await;
    let receiver = Receiver::start(Auth::Open).await;
    let api = Api::new(&sim).await;
    let body = create_body(&receiver, "/hook");

    let (status, answer) = api.post_json("/api/wa/v2/webhooks", &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["message"].as_str().unwrap().contains("phoneNumber"));
    let (status, _) = api.list("").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, answer) = api.create("15551234567", &body).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(answer["status"], false);
    assert!(answer["message"].as_str().unwrap().contains("provider"));
    assert_eq!(api.list("15551234567").await.0, StatusCode::NOT_FOUND);

    // `+` escaped, bare digits, or a `+` a query string turned into a space: one sender.
    let (status, _) = api.create("%2B1234567890", &body).await;
    assert_eq!(status, StatusCode::OK);
    for form in ["1234567890", "+1234567890", "%2B1234567890"] {
        let (status, listed) = api.list(form).await;
        assert_eq!(status, StatusCode::OK, "{form}");
        assert_eq!(listed["webhooks"].as_array().unwrap().len(), 1, "{form}");
    }
}

#[tokio::test]
async fn a_url_is_unique_per_api_type() {
    let sim = sim().await;
    let receiver = Receiver::start(Auth::Open).await;
    let api = Api::new(&sim).await;
    let body = create_body(&receiver, "/hook");
    api.created(&body).await;
    let (status, answer) = api.create(SENDER, &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("already exists")
    );

    let transactional = with(&body, "subProduct", json!("transactional"));
    let other = api.created(&transactional).await;
    // Nor can an update take the URL of another webhook of its type.
    let conversational_two = api
        .created(&with(&body, "webhookUrl", json!(receiver.url("/two"))))
        .await;
    let (status, _) = api
        .update(conversational_two, SENDER, &update_body(&receiver, "/hook"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api
        .update(other, SENDER, &update_body(&receiver, "/hook"))
        .await;
    assert_eq!(status, StatusCode::OK, "updating to its own URL is fine");
}

#[tokio::test]
async fn update_replaces_everything_but_the_type() {
    let sim = sim().await;
    let receiver = Receiver::start(Auth::Open).await;
    let api = Api::new(&sim).await;
    let id = api.created(&create_body(&receiver, "/hook")).await;
    let verify = api
        .created(&with(
            &with(
                &create_body(&receiver, "/verify"),
                "subProduct",
                json!("verify"),
            ),
            "events",
            json!(["delivered", "failed"]),
        ))
        .await;

    let mut update = update_body(&receiver, "/hook-v2");
    update["events"] = json!(["sent", "delivered", "read", "failed"]);
    update["oauth2"]["clientSecret"] = json!("partner-whatsapp-secret-updated");
    let (status, answer) = api.update(id, SENDER, &update).await;
    assert_eq!(
        (status, answer),
        (StatusCode::OK, json!({"status": true, "webhook": id}))
    );
    let (_, listed) = api.list(SENDER).await;
    let webhook = &listed["webhooks"][0];
    assert_eq!(webhook["webhookUrl"], receiver.url("/hook-v2"));
    assert_eq!(
        webhook["events"],
        json!(["sent", "delivered", "read", "failed", "reply"])
    );
    let state = api.state().await;
    assert_eq!(
        state["webhooks"][0]["oauth2"]["client_secret"],
        "partner-whatsapp-secret-updated"
    );

    for sub_product in ["conversational", "transactional"] {
        let (status, answer) = api
            .update(id, SENDER, &with(&update, "subProduct", json!(sub_product)))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{sub_product}");
        assert!(answer["message"].as_str().unwrap().contains("subProduct"));
    }
    let (status, answer) = api
        .update(verify, SENDER, &with(&update, "events", json!(["reply"])))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["message"].as_str().unwrap().contains("reply"));
    let (status, _) = api
        .update(id, SENDER, &with(&update, "oauth2.expiresIn", json!(0)))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    for missing in [999, 0] {
        let (status, answer) = api.update(missing, SENDER, &update).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(answer["status"], false);
    }
    let (status, _) = api
        .call(
            reqwest::Method::PUT,
            &format!("/api/wa/v2/webhooks/abc?phoneNumber={SENDER}"),
            Some(&update),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api.update(id, "1234567890", &update).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another sender's webhook");
}

#[tokio::test]
async fn delete_is_soft() {
    let sim = sim().await;
    let receiver = Receiver::start(Auth::Open).await;
    let api = Api::new(&sim).await;
    let id = api.created(&create_body(&receiver, "/hook")).await;
    assert_eq!(api.delete(id, "1234567890").await.0, StatusCode::NOT_FOUND);
    let (status, answer) = api.delete(id, SENDER).await;
    assert_eq!((status, answer), (StatusCode::OK, json!({"status": true})));
    assert_eq!(api.list(SENDER).await.1["webhooks"], json!([]));
    assert_eq!(api.delete(id, SENDER).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        api.update(id, SENDER, &update_body(&receiver, "/hook"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    let state = api.state().await;
    let kept = &state["webhooks"][0];
    assert_eq!(kept["id"], id);
    assert_eq!(kept["is_active"], false);
    assert!(kept["deleted_at"].is_string());
    // Its URL is free again, and it no longer counts toward the limits.
    assert_eq!(api.created(&create_body(&receiver, "/hook")).await, id + 1);
}

#[tokio::test]
async fn at_most_ten_oauth2_webhooks_and_twenty_in_all() {
    let sim = sim_with(|c| {
        c.senders = (0..12).map(|i| format!("1555000{i:04}")).collect();
    })
    .await;
    let receiver = Receiver::start(Auth::Open).await;
    let api = Api::new(&sim).await;
    let hook = |i: usize| {
        with(
            &create_body(&receiver, "/hook"),
            "webhookUrl",
            json!(receiver.url(&format!("/hook/{i}"))),
        )
    };
    let mut ids = Vec::new();
    for i in 0..10 {
        let (status, answer) = api.create("15550000000", &hook(i)).await;
        assert_eq!(status, StatusCode::OK, "{i}: {answer}");
        ids.push(answer["webhook"].as_u64().unwrap());
    }
    let (status, answer) = api.create("15550000001", &hook(10)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the limit is per account");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("at most 10 oauth2")
    );
    assert_eq!(receiver.hits().len(), 10, "no probe once over the limit");

    api.delete(ids[0], "15550000000").await;
    assert_eq!(api.create("15550000001", &hook(10)).await.0, StatusCode::OK);

    // Bearer webhooks (from the settings endpoints) have their own ten, within twenty.
    for i in 0..10 {
        let (status, answer) = api
            .settings(
                "transactional",
                &json!({
                    "webhook_url": receiver.url(&format!("/bearer/{i}")),
                    "from": format!("1555000{i:04}"),
                    "auth_type": "bearer",
                    "api_key": "k",
                }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{i}: {answer}");
    }
    let eleventh_bearer =
        json!({"webhook_url": receiver.url("/bearer/x"), "auth_type": "bearer", "api_key": "k"});
    let (status, answer) = api.settings("conversational", &eleventh_bearer).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["errorCode"], "2011");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("at most 20 webhooks")
    );

    api.delete(ids[1], "15550000000").await;
    let (status, answer) = api.settings("conversational", &eleventh_bearer).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("at most 10 bearer")
    );
}

#[tokio::test]
async fn the_total_limit_counts_every_auth_type() {
    let sim = sim_with(|c| c.limits.total = 3).await;
    let receiver = Receiver::start(Auth::Open).await;
    let api = Api::new(&sim).await;
    let (status, _) = api
        .settings(
            "transactional",
            &json!({"webhook_url": receiver.url("/b"), "auth_type": "bearer", "api_key": "k"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    api.created(&with(
        &create_body(&receiver, "/a"),
        "subProduct",
        json!("transactional"),
    ))
    .await;
    api.created(&create_body(&receiver, "/a")).await;
    let (status, answer) = api.create(SENDER, &create_body(&receiver, "/c")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("at most 3 webhooks")
    );
    // Saving the same settings again replaces them; it adds nothing.
    let (status, answer) = api
        .settings(
            "transactional",
            &json!({"webhook_url": receiver.url("/b2"), "auth_type": "bearer", "api_key": "k"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

#[tokio::test]
async fn a_webhook_is_saved_only_when_its_url_answers_200() {
    let sim = sim().await;
    let api = Api::new(&sim).await;
    let receiver = Receiver::start(Auth::OAuth2).await;
    let refused =
        json!({"status": false, "message": "failed to validate the webhook", "errorCode": "2020"});

    receiver.script(&[Reply::Status(500)]);
    let (status, answer) = api.create(SENDER, &create_body(&receiver, "/hook")).await;
    assert_eq!((status, &answer), (StatusCode::BAD_REQUEST, &refused));

    receiver.script(&[Reply::Status(204)]);
    let (status, _) = api.create(SENDER, &create_body(&receiver, "/hook")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "only a 200 will do");

    receiver.script_token(&[500]);
    let (status, answer) = api.create(SENDER, &create_body(&receiver, "/hook")).await;
    assert_eq!(
        (status, &answer),
        (StatusCode::BAD_REQUEST, &refused),
        "token endpoint down"
    );

    let unreachable = with(
        &create_body(&receiver, "/hook"),
        "webhookUrl",
        json!(unreachable_url().await),
    );
    let (status, answer) = api.create(SENDER, &unreachable).await;
    assert_eq!((status, &answer), (StatusCode::BAD_REQUEST, &refused));

    assert_eq!(
        api.list(SENDER).await.1["webhooks"],
        json!([]),
        "nothing saved"
    );
    let probes = api.state().await["probes"].clone();
    let probes = probes.as_array().unwrap();
    assert_eq!(probes.len(), 4);
    assert_eq!(probes[0]["status"], 500);
    assert_eq!(probes[1]["status"], 204);
    assert!(
        probes[2]["error"]
            .as_str()
            .unwrap()
            .contains("token endpoint")
    );
    assert!(
        probes[3]["error"]
            .as_str()
            .unwrap()
            .contains("could not be reached")
    );
    assert!(
        probes
            .iter()
            .all(|p| p["ok"] == false && p["route"] == "create")
    );

    // A failed update keeps the webhook as it was.
    let id = api.created(&create_body(&receiver, "/hook")).await;
    receiver.script(&[Reply::Status(503)]);
    let (status, answer) = api
        .update(id, SENDER, &update_body(&receiver, "/moved"))
        .await;
    assert_eq!((status, &answer), (StatusCode::BAD_REQUEST, &refused));
    assert_eq!(
        api.list(SENDER).await.1["webhooks"][0]["webhookUrl"],
        receiver.url("/hook")
    );
}

#[tokio::test]
async fn a_url_that_redirects_fails_the_probe_even_to_a_page_answering_200() {
    let sim = sim().await;
    let receiver = Receiver::start(Auth::Open).await;
    let api = Api::new(&sim).await;
    let refused =
        json!({"status": false, "message": "failed to validate the webhook", "errorCode": "2020"});

    receiver.script(&[Reply::Redirect(302, "/landing")]);
    let (status, answer) = api.create(SENDER, &create_body(&receiver, "/hook")).await;
    assert_eq!((status, &answer), (StatusCode::BAD_REQUEST, &refused));
    // The same for settings, with a redirect that would have kept the method.
    receiver.script(&[Reply::Redirect(307, "/landing")]);
    let (status, answer) = api
        .settings(
            "conversational",
            &json!({"webhook_url": receiver.url("/hook"), "auth_type": "bearer", "api_key": "k"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["errorCode"], "2020");

    let hits = receiver.hits();
    assert_eq!(hits.len(), 2, "nothing followed the redirects: {hits:?}");
    assert!(hits.iter().all(|h| h.path == "/hook"));
    let probes = api.state().await["probes"].clone();
    let probes = probes.as_array().unwrap();
    assert_eq!(probes.len(), 2, "{probes:?}");
    for (probe, status) in probes.iter().zip([302, 307]) {
        assert_eq!(probe["status"], status);
        assert_eq!(probe["ok"], false);
        assert!(
            probe["error"]
                .as_str()
                .unwrap()
                .contains("a redirect to /landing, not followed"),
            "{probe}"
        );
    }
    assert_eq!(api.list(SENDER).await.1["webhooks"], json!([]));
    assert_eq!(api.state().await["settings"], json!([]));
}

#[tokio::test]
async fn a_refresh_token_goes_only_and_always_with_the_refresh_token_grant() {
    let sim = sim().await;
    let receiver = Receiver::start(Auth::Open).await;
    let api = Api::new(&sim).await;
    let good = create_body(&receiver, "/hook");
    let refresh = with(&good, "oauth2.grantType", json!("refresh_token"));
    for (body, expected) in [
        (
            with(&good, "oauth2.refreshToken", json!("")),
            "oauth2.refreshToken must not be sent when oauth2.grantType is client_credentials",
        ),
        (
            with(&refresh, "oauth2.refreshToken", json!("")),
            "oauth2.refreshToken is required when oauth2.grantType is refresh_token",
        ),
        (
            with(&refresh, "oauth2.refreshToken", json!("  ")),
            "oauth2.refreshToken is required when oauth2.grantType is refresh_token",
        ),
    ] {
        let (status, answer) = api.create(SENDER, &body).await;
        assert_eq!(
            (status, answer),
            (
                StatusCode::BAD_REQUEST,
                json!({"status": false, "message": expected})
            ),
            "{body}"
        );
    }
    assert!(receiver.hits().is_empty(), "nothing invalid was probed");
    // `null` is how many serializers write an unset field: not sent.
    api.created(&with(&good, "oauth2.refreshToken", json!(null)))
        .await;
}

#[tokio::test]
async fn a_field_of_the_wrong_type_is_named_not_called_invalid_json() {
    let sim = sim().await;
    let receiver = Receiver::start(Auth::Open).await;
    let api = Api::new(&sim).await;
    let good = create_body(&receiver, "/hook");
    for (body, field) in [
        (with(&good, "events", json!([1])), "events[0]: "),
        (with(&good, "webhookUrl", json!(true)), "webhookUrl: "),
        (with(&good, "oauth2", json!("secret")), "oauth2: "),
        (
            with(&good, "oauth2.clientId", json!(5)),
            "oauth2.clientId: ",
        ),
        (
            with(&good, "oauth2.scopes", json!("a b")),
            "oauth2.scopes: ",
        ),
    ] {
        let (status, answer) = api.create(SENDER, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer["status"], false);
        let message = answer["message"].as_str().unwrap();
        assert!(
            message.starts_with(field) && message.contains("invalid type"),
            "{field}: {message}"
        );
    }
    let id = api.created(&good).await;
    let (status, answer) = api
        .update(
            id,
            SENDER,
            &with(
                &update_body(&receiver, "/hook"),
                "events",
                json!(["sent", 2]),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .starts_with("events[1]: ")
    );

    let path = format!("/api/wa/v2/webhooks?phoneNumber={SENDER}");
    for (raw, expected) in [
        ("{not json", "the request body is not valid JSON: "),
        ("", "the request body is not valid JSON: "),
        ("[1, 2]", "the request body must be a JSON object"),
    ] {
        let (status, answer) = api.post_raw(&path, raw).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{raw:?}");
        assert!(
            answer["message"].as_str().unwrap().starts_with(expected),
            "{raw:?}: {answer}"
        );
    }
}

#[tokio::test]
async fn a_field_spelt_in_snake_case_is_named_with_its_camel_case_form() {
    let sim = sim().await;
    let receiver = Receiver::start(Auth::Open).await;
    let api = Api::new(&sim).await;
    let good = create_body(&receiver, "/hook");
    let renamed = |body: &Value, path: &str, snake: &str| {
        let value = path
            .split('.')
            .fold(body, |value, part| &value[part])
            .clone();
        let parent = path.rsplit_once('.').map_or("", |(parent, _)| parent);
        let snake_path = if parent.is_empty() {
            snake.to_owned()
        } else {
            format!("{parent}.{snake}")
        };
        with(&with(body, path, Value::Null), &snake_path, value)
    };
    for (body, named) in [
        (
            renamed(&good, "oauth2.grantType", "grant_type"),
            "oauth2.grant_type: use oauth2.grantType",
        ),
        (
            renamed(&good, "oauth2.expiresIn", "expires_in"),
            "oauth2.expires_in: use oauth2.expiresIn",
        ),
        (
            renamed(&good, "webhookUrl", "webhook_url"),
            "webhook_url: use webhookUrl",
        ),
        // Named as misspelt, not reported missing in its camelCase form.
        (
            renamed(&good, "subProduct", "sub_product"),
            "sub_product: use subProduct",
        ),
        (
            renamed(&good, "authType", "auth_type"),
            "auth_type: use authType",
        ),
        // Both spellings: the snake_case one is still a mistake worth telling.
        (
            with(&good, "oauth2.client_secret", json!("other")),
            "oauth2.client_secret: use oauth2.clientSecret",
        ),
    ] {
        let (status, answer) = api.create(SENDER, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let message = answer["message"].as_str().unwrap();
        assert!(
            message.starts_with(named) && message.contains("camelCase"),
            "{named}: {message}"
        );
    }
    let id = api.created(&good).await;
    let (status, answer) = api
        .update(
            id,
            SENDER,
            &renamed(
                &update_body(&receiver, "/hook"),
                "oauth2.tokenUrl",
                "token_url",
            ),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .starts_with("oauth2.token_url: use oauth2.tokenUrl")
    );
    // A field the API does not know at all is not a misspelling: ignored, as before.
    let (status, answer) = api
        .update(
            id,
            SENDER,
            &with(&update_body(&receiver, "/hook"), "description", json!("x")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

#[tokio::test]
async fn update_requires_every_create_field_but_sub_product() {
    let sim = sim().await;
    let receiver = Receiver::start(Auth::Open).await;
    let api = Api::new(&sim).await;
    let id = api.created(&create_body(&receiver, "/hook")).await;
    let update = update_body(&receiver, "/moved");
    let refresh = with(&update, "oauth2.grantType", json!("refresh_token"));
    let mut cases: Vec<(Value, &str)> = [
        "authType",
        "webhookUrl",
        "events",
        "oauth2",
        "oauth2.grantType",
        "oauth2.tokenUrl",
        "oauth2.clientId",
        "oauth2.clientSecret",
        "oauth2.expiresIn",
    ]
    .into_iter()
    .map(|field| (with(&update, field, Value::Null), field))
    .collect();
    cases.push((refresh, "oauth2.refreshToken"));
    for (body, field) in cases {
        let (status, answer) = api.update(id, SENDER, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}");
        assert_eq!(answer["status"], false);
        let message = answer["message"].as_str().unwrap();
        assert!(message.contains(field), "{field}: {message}");
    }
    assert_eq!(receiver.hits().len(), 1, "only the create was probed");
    assert_eq!(
        api.list(SENDER).await.1["webhooks"][0]["webhookUrl"],
        receiver.url("/hook")
    );
}

#[tokio::test]
async fn put_and_delete_need_the_sender_phone_number_of_a_known_sender() {
    let sim = sim().await;
    let receiver = Receiver::start(Auth::Open).await;
    let api = Api::new(&sim).await;
    let id = api.created(&create_body(&receiver, "/hook")).await;
    let update = update_body(&receiver, "/moved");
    for (method, body) in [
        (reqwest::Method::PUT, Some(&update)),
        (reqwest::Method::DELETE, None),
    ] {
        for query in ["", "?phoneNumber=", "?phone_number=15551234567"] {
            let (status, answer) = api
                .call(
                    method.clone(),
                    &format!("/api/wa/v2/webhooks/{id}{query}"),
                    body,
                )
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {query:?}");
            assert_eq!(answer["status"], false);
            assert!(
                answer["message"].as_str().unwrap().contains("phoneNumber"),
                "{answer}"
            );
        }
        let (status, answer) = api
            .call(
                method.clone(),
                &format!("/api/wa/v2/webhooks/{id}?phoneNumber=4930000000"),
                body,
            )
            .await;
        assert_eq!(
            (status, answer),
            (
                StatusCode::NOT_FOUND,
                json!({
                    "status": false,
                    "message": "the sender 4930000000 cannot be matched to a provider"
                })
            ),
            "{method}"
        );
    }
    let listed = api.list(SENDER).await.1;
    assert_eq!(listed["webhooks"][0]["webhookUrl"], receiver.url("/hook"));
}
