//! Running child processes with a deadline and captured output, so a hung client or
//! daemon fails a test instead of hanging the run.

use std::{
    fmt,
    io::Read,
    process::{Child, Command, Stdio},
    thread::JoinHandle,
    time::{Duration, Instant},
};

/// Sends `signal` to `pid`, panicking (with the errno) if it cannot be sent.
#[track_caller]
pub fn send_signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    let rc = unsafe { libc::kill(pid as libc::pid_t, signal) };
    assert_eq!(
        rc,
        0,
        "kill -{signal} {pid}: {}",
        std::io::Error::last_os_error()
    );
}

/// What a finished (or killed) child left behind.
#[derive(Clone)]
pub struct Output {
    /// Exit code; `None` when a signal ended it (including our own kill on timeout).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    pub elapsed: Duration,
    pub pid: u32,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Panics with everything the child said unless it exited 0.
    #[track_caller]
    pub fn expect_success(&self, what: &str) -> &Self {
        assert!(self.success(), "{what} failed: {self}");
        self
    }

    /// Panics unless the child exited non-zero (on its own, not by our timeout).
    #[track_caller]
    pub fn expect_failure(&self, what: &str) -> &Self {
        assert!(
            !self.success() && !self.timed_out,
            "{what} should have failed: {self}"
        );
        self
    }

    /// stdout, trimmed.
    pub fn out(&self) -> &str {
        self.stdout.trim()
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pid {} exit {:?}{} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.pid,
            self.code,
            if self.timed_out {
                " (killed: timed out)"
            } else {
                ""
            },
            self.elapsed,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A running child whose stdout and stderr are being collected.
pub struct Running {
    child: Child,
    started: Instant,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

impl Running {
    /// Spawns `cmd` with stdin closed and stdout/stderr captured.
    pub fn spawn(cmd: &mut Command) -> Self {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {:?}: {e}", cmd.get_program()));
        let stdout = child.stdout.take().map(collect);
        let stderr = child.stderr.take().map(collect);
        Self {
            child,
            started: Instant::now(),
            stdout,
            stderr,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the child is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the child, killing it if it runs past `timeout`.
    pub fn wait(mut self, timeout: Duration) -> Output {
        let deadline = self.started + timeout;
        let mut timed_out = false;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => {
                    timed_out = true;
                    let _ = self.child.kill();
                    break self.child.wait().expect("wait for killed child");
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => panic!("waiting for child: {e}"),
            }
        };
        let elapsed = self.started.elapsed();
        Output {
            code: status.code(),
            stdout: self.stdout.take().map(join).unwrap_or_default(),
            stderr: self.stderr.take().map(join).unwrap_or_default(),
            timed_out,
            elapsed,
            pid: self.child.id(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn collect(mut reader: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = reader.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// A grandchild that inherited the pipe can keep it open after the child exits: wait a
/// little for the reader, then give up on it rather than hang.
fn join(handle: JoinHandle<String>) -> String {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !handle.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    if handle.is_finished() {
        handle.join().unwrap_or_default()
    } else {
        "<output still open by a descendant; not collected>".into()
    }
}

/// Runs `cmd` to completion (killed after `timeout`), capturing its output.
pub fn run(cmd: &mut Command, timeout: Duration) -> Output {
    Running::spawn(cmd).wait(timeout)
}
