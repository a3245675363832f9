//! Insider One's refusals and failures as our callers see them: the vendor's status and body
//! passed through under a stable code, and transport failures as 502/504 with a clear message.

use std::time::{Duration, Instant};

use e2e_tests::fault_proxy::FaultProxy;
use e2e_tests::manage::{
    SENDER, Setup, closed_port_url, insider_settings, minimal_webhook, webhooks_path,
};
use e2e_tests::stack::WEBHOOK_TOKEN;
use reqwest::StatusCode;
use serde_json::json;
use shared::domain::SubProduct;
use shared::http::ApiError;
use shared::insider::{InsiderApi, InsiderClient, InsiderError, VendorCall};

#[tokio::test]
async fn webhook_refusals_keep_the_vendors_status_and_body() {
    let setup = Setup::start().await;
    let body = minimal_webhook("transactional", &["sent"]);
    assert_eq!(
        setup.post(&webhooks_path(None), &body).await.status,
        StatusCode::OK
    );

    // The same URL for the same API type again.
    let duplicate = setup.post(&webhooks_path(None), &body).await;
    duplicate.assert_error(StatusCode::BAD_REQUEST, "vendor_rejected");
    let vendor = &duplicate.body["error"]["vendor"];
    assert_eq!(vendor["status"], 400);
    assert_eq!(vendor["body"]["status"], false);
    assert!(
        vendor["body"]["message"]
            .as_str()
            .unwrap()
            .contains("already exists")
    );
    assert!(
        duplicate.message().contains("already exists"),
        "the vendor's message is in ours"
    );

    // A sender the account does not have.
    let unknown_sender = setup
        .post("/manage/webhooks?phoneNumber=15550000000", &body)
        .await;
    unknown_sender.assert_error(StatusCode::NOT_FOUND, "vendor_not_found");
    assert_eq!(unknown_sender.body["error"]["vendor"]["status"], 404);

    // A webhook URL that does not answer 200 to the probe: our receiver has no such route.
    let mut unreachable_hook = minimal_webhook("verify", &["sent"]);
    unreachable_hook["webhookUrl"] = setup.own_url("/webhooks/nowhere").into();
    let probe_failed = setup.post(&webhooks_path(None), &unreachable_hook).await;
    probe_failed.assert_error(StatusCode::BAD_REQUEST, "vendor_rejected");
    assert_eq!(
        probe_failed.body["error"]["vendor"]["body"]["errorCode"],
        "2020"
    );

    // Saving fails at the vendor (injected): a 500, answered as a vendor error.
    setup
        .fault(json!({"route": "create", "save_failure": true}))
        .await;
    let mut other = minimal_webhook("conversational", &["read"]);
    other["oauth2"]["scopes"] = json!(["webhook.write"]);
    let failed = setup.post(&webhooks_path(None), &other).await;
    failed.assert_error(StatusCode::BAD_GATEWAY, "vendor_error");
    assert_eq!(failed.body["error"]["vendor"]["status"], 500);

    // Rate limited: 429 with the vendor's Retry-After.
    setup
        .fault(json!({"route": "create", "status": 429, "retry_after": 7}))
        .await;
    let limited = setup.post(&webhooks_path(None), &other).await;
    assert_eq!(
        (
            limited.status,
            limited.code(),
            limited.retry_after.as_deref()
        ),
        (
            StatusCode::TOO_MANY_REQUESTS,
            "vendor_rate_limited",
            Some("7")
        )
    );
    assert_eq!(limited.body["error"]["vendor"]["status"], 429);
}

