//! The `insider-sim` binary: `deliver --sim` asks a running simulator to deliver to what is
//! registered with it and prints the same summary as `deliver --to`.

use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::Command;

use crate::support::{Api, Auth, Hit, Receiver, Reply, SENDER, create_body, sim};

/// Runs `insider-sim <args>` to the end (a minute at most).
async fn insider_sim(args: &[&str]) -> Output {
    let run = Command::new(env!("CARGO_BIN_EXE_insider-sim"))
        .args(args)
        .env_remove("RUST_LOG")
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("insider-sim ends within a minute")
        .expect("insider-sim runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn deliver_through_the_simulator_uses_the_registered_webhook() {
    let sim = sim().await;
    let receiver = Receiver::start(Auth::OAuth2).await;
    let api = Api::new(&sim).await;
    let mut body = create_body(&receiver, "/webhooks/transactional");
    body["subProduct"] = json!("transactional");
    body["events"] = json!(["read", "failed"]);
    let id = api.created(&body).await.to_string();
    let url = sim.url();

    let args = [
        "deliver",
        "--sim",
        &url,
        "--webhook",
        &id,
        "--count",
        "30",
        "--seed",
        "5",
    ];
    let output = insider_sim(&args).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.starts_with(&format!(
            "delivered to {} (seed 5)\n",
            receiver.url("/webhooks/transactional")
        )),
        "{text}"
    );
    assert!(
        text.contains("  sent 30  acknowledged 30  failed 0"),
        "{text}"
    );
    assert!(text.contains("  events never acknowledged: 0\n"), "{text}");
    let deliveries = &receiver.hits()[1..];
    assert_eq!(deliveries.len(), 30, "after the probe, the 30 deliveries");
    assert!(deliveries.iter().all(|h| {
        h.authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Bearer receiver-token-"))
    }));

    // --json prints the summary the simulator answered, as `deliver --to --json` does.
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let output = insider_sim(&json_args).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: Value = serde_json::from_slice(&output.stdout).expect("a JSON summary");
    assert_eq!(
        (
            &summary["seed"],
            &summary["acknowledged"],
            &summary["failed"]
        ),
        (&json!(5), &json!(30), &json!(0))
    );
    let sorted_bodies = |hits: &[Hit]| {
        let mut bodies: Vec<_> = hits.iter().map(|h| h.body.clone()).collect();
        bodies.sort();
        bodies
    };
    assert_eq!(
        sorted_bodies(&receiver.hits()[31..]),
        sorted_bodies(deliveries),
        "the same seed, the same stream"
    );
}

#[tokio::test]
async fn deliver_through_the_simulator_uses_saved_settings_and_reports_what_failed() {
    let sim = sim().await;
    let receiver = Receiver::start(Auth::Bearer("settings-key".into())).await;
    let api = Api::new(&sim).await;
    let (status, _) = api
        .settings(
            "conversational",
            &json!({"webhook_url": receiver.url("/c"), "from": SENDER, "auth_type": "bearer", "api_key": "settings-key"}),
        )
        .await;
    assert_eq!(status, http::StatusCode::OK);
    receiver.fallback(Reply::Status(400));
    let url = sim.url();
    let output = insider_sim(&[
        "deliver",
        "--sim",
        &url,
        "--settings",
        "conversational",
        "--from",
        SENDER,
        "--count",
        "3",
        "--late-fraction",
        "0.5",
    ])
    .await;
    assert_eq!(output.status.code(), Some(1), "some delivery failed");
    let text = stdout(&output);
    assert!(
        text.contains("  sent 3  acknowledged 0  failed 3"),
        "{text}"
    );
    let (_, never_acknowledged) = text
        .split_once("  events never acknowledged: ")
        .expect("the list of events never acknowledged");
    assert!(never_acknowledged.lines().count() > 3, "{text}");
    assert!(
        receiver.hits()[1..]
            .iter()
            .all(|h| h.authorization.as_deref() == Some("Bearer settings-key"))
    );
}

#[tokio::test]
async fn deliver_through_the_simulator_says_what_is_wrong() {
    let sim = sim().await;
    let url = sim.url();
    for (args, expected) in [
        (
            vec!["deliver", "--sim", &url, "--webhook", "99"],
            "the simulator answered HTTP 404: no active webhook 99",
        ),
        (
            vec!["deliver", "--sim", &url, "--settings", "transactional"],
            "no active transactional settings",
        ),
        (
            vec![
                "deliver",
                "--sim",
                &url,
                "--webhook",
                "1",
                "--duplicates",
                "2",
            ],
            "duplicates must be in [0, 1)",
        ),
        (
            vec!["deliver", "--sim", "ftp://127.0.0.1", "--webhook", "1"],
            "--sim must be an http(s) URL",
        ),
        (vec!["deliver", "--sim", &url], "--webhook"),
        (
            vec!["deliver", "--sim", &url, "--webhook", "1", "--bearer", "t"],
            "cannot be used with",
        ),
        (
            vec![
                "deliver",
                "--sim",
                &url,
                "--webhook",
                "1",
                "--to",
                "http://127.0.0.1:9/",
            ],
            "cannot be used with",
        ),
    ] {
        let output = insider_sim(&args).await;
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}
