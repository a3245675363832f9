//! Support code for the cross-crate tests in `tests/tests/`.

pub mod dynamodb_local;
pub mod fault_proxy;
pub mod gateway;
pub mod logs;
pub mod manage;
pub mod oauth;
pub mod payloads;
pub mod stack;
pub mod stores;
