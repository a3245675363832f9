//! The per-event work of the receiver on every payload of `tests/fixtures/insider/` (the vendor's
//! documented families): parse, classify (status changes), build the DynamoDB items; and, on the
//! same bytes, the webhook model of the public `whatsapp` crate (Meta's Cloud API envelopes).
//!
//! ```sh
//! cargo bench -p shared --bench per_event
//! ```
//! It prints first which payloads the peer cannot parse at all; those are left out of the
//! side-by-side groups, where both parse the same bytes.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shared::domain::{SubProduct, parse_delivery, status_changes};
use shared::store::StoredEvent;
use shared::store::dynamo::event_item;
use whatsapp::models::webhooks::NotificationPayload;

struct Payload {
    name: String,
    bytes: Vec<u8>,
}

fn payloads() -> Vec<Payload> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/insider");
    let mut payloads: Vec<Payload> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .map(|entry| entry.expect("fixture folder entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| Payload {
            name: path.file_stem().unwrap().to_string_lossy().into_owned(),
            bytes: std::fs::read(&path).unwrap(),
        })
        .collect();
    payloads.sort_by(|a, b| a.name.cmp(&b.name));
    payloads
}

fn peer_parses(bytes: &[u8]) -> bool {
    serde_json::from_slice::<NotificationPayload>(bytes).is_ok()
}

/// Everything the receiver does to a delivery before talking to DynamoDB.
fn receiver_work(bytes: &[u8]) -> usize {
    let events = parse_delivery(bytes).expect("every fixture parses");
    let changes = status_changes(&events);
    let stored: Vec<StoredEvent> = events
        .into_iter()
        .map(|event| StoredEvent::new(event, SubProduct::Conversational, 1_795_000_000_000))
        .collect();
    let items: usize = stored
        .iter()
        .map(|e| event_item(e, Duration::from_secs(86_400)).len())
        .sum();
    items + changes.len()
}

fn bench_set(c: &mut Criterion, group_name: &str, set: &[&Payload], with_peer: bool) {
    let bytes: u64 = set.iter().map(|p| p.bytes.len() as u64).sum();
    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("ours: parse", |b| {
        b.iter(|| {
            for payload in set {
                black_box(parse_delivery(black_box(&payload.bytes)).unwrap());
            }
        })
    });
    group.bench_function("ours: parse + classify + items", |b| {
        b.iter(|| {
            for payload in set {
                black_box(receiver_work(black_box(&payload.bytes)));
            }
        })
    });
    if with_peer {
        group.bench_function("peer whatsapp 0.8: parse", |b| {
            b.iter(|| {
                for payload in set {
                    black_box(
                        serde_json::from_slice::<NotificationPayload>(black_box(&payload.bytes))
                            .unwrap(),
                    );
                }
            })
        });
    }
    group.finish();
}

fn per_event(c: &mut Criterion) {
    let payloads = payloads();
    let (parsable, refused): (Vec<&Payload>, Vec<&Payload>) =
        payloads.iter().partition(|p| peer_parses(&p.bytes));
    println!(
        "peer whatsapp 0.8 parses {} of {} payloads; it cannot parse: {}",
        parsable.len(),
        payloads.len(),
        refused
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let all: Vec<&Payload> = payloads.iter().collect();
    bench_set(c, "all payloads", &all, false);
    bench_set(c, "payloads both parse", &parsable, true);
    for name in ["status_delivered", "reply_text", "multi_entry_batch"] {
        let one: Vec<&Payload> = parsable
            .iter()
            .copied()
            .filter(|p| p.name == name)
            .collect();
        if !one.is_empty() {
            bench_set(c, name, &one, true);
        }
    }
}

criterion_group!(benches, per_event);
criterion_main!(benches);
