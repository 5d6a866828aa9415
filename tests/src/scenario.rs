//! The usual end-to-end setup in one value: a PostgreSQL with the gateway's role and an
//! application role, three cgroups (bound agent, unbound, exempt) and a gateway that
//! protects the database at 127.0.0.1, 127.0.0.2 and ::1. `finish()` tears it all
//! down and asserts that no pin, cgroup or process survived.

use std::path::PathBuf;

use crate::{
    cgroup::CgroupGuard,
    clients::Conninfo,
    gateway::{GatewayBuilder, TestGateway},
    logfile,
    netns::NetNs,
    postgres::{PgOptions, TestPostgres},
};

/// The identity bound to the agent cgroup.
pub const IDENTITY: &str = "agent";
/// The upstream role the gateway logs in as for [`IDENTITY`].
pub const ROLE: &str = "cordon_agent";
/// The gateway's password for [`ROLE`]; no client ever sees it.
pub const ROLE_PASSWORD: &str = "gateway-only-secret";
/// A role a client claims to be (exists, so an exempt client can log in directly).
pub const APP_USER: &str = "app_user";
pub const APP_PASSWORD: &str = "app-password";

type Tweak = Box<dyn FnOnce(GatewayBuilder, &TestPostgres) -> GatewayBuilder>;

pub struct ScenarioBuilder {
    pg: PgOptions,
    remote: bool,
    bind_agent: bool,
    tweak: Option<Tweak>,
}

impl ScenarioBuilder {
    /// PostgreSQL with `ssl = on`; the endpoint then uses `tls = "require"` upstream.
    pub fn ssl(mut self) -> Self {
        self.pg = self.pg.ssl();
        self
    }

    /// PostgreSQL's `max_connections` (the fixture's default is 60).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.pg = self.pg.max_connections(n);
        self
    }

    /// PostgreSQL in a network namespace behind a veth pair (a stand-in for a
    /// database on another host); the endpoint is its address there.
    pub fn remote_host(mut self) -> Self {
        self.remote = true;
        self
    }

    /// Leaves the agent cgroup unbound (for `cordon bind` at run time).
    pub fn unbound_agent(mut self) -> Self {
        self.bind_agent = false;
        self
    }

    /// Adjusts the gateway configuration before it starts.
    pub fn gateway(
        mut self,
        tweak: impl FnOnce(GatewayBuilder, &TestPostgres) -> GatewayBuilder + 'static,
    ) -> Self {
        self.tweak = Some(Box::new(tweak));
        self
    }

    pub fn start(self) -> Scenario {
        crate::require_root();
        let netns = self.remote.then(NetNs::create);
        let pg = TestPostgres::start_with(self.pg, netns.as_ref());
        pg.create_role(ROLE, ROLE_PASSWORD);
        pg.create_role(APP_USER, APP_PASSWORD);
        let agent = CgroupGuard::unique("agent");
        let other = CgroupGuard::unique("unbound");
        let direct = CgroupGuard::unique("dba");
        let mut builder = match &netns {
            Some(ns) => GatewayBuilder::new().endpoint(
                "remote",
                &[&format!("{}:{}", ns.addr(), pg.port())],
                "disable",
            ),
            None => GatewayBuilder::new().endpoint_for(&pg),
        };
        builder = builder
            .credential(ROLE, ROLE_PASSWORD)
            .identity(IDENTITY, ROLE, &["agents"])
            .exempt(direct.path(), "e2e: direct access");
        if self.bind_agent {
            builder = builder.bind(agent.path(), IDENTITY);
        }
        if let Some(tweak) = self.tweak {
            builder = tweak(builder, &pg);
        }
        let gateway = builder.start();
        Scenario {
            gateway,
            agent,
            other,
            direct,
            pg,
            netns,
        }
    }
}

