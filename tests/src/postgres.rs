//! A throwaway PostgreSQL: initdb in a temporary directory as the `postgres` user
//! (initdb and postgres refuse to run as root), listening on 127.0.0.1, 127.0.0.2 and ::1
//! at a free port with SCRAM for TCP, and trust on its own unix socket so the fixture
//! can set things up. Unix sockets are never redirected by Cordon, so setup over the
//! socket works while a gateway is intercepting the TCP port.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use crate::{
    clients::clean_pg_env,
    process::{run, Output},
    tempdir::TempDir,
};

/// The OS user PostgreSQL runs as.
pub const PG_OS_USER: &str = "postgres";
/// The superuser initdb creates; reachable over the unix socket without a password.
pub const SUPERUSER: &str = "postgres";

pub struct TestPostgres {
    dir: TempDir,
    port: u16,
    ssl: bool,
}

/// Server settings a test can change from the fixture's defaults.
#[derive(Clone, Copy, Debug)]
pub struct PgOptions {
    /// `ssl = on` with a throwaway self-signed certificate.
    pub ssl: bool,
    /// `max_connections` (default 60: plenty for one test, small in memory).
    pub max_connections: u32,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            ssl: false,
            max_connections: 60,
        }
    }
}

impl PgOptions {
    pub fn ssl(mut self) -> Self {
        self.ssl = true;
        self
    }

    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n;
        self
    }
}

impl TestPostgres {
    /// Starts a server without TLS.
    pub fn start() -> Self {
        Self::start_with(PgOptions::default(), None)
    }

    /// Starts a server with `ssl = on` and a throwaway self-signed certificate.
    pub fn start_with_ssl() -> Self {
        Self::start_with(PgOptions::default().ssl(), None)
    }

    /// Starts a server inside `ns`, listening on the namespace's address only.
    pub fn start_in(ns: &crate::netns::NetNs) -> Self {
        Self::start_with(PgOptions::default(), Some(ns))
    }

