//! What the management routes log: one line per call with its operation, the vendor's status and
//! the time taken, and never a secret, whether the call succeeds, fails validation or is refused
//! by the vendor. Alone in its binary, so that no concurrent test touches the log call sites
//! while this one captures them.

use e2e_tests::logs;
use e2e_tests::manage::{Setup, webhooks_path};
use e2e_tests::stack::{OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, WEBHOOK_TOKEN};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Secrets only a refused request carries.
const INVALID_REQUEST_SECRET: &str = "secret-of-a-request-that-fails-validation";
const UNACCEPTED_KEY: &str = "api-key-the-receiver-does-not-accept";

#[tokio::test]
async fn secrets_never_reach_the_logs_and_each_call_logs_one_line() {
    let (logs, _guard) = logs::capture();
    let setup = Setup::start().await;
    let webhook = json!({"authType": "oauth2", "subProduct": "verify", "events": ["sent"],
                         "oauth2": {"grantType": "client_credentials",
                                    "tokenUrl": setup.own_url("/oauth/token"),
                                    "clientId": OAUTH_CLIENT_ID,
                                    "clientSecret": OAUTH_CLIENT_SECRET, "expiresIn": 60}});
    let given = setup.post(&webhooks_path(None), &webhook).await;
    given.assert_ok();
    let minted = setup
        .post(
            "/manage/settings/transactional",
            &json!({"auth_type": "oauth2",
                    "oauth2": {"grant_type": "refresh_token", "expires_in": 60}}),
        )
        .await;
    minted.assert_ok();
    let v1 = setup
        .post(
            "/manage/settings/conversational/v1",
            &json!({"isActive": true, "apiKey": WEBHOOK_TOKEN}),
        )
        .await;
    v1.assert_ok();

    // Refused by our validation, with a secret beside the mistake.
    let invalid = setup
        .post(
            &webhooks_path(None),
            &json!({"authType": "oauth2", "subProduct": "verify", "events": ["sent"],
                    "oauth2": {"grantType": "client_credentials",
                               "tokenUrl": setup.own_url("/oauth/token"),
                               "clientId": OAUTH_CLIENT_ID,
                               "clientSecret": INVALID_REQUEST_SECRET, "expiresIn": 0}}),
        )
        .await;
    invalid.assert_error(StatusCode::BAD_REQUEST, "validation_failed");
    // Refused by the vendor (4xx): the same webhook again, and a sender it does not know.
    let duplicate = setup.post(&webhooks_path(None), &webhook).await;
    duplicate.assert_error(StatusCode::BAD_REQUEST, "vendor_rejected");
    let unknown_sender = setup
        .post(
            "/manage/settings/transactional",
            &json!({"auth_type": "bearer", "api_key": WEBHOOK_TOKEN,
                    "from": "+15550000000"}),
        )
        .await;
    unknown_sender.assert_error(StatusCode::BAD_REQUEST, "vendor_rejected");
    // Refused by our check before the vendor: a key our receiver would refuse.
    let unaccepted = setup
        .post(
            "/manage/settings/transactional",
            &json!({"auth_type": "bearer", "api_key": UNACCEPTED_KEY}),
        )
        .await;
    unaccepted.assert_error(StatusCode::BAD_REQUEST, "validation_failed");

    let logged = logs.text();
    for secret in [
        OAUTH_CLIENT_SECRET,
        WEBHOOK_TOKEN,
        minted.body["credentials"]["client_secret"]
            .as_str()
            .unwrap(),
        minted.body["credentials"]["refresh_token"]
            .as_str()
            .unwrap(),
        insider_sim::server::DEFAULT_CLIENT_SECRET,
        insider_sim::server::DEFAULT_INS_AUTH_KEY,
        INVALID_REQUEST_SECRET,
        UNACCEPTED_KEY,
    ] {
        assert!(!logged.contains(secret), "{secret} reached the logs");
    }
    let lines: Vec<Value> = logged
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .filter(|line: &Value| line["fields"]["operation"].is_string())
        .filter(|line| line["fields"]["elapsed_ms"].is_number())
        .filter(|line| line["fields"].get("attempt").is_none())
        .collect();
    let operations: Vec<&str> = lines
        .iter()
        .map(|line| line["fields"]["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        operations,
        [
            "create_webhook",
            "transactional_settings",
            "v1_settings",
            "create_webhook",
            "create_webhook",
            "transactional_settings",
            "transactional_settings"
        ]
    );
    let outcomes: Vec<(&Value, &Value)> = lines
        .iter()
        .map(|line| (&line["fields"]["outcome"], &line["fields"]["vendor_status"]))
        .collect();
    assert_eq!(
        outcomes,
        [
            (&json!("ok"), &json!(200)),
            (&json!("ok"), &json!(200)),
            (&json!("ok"), &json!(200)),
            (&json!("validation_failed"), &Value::Null),
            (&json!("vendor_rejected"), &json!(400)),
            (&json!("vendor_rejected"), &json!(400)),
            (&json!("validation_failed"), &Value::Null),
        ]
    );
}
