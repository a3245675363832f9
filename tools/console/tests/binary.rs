//! The `console` binary as an operator runs it: on a loopback port, credentials from the
//! environment, the API's URL given; the one-time link it prints opens a session once, and the
//! pages are read from the API with signed calls.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::FakeApi;

/// The console process; dropping it ends it.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_printed_link_opens_one_session_and_pages_are_read_with_signed_calls() {
    let fake = FakeApi::start(
        "200 OK",
        r#"{"message_id": "wamid.bin", "status": "delivered", "progress": "delivered", "events": []}"#,
    )
    .await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_console"))
        .args(["--api", &fake.url, "--port", "0"])
        // Only these credentials: no profile, no instance metadata.
        .env_clear()
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        )
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the console starts");
    let stdout = child.stdout.take().unwrap();
    let _running = Running(child);
    let link = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            line.split_once("Open (works once): ")
                .map(|(_, l)| l.to_owned())
        })
        .expect("a one-time link is printed");
    assert!(link.starts_with("http://127.0.0.1:"), "{link}");
    let base = link.split("/console/").next().unwrap().to_owned();

    let browser = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let opened = browser.get(&link).send().await.unwrap();
    assert_eq!(opened.status(), reqwest::StatusCode::SEE_OTHER);
    let cookie = opened.headers()["set-cookie"].to_str().unwrap();
    let session = cookie.split(';').next().unwrap().to_owned();
    let again = browser.get(&link).send().await.unwrap();
    assert_eq!(
        again.status(),
        reqwest::StatusCode::UNAUTHORIZED,
        "used once"
    );

    let page = browser
        .get(format!("{base}/console/messages/wamid.bin"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("<h1>Message wamid.bin</h1>")
    );
    let head = fake.heads().pop().expect("the page called the API");
    assert!(
        head.starts_with("get /messages/wamid.bin http/1.1"),
        "{head}"
    );
    assert!(
        head.contains("/eu-west-1/execute-api/aws4_request"),
        "signed: {head}"
    );

    let root = browser.get(&base).send().await.unwrap();
    assert_eq!(root.headers()["location"], "/console");
}
