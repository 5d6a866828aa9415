//! The `cordon` program with no statement judging at all (the engine's
//! `AllowAll` phases instead of the SQL policy): the "policy off" side of
//! `cargo xtask bench --only policy`, otherwise the same daemon.

use std::{process::ExitCode, sync::Arc};

fn main() -> ExitCode {
    cordon::app::main_with(Arc::new(cordon::engine::AllowAll))
}