#[tokio::test]
async fn settings_refusals_keep_the_vendors_codes() {
    let setup = Setup::start().await;
    let expect_code = |answer: &e2e_tests::manage::Answer, code: &str| {
        answer.assert_error(StatusCode::BAD_REQUEST, "vendor_rejected");
        assert_eq!(answer.body["error"]["vendor"]["status"], 400);
        assert_eq!(answer.body["error"]["vendor"]["body"]["errorCode"], code);
    };
    // 2011: a well-formed sender the account does not have.
    let unknown_from = setup
        .post(
            "/manage/settings/transactional",
            &json!({"auth_type": "bearer", "api_key": WEBHOOK_TOKEN, "from": "+15550000000"}),
        )
        .await;
    expect_code(&unknown_from, "2011");

    // 2020: the probe gets no 200.
    let probe_failed = setup
        .post(
            "/manage/settings/conversational",
            &json!({"auth_type": "bearer", "api_key": WEBHOOK_TOKEN,
                    "webhook_url": setup.own_url("/webhooks/nowhere")}),
        )
        .await;
    expect_code(&probe_failed, "2020");
    let v1_probe_failed = setup
        .post(
            "/manage/settings/conversational/v1",
            &json!({"isActive": true, "apiKey": WEBHOOK_TOKEN,
                    "url": setup.own_url("/webhooks/nowhere")}),
        )
        .await;
    expect_code(&v1_probe_failed, "2020");

    // 2012: saving failed (injected).
    setup
        .fault(json!({"route": "settings", "save_failure": true}))
        .await;
    let save_failed = setup
        .post(
            "/manage/settings/transactional",
            &json!({"auth_type": "bearer", "api_key": WEBHOOK_TOKEN}),
        )
        .await;
    expect_code(&save_failed, "2012");
}

#[tokio::test]
async fn an_undecodable_body_is_2010_from_the_client_itself() {
    // Our routes validate first, so they never send a body the vendor cannot decode; the
    // production client, used directly, shows the vendor's 2010 as it comes.
    let setup = Setup::start().await;
    let client = InsiderClient::new(insider_settings(&setup.sim.url())).unwrap();
    let call = VendorCall::Settings {
        sub_product: SubProduct::Transactional,
        body: json!({"webhook_url": 5, "auth_type": "bearer"}),
    };
    let error = client.call(&call).await.unwrap_err();
    let InsiderError::Rejected { status: 400, body } = &error else {
        panic!("a 400 refusal, got {error:?}");
    };
    assert_eq!(body["errorCode"], "2010");
    let api = ApiError::from(error);
    assert_eq!((api.status.as_u16(), api.code), (400, "vendor_rejected"));
}

#[tokio::test]
async fn vendor_5xx_is_a_vendor_error() {
    let setup = Setup::start().await;
    setup
        .fault(json!({"route": "settings", "status": 502}))
        .await;
    let answer = setup
        .post(
            "/manage/settings/conversational",
            &json!({"auth_type": "bearer", "api_key": WEBHOOK_TOKEN, "from": SENDER}),
        )
        .await;
    answer.assert_error(StatusCode::BAD_GATEWAY, "vendor_error");
    assert_eq!(answer.body["error"]["vendor"]["status"], 502);
}

#[tokio::test]
async fn an_unreachable_vendor_is_502_and_a_slow_one_504() {
    let unreachable = Setup::with_insider(|_, insider| {
        let url = closed_port_url();
        insider.gateway_url.clone_from(&url);
        insider.whatsapp_url = url;
    })
    .await;
    let answer = unreachable.get(&webhooks_path(None)).await;
    answer.assert_error(StatusCode::BAD_GATEWAY, "vendor_unreachable");
    assert!(answer.message().contains("could not be reached"));
    let answer = unreachable
        .post(
            "/manage/settings/conversational/v1",
            &json!({"isActive": false, "apiKey": WEBHOOK_TOKEN}),
        )
        .await;
    assert_eq!(answer.code(), "vendor_unreachable");

    let mut proxy = None;
    let slow = Setup::with_insider(|sim, insider| {
        let started = FaultProxy::start(sim.addr());
        insider.gateway_url = started.url();
        insider.timeout = Duration::from_secs(1);
        proxy = Some(started);
    })
    .await;
    let proxy = proxy.unwrap();
    assert_eq!(slow.get(&webhooks_path(None)).await.status, StatusCode::OK);
    proxy.set_delay(Duration::from_secs(3));
    let started = Instant::now();
    let answer = slow.get(&webhooks_path(None)).await;
    answer.assert_error(StatusCode::GATEWAY_TIMEOUT, "vendor_timeout");
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "bounded by our timeout, not the vendor"
    );
}

#[tokio::test]
async fn missing_credentials_are_a_configuration_error() {
    let setup = Setup::with_insider(|_, insider| insider.credentials = Default::default()).await;
    for answer in [
        setup.get(&webhooks_path(None)).await,
        setup
            .post(
                "/manage/settings/conversational/v1",
                &json!({"isActive": true, "apiKey": WEBHOOK_TOKEN}),
            )
            .await,
    ] {
        answer.assert_error(StatusCode::SERVICE_UNAVAILABLE, "insider_not_configured");
    }
    assert!(setup.sim_requests().await.is_empty());
}
