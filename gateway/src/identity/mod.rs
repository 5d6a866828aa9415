//! Who a connection is: the kernel gives a cgroup id; this module turns it
//! into a cgroup path and the path into an identity through the operator's
//! bindings (config file plus `cordon bind`).

mod bindings;
mod cgroup2;
mod runtime_store;

pub use bindings::{exempt_cgroup_ids, Bindings, Resolution};
pub use cgroup2::Cgroup2;
pub use runtime_store::RuntimeBindings;
