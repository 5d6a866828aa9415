//! cgroup v2 fixtures: find the cgroup2 mount, create a cgroup for a test, start
//! children inside it, and on drop kill whatever is left in it and remove it.

use std::{
    ffi::OsStr,
    fs, io,
    os::{fd::AsRawFd, unix::process::CommandExt},
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

/// The cgroup2 hierarchy, wherever this machine mounts it (unified or hybrid mode).
#[derive(Clone, Debug)]
pub struct Cgroup2 {
    mount: PathBuf,
}

impl Cgroup2 {
    /// Reads `/proc/self/mountinfo` for the (first) `cgroup2` mount.
    pub fn discover() -> Self {
        let mountinfo =
            fs::read_to_string("/proc/self/mountinfo").expect("reading /proc/self/mountinfo");
        let mount =
            parse_mountinfo(&mountinfo).expect("no cgroup2 filesystem in /proc/self/mountinfo");
        Self { mount }
    }

    pub fn mount(&self) -> &Path {
        &self.mount
    }

    /// The directory of a cgroup path such as `/ci.slice/job-42`.
    pub fn dir(&self, rel: &str) -> PathBuf {
        self.mount.join(rel.trim_start_matches('/'))
    }

    /// The cgroup2 path of a process (`0::/path` in `/proc/PID/cgroup`), if it still runs.
    pub fn of_pid(pid: u32) -> Option<String> {
        let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("0::"))
            .map(str::to_string)
    }
}

pub use gateway_common::mountinfo::cgroup2_mount_point as parse_mountinfo;

/// A cgroup this test created. Dropping it kills every process still inside (and in
/// any cgroup below it), waits until they are gone, and removes the directories it
/// created, leaf first.
pub struct CgroupGuard {
    root: Cgroup2,
    rel: String,
    /// Directories this guard created, outermost first.
    created: Vec<PathBuf>,
}

impl CgroupGuard {
    /// Creates `rel` (e.g. `/cordon-test-123-4/agent`) and any missing parents.
    pub fn create(rel: &str) -> Self {
        crate::require_root();
        assert!(rel.starts_with('/'), "cgroup paths start with /: {rel}");
        let root = Cgroup2::discover();
        let mut created = Vec::new();
        let mut dir = root.mount.clone();
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            dir.push(part);
            match fs::create_dir(&dir) {
                Ok(()) => created.push(dir.clone()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => panic!("creating cgroup {}: {e}", dir.display()),
            }
        }
        Self {
            root,
            rel: rel.trim_end_matches('/').to_string(),
            created,
        }
    }

    /// Creates `/cordon-test-<pid>-<n>/<name>`: a fresh cgroup no other test uses.
    pub fn unique(name: &str) -> Self {
        Self::create(&format!("/{}/{name}", crate::unique_name("cordon-test")))
    }

    /// The cgroup path relative to the cgroup2 mount, as the gateway's config names it.
    pub fn path(&self) -> &str {
        &self.rel
    }

    /// The cgroup's directory under the mount.
    pub fn dir(&self) -> PathBuf {
        self.root.dir(&self.rel)
    }

    /// The outermost directory this guard created (what must be gone after drop).
    pub fn created_root(&self) -> Option<&Path> {
        self.created.first().map(PathBuf::as_path)
    }

    /// Pids currently in the cgroup (not its descendants).
    pub fn procs(&self) -> Vec<i32> {
        read_procs(&self.dir())
    }

    /// A command whose child moves itself into this cgroup before it executes
    /// `program`, so the program's very first connect() already happens inside.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let procs = self.dir().join("cgroup.procs");
        // Opened here, written in the child: between fork and exec only
        // async-signal-safe calls are allowed, and write(2) is one.
        let file = fs::OpenOptions::new()
            .write(true)
            .open(&procs)
            .unwrap_or_else(|e| panic!("opening {}: {e}", procs.display()));
        let mut cmd = Command::new(program);
        // SAFETY: the closure only calls write(2) on an fd it owns (kept alive by the
        // closure) and reads errno; both are async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                // cgroup v2 takes "0" as "the writing process".
                let n = libc::write(file.as_raw_fd(), b"0".as_ptr().cast(), 1);
                if n == 1 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                }
            });
        }
        cmd
    }
}

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        for dir in self.created.iter().rev() {
            if let Err(e) = remove_tree(dir, Duration::from_secs(10)) {
                eprintln!("cgroup cleanup: {}: {e}", dir.display());
            }
        }
    }
}

fn read_procs(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Kills everything in `dir` and below, then removes the directories, deepest first.
fn remove_tree(dir: &Path, timeout: Duration) -> io::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            remove_tree(&entry.path(), timeout)?;
        }
    }
    let deadline = Instant::now() + timeout;
    let kill_file = dir.join("cgroup.kill");
    loop {
        let procs = read_procs(dir);
        if procs.is_empty() {
            match fs::remove_dir(dir) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => {}
            }
        } else if Instant::now() >= deadline {
            return Err(io::Error::other(format!(
                "processes {procs:?} did not leave"
            )));
        } else if kill_file.exists() {
            let _ = fs::write(&kill_file, "1");
        } else {
            for pid in procs {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
