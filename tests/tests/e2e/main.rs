//! The cross-crate tests that can share a process, in one test binary: each file is a module, so
//! `cargo test -p e2e-tests --test e2e oauth::` runs one of them. One binary instead of one per
//! file links the workspace once instead of nineteen times (each link is about 80 MB with the
//! AWS SDKs), which keeps a fresh build's disk and time down, and its tests share one DynamoDB
//! Local (`e2e_tests::dynamodb_local::shared`).
//!
//! The files beside this folder stay binaries of their own because they need a process to
//! themselves: they capture log lines (tracing caches per call site whether anyone listens, and
//! tests in other threads would make it skip lines), install the process-wide metrics collector,
//! or prove what the shared DynamoDB Local does per process.

mod client_store_contract;
mod console_browser;
mod downstream_events;
mod fallback;
mod lambda_events;
mod local_stack;
mod manage_client;
mod manage_config;
mod manage_credentials;
mod manage_end_to_end;
mod manage_lambda;
mod manage_validation;
mod manage_vendor_errors;
mod oauth;
mod query_routes;
mod raw_claim_check;
mod store_budget;
mod store_contract;
mod trusted_issuers;
