//! The gateway's memory under the two loads, shared by the end-to-end test
//! (which asserts the targets) and `cargo xtask bench` (which reports them):
//!
//! - many idle sessions: the daemon's growth per session, from smaps_rollup
//!   before the sessions exist and while they are all open;
//! - one large result: the daemon's peak resident growth while about 1 GiB passes
//!   through it to a client that throws it away as it arrives.
//!
//! Each measurement restarts the daemon first: memory an earlier load freed stays
//! in the process and would hide the next load's growth.

use std::{
    fmt,
    io::{BufRead, BufReader, Read},
    process::{Child, ChildStdin, Stdio},
    sync::mpsc,
    thread::JoinHandle,
    time::{Duration, Instant},
};

use crate::{
    clients::{clean_pg_env, probe_command},
    process::run,
    procmem::{Footprint, PeakSampler, Resident},
    scenario::Scenario,
};

/// The bound on the daemon's memory per idle session.
pub const SESSION_TARGET_KIB: f64 = 64.0;
/// The bound on the daemon's resident growth during a 1 GB result.
pub const LARGE_RESULT_TARGET_MB: f64 = 50.0;
/// Rows of 1 KiB each; 1,048,576 of them make 1 GiB of column values.
pub const ROW_BYTES: u64 = 1024;
pub const GIB_ROWS: u64 = 1 << 20;

/// PostgreSQL's `max_connections` for a scenario that holds `sessions` at once
/// (room for the warm-up, the fixture's own connections and a margin).
pub fn max_connections_for(sessions: usize) -> u32 {
    sessions as u32 + 100
}

const KIB: f64 = 1024.0;
const MB: f64 = 1_000_000.0;
/// Sequential sessions before the baseline, dealt to the workers in turn, so the
/// one-off costs of a first session (a worker's allocator arena, lazily built
/// state) are not counted against the sessions measured.
const WARM_UP_SESSIONS: usize = 4;
/// How often the large-result measurement samples VmRSS.
const SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// The daemon's memory before and while `count` idle sessions were open.
#[derive(Clone, Debug)]
pub struct IdleSessions {
    pub count: usize,
    pub tls: bool,
    pub before: Footprint,
    pub after: Footprint,
    /// How long the client took to open them all (and run `SELECT 1` on each).
    pub open_time: Duration,
}

impl IdleSessions {
    /// Growth per session in KiB: (after - before) / count, field by field.
    pub fn per_session_kib(&self) -> [(&'static str, f64); 4] {
        let growth = self.after.since(&self.before);
        let per = |kib: i64| kib as f64 / self.count as f64;
        [
            ("Rss", per(growth.rss)),
            ("Pss", per(growth.pss)),
            ("Private_Dirty", per(growth.private_dirty)),
            ("Anonymous", per(growth.anonymous)),
        ]
    }

    /// The figure judged against the target: the largest of the four growths
    /// (resident memory as `top` shows it, and the private anonymous part).
    pub fn judged_kib(&self) -> f64 {
        self.per_session_kib()
            .iter()
            .map(|(_, kib)| *kib)
            .fold(f64::MIN, f64::max)
    }
}

impl fmt::Display for IdleSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.tls { "TLS" } else { "plain" };
        let per_session: Vec<String> = self
            .per_session_kib()
            .iter()
            .map(|(name, kib)| format!("{name} {kib:.1} KiB"))
            .collect();
        write!(
            f,
            "{} idle {kind} sessions (opened in {:.1} s): per session {} \
             (daemon Rss {} -> {} KiB, Anonymous {} -> {} KiB)",
            self.count,
            self.open_time.as_secs_f64(),
            per_session.join(", "),
            self.before.rss,
            self.after.rss,
            self.before.anonymous,
            self.after.anonymous
        )
    }
}

