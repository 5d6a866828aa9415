//! The daemon's admin interface: a root-only Unix socket speaking one JSON
//! request and one JSON response per line. The CLI's `status`, `bind`,
//! `unbind` and `reload` use it.

mod client;
mod protocol;
mod server;
mod status;

pub use client::request;
pub use protocol::{Request, Response};
pub use server::serve;
pub use status::{BindingView, Status};
