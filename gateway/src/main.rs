use std::{process::ExitCode, sync::Arc};

fn main() -> ExitCode {
    cordon::app::main_with(Arc::new(cordon::policy::PolicyFactory))
}
