//! Delivering to what is registered with a running simulator (`insider-sim deliver --sim`): the
//! simulator holds the registered URL, credentials and subscriptions, so it is asked to deliver
//! (`POST /_sim/webhooks/{id}/deliver` or `/_sim/settings/{sub_product}/deliver`) and answers
//! with the summary.

use serde::Deserialize;

use super::{DeliverError, DeliverySummary, Traffic, check_http_url};
use crate::oauth::error_chain;
use crate::vocabulary::{Named, SubProduct};

/// Something registered with the simulator, to deliver to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    /// An active V2 webhook, by id: only its subscribed events are sent.
    Webhook(u64),
    /// The active settings of an API type, saved for `from` (the default sender when `None`).
    Settings {
        sub_product: SubProduct,
        from: Option<String>,
    },
}

impl Registered {
    fn deliver_path(&self) -> String {
        match self {
            Self::Webhook(id) => format!("/_sim/webhooks/{id}/deliver"),
            Self::Settings { sub_product, .. } => {
                format!("/_sim/settings/{}/deliver", sub_product.as_str())
            }
        }
    }

    fn query(&self) -> Option<(&'static str, &str)> {
        match self {
            Self::Settings {
                from: Some(from), ..
            } => Some(("from", from)),
            Self::Webhook(_) | Self::Settings { from: None, .. } => None,
        }
    }
}

/// The simulator's error body (`{"message": ...}`).
#[derive(Deserialize)]
struct SimulatorError {
    message: String,
}

/// Asks the simulator at `sim_url` (e.g. `http://127.0.0.1:4000`) to deliver `traffic` to
/// `target` with its registered credentials, and returns the summary it answers. The stream is
/// the one the same options give `deliver --to`; an unacknowledged delivery is in the summary,
/// not an error.
pub async fn through_simulator(
    sim_url: &str,
    target: &Registered,
    traffic: &Traffic,
) -> Result<DeliverySummary, DeliverError> {
    check_http_url("--sim", sim_url)?;
    traffic.check()?;
    let url = format!("{}{}", sim_url.trim_end_matches('/'), target.deliver_path());
    // No timeout: a large stream at a chosen rate takes as long as it takes.
    let http = reqwest::Client::builder().no_proxy().build()?;
    let mut request = http.post(&url).json(traffic);
    if let Some(query) = target.query() {
        request = request.query(&[query]);
    }
    let unreachable = |error: reqwest::Error| {
        DeliverError::Simulator(format!(
            "cannot reach the simulator at {url}: {}",
            error_chain(&error)
        ))
    };
    let response = request.send().await.map_err(unreachable)?;
    let status = response.status();
    let body = response.bytes().await.map_err(unreachable)?;
    if !status.is_success() {
        let message = serde_json::from_slice::<SimulatorError>(&body).map_or_else(
            |_| String::from_utf8_lossy(&body).into_owned(),
            |error| error.message,
        );
        return Err(DeliverError::Simulator(format!(
            "the simulator answered HTTP {}: {message}",
            status.as_u16()
        )));
    }
    serde_json::from_slice(&body).map_err(|error| {
        DeliverError::Simulator(format!(
            "the simulator's answer is not a delivery summary: {error}"
        ))
    })
}
