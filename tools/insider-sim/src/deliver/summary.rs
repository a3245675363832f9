//! What a run did: counts, the receiver's own totals, latency and throughput, every delivery and
//! event never acknowledged, and for tests what the store should now hold.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::payloads::{Delivery, StatusName};
use super::sender::WorkerStats;

/// Serialized as `--json` prints it and the simulator's deliver routes answer it; read back
/// (by `deliver --sim`), `event_ids` and `message_statuses`, which are not serialized, are empty.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliverySummary {
    pub target: String,
    /// The stream's seed: pass it again to send the same bytes.
    pub seed: u64,
    /// Deliveries sent (each once, however many attempts), duplicates included.
    pub sent: u64,
    pub acknowledged: u64,
    /// Deliveries never acknowledged.
    pub failed: u64,
    /// Attempts beyond the first, all deliveries together.
    pub retried: u64,
    pub duplicates_sent: u64,
    /// Events in all deliveries sent, duplicates included.
    pub events_sent: u64,
    /// Distinct events sent (the size of [`Self::event_ids`]).
    pub distinct_events: usize,
    /// Calls to the receiver's OAuth token endpoint.
    pub token_fetches: u64,
    pub receiver: ReceiverTotals,
    /// Answers by HTTP status, every attempt counted.
    pub responses: BTreeMap<u16, u64>,
    /// Attempts that got no HTTP answer (timeouts, refused or reset connections).
    pub transport_errors: u64,
    pub latency_ms: Latency,
    pub elapsed_ms: f64,
    /// Acknowledged deliveries per second.
    pub deliveries_per_sec: f64,
    /// Events of acknowledged deliveries per second.
    pub events_per_sec: f64,
    pub failures: Vec<FailedDelivery>,
    /// Events of failed deliveries that no other delivery (a duplicate) got acknowledged.
    pub unacknowledged_events: Vec<String>,
    /// Every distinct event sent, by identity (see [`super::EventInfo::identity`]).
    #[serde(skip)]
    pub event_ids: BTreeSet<String>,
    /// Per message id of ours, the statuses sent about it.
    #[serde(skip)]
    pub message_statuses: BTreeMap<String, MessageStatus>,
}

/// Totals from our receiver's `{"stored": N, "duplicates": M, "parked": true?}` answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiverTotals {
    pub stored: u64,
    pub duplicates: u64,
    /// Deliveries the receiver parked in its fallback queue (their events are stored later).
    #[serde(default)]
    pub parked: u64,
    /// Acknowledgements that carried those totals.
    pub reports: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FailedDelivery {
    /// Position in the stream.
    pub delivery: usize,
    pub error: String,
    pub events: Vec<String>,
}

/// The statuses sent about one message; `highest` on `accepted < sent < delivered < read`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MessageStatus {
    pub highest: Option<StatusName>,
    pub failed: bool,
}

pub(super) fn summarize(
    target: &str,
    seed: u64,
    deliveries: &[Delivery],
    mut stats: WorkerStats,
    token_fetches: u64,
    elapsed: Duration,
) -> DeliverySummary {
    let mut event_ids = BTreeSet::new();
    let mut message_statuses: BTreeMap<String, MessageStatus> = BTreeMap::new();
    for event in deliveries.iter().flat_map(|d| d.events.iter()) {
        event_ids.insert(event.identity.clone());
        if let Some((message, status)) = &event.status {
            let entry = message_statuses.entry(message.clone()).or_default();
            if status.progress_rank().is_some()
                && entry.highest.and_then(StatusName::progress_rank) < status.progress_rank()
            {
                entry.highest = Some(*status);
            }
            entry.failed |= *status == StatusName::Failed;
        }
    }
    let identities = |index: usize| deliveries[index].events.iter().map(|e| e.identity.clone());
    let acknowledged_events: BTreeSet<String> = stats
        .acknowledged
        .iter()
        .flat_map(|&i| identities(i))
        .collect();
    stats.failed.sort_unstable_by_key(|(index, _)| *index);
    let unacknowledged_events: BTreeSet<String> = stats
        .failed
        .iter()
        .flat_map(|&(i, _)| identities(i))
        .filter(|id| !acknowledged_events.contains(id))
        .collect();
    let acknowledged_event_count: usize = stats
        .acknowledged
        .iter()
        .map(|&i| deliveries[i].events.len())
        .sum();
    let seconds = elapsed.as_secs_f64().max(f64::EPSILON);
    DeliverySummary {
        target: target.to_owned(),
        seed,
        sent: deliveries.len() as u64,
        acknowledged: stats.acknowledged.len() as u64,
        failed: stats.failed.len() as u64,
        retried: stats.retried,
        duplicates_sent: deliveries.iter().filter(|d| d.duplicate).count() as u64,
        events_sent: deliveries.iter().map(|d| d.events.len() as u64).sum(),
        distinct_events: event_ids.len(),
        token_fetches,
        receiver: ReceiverTotals {
            stored: stats.stored,
            duplicates: stats.duplicates,
            parked: stats.parked,
            reports: stats.reports,
        },
        responses: stats.statuses,
        transport_errors: stats.transport_errors,
        latency_ms: latency(&mut stats.latencies_us),
        elapsed_ms: seconds * 1000.0,
        deliveries_per_sec: stats.acknowledged.len() as f64 / seconds,
        events_per_sec: acknowledged_event_count as f64 / seconds,
        failures: stats
            .failed
            .into_iter()
            .map(|(delivery, error)| FailedDelivery {
                delivery,
                error,
                events: identities(delivery).collect(),
            })
            .collect(),
        unacknowledged_events: unacknowledged_events.into_iter().collect(),
        event_ids,
        message_statuses,
    }
}

