//! The load and fault proof (issue 8): the Insider One simulator sends a realistic stream (mixed
//! families, exact duplicates, statuses out of order) to the local stack, on DynamoDB Local or
//! the embedded store, as fast as the machine takes it; then the store is read back through its
//! own read operations and compared with what was sent.
//!
//! ```sh
//! cargo run --release -p e2e-tests --bin load -- --store dynamodb --count 90000 \
//!     --duplicates 0.05 --shuffle --concurrency 64 --seed 1
//! ```
//! Faults, on DynamoDB Local: `--kill-store-after-secs 5 --outage-secs 5` kills the JVM in the
//! middle of the run and starts it again on the same data; `--drop-store-after-secs 5
//! --outage-secs 5` drops every connection to it for a while; `--slow-store-ms 4000
//! --slow-store-after-secs 5 --outage-secs 5` delays every byte to and from it for a while.
//! `--fallback` gives the receiver a fallback queue (moto's SQS), drained by the local stack:
//! with `--max-retries 0`, a sender that never resends, it is the proof that nothing is lost.
//! Exit status 0 only when the store holds exactly the distinct events sent, every message has
//! the highest status it reached, no event went unacknowledged, and (with `--fallback`) the
//! queue was drained with nothing left in its dead-letter queue.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use e2e_tests::dynamodb_local::{DynamoDbLocal, unique_table_name};
use e2e_tests::fault_proxy::FaultProxy;
use e2e_tests::moto::Moto;
use e2e_tests::readback::{ReadBack, check_store};
use e2e_tests::stack::{WEBHOOK_TOKEN, config};
use insider_sim::deliver::{self, DeliverOptions, DeliveryAuth, Traffic};
use local_stack::{FallbackQueue, StoreChoice};
use shared::fallback::DEFAULT_FALLBACK_BUDGET;
use shared::store::dynamo::DynamoStore;
use shared::store::embedded::EmbeddedStore;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Store {
    Embedded,
    Dynamodb,
}

#[derive(Parser)]
#[command(about = "Sends a simulated Insider One stream to the local stack and checks the store")]
struct Args {
    #[arg(long, value_enum, default_value_t = Store::Dynamodb)]
    store: Store,
    #[command(flatten)]
    traffic: Traffic,
    /// DynamoDB Local: kill its JVM this long after the start, for --outage-secs.
    #[arg(long)]
    kill_store_after_secs: Option<f64>,
    /// DynamoDB Local: drop every connection to it this long after the start, for
    /// --outage-secs.
    #[arg(long)]
    drop_store_after_secs: Option<f64>,
    /// DynamoDB Local: delay its traffic by this much, from --slow-store-after-secs for
    /// --outage-secs.
    #[arg(long)]
    slow_store_ms: Option<u64>,
    #[arg(long, default_value_t = 5.0)]
    slow_store_after_secs: f64,
    #[arg(long, default_value_t = 5.0)]
    outage_secs: f64,
    /// The receiver's bound on one store call (the Lambda's STORE_TIMEOUT_MS).
    #[arg(long, default_value_t = 3000)]
    store_timeout_ms: u64,
    /// DynamoDB Local: park the deliveries the store refuses in a fallback queue (moto's SQS;
    /// its dead-letter queue after 10 receives) and drain it, as in AWS (the Lambda's
    /// STORE_BUDGET_MS is then 6000, as the template sets it).
    #[arg(long)]
    fallback: bool,
}

/// How long the queue may take to drain once the run and its fault are over.
const DRAIN_LIMIT: Duration = Duration::from_secs(600);

fn main() -> ExitCode {
    let args = Args::parse();
    // The local stack's logs, on stderr, when asked for (`RUST_LOG=warn`: why a delivery was
    // answered 503 or parked).
    if std::env::var_os("RUST_LOG").is_some() {
        shared::telemetry::init_logs(std::io::stderr);
    }
    // The receiver gets a runtime of its own, as it would have a process of its own: the
    // sender's work then does not run on the receiver's threads.
    let receiver_runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("receiver")
        .build()
        .expect("receiver runtime");
    let sender_runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sender")
        .build()
        .expect("sender runtime");
    sender_runtime.block_on(run(args, receiver_runtime.handle().clone()))
}

