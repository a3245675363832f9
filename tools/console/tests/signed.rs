//! The deployed stack's API client: each call signed with SigV4 for `execute-api`, read back
//! as status and JSON. The API is a loopback server that records what it was sent.

mod support;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use console::QueryApi;
use console::signed::SignedApi;
use http::StatusCode;
use support::FakeApi;

fn credentials() -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        Some("session-token".into()),
        None,
        "test",
    ))
}

#[tokio::test]
async fn each_call_is_signed_for_execute_api_in_the_region() {
    let fake = FakeApi::start(
        "404 Not Found",
        r#"{"error":{"code":"message_not_found","message":"no event"}}"#,
    )
    .await;
    let api = SignedApi::new(&format!("{}/", fake.url), "eu-west-1", credentials()).unwrap();

    let answer = api
        .get("/stats?since=2024-05-01T00%3A00%3A00Z")
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.body["error"]["code"], "message_not_found");

    let head = fake.heads().pop().expect("the call reached the API");
    assert!(
        head.starts_with("get /stats?since=2024-05-01t00%3a00%3a00z http/1.1"),
        "{head}"
    );
    assert!(
        head.contains("authorization: aws4-hmac-sha256 credential=akidexample/"),
        "{head}"
    );
    assert!(
        head.contains("/eu-west-1/execute-api/aws4_request"),
        "{head}"
    );
    assert!(head.contains("x-amz-date: "), "{head}");
    assert!(
        head.contains("x-amz-security-token: session-token"),
        "{head}"
    );
}

#[test]
fn plain_http_is_refused_but_to_loopback() {
    assert!(SignedApi::new("http://api.example.com", "eu-west-1", credentials()).is_err());
    assert!(
        SignedApi::new(
            "https://abc.execute-api.eu-west-1.amazonaws.com/",
            "eu-west-1",
            credentials()
        )
        .is_ok()
    );
}
