use std::{process::ExitCode, sync::Arc};

// Sessions allocate on their worker threads what the recorder thread frees; glibc's
// allocator serialises such frees on the arena lock. mimalloc frees across threads
// without a shared lock.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    cordon::app::main_with(Arc::new(cordon::policy::PolicyFactory))
}
