//! A Cordon daemon for one test: its own configuration (unique pin directory, listen
//! port, state directory and admin socket), its log in a file, and on drop no process,
//! attached program or pin left behind (`cordon detach`).

use std::{
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::{
    logfile,
    postgres::TestPostgres,
    process::{run, Output},
    tempdir::TempDir,
};

/// Where tests pin their programs: a bpffs directory per gateway.
pub const BPFFS: &str = "/sys/fs/bpf";
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// One `[[endpoint]]`.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub name: String,
    pub addresses: Vec<String>,
    pub tls: String,
    /// Extra `key = "value"` lines for the table (tls_ca, tls_server_name).
    pub extra: Vec<(String, String)>,
}

/// Builds a configuration and starts a daemon on it.
#[derive(Clone, Debug, Default)]
pub struct GatewayBuilder {
    endpoints: Vec<Endpoint>,
    credentials: Vec<(String, String)>,
    credential_files: Vec<(String, String)>,
    identities: Vec<(String, String, Vec<String>)>,
    binds: Vec<(String, String)>,
    exempts: Vec<(String, String)>,
    startup_timeout_secs: Option<u64>,
    extra: String,
    launcher: Vec<String>,
    program: Option<PathBuf>,
    /// `[[allow]]`/`[[deny]]` rules; `None` allows everything (tests of
    /// other features than the policy).
    policy: Option<String>,
}

/// The policy of tests that are not about the policy: every identity may do
/// everything a rule can allow (the built-in baseline still applies).
pub const ALLOW_EVERYTHING: &str = r#"
[[allow]]
name = "tests-allow-everything"
identities = ["*"]
actions = ["all"]
objects = ["*"]
functions = ["*"]
languages = ["plpgsql", "sql"]
fast_path_calls = true
"#;

