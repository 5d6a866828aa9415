//! PgBouncer in session mode as a reference hop for `cargo xtask bench`: a
//! mature C proxy that, like Cordon, puts one userspace relay between client
//! and server. Its ratio to direct shows what any such hop costs on the
//! machine at hand, so Cordon's ratio can be read against it.

use std::{
    fs,
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use cordon_e2e::{cgroup::CgroupGuard, postgres::TestPostgres, tempdir::TempDir};

use crate::cmd::on_path;

pub struct PgBouncer {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl PgBouncer {
    /// Starts PgBouncer inside `cgroup` (which must connect directly), pooling
    /// `role` on `pg`; None, with the reason printed, when it cannot run.
    pub fn start(
        cgroup: &CgroupGuard,
        pg: &TestPostgres,
        role: &str,
        password: &str,
    ) -> Option<Self> {
        if !on_path("pgbouncer") && !std::path::Path::new("/usr/sbin/pgbouncer").exists() {
            println!("bench: pgbouncer is not installed; no reference proxy row");
            return None;
        }
        let dir = TempDir::new("cordon-bench-pgbouncer");
        let port = cordon_e2e::free_port();
        let ini = dir.path().join("pgbouncer.ini");
        let users = dir.path().join("users.txt");
        fs::write(
            &ini,
            format!(
                "[databases]\npostgres = host=127.0.0.1 port={} user={role} password={password}\n\
                 [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
                 auth_type = trust\nauth_file = {}\npool_mode = session\nmax_client_conn = 100\n\
                 default_pool_size = 20\nlogfile = {}\npidfile = {}\n",
                pg.port(),
                users.display(),
                dir.path().join("pgbouncer.log").display(),
                dir.path().join("pgbouncer.pid").display()
            ),
        )
        .ok()?;
        fs::write(&users, format!("\"{role}\" \"\"\n")).ok()?;
        // PgBouncer refuses to run as root: it runs as the postgres user.
        let chown = std::process::Command::new("chown")
            .arg("-R")
            .arg("postgres")
            .arg(dir.path())
            .status();
        if !chown.is_ok_and(|s| s.success()) {
            println!(
                "bench: cannot hand {} to the postgres user; no reference proxy row",
                dir.path().display()
            );
            return None;
        }
        let program = if on_path("pgbouncer") {
            "pgbouncer"
        } else {
            "/usr/sbin/pgbouncer"
        };
        let child = cgroup
            .command("runuser")
            .args(["-u", "postgres", "--", program])
            .arg(&ini)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| println!("bench: starting pgbouncer failed: {e}"))
            .ok()?;
        let mut bouncer = Self { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline || bouncer.child.try_wait().ok().flatten().is_some() {
                println!("bench: pgbouncer did not start listening; no reference proxy row");
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(bouncer)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// PgBouncer's own pid (runuser's child), for its CPU time.
    pub fn pid(&self) -> Option<u32> {
        fs::read_to_string(self.dir.path().join("pgbouncer.pid"))
            .ok()
            .and_then(|p| p.trim().parse().ok())
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        // Signal PgBouncer itself (runuser may not pass SIGTERM on).
        if let Some(pid) = self.pid() {
            // SAFETY: kill(2) with a pid PgBouncer wrote for itself.
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