async fn run(args: Args, receiver: tokio::runtime::Handle) -> ExitCode {
    let data = tempfile::tempdir().expect("temporary folder");
    let store_timeout = Duration::from_millis(args.store_timeout_ms);
    let mut dynamodb = None;
    let fallback = match (args.fallback, args.store) {
        (true, Store::Dynamodb) => {
            let moto = Moto::start().await;
            let (queue, dead_letters) = moto.queue_with_dead_letters("fallback", 10).await;
            Some((moto, queue, dead_letters))
        }
        (true, Store::Embedded) => {
            eprintln!("--fallback needs --store dynamodb");
            return ExitCode::from(2);
        }
        (false, _) => None,
    };
    let (choice, proxy, reader): (StoreChoice, Option<FaultProxy>, Arc<dyn ReadBack>) = match args
        .store
    {
        Store::Embedded => {
            let dir = data.path().join("embedded");
            let store = EmbeddedStore::open(&dir, e2e_tests::stores::RETENTION)
                .expect("embedded store opens");
            (StoreChoice::Embedded(dir), None, Arc::new(store))
        }
        Store::Dynamodb => {
            let local = DynamoDbLocal::start_on_disk(&data.path().join("dynamodb")).await;
            let proxy = FaultProxy::start(local.addr());
            let table = unique_table_name("load");
            let store = DynamoStore::new(
                shared::config::endpoint_dynamo_client(local.endpoint(), Duration::from_secs(10)),
                &table,
                e2e_tests::stores::RETENTION,
            );
            let choice = StoreChoice::Dynamo {
                endpoint: proxy.url(),
                table,
                raw_bucket: None,
                fallback_queue: fallback.as_ref().map(|(moto, queue, _)| FallbackQueue {
                    url: queue.clone(),
                    endpoint: moto.endpoint().to_owned(),
                    budget: DEFAULT_FALLBACK_BUDGET,
                }),
            };
            dynamodb = Some(local);
            (choice, Some(proxy), Arc::new(store))
        }
    };
    let mut config = config(choice, store_timeout);
    if fallback.is_some() {
        config.store_budget = Duration::from_secs(6);
    }
    let stack = receiver
        .spawn(local_stack::start(config))
        .await
        .expect("the receiver's runtime")
        .expect("local stack starts");

    let mut options = DeliverOptions::new(format!("{}/webhooks/conversational", stack.url()));
    options.auth = DeliveryAuth::Bearer(WEBHOOK_TOKEN.into());
    options.traffic = args.traffic.clone();
    let started = Instant::now();
    let faults = inject_faults(&args, dynamodb, proxy);
    let summary = match deliver::run(options).await {
        Ok(summary) => summary,
        Err(error) => {
            eprintln!("the sender could not run: {error}");
            return ExitCode::from(2);
        }
    };
    let run_time = started.elapsed();
    // Keeps DynamoDB Local (and the proxy) alive until the store has been read back.
    let _store_process = faults.await.expect("fault injection");
    println!("{summary}");
    println!("run time {:.1} s", run_time.as_secs_f64());

    let mut problems = Vec::new();
    if let Some((moto, queue, dead_letters)) = &fallback {
        let waiting = moto.messages_in(queue).await;
        let started = Instant::now();
        if !moto.wait_until_empty(queue, DRAIN_LIMIT).await {
            problems.push(format!(
                "the fallback queue was not drained in {DRAIN_LIMIT:?}"
            ));
        }
        let dead = moto.messages_in(dead_letters).await;
        println!(
            "fallback: {} deliveries parked; {waiting} still in the queue when the run and its fault were over, drained {:.1} s later; dead-letter queue {dead}",
            summary.receiver.parked,
            started.elapsed().as_secs_f64()
        );
        if dead > 0 {
            problems.push(format!("{dead} parked deliveries in the dead-letter queue"));
        }
    }
    problems.extend(check_store(reader.as_ref(), &summary).await);
    stack.stop().await;
    if problems.is_empty() {
        println!("store check: every distinct event stored once, every status the highest sent");
        ExitCode::SUCCESS
    } else {
        for problem in problems.iter().take(20) {
            println!("store check: {problem}");
        }
        println!("store check: {} problems", problems.len());
        ExitCode::FAILURE
    }
}

/// Starts the fault of the run, if any, in the background; its task hands DynamoDB Local and the
/// proxy back once the fault is over.
fn inject_faults(
    args: &Args,
    dynamodb: Option<DynamoDbLocal>,
    proxy: Option<FaultProxy>,
) -> tokio::task::JoinHandle<(Option<DynamoDbLocal>, Option<FaultProxy>)> {
    let kill_after = args.kill_store_after_secs.map(Duration::from_secs_f64);
    let drop_after = args.drop_store_after_secs.map(Duration::from_secs_f64);
    let slow = args.slow_store_ms.map(|ms| {
        (
            Duration::from_secs_f64(args.slow_store_after_secs),
            Duration::from_millis(ms),
        )
    });
    let outage = Duration::from_secs_f64(args.outage_secs);
    tokio::spawn(async move {
        let mut dynamodb = dynamodb;
        if let (Some(after), Some(local)) = (kill_after, dynamodb.as_mut()) {
            tokio::time::sleep(after).await;
            println!("fault: DynamoDB Local killed");
            local.stop();
            tokio::time::sleep(outage).await;
            local.restart().await;
            println!("fault: DynamoDB Local started again on the same data");
        }
        if let (Some(after), Some(proxy)) = (drop_after, proxy.as_ref()) {
            tokio::time::sleep(after).await;
            println!("fault: every connection to DynamoDB Local dropped");
            proxy.set_up(false);
            tokio::time::sleep(outage).await;
            proxy.set_up(true);
            println!("fault: DynamoDB Local reachable again");
        }
        if let (Some((after, delay)), Some(proxy)) = (slow, proxy.as_ref()) {
            tokio::time::sleep(after).await;
            println!("fault: DynamoDB Local slowed by {} ms", delay.as_millis());
            proxy.set_delay(delay);
            tokio::time::sleep(outage).await;
            proxy.set_delay(Duration::ZERO);
            println!("fault: DynamoDB Local fast again");
        }
        (dynamodb, proxy)
    })
}
