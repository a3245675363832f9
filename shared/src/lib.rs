//! Everything the Lambdas and the local stack share. The folders mirror the architecture:
//! `domain` is pure, `store`, `auth`, `insider` and `publish` are ports with their adapters,
//! `management` is the use case of the `/manage/...` routes, `http` holds the handlers every
//! entry point runs, and `config`/`telemetry` are read once per cold start.

pub mod auth;
pub mod clock;
pub mod config;
pub mod domain;
pub mod http;
pub mod insider;
pub mod lambda;
pub mod management;
pub mod publish;
pub mod store;
pub mod telemetry;
