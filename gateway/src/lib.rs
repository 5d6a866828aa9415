//! Cordon: a transparent, identity-aware PostgreSQL gateway.
//!
//! Data path: eBPF redirects an agent's connect() to the gateway (`intercept`),
//! the gateway learns who connected from the kernel and the cgroup bindings
//! (`identity`), completes the client's startup itself (`session`, `protocol`),
//! logs in upstream with its own credential (`upstream`) and relays.

pub mod admin;
pub mod app;
pub mod audit;
pub mod audit_cli;
pub mod cli;
pub mod client_tls;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod identity;
pub mod intercept;
pub mod masking;
pub mod policy;
pub mod protocol;
pub mod rlimit;
pub mod server;
pub mod session;
pub mod sessions;
pub mod state;
pub mod stream;
pub mod upstream;
pub mod workers;
