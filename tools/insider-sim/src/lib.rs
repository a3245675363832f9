//! A local Insider One, both directions.
//!
//! - [`server`]: the management side our project calls (gateway tokens, V2 webhook CRUD, V2 and
//!   V1 webhook settings), with the vendor's validation rules, its URL probe, soft deletes and
//!   account limits, plus test hooks (`/_sim/...`) for state, fault injection and delivery.
//! - [`deliver`]: the sending side: realistic, reproducible streams of webhook events POSTed to a
//!   receiver the way Insider One does, with bearer or OAuth 2.0 credentials and retries.
//!
//! Both run in-process for tests and from the `insider-sim` binary. Every call to a receiver
//! goes through [`outbound::client_builder`]: no proxy, no redirects followed.

pub mod clock;
pub mod deliver;
pub mod oauth;
pub mod outbound;
pub mod server;
pub mod vocabulary;
