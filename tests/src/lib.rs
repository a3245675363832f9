//! Support code for the cross-crate tests in `tests/tests/` and the programs in `src/bin/`.

pub mod browser;
pub mod capacity_proxy;
pub mod console_story;
pub mod dynamodb_local;
pub mod fault_proxy;
pub mod gateway;
pub mod hostile;
pub mod issuer;
pub mod logs;
pub mod manage;
pub mod moto;
pub mod oauth;
pub mod payloads;
pub mod raw_http;
pub mod readback;
pub mod stack;
pub mod stores;
pub mod supervised;