/// Opens `count` idle sessions from the agent cgroup (TLS from the client when
/// `tls`), measures the daemon, checks that the gateway really holds them all, and
/// closes them again.
#[track_caller]
pub fn idle_sessions(s: &mut Scenario, count: usize, tls: bool) -> IdleSessions {
    let pid = fresh_gateway(s);
    let before = Footprint::of(pid);
    let started = Instant::now();
    let held = HeldSessions::open(s, count, tls);
    let open_time = started.elapsed();
    // Measured before `cordon status` runs: listing the sessions costs memory too.
    let after = Footprint::of(pid);
    let status = s.gateway.status_json();
    let sessions = status["sessions"].as_array().cloned().unwrap_or_default();
    let held_here = sessions
        .iter()
        .filter(|v| v["pid"].as_u64() == Some(u64::from(held.pid())))
        .filter(|v| v["client_tls"].as_bool() == Some(tls))
        .count();
    assert_eq!(
        held_here,
        count,
        "the gateway should hold {count} sessions of pg-hold (pid {}, client TLS {tls}); \
         `cordon status --json` lists {} sessions in all",
        held.pid(),
        sessions.len()
    );
    held.close();
    IdleSessions {
        count,
        tls,
        before,
        after,
        open_time,
    }
}

/// How the large result reaches the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResultPath {
    /// A SELECT through the extended protocol: one DataRow message per row.
    Rows,
    /// COPY ... TO STDOUT: CopyData messages.
    Copy,
}

impl fmt::Display for ResultPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResultPath::Rows => "SELECT (DataRow)",
            ResultPath::Copy => "COPY TO STDOUT (CopyData)",
        })
    }
}

/// The daemon's resident memory around one large result.
#[derive(Clone, Debug)]
pub struct LargeResult {
    pub path: ResultPath,
    /// What the client counted: column values (rows) or COPY data.
    pub bytes: u64,
    /// DataRow or CopyData messages the client received.
    pub messages: u64,
    /// The client's time from sending the query to the last byte.
    pub elapsed: Duration,
    /// VmRSS before the query, KiB.
    pub baseline_kib: u64,
    /// The largest VmRSS sampled during the transfer, KiB.
    pub sampled_peak_kib: u64,
    pub samples: usize,
    /// VmHWM before and after, KiB: catches a peak between two samples.
    pub hwm_before_kib: u64,
    pub hwm_after_kib: u64,
}

impl LargeResult {
    /// Peak resident growth over the baseline, in MB: the sampled peak, or the
    /// high-water mark when the transfer raised it.
    pub fn peak_growth_mb(&self) -> f64 {
        let mut peak = self.sampled_peak_kib;
        if self.hwm_after_kib > self.hwm_before_kib {
            peak = peak.max(self.hwm_after_kib);
        }
        peak.saturating_sub(self.baseline_kib) as f64 * KIB / MB
    }

    pub fn throughput_mb_s(&self) -> f64 {
        self.bytes as f64 / MB / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for LargeResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {:.2} GB in {} messages, {:.1} s ({:.0} MB/s); daemon peak growth {:.1} MB \
             (VmRSS {} KiB before, sampled peak {} KiB over {} samples; VmHWM {} -> {} KiB)",
            self.path,
            self.bytes as f64 / 1e9,
            self.messages,
            self.elapsed.as_secs_f64(),
            self.throughput_mb_s(),
            self.peak_growth_mb(),
            self.baseline_kib,
            self.sampled_peak_kib,
            self.samples,
            self.hwm_before_kib,
            self.hwm_after_kib
        )
    }
}

