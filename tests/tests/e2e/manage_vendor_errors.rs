//! Insider One's refusals and failures as our callers see them: the vendor's status and body
//! passed through under a stable code, transport failures as 502/504 with a clear message, one
//! time budget for all the calls of a request, no redirect followed, and no credentials left live
//! by a failed call.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

use e2e_tests::fault_proxy::FaultProxy;
use e2e_tests::manage::{
    Answer, RecordingInsider, SENDER, Setup, closed_port_url, insider_settings, minimal_webhook,
    webhooks_path,
};
use e2e_tests::stack::{WEBHOOK_TOKEN, client};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::domain::SubProduct;
use shared::http::manage::{self, Management};
use shared::http::{ApiError, Body};
use shared::insider::{
    ClientBuildError, Deadline, InsiderApi, InsiderClient, InsiderError, InsiderSettings,
    VendorCall,
};
use tokio::net::TcpListener;

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
    let error = client
        .call_within(&call, Deadline::after(client.request_budget()))
        .await
        .unwrap_err();
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

/// A loopback server that answers every request with `status` and, if given, a `Location`,
/// counting the requests it gets; it stops with the test's runtime.
async fn answering(status: u16, location: Option<String>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("a bound address"));
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((connection, _)) = listener.accept().await {
            let (hits, location) = (Arc::clone(&counted), location.clone());
            let service = service_fn(move |_request| {
                hits.fetch_add(1, Ordering::SeqCst);
                let mut answer = hyper::Response::builder().status(status);
                if let Some(location) = &location {
                    answer = answer.header("location", location);
                }
                async move { answer.body(http_body_util::Empty::<Bytes>::new()) }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(connection), service),
            );
        }
    });
    (url, hits)
}

#[tokio::test]
async fn a_redirect_is_never_followed() {
    // A 307 or 308 would re-send the token request's client secret, or the V1 key header, to
    // wherever it points.
    let (elsewhere, hits_elsewhere) = answering(200, None).await;
    let (redirector, redirects) = answering(307, Some(format!("{elsewhere}/auth/token"))).await;
    let setup = Setup::with_insider(|_, insider| {
        insider.gateway_url.clone_from(&redirector);
        insider.whatsapp_url.clone_from(&redirector);
    })
    .await;

    let answer = setup.get(&webhooks_path(None)).await;
    answer.assert_error(StatusCode::BAD_GATEWAY, "vendor_redirected");
    assert_eq!(answer.body["error"]["vendor"]["status"], 307);
    let answer = setup
        .post(
            "/manage/settings/conversational/v1",
            &json!({"isActive": false, "apiKey": WEBHOOK_TOKEN}),
        )
        .await;
    answer.assert_error(StatusCode::BAD_GATEWAY, "vendor_redirected");
    assert!(redirects.load(Ordering::SeqCst) >= 2);
    assert_eq!(
        hits_elsewhere.load(Ordering::SeqCst),
        0,
        "no redirect followed"
    );
}