impl GatewayBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Protects `pg` at 127.0.0.1, 127.0.0.2 (a stand-in for a remote host) and ::1.
    pub fn endpoint_for(self, pg: &TestPostgres) -> Self {
        let port = pg.port();
        let tls = if pg.ssl() { "require" } else { "disable" };
        self.endpoint(
            "main",
            &[
                &format!("127.0.0.1:{port}"),
                &format!("127.0.0.2:{port}"),
                &format!("[::1]:{port}"),
            ],
            tls,
        )
    }

    pub fn endpoint(mut self, name: &str, addresses: &[&str], tls: &str) -> Self {
        self.endpoints.push(Endpoint {
            name: name.into(),
            addresses: addresses.iter().map(|a| a.to_string()).collect(),
            tls: tls.into(),
            extra: Vec::new(),
        });
        self
    }

    /// Adds `key = "value"` to the last `[[endpoint]]`.
    pub fn endpoint_setting(mut self, key: &str, value: &str) -> Self {
        let endpoint = self.endpoints.last_mut().expect("an endpoint to add to");
        endpoint.extra.push((key.into(), value.into()));
        self
    }

    /// A `[[credential]]` with an inline password.
    pub fn credential(mut self, role: &str, password: &str) -> Self {
        self.credentials.push((role.into(), password.into()));
        self
    }

    /// A `[[credential]]` whose password lives in a 0600 file next to the config.
    pub fn credential_file(mut self, role: &str, password: &str) -> Self {
        self.credential_files.push((role.into(), password.into()));
        self
    }

    pub fn identity(mut self, name: &str, role: &str, groups: &[&str]) -> Self {
        self.identities.push((
            name.into(),
            role.into(),
            groups.iter().map(|g| g.to_string()).collect(),
        ));
        self
    }

    /// `[[bind]] cgroup = PATH, identity = NAME`.
    pub fn bind(mut self, cgroup: &str, identity: &str) -> Self {
        self.binds.push((cgroup.into(), identity.into()));
        self
    }

    /// `[[exempt]] cgroup = PATH, reason = ...`.
    pub fn exempt(mut self, cgroup: &str, reason: &str) -> Self {
        self.exempts.push((cgroup.into(), reason.into()));
        self
    }

    pub fn startup_timeout_secs(mut self, secs: u64) -> Self {
        self.startup_timeout_secs = Some(secs);
        self
    }

    /// Runs the daemon through this command (e.g. `setpriv ... --`).
    pub fn launcher(mut self, command: &[&str]) -> Self {
        self.launcher = command.iter().map(|c| c.to_string()).collect();
        self
    }

    /// Runs this program instead of `cordon` (e.g. `cordon-test-phases`).
    pub fn program(mut self, program: PathBuf) -> Self {
        self.program = Some(program);
        self
    }

    /// Judges statements with these rules instead of allowing everything.
    pub fn policy(mut self, toml: &str) -> Self {
        self.policy = Some(toml.to_owned());
        self
    }

    /// Raw TOML appended to the generated file.
    pub fn extra_toml(mut self, toml: &str) -> Self {
        self.extra.push_str(toml);
        self
    }

    /// Writes the configuration without starting anything.
    pub fn write(self) -> TestGateway {
        let dir = TempDir::new("cordon-gw");
        let listen_port = crate::free_port();
        let pin_dir = PathBuf::from(BPFFS).join(crate::unique_name("cordon-test"));
        let mut gw = TestGateway {
            config_path: dir.path().join("cordon.toml"),
            log_path: dir.path().join("cordon.log"),
            dir,
            pin_dir,
            listen_port,
            child: None,
            pids: Vec::new(),
            config_text: String::new(),
            launcher: self.launcher.clone(),
            program: self.program.clone().unwrap_or_else(crate::cordon_bin),
        };
        gw.config_text = self.render(&gw);
        fs::write(&gw.config_path, &gw.config_text).expect("writing the gateway config");
        gw
    }

    /// Writes the configuration and runs the daemon expecting it to stop on
    /// its own (a start-up failure); returns what it said.
    pub fn run_to_exit(self, timeout: Duration) -> (TestGateway, Output) {
        crate::require_root();
        let gw = self.write();
        let out = run(&mut gw.command(), timeout);
        (gw, out)
    }

    /// Writes the configuration, starts the daemon and waits until it is ready.
    pub fn start(self) -> TestGateway {
        crate::require_root();
        let mut gw = self.write();
        gw.spawn();
        gw
    }

    fn render(&self, gw: &TestGateway) -> String {
        let dir = gw.dir.path();
        let mut t = String::new();
        let _ = writeln!(t, "[gateway]");
        let _ = writeln!(t, "listen_port = {}", gw.listen_port);
        let _ = writeln!(
            t,
            "state_dir = {}",
            q(&dir.join("state").display().to_string())
        );
        let _ = writeln!(
            t,
            "admin_socket = {}",
            q(&dir.join("admin.sock").display().to_string())
        );
        if let Some(secs) = self.startup_timeout_secs {
            let _ = writeln!(t, "startup_timeout_secs = {secs}");
        }
        let _ = writeln!(t, "\n[intercept]");
        let _ = writeln!(t, "pin_dir = {}", q(&gw.pin_dir.display().to_string()));
        for e in &self.endpoints {
            let addrs: Vec<String> = e.addresses.iter().map(|a| q(a)).collect();
            let _ = writeln!(
                t,
                "\n[[endpoint]]\nname = {}\naddresses = [{}]\ntls = {}",
                q(&e.name),
                addrs.join(", "),
                q(&e.tls)
            );
            for (key, value) in &e.extra {
                let _ = writeln!(t, "{key} = {}", q(value));
            }
        }
        for (role, password) in &self.credentials {
            let _ = writeln!(
                t,
                "\n[[credential]]\nrole = {}\npassword = {}",
                q(role),
                q(password)
            );
        }
        for (role, password) in &self.credential_files {
            let file = dir.join(format!("secret-{role}"));
            write_private(&file, password);
            let _ = writeln!(
                t,
                "\n[[credential]]\nrole = {}\npassword_file = {}",
                q(role),
                q(&file.display().to_string())
            );
        }
        for (name, role, groups) in &self.identities {
            let groups: Vec<String> = groups.iter().map(|g| q(g)).collect();
            let _ = writeln!(
                t,
                "\n[[identity]]\nname = {}\nrole = {}\ngroups = [{}]",
                q(name),
                q(role),
                groups.join(", ")
            );
        }
        for (cgroup, identity) in &self.binds {
            let _ = writeln!(
                t,
                "\n[[bind]]\ncgroup = {}\nidentity = {}",
                q(cgroup),
                q(identity)
            );
        }
        for (cgroup, reason) in &self.exempts {
            let _ = writeln!(
                t,
                "\n[[exempt]]\ncgroup = {}\nreason = {}",
                q(cgroup),
                q(reason)
            );
        }
        t.push_str(&self.extra);
        t.push_str(self.policy.as_deref().unwrap_or(ALLOW_EVERYTHING));
        t
    }
}

/// A TOML basic string.
fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn write_private(path: &Path, text: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
    f.write_all(text.as_bytes()).expect("writing a secret file");
}

pub struct TestGateway {
    dir: TempDir,
    config_path: PathBuf,
    log_path: PathBuf,
    pin_dir: PathBuf,
    listen_port: u16,
    child: Option<Child>,
    /// Every daemon pid this fixture started (for the leftover check).
    pids: Vec<u32>,
    config_text: String,
    launcher: Vec<String>,
    program: PathBuf,
}

