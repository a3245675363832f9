//! The simulator over real HTTP: its management API against the vendor's rules, and its sender
//! against a scripted receiver. Every server listens on a free loopback port and stops at the
//! end of its test.

mod cli;
mod deliver;
mod faults;
mod gateway;
mod payloads;
mod settings;
mod support;
mod webhooks;
