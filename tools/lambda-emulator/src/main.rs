//! Measures a Lambda `bootstrap` under the local Runtime API: cold starts (init, first
//! invocation), warm invocations and peak memory, as Lambda's REPORT lines would show them.
//!
//! ```sh
//! lambda-emulator --bootstrap target/release/webhook-receiver --event event.json \
//!     --cold-starts 20 --invocations 50 --env TABLE_NAME=events --expect-status 200
//! ```
//! Every `__SEQ__` in the event file is replaced by a number unique to the invocation, so each
//! one can carry new content (a webhook that is not a duplicate).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use clap::Parser;
use lambda_emulator::{Function, FunctionSettings, Logs, Outcome};

#[derive(Parser)]
#[command(about = "Runs a Lambda bootstrap under a local Runtime API and measures it")]
struct Args {
    /// The function's executable (`bootstrap`).
    #[arg(long)]
    bootstrap: PathBuf,
    /// The invocation event, e.g. an API Gateway HTTP API (v2) request.
    #[arg(long)]
    event: PathBuf,
    /// Execution environments to start, one after another.
    #[arg(long, default_value_t = 10)]
    cold_starts: usize,
    /// Invocations per execution environment (the first is the cold one).
    #[arg(long, default_value_t = 20)]
    invocations: usize,
    #[arg(long, default_value_t = 256)]
    memory_mb: u32,
    #[arg(long, default_value_t = 10)]
    timeout_secs: u64,
    /// A variable of the function's environment, `NAME=VALUE`; repeatable.
    #[arg(long = "env", value_parser = parse_variable)]
    environment: Vec<(String, String)>,
    /// Show the function's own logs.
    #[arg(long)]
    show_logs: bool,
    /// Fail unless every answer is an API Gateway response with this status.
    #[arg(long)]
    expect_status: Option<u16>,
}

fn parse_variable(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .ok_or_else(|| format!("expected NAME=VALUE, got {text}"))
}

#[derive(Default)]
struct Samples {
    init: Vec<Duration>,
    first: Vec<Duration>,
    warm: Vec<Duration>,
    peak_kib: Vec<u64>,
    unexpected: Vec<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let template = match std::fs::read_to_string(&args.event) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("cannot read {}: {error}", args.event.display());
            return ExitCode::FAILURE;
        }
    };
    let settings = FunctionSettings {
        name: "measured".into(),
        memory_mb: args.memory_mb,
        timeout: Duration::from_secs(args.timeout_secs),
        environment: args.environment.clone(),
        logs: if args.show_logs {
            Logs::Shown
        } else {
            Logs::Dropped
        },
    };
    // Unique across runs too, so a persistent store never sees a replay of an earlier run.
    let run = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let mut samples = Samples::default();
    for environment in 0..args.cold_starts {
        let mut function = match Function::start(&args.bootstrap, &settings).await {
            Ok(function) => function,
            Err(error) => {
                eprintln!("cold start {environment}: {error}");
                return ExitCode::FAILURE;
            }
        };
        samples.init.push(function.init_duration);
        for invocation in 0..args.invocations {
            let event =
                template.replace("__SEQ__", &format!("{run}{environment:04}{invocation:06}"));
            match function.invoke(Bytes::from(event)).await {
                Ok(answer) => {
                    if let Some(problem) = unexpected(&answer.outcome, args.expect_status) {
                        samples.unexpected.push(problem);
                    }
                    if invocation == 0 {
                        samples.first.push(answer.duration);
                    } else {
                        samples.warm.push(answer.duration);
                    }
                }
                Err(error) => {
                    eprintln!("cold start {environment}, invocation {invocation}: {error}");
                    return ExitCode::FAILURE;
                }
            }
        }
        samples.peak_kib.extend(function.peak_memory_kib());
        function.stop().await;
    }
    report(&args, &mut samples);
    if samples.unexpected.is_empty() {
        ExitCode::SUCCESS
    } else {
        for problem in samples.unexpected.iter().take(5) {
            eprintln!("unexpected answer: {problem}");
        }
        eprintln!("{} unexpected answers", samples.unexpected.len());
        ExitCode::FAILURE
    }
}

fn unexpected(outcome: &Outcome, expected_status: Option<u16>) -> Option<String> {
    let body = match outcome {
        Outcome::Error(body) => return Some(String::from_utf8_lossy(body).into_owned()),
        Outcome::Response(body) => body,
    };
    let expected = expected_status?;
    let status = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|answer| answer.get("statusCode")?.as_u64());
    (status != Some(u64::from(expected))).then(|| String::from_utf8_lossy(body).into_owned())
}

fn report(args: &Args, samples: &mut Samples) {
    let row = |name: &str, values: &mut Vec<Duration>| {
        values.sort_unstable();
        if values.is_empty() {
            return;
        }
        let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
        println!(
            "| {name} | {} | {} | {} | {} | {} |",
            values.len(),
            ms(values[0]),
            ms(percentile(values, 50)),
            ms(percentile(values, 99)),
            ms(values[values.len() - 1]),
        );
    };
    println!(
        "{} cold starts x {} invocations of {} ({} MB)",
        args.cold_starts,
        args.invocations,
        args.bootstrap.display(),
        args.memory_mb
    );
    println!("| phase | samples | min ms | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|");
    row("init", &mut samples.init);
    row("first invocation", &mut samples.first);
    row("warm invocation", &mut samples.warm);
    if let Some(peak) = samples.peak_kib.iter().max() {
        println!("peak memory (VmHWM): {:.1} MiB", *peak as f64 / 1024.0);
    }
}

fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}
