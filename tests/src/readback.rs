//! Reading a store back and comparing it with what the Insider One simulator sent: the proof of
//! the `load` program and of the tests that deliver a simulated stream.

use insider_sim::deliver::DeliverySummary;
use shared::domain::query::{EventFilter, EventScope, PageRequest, Window};
use shared::store::{ListEvents, ReadMessage};

/// Both stores, read back through the operations the query routes use.
pub trait ReadBack: ReadMessage + ListEvents {}
impl<T: ReadMessage + ListEvents> ReadBack for T {}

/// Everything that differs between the store and what the simulator sent.
pub async fn check_store(store: &dyn ReadBack, summary: &DeliverySummary) -> Vec<String> {
    let mut problems = Vec::new();
    if !summary.unacknowledged_events.is_empty() {
        problems.push(format!(
            "{} events were never acknowledged",
            summary.unacknowledged_events.len()
        ));
    }
    match count_events(store).await {
        Ok(stored) if stored == summary.distinct_events => {}
        Ok(stored) => problems.push(format!(
            "{stored} events stored, {} distinct events sent",
            summary.distinct_events
        )),
        Err(error) => problems.push(format!("listing the store failed: {error}")),
    }
    for (message_id, sent) in &summary.message_statuses {
        let record = match store.read_message(message_id).await {
            Ok(Some(record)) => record,
            Ok(None) => {
                problems.push(format!("{message_id}: nothing stored"));
                continue;
            }
            Err(error) => {
                problems.push(format!("{message_id}: {error}"));
                continue;
            }
        };
        let state = record.state.unwrap_or_default();
        let stored_status = state.progress.as_ref().map(|s| s.as_str().to_owned());
        let sent_status = sent
            .highest
            .map(|s| serde_json::to_value(s).expect("a status name serializes"))
            .and_then(|v| v.as_str().map(str::to_owned));
        if stored_status != sent_status || state.failed != sent.failed {
            problems.push(format!(
                "{message_id}: stored {stored_status:?} (failed: {}), sent {sent_status:?} (failed: {})",
                state.failed, sent.failed
            ));
        }
    }
    problems
}

/// Every stored event, counted by listing the store window by window, page by page, as an
/// operator's export would.
async fn count_events(store: &dyn ReadBack) -> Result<usize, shared::store::StoreError> {
    // The simulator writes June 2024 timestamps (plus a month); events without one are listed at
    // their arrival, today.
    let first = 1_714_521_600; // 2024-05-01
    let last = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
        + 86_400;
    let mut stored = 0;
    let mut since = first;
    while since < last {
        let until = (since + shared::domain::query::MAX_WINDOW_SECS).min(last);
        let scope = EventScope::Window(Window::new(since, until).expect("a valid window"));
        let mut page = PageRequest {
            after: None,
            limit: 1000,
        };
        loop {
            let listed = store
                .list_events(&scope, &EventFilter::default(), &page)
                .await?;
            stored += listed.events.len();
            match listed.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        since = until;
    }
    Ok(stored)
}