/// Streams `rows` rows of [`ROW_BYTES`] from the agent cgroup through the gateway
/// to a client that discards them, sampling the daemon's VmRSS meanwhile.
#[track_caller]
pub fn large_result(s: &mut Scenario, path: ResultPath, rows: u64) -> LargeResult {
    let select = format!("SELECT repeat('x', {ROW_BYTES}) FROM generate_series(1, {rows})");
    let (how, sql) = match path {
        ResultPath::Rows => ("rows", select),
        ResultPath::Copy => ("copy", format!("COPY ({select}) TO STDOUT")),
    };
    let pid = fresh_gateway(s);
    let before = Resident::of(pid).expect("the gateway is running");
    let sampler = PeakSampler::start(pid, SAMPLE_EVERY);
    let conninfo = s.conninfo("127.0.0.1");
    let port = conninfo.port.to_string();
    let password = conninfo.password.clone().unwrap_or_default();
    let args = [
        "--stream",
        how,
        &conninfo.host,
        &port,
        &conninfo.user,
        &password,
        &conninfo.dbname,
        &sql,
    ];
    let out = run(
        &mut probe_command(&s.agent, &args),
        Duration::from_secs(300),
    );
    let peak = sampler.stop();
    let after = Resident::of(pid).expect("the gateway survived the transfer");
    out.expect_success(&format!("pg-probe --stream {how}"));
    let field = |name: &str| {
        crate::clients::probe_field(&out, name)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("pg-probe printed no {name}=: {out}"))
    };
    LargeResult {
        path,
        bytes: field("bytes"),
        messages: field("messages"),
        elapsed: Duration::from_millis(field("elapsed_ms")),
        baseline_kib: before.rss,
        sampled_peak_kib: peak.rss,
        samples: peak.samples,
        hwm_before_kib: before.hwm,
        hwm_after_kib: after.hwm,
    }
}

/// Restarts the daemon, runs the warm-up sessions, waits until none is left;
/// returns the daemon's pid.
#[track_caller]
fn fresh_gateway(s: &mut Scenario) -> u32 {
    s.gateway.restart();
    let conninfo = s.conninfo("127.0.0.1");
    for _ in 0..WARM_UP_SESSIONS {
        crate::clients::probe_sql(&s.agent, &conninfo, "SELECT 1").expect_success("warm-up");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = s.gateway.status_json();
        if status["sessions"].as_array().is_some_and(|a| a.is_empty()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "warm-up sessions still open after 10 s: {status}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    s.gateway.pid().expect("the gateway is running")
}

/// `pg-hold` in the agent cgroup, holding its sessions until closed.
struct HeldSessions {
    count: usize,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    stdout: Vec<String>,
    stderr: Option<JoinHandle<String>>,
}

impl HeldSessions {
    /// Starts pg-hold and waits for `ready COUNT`.
    #[track_caller]
    fn open(s: &Scenario, count: usize, tls: bool) -> Self {
        let conninfo = s.conninfo("127.0.0.1");
        let mut cmd = s.agent.command(crate::hold_bin());
        clean_pg_env(&mut cmd);
        if tls {
            cmd.arg("--tls");
        }
        cmd.arg(count.to_string())
            .args([&conninfo.host, &conninfo.port.to_string(), &conninfo.user])
            .arg(conninfo.password.as_deref().unwrap_or_default())
            .arg(&conninfo.dbname)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawning pg-hold");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr = child.stderr.take().expect("piped stderr");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let mut held = Self {
            count,
            stderr: Some(stderr),
            stdin: child.stdin.take(),
            child,
            lines,
            stdout: Vec::new(),
        };
        let expected = format!("ready {count} ");
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match held.lines.recv_timeout(left) {
                Ok(line) => {
                    let ready = line.starts_with(&expected);
                    held.stdout.push(line);
                    if ready {
                        return held;
                    }
                }
                Err(_) => held.fail(&format!("pg-hold did not print `ready {count}`")),
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes stdin; pg-hold checks every session once more and exits.
    #[track_caller]
    fn close(mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                break status;
            }
            if Instant::now() >= deadline {
                self.fail("pg-hold did not exit within 60 s of its stdin closing");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The reader may still hold the last lines: wait for its end of file.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.stdout.push(line);
        }
        let alive = format!("alive {}", self.count);
        if !status.success() || !self.stdout.contains(&alive) {
            self.fail(&format!(
                "pg-hold should have ended with `{alive}` and exit 0 ({status})"
            ));
        }
    }

    #[track_caller]
    fn fail(&mut self, what: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stdout.extend(self.lines.try_iter());
        let stderr = self
            .stderr
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        panic!(
            "{what}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout.join("\n"),
            stderr.trim_end()
        );
    }
}

impl Drop for HeldSessions {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
