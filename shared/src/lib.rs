//! Everything the Lambdas and the local stack share. The folders mirror the architecture:
//! `domain` is pure, `store`, `auth`, `insider`, `publish` and `fallback` are ports with their
//! adapters, `ingest` (a delivery into the store, or parked and drained later), `management`
//! (the `/manage/...` routes) and `replay` (stored events published again) are the use cases,
//! `http` holds the handlers every entry point runs, and `config`/`telemetry` are read once per
//! cold start.

pub mod auth;
pub mod clock;
pub mod config;
pub mod domain;
pub mod fallback;
pub mod http;
pub mod ingest;
pub mod insider;
pub mod lambda;
pub mod management;
pub mod publish;
pub mod replay;
pub mod stalled;
pub mod store;
pub mod telemetry;