#[test]
fn vendor_urls_over_plain_http_are_refused_but_for_loopback() {
    for (gateway_url, whatsapp_url, refused) in [
        (
            "http://gw.example.com",
            "https://whatsapp.example.com",
            Some("gateway_url"),
        ),
        (
            "https://gw.example.com",
            "http://10.0.0.7:8080",
            Some("whatsapp_url"),
        ),
        (
            "https://gw.example.com",
            "ftp://whatsapp.example.com",
            Some("whatsapp_url"),
        ),
        ("http://127.0.0.1:4000", "http://[::1]:4000", None),
        (
            "https://gw.useinsider.com",
            "https://whatsapp.useinsider.com",
            None,
        ),
    ] {
        let settings = InsiderSettings {
            gateway_url: gateway_url.into(),
            whatsapp_url: whatsapp_url.into(),
            ..insider_settings("http://127.0.0.1:1")
        };
        match (InsiderClient::new(settings), refused) {
            (Ok(_), None) => {}
            (Err(ClientBuildError::InsecureUrl { setting, reason }), Some(expected)) => {
                assert_eq!(setting, expected);
                assert!(reason.contains("must be an https URL"), "{reason}");
            }
            (outcome, expected) => panic!(
                "{gateway_url}, {whatsapp_url}: expected {expected:?} refused, got {:?}",
                outcome.err()
            ),
        }
    }
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

#[tokio::test]
async fn account_limits_are_the_vendors_refusals() {
    // Five more senders, each with a transactional and a conversational bearer setting, make
    // the ten bearer webhooks that, with ten oauth2 ones, fill the account's twenty.
    let senders = [
        "15550000001",
        "15550000002",
        "15550000003",
        "15550000004",
        "15550000005",
    ];
    let setup = Setup::start_with(
        |sim| sim.senders.extend(senders.map(String::from)),
        |_, _| {},
    )
    .await;
    // The receiver routes by path: each query string makes a URL of its own for the vendor.
    let webhook = |n: usize| {
        let mut body = minimal_webhook("verify", &["sent"]);
        body["webhookUrl"] = setup.own_url(&format!("/webhooks/verify?n={n}")).into();
        body
    };
    for n in 0..10 {
        setup
            .post(&webhooks_path(None), &webhook(n))
            .await
            .assert_ok();
    }
    let eleventh = setup.post(&webhooks_path(None), &webhook(10)).await;
    eleventh.assert_error(StatusCode::BAD_REQUEST, "vendor_rejected");
    assert!(
        eleventh.message().contains("at most 10 oauth2 webhooks"),
        "{}",
        eleventh.body
    );

    for sender in senders {
        for sub_product in ["transactional", "conversational"] {
            setup
                .post(
                    &format!("/manage/settings/{sub_product}"),
                    &json!({"auth_type": "bearer", "api_key": WEBHOOK_TOKEN, "from": sender}),
                )
                .await
                .assert_ok();
        }
    }
    // Twenty in all: one more of either auth type is refused.
    let bearer = setup
        .post(
            "/manage/settings/conversational/v1",
            &json!({"isActive": true, "apiKey": WEBHOOK_TOKEN}),
        )
        .await;
    bearer.assert_error(StatusCode::BAD_REQUEST, "vendor_rejected");
    assert_eq!(bearer.body["error"]["vendor"]["body"]["errorCode"], "2011");
    assert!(
        bearer.message().contains("at most 20 webhooks"),
        "{}",
        bearer.body
    );
    let oauth2 = setup.post(&webhooks_path(None), &webhook(11)).await;
    oauth2.assert_error(StatusCode::BAD_REQUEST, "vendor_rejected");
    assert!(
        oauth2.message().contains("at most 20 webhooks"),
        "{}",
        oauth2.body
    );
}

/// A call to the management routes through handlers of this process whose Insider One calls
/// `recorder` keeps, so that the credentials a failed call minted are known.
async fn call_recorded(
    setup: &Setup,
    management: &'static Management,
    method: &str,
    path: &str,
    body: &Value,
) -> Answer {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", setup.host())
        .header("content-type", "application/json")
        .body(Body::Text(body.to_string()))
        .expect("a request");
    Answer::from_lambda(manage::manage(management, request).await)
}

/// What our token endpoint answers to the minted `oauth2` credentials (camelCase or snake_case,
/// as the call that minted them spelled them), with the grant they were minted for: 200 while
/// they are usable, 401 `invalid_client` once they are withdrawn.
async fn token_with(setup: &Setup, oauth2: &Value) -> StatusCode {
    let field = |camel: &str, snake: &str| {
        oauth2[camel]
            .as_str()
            .or_else(|| oauth2[snake].as_str())
            .map(str::to_owned)
    };
    let mut form = vec![
        (
            "client_id",
            field("clientId", "client_id").expect("a minted client id"),
        ),
        (
            "client_secret",
            field("clientSecret", "client_secret").expect("a minted client secret"),
        ),
    ];
    match field("refreshToken", "refresh_token") {
        Some(refresh_token) => form.extend([
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh_token),
        ]),
        None => form.push(("grant_type", "client_credentials".to_owned())),
    }
    client()
        .post(setup.own_url("/oauth/token"))
        .form(&form)
        .send()
        .await
        .expect("the token endpoint answers")
        .status()
}

