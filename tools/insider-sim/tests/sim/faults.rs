//! Injected faults and the per-route request counters tests use to count retries.

use http::StatusCode;
use serde_json::json;

use crate::support::{Api, Auth, Receiver, SENDER, create_body, http, sim};

#[tokio::test]
async fn the_next_n_matching_requests_fail_then_all_is_well() {
    let sim = sim().await;
    let api = Api::new(&sim).await;
    api.fault(json!({"route": "list", "status": 503, "count": 2}))
        .await;
    for _ in 0..2 {
        let (status, answer) = api.list(SENDER).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer, json!({"message": "Service Unavailable"}));
    }
    assert_eq!(api.list(SENDER).await.0, StatusCode::OK);
    let state = api.state().await;
    assert_eq!(state["requests"]["list"], 3, "faulted requests count too");
    assert_eq!(state["requests"]["token"], 1);
    assert_eq!(state["faults"], json!([]), "used up");
}

#[tokio::test]
async fn a_429_says_when_to_retry() {
    let sim = sim().await;
    let api = Api::new(&sim).await;
    api.fault(json!({"route": "create", "status": 429, "retry_after": 7}))
        .await;
    api.fault(json!({"route": "delete", "status": 429})).await;
    let response = http()
        .post(format!(
            "{}/api/wa/v2/webhooks?phoneNumber={SENDER}",
            sim.url()
        ))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "7");
    let (_, body) = crate::support::answer(response).await;
    assert_eq!(body, json!({"message": "Too Many Requests"}));
    let response = http()
        .delete(format!(
            "{}/api/wa/v2/webhooks/1?phoneNumber={SENDER}",
            sim.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["retry-after"],
        "1",
        "a default Retry-After"
    );
}

#[tokio::test]
async fn any_matches_every_route_including_the_token_endpoint() {
    let sim = sim().await;
    let api = Api::new(&sim).await;
    api.fault(json!({"route": "any", "status": 500, "count": 3}))
        .await;
    let (status, _) = api
        .post_json(
            "/auth/token",
            &json!({"client_id": "sim-client", "client_secret": "sim-secret"}),
        )
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        api.settings("transactional", &json!({})).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        api.delete(1, SENDER).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(api.delete(1, SENDER).await.0, StatusCode::NOT_FOUND);
    let requests = &api.state().await["requests"];
    assert_eq!(requests["token"], 2);
    assert_eq!(requests["settings"], 1);
    assert_eq!(requests["delete"], 2);
}

#[tokio::test]
async fn faults_can_be_cleared_and_must_make_sense() {
    let sim = sim().await;
    let api = Api::new(&sim).await;
    api.fault(json!({"route": "update", "status": 502, "count": 5}))
        .await;
    api.fault(json!({"route": "v1", "save_failure": true}))
        .await;
    assert_eq!(api.state().await["faults"].as_array().unwrap().len(), 2);
    let (status, answer) = api
        .call(reqwest::Method::DELETE, "/_sim/faults", None)
        .await;
    assert_eq!((status, answer), (StatusCode::OK, json!({"cleared": 2})));
    assert_eq!(api.state().await["faults"], json!([]));
    for bad in [
        json!({"route": "list", "status": 418}),
        json!({"route": "list", "save_failure": true}),
        json!({"route": "everything", "status": 500}),
        json!({"route": "list"}),
        json!({"route": "list", "status": 500, "count": 0}),
    ] {
        let (status, answer) = api.post_json("/_sim/faults", &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(answer["message"].is_string());
    }
}

#[tokio::test]
async fn a_save_failure_comes_after_the_probe() {
    let sim = sim().await;
    let receiver = Receiver::start(Auth::Open).await;
    let api = Api::new(&sim).await;
    api.fault(json!({"route": "create", "save_failure": true}))
        .await;
    let (status, answer) = api.create(SENDER, &create_body(&receiver, "/hook")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(answer["status"], false);
    assert_eq!(receiver.hits().len(), 1);
    assert_eq!(api.list(SENDER).await.1["webhooks"], json!([]));
    assert_eq!(api.created(&create_body(&receiver, "/hook")).await, 1);
}

#[tokio::test]
async fn an_update_save_failure_is_a_500_after_the_probe_and_changes_nothing() {
    let sim = sim().await;
    let receiver = Receiver::start(Auth::Open).await;
    let api = Api::new(&sim).await;
    let id = api.created(&create_body(&receiver, "/hook")).await;
    let mut update = create_body(&receiver, "/moved");
    update.as_object_mut().unwrap().remove("subProduct");
    api.fault(json!({"route": "update", "save_failure": true}))
        .await;
    let (status, answer) = api.update(id, SENDER, &update).await;
    assert_eq!(
        (status, answer),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"status": false, "message": "an error occurred while saving the webhook"})
        )
    );
    let hits = receiver.hits();
    assert_eq!(hits.len(), 2, "the create's probe, then the update's");
    assert_eq!(hits[1].path, "/moved");
    assert_eq!(
        api.list(SENDER).await.1["webhooks"][0]["webhookUrl"],
        receiver.url("/hook")
    );
    assert_eq!(api.update(id, SENDER, &update).await.0, StatusCode::OK);
}