    /// Starts a server with `options`, inside `ns` if given.
    pub fn start_with(options: PgOptions, ns: Option<&crate::netns::NetNs>) -> Self {
        crate::require_root();
        let ssl = options.ssl;
        let dir = TempDir::new("cordon-pg");
        dir.chown(PG_OS_USER);
        let data = dir.path().join("data");
        as_postgres(&pg_bin("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                SUPERUSER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .args(["--no-sync", "-E", "UTF8", "--locale=C"])
            .run_ok("initdb");
        let listen = match ns {
            Some(ns) => ns.addr().to_string(),
            None => "127.0.0.1,127.0.0.2,::1".to_string(),
        };
        let mut conf = format!(
            "\n# cordon-e2e\n\
             listen_addresses = '{listen}'\n\
             unix_socket_directories = '{}'\n\
             max_connections = {}\n\
             shared_buffers = 32MB\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n\
             log_connections = on\n\
             password_encryption = 'scram-sha-256'\n",
            dir.path().display(),
            options.max_connections
        );
        if ssl {
            make_certificate(dir.path(), &data);
            conf.push_str("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        }
        append(&data.join("postgresql.conf"), &conf);
        fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             host all cordon_md5 127.0.0.0/8 md5\n\
             host all cordon_trust 127.0.0.0/8 trust\n\
             host all all 127.0.0.0/8 scram-sha-256\n\
             host all all ::1/128 scram-sha-256\n\
             host all all 10.231.0.0/16 scram-sha-256\n",
        )
        .expect("writing pg_hba.conf");

        // A free port can be taken between choosing and binding it: retry a few times.
        let mut last = None;
        for _ in 0..5 {
            let port = crate::free_port();
            let mut pg_ctl = match ns {
                // The postmaster inherits the namespace from pg_ctl.
                Some(ns) => {
                    let mut cmd = ns.command("runuser");
                    cmd.args(["-u", PG_OS_USER, "--"])
                        .arg(pg_bin("pg_ctl"))
                        .current_dir("/");
                    clean_pg_env(&mut cmd);
                    cmd
                }
                None => as_postgres(&pg_bin("pg_ctl")),
            };
            let out = pg_ctl
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(dir.path().join("postgres.log"))
                .args(["-o", &format!("-p {port}"), "-w", "-t", "30", "start"])
                .run_timeout(Duration::from_secs(40));
            if out.success() {
                let pg = Self { dir, port, ssl };
                pg.psql_admin("SELECT 1");
                return pg;
            }
            last = Some(out);
        }
        let log = fs::read_to_string(dir.path().join("postgres.log")).unwrap_or_default();
        panic!(
            "pg_ctl start failed: {}\n--- postgres.log ---\n{log}",
            last.expect("tried")
        );
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn ssl(&self) -> bool {
        self.ssl
    }

    /// The CA that signed the server's certificate (servers started with TLS).
    pub fn ca_cert(&self) -> Option<PathBuf> {
        self.ssl.then(|| self.dir.path().join("ca.crt"))
    }

    /// The directory holding the unix socket (`.s.PGSQL.<port>`).
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server log (connections are logged: `log_connections = on`).
    pub fn log_text(&self) -> String {
        fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    /// The postmaster's pid (first line of `postmaster.pid`).
    pub fn postmaster_pid(&self) -> Option<u32> {
        fs::read_to_string(self.data_dir().join("postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next().and_then(|l| l.trim().parse().ok()))
    }

    /// Shuts the server down (fast: its sessions are ended) and leaves it down until
    /// [`start_again`](Self::start_again), for tests of clients that lose it.
    pub fn stop_server(&self) {
        as_postgres(&pg_bin("pg_ctl"))
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "fast", "-w", "-t", "30", "stop"])
            .run_ok("pg_ctl stop");
    }

    /// Starts a server stopped by [`stop_server`](Self::stop_server), on its port.
    pub fn start_again(&self) {
        as_postgres(&pg_bin("pg_ctl"))
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.dir.path().join("postgres.log"))
            .args([
                "-o",
                &format!("-p {}", self.port),
                "-w",
                "-t",
                "30",
                "start",
            ])
            .run_ok("pg_ctl start");
    }

    /// Keeps the data directory and log after drop (for a post-mortem).
    pub fn keep(&mut self) {
        self.dir.keep();
    }

    /// Runs SQL as the superuser over the unix socket; returns `psql -At` output.
    #[track_caller]
    pub fn psql_admin(&self, sql: &str) -> String {
        let out = self.try_psql_admin(sql);
        out.expect_success(&format!("psql (admin, unix socket): {sql}"));
        out.stdout.trim_end().to_string()
    }

    /// Like [`psql_admin`](Self::psql_admin) but returns the output whatever happened.
    pub fn try_psql_admin(&self, sql: &str) -> Output {
        let mut cmd = Command::new(pg_bin("psql"));
        clean_pg_env(&mut cmd);
        cmd.arg("-X")
            .arg("-h")
            .arg(self.socket_dir())
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-At", "-c", sql]);
        run(&mut cmd, Duration::from_secs(60))
    }

    /// Creates a login role with a SCRAM password.
    pub fn create_role(&self, name: &str, password: &str) {
        self.psql_admin(&format!(
            "CREATE ROLE {} LOGIN PASSWORD {}",
            quote_ident(name),
            quote_literal(password)
        ));
    }

    /// A libpq connection string for the unix socket, as the superuser.
    pub fn socket_conninfo(&self, dbname: &str) -> String {
        format!(
            "host={} port={} user={SUPERUSER} dbname={dbname}",
            self.socket_dir().display(),
            self.port
        )
    }

    fn stop(&self) {
        let data = self.data_dir();
        let out = as_postgres(&pg_bin("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w", "-t", "20", "stop"])
            .run_timeout(Duration::from_secs(30));
        if !out.success() {
            // Last resort: the postmaster's pid is the first line of postmaster.pid.
            if let Some(pid) = fs::read_to_string(data.join("postmaster.pid"))
                .ok()
                .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<i32>().ok()))
            {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            eprintln!("pg_ctl stop failed: {out}");
        }
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Finds a PostgreSQL program: on `PATH`, else in the newest `/usr/lib/postgresql/*/bin`
/// (where Debian's packages put the server programs).
pub fn pg_bin(name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
    {
        return path;
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((v, e.path().join("bin").join(name)))
        })
        .filter(|(_, p)| p.is_file())
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, p)| p)
        .unwrap_or_else(|| panic!("{name} not found on PATH or in /usr/lib/postgresql/*/bin (cargo xtask setup installs it)"))
}

/// `runuser -u postgres -- PROGRAM` with a clean libpq environment.
fn as_postgres(program: &Path) -> Command {
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", PG_OS_USER, "--"]).arg(program);
    clean_pg_env(&mut cmd);
    // The postgres user cannot enter root's working directory.
    cmd.current_dir("/");
    cmd
}

trait RunExt {
    fn run_timeout(&mut self, timeout: Duration) -> Output;
    fn run_ok(&mut self, what: &str) -> Output;
}

impl RunExt for Command {
    fn run_timeout(&mut self, timeout: Duration) -> Output {
        run(self, timeout)
    }

    #[track_caller]
    fn run_ok(&mut self, what: &str) -> Output {
        let out = run(self, Duration::from_secs(120));
        out.expect_success(what);
        out
    }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    f.write_all(text.as_bytes())
        .expect("appending to postgresql.conf");
}

/// The name the test server's certificate carries besides its addresses.
pub const SERVER_DNS_NAME: &str = "db.cordon.test";

/// A throwaway CA (`ca.crt`, `ca.key` in `dir`); returns the certificate's path.
pub fn make_ca(dir: &Path) -> PathBuf {
    let mut cmd = Command::new("openssl");
    cmd.args([
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
    ])
    .args(["-subj", "/CN=cordon test CA", "-keyout"])
    .arg(dir.join("ca.key"))
    .arg("-out")
    .arg(dir.join("ca.crt"));
    run(&mut cmd, Duration::from_secs(60)).expect_success("openssl req (test CA)");
    dir.join("ca.crt")
}

/// A server certificate signed by a throwaway CA in `dir`, naming the
/// loopback addresses and SERVER_DNS_NAME, installed as the server's.
fn make_certificate(dir: &Path, data: &Path) {
    make_ca(dir);
    let ext = dir.join("server.ext");
    fs::write(
        &ext,
        format!("subjectAltName=IP:127.0.0.1,IP:127.0.0.2,IP:::1,DNS:{SERVER_DNS_NAME}\n"),
    )
    .expect("writing the certificate extensions");
    let mut request = Command::new("openssl");
    request
        .args([
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
        ])
        .arg(data.join("server.key"))
        .arg("-out")
        .arg(dir.join("server.csr"));
    run(&mut request, Duration::from_secs(60)).expect_success("openssl req (server key)");
    let mut sign = Command::new("openssl");
    sign.args(["x509", "-req", "-days", "2", "-in"])
        .arg(dir.join("server.csr"))
        .arg("-CA")
        .arg(dir.join("ca.crt"))
        .arg("-CAkey")
        .arg(dir.join("ca.key"))
        .args(["-CAcreateserial", "-extfile"])
        .arg(&ext)
        .arg("-out")
        .arg(data.join("server.crt"));
    run(&mut sign, Duration::from_secs(60))
        .expect_success("openssl x509 (sign the server certificate)");
    let (uid, gid) = crate::tempdir::user_ids(PG_OS_USER);
    for file in ["server.key", "server.crt"] {
        let path = data.join(file);
        std::os::unix::fs::chown(&path, Some(uid), Some(gid)).expect("chown certificate");
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod certificate");
    }
}

/// `"name"` with embedded quotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'` with embedded quotes doubled.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