/// Fields drop in declaration order: the gateway (and its interception) goes first,
/// then the cgroups, then the database.
pub struct Scenario {
    pub gateway: TestGateway,
    /// Bound to [`IDENTITY`] (unless built with `unbound_agent`).
    pub agent: CgroupGuard,
    /// Neither bound nor exempt: refused.
    pub other: CgroupGuard,
    /// Exempt: connects directly.
    pub direct: CgroupGuard,
    pub pg: TestPostgres,
    /// Where `pg` runs when built with `remote_host` (dropped after it).
    pub netns: Option<NetNs>,
}

impl Scenario {
    pub fn builder() -> ScenarioBuilder {
        ScenarioBuilder {
            pg: PgOptions::default(),
            remote: false,
            bind_agent: true,
            tweak: None,
        }
    }

    pub fn start() -> Self {
        Self::builder().start()
    }

    /// The database's own address as a client would use it, claiming [`APP_USER`] with
    /// a wrong password (the gateway needs none, and grants nothing for one).
    pub fn conninfo(&self, host: &str) -> Conninfo {
        Conninfo::new(host, self.pg.port())
            .user(APP_USER)
            .password("not-the-password")
            .dbname("postgres")
    }

    /// Waits for the gateway's `session opened` line for client process `pid`.
    #[track_caller]
    pub fn wait_session_opened(&self, pid: u32) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let text = self.gateway.log_text();
            if let Some(line) = logfile::lines_with(&text, "session opened")
                .into_iter()
                .find(|l| logfile::field(l, "pid").as_deref() == Some(pid.to_string().as_str()))
            {
                return line.to_string();
            }
            if std::time::Instant::now() >= deadline {
                panic!("no `session opened` line for pid {pid}\n--- log ---\n{text}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Asserts that a `session opened` line names the agent's identity and cgroup, the
    /// client's pid and command, and the address the client connected to.
    #[track_caller]
    pub fn assert_session_line(&self, line: &str, pid: u32, comm: &str, destination: &str) {
        let expect = [
            ("identity", IDENTITY.to_string()),
            ("cgroup", self.agent.path().to_string()),
            ("pid", pid.to_string()),
            ("comm", comm.to_string()),
            ("destination", destination.to_string()),
        ];
        for (name, value) in expect {
            assert_eq!(
                logfile::field(line, name).as_deref(),
                Some(value.as_str()),
                "field `{name}` in the session log line:\n{line}"
            );
        }
    }

    /// Tears everything down and asserts nothing is left: no pins under the pin
    /// directory, no cgroup directories, no gateway or postmaster process.
    pub fn finish(mut self) {
        let leftover_pins = self.gateway.shutdown();
        let pin_dir = self.gateway.pin_dir().to_path_buf();
        let mut pids: Vec<u32> = self.gateway.pids().to_vec();
        pids.extend(self.pg.postmaster_pid());
        let cgroups: Vec<PathBuf> = [&self.agent, &self.other, &self.direct]
            .iter()
            .filter_map(|g| g.created_root().map(PathBuf::from))
            .collect();
        let netns = self.netns.as_ref().map(|ns| ns.name().to_owned());
        drop(self);
        if let Some(name) = netns {
            assert!(
                !crate::netns::exists(&name),
                "network namespace {name} is still there"
            );
        }
        assert!(
            leftover_pins.is_empty(),
            "cordon detach left pins behind: {leftover_pins:?}"
        );
        assert!(
            !pin_dir.exists(),
            "pin directory {} is still there",
            pin_dir.display()
        );
        for dir in cgroups {
            assert!(!dir.exists(), "cgroup {} is still there", dir.display());
        }
        for pid in pids {
            assert!(!pid_alive(pid), "process {pid} is still running");
        }
    }
}

/// Whether `pid` exists and is not a zombie.
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "PID (COMM) STATE ...": comm may contain spaces and parentheses.
        Ok(stat) => {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                != Some("Z")
        }
        Err(_) => false,
    }
}
