//! Session workers: one thread per worker, each running its own
//! single-threaded runtime (its own epoll). A session lives on one worker from
//! accept to close, so relaying a message never wakes another thread; sessions
//! are dealt to workers in turn.

use std::{
    future::Future,
    io,
    sync::atomic::{AtomicUsize, Ordering},
};

use tokio::runtime::Handle;

pub struct Workers {
    handles: Vec<Handle>,
    next: AtomicUsize,
}

impl Workers {
    /// Starts `count` worker threads (at least one); they run until the
    /// process exits.
    pub fn start(count: usize) -> io::Result<Self> {
        let mut handles = Vec::with_capacity(count.max(1));
        for index in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(runtime.handle().clone());
            std::thread::Builder::new()
                .name(format!("cordon-worker-{index}"))
                .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
        }
        Ok(Self {
            handles,
            next: AtomicUsize::new(0),
        })
    }

    pub fn count(&self) -> usize {
        self.handles.len()
    }

    /// Runs `session()` on the next worker. It is called there, so the sockets
    /// it registers belong to that worker's reactor.
    pub fn spawn<F, Fut>(&self, session: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        self.handles[index].spawn(async move { session().await });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_dealt_to_workers_in_turn() {
        let workers = Workers::start(2).unwrap();
        assert_eq!(workers.count(), 2);
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..4 {
            let tx = tx.clone();
            workers.spawn(move || async move {
                let name = std::thread::current().name().map(str::to_owned);
                tx.send(name).unwrap();
            });
        }
        let mut names: Vec<_> = (0..4)
            .map(|_| {
                rx.recv_timeout(std::time::Duration::from_secs(5))
                    .unwrap()
                    .unwrap()
            })
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "cordon-worker-0",
                "cordon-worker-0",
                "cordon-worker-1",
                "cordon-worker-1"
            ]
        );
        assert_eq!(Workers::start(0).unwrap().count(), 1, "at least one worker");
    }
}