impl TestGateway {
    pub fn builder() -> GatewayBuilder {
        GatewayBuilder::new()
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    pub fn config_text(&self) -> &str {
        &self.config_text
    }

    pub fn pin_dir(&self) -> &Path {
        &self.pin_dir
    }

    pub fn listen_port(&self) -> u16 {
        self.listen_port
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The running daemon's pid, if any.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn pids(&self) -> &[u32] {
        &self.pids
    }

    /// Keeps the temporary directory (config, log) after drop.
    pub fn keep(&mut self) {
        self.dir.keep();
    }

    /// Whether the daemon process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Starts `cordon run --config FILE` (stderr and stdout appended to the log) and
    /// waits until `cordon status` answers.
    fn spawn(&mut self) {
        assert!(self.child.is_none(), "the gateway is already running");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("opening the gateway log");
        let mut cmd = self.command();
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log fd"))
            .stderr(log);
        let child = cmd.spawn().expect("spawning cordon run");
        self.pids.push(child.id());
        self.child = Some(child);
        self.wait_ready();
    }

    /// `cordon run` on this configuration, through the launcher if there is one.
    fn command(&self) -> Command {
        let mut cmd = match self.launcher.split_first() {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(&self.program);
                cmd
            }
            None => Command::new(&self.program),
        };
        cmd.arg("run")
            .arg("--config")
            .arg(&self.config_path)
            .env(
                "CORDON_LOG",
                std::env::var("CORDON_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env("NO_COLOR", "1")
            .env_remove("NOTIFY_SOCKET");
        cmd
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                self.child = None;
                panic!(
                    "cordon run exited before it was ready ({status})\n--- log ---\n{}",
                    self.log_text()
                );
            }
            if self.cordon(&["status"]).success() {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "cordon was not ready within {READY_TIMEOUT:?}: {}\n--- log ---\n{}",
                    self.cordon(&["status"]),
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts the daemon again (after `kill9` or `stop`) on the same configuration.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.kill9();
        }
        self.spawn();
    }

    /// SIGKILL: no chance to clean up (pins stay, by design).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait (up to 20 s, then SIGKILL); returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return status.code(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return None;
                }
            }
        }
    }

    /// `cordon ARGS... --config FILE`.
    pub fn cordon(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(crate::cordon_bin());
        cmd.args(args).arg("--config").arg(&self.config_path);
        run(&mut cmd, Duration::from_secs(30))
    }

    /// `cordon status --json`, parsed.
    pub fn status_json(&self) -> serde_json::Value {
        let out = self.cordon(&["status", "--json"]);
        out.expect_success("cordon status --json");
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("status --json is not JSON ({e}): {out}"))
    }

    /// Everything the daemon logged so far (all runs).
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Log lines containing `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        logfile::lines_with(&self.log_text(), needle)
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    /// Waits until a log line contains every one of `needles`; returns that line.
    #[track_caller]
    pub fn wait_for_log(&self, needles: &[&str], timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.log_text();
            if let Some(line) = text.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
                return line.to_string();
            }
            if Instant::now() >= deadline {
                panic!("no log line with {needles:?} within {timeout:?}\n--- log ---\n{text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until at least `count` lines contain `needle`.
    #[track_caller]
    pub fn wait_for_log_count(&self, needle: &str, count: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let lines = self.log_lines(needle);
            if lines.len() >= count {
                return lines;
            }
            if Instant::now() >= deadline {
                panic!(
                    "expected {count} log lines with {needle:?} within {timeout:?}, saw {}\n--- log ---\n{}",
                    lines.len(),
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Files (pins) left under the pin directory.
    pub fn leftover_pins(&self) -> Vec<PathBuf> {
        leftover_files(&self.pin_dir)
    }
}

impl TestGateway {
    /// Kills the daemon, runs `cordon detach`, and returns the pins that survived it
    /// (which should be none). Safe to call more than once.
    pub fn shutdown(&mut self) -> Vec<PathBuf> {
        self.kill9();
        if self.config_path.exists() && self.pin_dir.exists() {
            let out = self.cordon(&["detach"]);
            if !out.success() {
                eprintln!("cordon detach failed: {out}");
            }
        }
        let leftovers = leftover_files(&self.pin_dir);
        if leftovers.is_empty() {
            // Pins are the daemon's business; empty directories around them the fixture's.
            remove_empty_dirs(&self.pin_dir);
        }
        leftovers
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        let leftovers = self.shutdown();
        if std::thread::panicking() {
            eprintln!(
                "--- cordon log ({}) ---\n{}",
                self.log_path.display(),
                self.log_text()
            );
        }
        if !leftovers.is_empty() {
            // Unpinning a link detaches its program: never leave interception behind.
            eprintln!("pins left after cordon detach, removing them: {leftovers:?}");
            for pin in &leftovers {
                let _ = fs::remove_file(pin);
            }
            remove_empty_dirs(&self.pin_dir);
        }
    }
}

/// Every non-directory under `dir` (recursively).
pub fn leftover_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(leftover_files(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

fn remove_empty_dirs(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_empty_dirs(&entry.path());
            }
        }
    }
    let _ = fs::remove_dir(dir);
}
