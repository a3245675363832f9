//! Request counting and fault injection: `POST /_sim/faults` makes the next N matching requests
//! fail, so tests exercise their client's retries; `DELETE /_sim/faults` clears what is left.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::errors::ApiError;
use super::registration::decode;
use super::state::SimState;
use super::{Sim, json_response};

/// The vendor routes, as counted and as faults name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    Token,
    List,
    Create,
    Update,
    Delete,
    Settings,
    V1,
}

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::List => "list",
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Settings => "settings",
            Self::V1 => "v1",
        }
    }

    /// Routes that save something, where a save failure can be injected.
    fn saves(self) -> bool {
        matches!(
            self,
            Self::Create | Self::Update | Self::Settings | Self::V1
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultRoute {
    Any,
    #[serde(untagged)]
    Only(Route),
}

impl FaultRoute {
    fn matches(self, route: Route) -> bool {
        self == Self::Any || self == Self::Only(route)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fault {
    pub route: FaultRoute,
    pub effect: FaultEffect,
    pub remaining: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultEffect {
    /// Answered before anything else, as a gateway in front of the service would.
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// The request passes every check and the probe, then saving fails (settings: 2012).
    SaveFailure,
}

/// `POST /_sim/faults` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultSpec {
    route: FaultRoute,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    save_failure: bool,
    #[serde(default = "one")]
    count: u32,
    #[serde(default)]
    retry_after: Option<u64>,
}

fn one() -> u32 {
    1
}

const FAULT_STATUSES: [u16; 5] = [429, 500, 502, 503, 504];

impl FaultSpec {
    fn into_fault(self) -> Result<Fault, String> {
        if self.count == 0 {
            return Err("count must be at least 1".into());
        }
        let effect = match (self.status, self.save_failure) {
            (Some(status), false) if FAULT_STATUSES.contains(&status) => FaultEffect::Status {
                // A 429 always says when to come back, as rate limiters do.
                retry_after: self.retry_after.or((status == 429).then_some(1)),
                status,
            },
            (Some(status), false) => {
                return Err(format!(
                    "status must be one of {FAULT_STATUSES:?}, got {status}"
                ));
            }
            (None, true) if self.retry_after.is_some() => {
                return Err("retry_after goes with status, not with save_failure".into());
            }
            (None, true) => match self.route {
                FaultRoute::Only(route) if !route.saves() => {
                    return Err(format!(
                        "the {} route saves nothing; save_failure applies to create, update, settings, v1 or any",
                        route.as_str()
                    ));
                }
                _ => FaultEffect::SaveFailure,
            },
            _ => return Err("give either status or save_failure: true".into()),
        };
        Ok(Fault {
            route: self.route,
            effect,
            remaining: self.count,
        })
    }
}

impl SimState {
    /// Uses up one matching fault of the kind `wanted` selects, oldest first.
    fn take_fault(
        &mut self,
        route: Route,
        wanted: impl Fn(&FaultEffect) -> bool,
    ) -> Option<FaultEffect> {
        let index = self
            .faults
            .iter()
            .position(|f| f.route.matches(route) && wanted(&f.effect))?;
        let fault = &mut self.faults[index];
        let effect = fault.effect;
        fault.remaining -= 1;
        if fault.remaining == 0 {
            self.faults.remove(index);
        }
        Some(effect)
    }

    /// True when an injected save failure applies to this save (and uses it up).
    pub fn take_save_failure(&mut self, route: Route) -> bool {
        self.take_fault(route, |e| *e == FaultEffect::SaveFailure)
            .is_some()
    }
}

impl Sim {
    /// Counts a request to `route` and answers an injected status fault, if one is pending.
    pub fn enter(&self, route: Route) -> Result<(), ApiError> {
        let mut state = self.lock();
        *state.requests.entry(route.as_str()).or_default() += 1;
        match state.take_fault(route, |e| matches!(e, FaultEffect::Status { .. })) {
            Some(FaultEffect::Status {
                status,
                retry_after,
            }) => {
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                Err(ApiError::Gateway {
                    status,
                    message: status
                        .canonical_reason()
                        .unwrap_or("injected fault")
                        .to_owned(),
                    retry_after,
                })
            }
            _ => Ok(()),
        }
    }
}

/// `POST /_sim/faults`.
pub async fn add(State(sim): State<Arc<Sim>>, body: axum::body::Bytes) -> Response {
    match decode::<FaultSpec>(&body)
        .map_err(|e| e.to_string())
        .and_then(FaultSpec::into_fault)
    {
        Ok(fault) => {
            let mut state = sim.lock();
            state.faults.push(fault);
            json_response(StatusCode::OK, &json!({ "faults": state.faults }))
        }
        Err(message) => ApiError::gateway(StatusCode::BAD_REQUEST, message).into_response(),
    }
}

/// `DELETE /_sim/faults`.
pub async fn clear(State(sim): State<Arc<Sim>>) -> Response {
    let cleared = std::mem::take(&mut sim.lock().faults).len();
    json_response(StatusCode::OK, &json!({ "cleared": cleared }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Result<Fault, String> {
        decode::<FaultSpec>(json.as_bytes())
            .map_err(|e| e.to_string())
            .and_then(FaultSpec::into_fault)
    }

    #[test]
    fn reads_routes_and_any() {
        let fault = spec(r#"{"route": "any", "status": 503, "count": 2}"#).unwrap();
        assert_eq!(fault.route, FaultRoute::Any);
        let fault = spec(r#"{"route": "v1", "status": 429}"#).unwrap();
        assert_eq!(fault.route, FaultRoute::Only(Route::V1));
        assert_eq!(
            fault.effect,
            FaultEffect::Status {
                status: 429,
                retry_after: Some(1)
            }
        );
    }

    #[test]
    fn refuses_meaningless_faults() {
        for bad in [
            r#"{"route": "list", "status": 404}"#,
            r#"{"route": "list", "save_failure": true}"#,
            r#"{"route": "create"}"#,
            r#"{"route": "create", "status": 500, "count": 0}"#,
            r#"{"route": "nowhere", "status": 500}"#,
        ] {
            assert!(spec(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn faults_are_used_up_in_order() {
        let mut state = SimState::default();
        state
            .faults
            .push(spec(r#"{"route": "create", "save_failure": true, "count": 2}"#).unwrap());
        assert!(!state.take_save_failure(Route::Update));
        assert!(state.take_save_failure(Route::Create));
        assert!(state.take_save_failure(Route::Create));
        assert!(!state.take_save_failure(Route::Create));
        assert!(state.faults.is_empty());
    }
}