#[tokio::test]
async fn credentials_minted_for_a_refused_or_failed_call_are_withdrawn() {
    let setup = Setup::start().await;
    let recorder = RecordingInsider::new(insider_settings(&setup.sim.url()));
    let management = setup.lambda_management(recorder.clone());
    let minting = json!({"auth_type": "oauth2",
                         "oauth2": {"grant_type": "refresh_token", "expires_in": 600}});

    // Accepted: the minted refresh token works.
    let saved = call_recorded(
        &setup,
        management,
        "POST",
        "/manage/settings/transactional",
        &minting,
    )
    .await;
    saved.assert_ok();
    assert_eq!(
        token_with(&setup, &saved.body["credentials"]).await,
        StatusCode::OK
    );

    // 429 and 5xx on the conversational settings: passed on, and never retried.
    setup
        .fault(json!({"route": "settings", "status": 429, "retry_after": 3}))
        .await;
    let limited = call_recorded(
        &setup,
        management,
        "POST",
        "/manage/settings/conversational",
        &minting,
    )
    .await;
    limited.assert_rate_limited("3");
    assert!(limited.body["error"].get("credentials").is_none());
    assert_eq!(
        token_with(&setup, &recorder.last_oauth2()).await,
        StatusCode::UNAUTHORIZED
    );
    setup
        .fault(json!({"route": "settings", "status": 503}))
        .await;
    let failed = call_recorded(
        &setup,
        management,
        "POST",
        "/manage/settings/conversational",
        &minting,
    )
    .await;
    failed.assert_error(StatusCode::BAD_GATEWAY, "vendor_error");
    assert_eq!(failed.body["error"]["vendor"]["status"], 503);
    assert_eq!(
        token_with(&setup, &recorder.last_oauth2()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(setup.sim_count("settings").await, 3, "one attempt each");

    // A create whose save fails at the vendor (500), for each grant: a client minted for
    // client_credentials is as dead as one whose refresh token was taken.
    setup
        .fault(json!({"route": "create", "save_failure": true}))
        .await;
    let client_credentials = minimal_webhook("transactional", &["sent"]);
    let failed = call_recorded(
        &setup,
        management,
        "POST",
        &webhooks_path(None),
        &client_credentials,
    )
    .await;
    failed.assert_error(StatusCode::BAD_GATEWAY, "vendor_error");
    assert!(recorder.last_oauth2().get("refreshToken").is_none());
    assert_eq!(
        token_with(&setup, &recorder.last_oauth2()).await,
        StatusCode::UNAUTHORIZED
    );
    setup
        .fault(json!({"route": "create", "save_failure": true}))
        .await;
    let mut create = minimal_webhook("transactional", &["sent"]);
    create["oauth2"]["grantType"] = "refresh_token".into();
    let failed = call_recorded(&setup, management, "POST", &webhooks_path(None), &create).await;
    failed.assert_error(StatusCode::BAD_GATEWAY, "vendor_error");
    assert_eq!(
        token_with(&setup, &recorder.last_oauth2()).await,
        StatusCode::UNAUTHORIZED
    );

    // An update whose new URL fails the vendor's probe (2020), then one whose URL another
    // webhook of its type has (400).
    let created = call_recorded(&setup, management, "POST", &webhooks_path(None), &create).await;
    created.assert_ok();
    let id = created.body["webhook"].as_u64().unwrap();
    let mut other = create.clone();
    other["webhookUrl"] = setup.own_url("/webhooks/transactional?other").into();
    call_recorded(&setup, management, "POST", &webhooks_path(None), &other)
        .await
        .assert_ok();
    let mut update = json!({"authType": "oauth2", "events": ["read"],
                            "webhookUrl": setup.own_url("/webhooks/nowhere"),
                            "oauth2": {"grantType": "refresh_token", "expiresIn": 600}});
    let probe_failed =
        call_recorded(&setup, management, "PUT", &webhooks_path(Some(id)), &update).await;
    probe_failed.assert_error(StatusCode::BAD_REQUEST, "vendor_rejected");
    assert_eq!(
        probe_failed.body["error"]["vendor"]["body"]["errorCode"],
        "2020"
    );
    assert_eq!(
        token_with(&setup, &recorder.last_oauth2()).await,
        StatusCode::UNAUTHORIZED
    );
    update["webhookUrl"] = other["webhookUrl"].clone();
    let duplicate =
        call_recorded(&setup, management, "PUT", &webhooks_path(Some(id)), &update).await;
    duplicate.assert_error(StatusCode::BAD_REQUEST, "vendor_rejected");
    assert!(
        duplicate.message().contains("already exists"),
        "{}",
        duplicate.body
    );
    assert_eq!(
        token_with(&setup, &recorder.last_oauth2()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        setup.sim_state().await["webhooks"][0]["webhook_url"],
        setup.own_url("/webhooks/transactional"),
        "the webhook is as it was"
    );

    // What an accepted client_credentials registration minted works, unlike the failed one's.
    let mut accepted = client_credentials;
    accepted["webhookUrl"] = setup.own_url("/webhooks/transactional?accepted").into();
    let accepted = call_recorded(&setup, management, "POST", &webhooks_path(None), &accepted).await;
    accepted.assert_ok();
    assert_eq!(
        token_with(&setup, &accepted.body["credentials"]).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn one_budget_bounds_all_the_vendor_calls_of_a_request() {
    let setup = Setup::start().await;
    let created = setup
        .post(
            &webhooks_path(None),
            &minimal_webhook("transactional", &["sent"]),
        )
        .await;
    created.assert_ok();
    let id = created.body["webhook"].as_u64().unwrap();
    let proxy = FaultProxy::start(setup.sim.addr());
    proxy.set_delay(Duration::from_millis(700));
    let slow = |budget: Duration| {
        let mut settings = insider_settings(&proxy.url());
        // Each answer comes well within one attempt's bound; only their sum is too slow.
        settings.timeout = Duration::from_millis(1500);
        settings.request_budget = budget;
        RecordingInsider::new(settings)
    };

    // An update is a token and a list, then a token and the update: four answers of 0.7 s.
    let update = json!({"authType": "oauth2", "events": ["read"],
                        "oauth2": {"grantType": "client_credentials", "expiresIn": 600}});
    let budget = Duration::from_secs(2);
    let management = setup.lambda_management(slow(budget));
    let started = Instant::now();
    let answer = call_recorded(&setup, management, "PUT", &webhooks_path(Some(id)), &update).await;
    let elapsed = started.elapsed();
    answer.assert_error(StatusCode::GATEWAY_TIMEOUT, "vendor_timeout");
    assert!(answer.message().contains("budget"), "{}", answer.body);
    assert!(
        elapsed >= budget && elapsed < budget + Duration::from_millis(1500),
        "answered at the budget, not at the last answer: {elapsed:?}"
    );
    // With the default budget the same update goes through: no single call was too slow.
    let patient = setup.lambda_management(slow(Duration::from_secs(25)));
    call_recorded(&setup, patient, "PUT", &webhooks_path(Some(id)), &update)
        .await
        .assert_ok();

    // A settings call that runs out of budget withdraws what it minted.
    let recorder = slow(Duration::from_secs(1));
    let management = setup.lambda_management(recorder.clone());
    let answer = call_recorded(
        &setup,
        management,
        "POST",
        "/manage/settings/transactional",
        &json!({"auth_type": "oauth2",
                "oauth2": {"grant_type": "refresh_token", "expires_in": 600}}),
    )
    .await;
    answer.assert_error(StatusCode::GATEWAY_TIMEOUT, "vendor_timeout");
    assert_eq!(
        token_with(&setup, &recorder.last_oauth2()).await,
        StatusCode::UNAUTHORIZED
    );
}
