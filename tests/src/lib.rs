//! Support code for the cross-crate tests in `tests/tests/`.

pub mod api_gateway;
pub mod dynamodb_local;
pub mod fault_proxy;
pub mod logs;
pub mod manage;
pub mod moto;
pub mod oauth;
pub mod payloads;
pub mod stack;
pub mod stores;
pub mod supervised;
