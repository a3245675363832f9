//! The deployed stack's API client: each call signed with SigV4 for `execute-api`, read back
//! as status and JSON. The API is a loopback server that records what it was sent.

use std::sync::{Arc, Mutex};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use console::QueryApi;
use console::signed::SignedApi;
use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Answers one request with `answer`; the request's head, as received.
async fn api_once(answer: String) -> (String, Arc<Mutex<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(String::new()));
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buffer = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let read = stream.read(&mut buffer).await.unwrap();
            if read == 0 {
                break;
            }
            head.extend_from_slice(&buffer[..read]);
        }
        *record.lock().unwrap() = String::from_utf8_lossy(&head).into_owned();
        stream.write_all(answer.as_bytes()).await.unwrap();
    });
    (url, seen)
}

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
    let body = r#"{"error":{"code":"message_not_found","message":"no event"}}"#;
    let answer = format!(
        "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let (url, seen) = api_once(answer).await;
    let api = SignedApi::new(&format!("{url}/"), "eu-west-1", credentials()).unwrap();

    let answer = api
        .get("/stats?since=2024-05-01T00%3A00%3A00Z")
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.body["error"]["code"], "message_not_found");

    let head = seen.lock().unwrap().to_lowercase();
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