/// Nearest-rank percentiles, in milliseconds.
fn latency(micros: &mut [u64]) -> Latency {
    micros.sort_unstable();
    let at = |quantile: f64| -> f64 {
        if micros.is_empty() {
            return 0.0;
        }
        let rank = (quantile * micros.len() as f64).ceil() as usize;
        micros[rank.clamp(1, micros.len()) - 1] as f64 / 1000.0
    };
    Latency {
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        max: at(1.0),
    }
}

/// The failed deliveries (with their errors) listed in the human-readable summary; `--json` has
/// them all. The events never acknowledged are always listed in full.
const FAILURES_SHOWN: usize = 20;

impl fmt::Display for DeliverySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "delivered to {} (seed {})", self.target, self.seed)?;
        writeln!(
            f,
            "  sent {}  acknowledged {}  failed {}  retried {}  duplicates sent {}",
            self.sent, self.acknowledged, self.failed, self.retried, self.duplicates_sent
        )?;
        writeln!(
            f,
            "  events {} ({} distinct)  token fetches {}",
            self.events_sent, self.distinct_events, self.token_fetches
        )?;
        writeln!(
            f,
            "  receiver reported stored {}  duplicates {}  parked deliveries {}  (in {} answers)",
            self.receiver.stored,
            self.receiver.duplicates,
            self.receiver.parked,
            self.receiver.reports
        )?;
        let responses: Vec<String> = self
            .responses
            .iter()
            .map(|(status, n)| format!("{status}: {n}"))
            .collect();
        writeln!(
            f,
            "  responses {{{}}}  transport errors {}",
            responses.join(", "),
            self.transport_errors
        )?;
        let l = &self.latency_ms;
        writeln!(
            f,
            "  latency ms p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
            l.p50, l.p90, l.p99, l.max
        )?;
        writeln!(
            f,
            "  {:.0} ms, {:.0} deliveries/s, {:.0} events/s",
            self.elapsed_ms, self.deliveries_per_sec, self.events_per_sec
        )?;
        for failure in self.failures.iter().take(FAILURES_SHOWN) {
            let events = failure.events.len();
            writeln!(
                f,
                "  not acknowledged: delivery {} ({events} event{}): {}",
                failure.delivery,
                if events == 1 { "" } else { "s" },
                failure.error
            )?;
        }
        if self.failures.len() > FAILURES_SHOWN {
            writeln!(
                f,
                "  ... and {} more failed deliveries (see --json)",
                self.failures.len() - FAILURES_SHOWN
            )?;
        }
        // By id, one a line, every one: the list to replay or to look for in the store. Events
        // of a failed delivery whose duplicate copy was acknowledged are not in it.
        writeln!(
            f,
            "  events never acknowledged: {}",
            self.unacknowledged_events.len()
        )?;
        for event in &self.unacknowledged_events {
            writeln!(f, "    {event}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut micros: Vec<u64> = (1..=100).map(|ms| ms * 1000).collect();
        let l = latency(&mut micros);
        assert_eq!((l.p50, l.p90, l.p99, l.max), (50.0, 90.0, 99.0, 100.0));
        assert_eq!(latency(&mut []), Latency::default());
    }
}
