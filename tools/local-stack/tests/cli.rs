//! The `local-stack` executable as a user starts it: its flags, the banner it prints, and the
//! `curl` examples of that banner pasted into a shell as they are.

use std::io::{BufRead, BufReader, Lines};
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_local-stack");
/// The example that calls Insider One is pointed here: nothing listens on the discard port, so
/// it must come back as our own 502 without leaving the machine.
const NO_INSIDER: &str = "http://127.0.0.1:9";

struct Running {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    /// What the stack wrote to stderr: its logs.
    logs: tempfile::NamedTempFile,
}

impl Running {
    fn start(data_dir: &Path, environment: &[(&str, &str)]) -> (Running, u16) {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        let logs = tempfile::NamedTempFile::new().expect("a file for the logs");
        let mut child = Command::new(BINARY)
            .args(["--port", &port.to_string(), "--data-dir"])
            .arg(data_dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("INSIDER_GATEWAY_URL", NO_INSIDER)
            .env("INSIDER_WHATSAPP_URL", NO_INSIDER)
            .env("INSIDER_CLIENT_ID", "cli-test-client")
            .env("INSIDER_CLIENT_SECRET", "cli-test-client-secret")
            .envs(environment.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(logs.reopen().expect("the log file reopens"))
            .spawn()
            .expect("the local-stack executable starts");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        (
            Running {
                child,
                stdout,
                logs,
            },
            port,
        )
    }

    /// The banner up to and including the examples: every line until the last `curl` command
    /// (a command goes on while its line ends in a backslash).
    fn banner(&mut self) -> (String, Vec<String>) {
        let mut banner = String::new();
        let mut commands: Vec<String> = Vec::new();
        let mut in_examples = false;
        let mut continued = false;
        while commands.len() < 4 || continued {
            let line = self
                .stdout
                .next()
                .expect("the banner goes on")
                .expect("stdout is text");
            banner.push_str(&line);
            banner.push('\n');
            if line == "Try it:" {
                in_examples = true;
            } else if in_examples {
                let text = line.trim_end_matches('\\');
                if continued {
                    commands.last_mut().expect("a command").push_str(text);
                } else {
                    commands.push(text.to_owned());
                }
                continued = line.ends_with('\\');
            }
        }
        (banner, commands)
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(self.logs.path()).expect("the logs are text")
    }

    /// Stops the stack as a user does, with Ctrl-C.
    fn interrupt(mut self) -> ExitStatus {
        let interrupted = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(interrupted.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("the stack can be waited for") {
                return status;
            }
            assert!(Instant::now() < deadline, "the stack ignored Ctrl-C");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs one pasted command in a shell; its stdout as JSON.
fn paste(command: &str) -> serde_json::Value {
    let output = Command::new("sh")
        .args(["-c", command])
        .output()
        .expect("sh runs");
    assert!(output.status.success(), "{command}: {output:?}");
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{command} printed no JSON ({e}): {output:?}"))
}

#[test]
fn the_banner_lists_the_routes_and_its_examples_work_when_pasted() {
    let data_dir = tempfile::tempdir().expect("a temporary folder");
    let (mut stack, port) = Running::start(data_dir.path(), &[]);
    let (banner, commands) = stack.banner();

    let url = format!("http://127.0.0.1:{port}");
    assert!(banner.starts_with(&format!(
        "local stack listening on {url} (embedded store in "
    )));
    for route in [
        "/webhooks/{conversational|transactional|verify}",
        "/messages/{message_id}",
        "/events?key=",
        "/contacts/{wa_id}/messages",
        "/stats?since=&until=",
        "/oauth/token",
        "/manage/webhooks?phoneNumber=N",
        "/manage/settings/",
        "/console",
    ] {
        assert!(
            banner.contains(&format!("{url}{route}")),
            "{route}:\n{banner}"
        );
    }
    for credential in ["webhook token:", "admin token:", "OAuth client secret:"] {
        let line = banner
            .lines()
            .find(|line| line.trim_start().starts_with(credential))
            .unwrap_or_else(|| panic!("{credential} is printed:\n{banner}"));
        assert!(line.contains("(generated;"), "{line}");
    }

    let [deliver, read_back, token, manage] = commands.as_slice() else {
        panic!("four examples:\n{banner}");
    };
    assert_eq!(
        paste(deliver),
        serde_json::json!({"stored": 1, "duplicates": 0})
    );
    // Logs go to stderr, as JSON lines, so that stdout holds the banner (and printed events).
    assert!(
        !banner.lines().any(|line| line.starts_with('{')),
        "{banner}"
    );
    let logs = stack.logs();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|line| line["outcome"] == "stored" && line["stored"] == 1),
        "{logs}"
    );
    let message = paste(read_back);
    assert_eq!(
        (&message["message_id"], &message["status"]),
        (
            &serde_json::json!("wamid.demo"),
            &serde_json::json!("delivered")
        )
    );
    let issued = paste(token);
    assert_eq!(issued["token_type"], "Bearer");
    assert!(
        issued["access_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    let refused = paste(manage);
    assert_eq!(
        refused["error"]["code"], "vendor_unreachable",
        "the example passes our validation and reaches for Insider One: {refused}"
    );

    assert!(
        stack.interrupt().success(),
        "Ctrl-C stops the stack cleanly"
    );
}

#[test]
fn chosen_credentials_are_masked_and_stored_events_outlive_a_restart() {
    let data_dir = tempfile::tempdir().expect("a temporary folder");
    let chosen = [
        ("WEBHOOK_BEARER_TOKEN", "chosen-webhook-token-0123456789"),
        ("LOCAL_ADMIN_TOKEN", "chosen-admin-token-0123456789"),
    ];
    let (mut stack, _) = Running::start(data_dir.path(), &chosen);
    let (banner, commands) = stack.banner();
    for (variable, value) in chosen {
        assert!(!banner.contains(value), "{variable} is shown:\n{banner}");
        assert!(banner.contains(&format!("(from {variable})")), "{banner}");
    }
    // The examples name the variables instead of the values.
    let exports: String = chosen
        .iter()
        .map(|(variable, value)| format!("export {variable}={value}; "))
        .collect();
    let with_variables = |command: &str| format!("{exports}{command}");
    assert_eq!(paste(&with_variables(&commands[0]))["stored"], 1);
    assert!(stack.interrupt().success());

    let (mut restarted, _) = Running::start(data_dir.path(), &chosen);
    let (_, commands) = restarted.banner();
    let message = paste(&with_variables(&commands[1]));
    assert_eq!(
        message["message_id"],
        "wamid.demo",
        "kept in {}",
        data_dir.path().display()
    );
}

#[test]
fn a_chosen_oauth_secret_too_short_stops_the_start_and_names_its_variable() {
    let data_dir = tempfile::tempdir().expect("a temporary folder");
    let output = Command::new(BINARY)
        .args(["--port", "9", "--data-dir"])
        .arg(data_dir.path())
        .env_clear()
        .env("LOCAL_OAUTH_CLIENT_SECRET", "too-short")
        .output()
        .expect("the local-stack executable runs");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("LOCAL_OAUTH_CLIENT_SECRET is too short"),
        "{said}"
    );
    assert!(
        !said.contains("too-short"),
        "the secret itself is not repeated: {said}"
    );
    assert!(output.stdout.is_empty(), "nothing started");
}

#[test]
fn a_trusted_issuer_needs_an_audience_and_https_off_loopback() {
    let data_dir = tempfile::tempdir().expect("a temporary folder");
    let run = |args: &[&str]| {
        Command::new(BINARY)
            .args(["--port", "9", "--data-dir"])
            .arg(data_dir.path())
            .args(args)
            .env_clear()
            .output()
            .expect("the local-stack executable runs")
    };
    let without_audience = run(&["--trusted-issuer", "https://id.example.com"]);
    assert_eq!(
        without_audience.status.code(),
        Some(2),
        "{without_audience:?}"
    );
    assert!(
        String::from_utf8_lossy(&without_audience.stderr).contains("--trusted-audience"),
        "{without_audience:?}"
    );
    let plain_http = run(&[
        "--trusted-issuer",
        "http://id.example.com",
        "--trusted-audience",
        "receiver",
    ]);
    assert_ne!(plain_http.status.code(), Some(0), "{plain_http:?}");
    let said = String::from_utf8_lossy(&plain_http.stderr);
    assert!(said.contains("trusted issuers are not valid"), "{said}");
    assert!(plain_http.stdout.is_empty(), "nothing started");
}
