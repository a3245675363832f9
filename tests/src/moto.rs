//! moto's server, a local fake of AWS APIs (the tests use its EventBridge, SQS and S3), on a
//! loopback port, for one test.
//!
//! Installed by `scripts/install-test-deps.sh` into `.tools/venv-moto` (pinned in
//! `scripts/test-requirements-moto.txt`); `MOTO_SERVER` names another `moto_server` instead.
//! It keeps everything in memory, so every server starts empty, and it does not check
//! signatures: any access key works.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::supervised::{Supervised, free_port, install_test_deps, tools_dir};

/// How long moto may take to answer its first request (about 1 s; longer on a busy machine).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Launches on fresh ports before giving up: a port is only probed free.
const START_ATTEMPTS: usize = 3;

/// A running moto server; dropping it stops it.
pub struct Moto {
    endpoint: String,
    _process: Supervised,
}

impl Moto {
    /// Starts a server on a free loopback port and waits until it answers.
    /// Panics when moto is not available or does not come up.
    pub async fn start() -> Moto {
        let program = tokio::task::spawn_blocking(moto_server)
            .await
            .expect("locating moto panicked")
            .unwrap_or_else(|error| panic!("moto is not available: {error}"));
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            match launch(&program, free_port()).await {
                Ok(moto) => return moto,
                Err(failure) => failures.push(failure),
            }
        }
        panic!(
            "moto did not start in {START_ATTEMPTS} attempts:\n{}",
            failures.join("\n---\n")
        )
    }

    /// The URL to configure AWS SDK clients with: `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// An SQS client of this server.
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        shared::config::endpoint_sqs_client(&self.endpoint, Duration::from_secs(30))
    }

    /// A new queue named `name` whose messages move to a new dead-letter queue (`<name>-dlq`)
    /// after `max_receives` receives, as the template's fallback queue does; its URL and the
    /// dead-letter queue's.
    pub async fn queue_with_dead_letters(&self, name: &str, max_receives: u32) -> (String, String) {
        use aws_sdk_sqs::types::QueueAttributeName;
        let sqs = self.sqs();
        let dead_letters = sqs
            .create_queue()
            .queue_name(format!("{name}-dlq"))
            .send()
            .await
            .expect("moto creates a queue")
            .queue_url
            .expect("a queue URL");
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&dead_letters)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("moto answers")
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .expect("a queue ARN");
        let redrive =
            serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": max_receives});
        let queue = sqs
            .create_queue()
            .queue_name(name)
            .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
            .attributes(QueueAttributeName::MaximumMessageSize, "1048576")
            .send()
            .await
            .expect("moto creates a queue")
            .queue_url
            .expect("a queue URL");
        (queue, dead_letters)
    }

    /// Up to 10 visible messages of the queue at `url`, with their attributes (received: hidden
    /// for the queue's visibility timeout).
    pub async fn receive(&self, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
        self.sqs()
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .expect("moto answers")
            .messages
            .unwrap_or_default()
    }

    /// Messages in the queue at `url`, visible or being handled.
    pub async fn messages_in(&self, url: &str) -> usize {
        use aws_sdk_sqs::types::QueueAttributeName;
        self.sqs()
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("moto answers")
            .attributes
            .unwrap_or_default()
            .values()
            .map(|n| n.parse::<usize>().expect("a count"))
            .sum()
    }

    /// Waits until the queue at `url` is empty; `false` if it is not within `limit`.
    pub async fn wait_until_empty(&self, url: &str, limit: Duration) -> bool {
        let started = Instant::now();
        while self.messages_in(url).await > 0 {
            if started.elapsed() > limit {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        true
    }
}

fn moto_server() -> Result<PathBuf, String> {
    if let Some(program) = std::env::var_os("MOTO_SERVER") {
        return Ok(PathBuf::from(program));
    }
    install_test_deps()?;
    let program = tools_dir().join("venv-moto/bin/moto_server");
    if program.is_file() {
        Ok(program)
    } else {
        Err(format!(
            "{} is missing after scripts/install-test-deps.sh",
            program.display()
        ))
    }
}

/// Errs with moto's output when it exits before answering (worth a retry on another port);
/// panics when it stays up but never answers.
async fn launch(program: &PathBuf, port: u16) -> Result<Moto, String> {
    let mut command = Command::new(program);
    command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    let mut process = Supervised::spawn(&format!("moto on port {port}"), &command);
    let endpoint = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("HTTP client");
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = process.exited() {
            return Err(format!(
                "moto exited ({status}) before answering on port {port}; its output:\n{}",
                process.output()
            ));
        }
        let answer = client.get(format!("{endpoint}/moto-api/")).send().await;
        if answer.as_ref().is_ok_and(|r| r.status().is_success()) {
            return Ok(Moto {
                endpoint,
                _process: process,
            });
        }
        if Instant::now() >= deadline {
            panic!(
                "moto did not answer on port {port} within {READY_TIMEOUT:?} (last attempt: \
                 {answer:?}); its output:\n{}",
                process.output()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
