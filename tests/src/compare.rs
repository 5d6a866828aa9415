//! One client scenario run twice against the same PostgreSQL: through the gateway
//! (from the bound agent cgroup) and directly (from the exempt cgroup), each in a
//! database of its own, with the two outputs compared line by line. The gateway must
//! be invisible to real clients, so any difference is a gateway bug; the scenarios
//! therefore print nothing that legitimately differs (roles, databases, pids, times).

use std::{fmt::Write as _, process::Command, time::Duration};

use crate::{
    cgroup::CgroupGuard,
    clients::Conninfo,
    logfile,
    process::{run, Output},
    scenario::{Scenario, APP_PASSWORD, APP_USER, ROLE},
};

/// The database the gateway run works in (owned by the gateway's upstream role).
pub const GATEWAY_DB: &str = "scn_gateway";
/// The database the direct run works in (owned by the role a direct client logs in as).
pub const DIRECT_DB: &str = "scn_direct";

/// How a client reaches the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// From the agent cgroup: intercepted, relayed by the gateway as [`ROLE`].
    Gateway,
    /// From the exempt cgroup: straight to PostgreSQL as [`APP_USER`].
    Direct,
}

/// Both routes to one scenario's database, over one host address.
pub struct Twin<'a> {
    s: &'a Scenario,
    host: String,
}

impl<'a> Twin<'a> {
    /// Creates the two databases (over the unix socket, as the superuser).
    pub fn new(s: &'a Scenario, host: &str) -> Self {
        s.pg.psql_admin(&format!("CREATE DATABASE {GATEWAY_DB} OWNER {ROLE}"));
        s.pg.psql_admin(&format!("CREATE DATABASE {DIRECT_DB} OWNER {APP_USER}"));
        Self {
            s,
            host: host.to_string(),
        }
    }

    pub fn cgroup(&self, route: Route) -> &CgroupGuard {
        match route {
            Route::Gateway => &self.s.agent,
            Route::Direct => &self.s.direct,
        }
    }

    /// Through the gateway the password is wrong (the gateway ignores it); directly it
    /// must be the application role's own.
    pub fn conninfo(&self, route: Route) -> Conninfo {
        let base = self.s.conninfo(&self.host);
        match route {
            Route::Gateway => base.dbname(GATEWAY_DB),
            Route::Direct => base.password(APP_PASSWORD).dbname(DIRECT_DB),
        }
    }

    /// The same as a `postgresql://` URL (IPv6 hosts in brackets).
    pub fn url(&self, route: Route) -> String {
        let c = self.conninfo(route);
        let host = if c.host.contains(':') {
            format!("[{}]", c.host)
        } else {
            c.host.clone()
        };
        let password = c.password.as_deref().unwrap_or("");
        format!(
            "postgresql://{}:{password}@{host}:{}/{}?sslmode={}",
            c.user, c.port, c.dbname, c.sslmode
        )
    }

    /// Runs the command `make` builds for each route (gateway first), each inside its
    /// route's cgroup, and checks that the gateway run, and only that one, went through
    /// the gateway. `make` gets the route, its cgroup and its conninfo.
    #[track_caller]
    pub fn run(
        &self,
        what: &str,
        timeout: Duration,
        mut make: impl FnMut(Route, &CgroupGuard, &Conninfo) -> Command,
    ) -> Runs {
        let mut run_on = |route: Route| {
            let mut cmd = make(route, self.cgroup(route), &self.conninfo(route));
            run(&mut cmd, timeout)
        };
        let gateway = run_on(Route::Gateway);
        let direct = run_on(Route::Direct);
        // Both outputs either way: whether the direct run fails too tells a gateway
        // bug from a broken scenario.
        assert!(
            gateway.success() && direct.success(),
            "{what} failed\n=== gateway run ===\n{gateway}\n=== direct run ===\n{direct}"
        );
        let line = self.s.wait_session_opened(gateway.pid);
        assert_eq!(
            logfile::field(&line, "role").as_deref(),
            Some(ROLE),
            "{what}: the gateway should log in as {ROLE}: {line}"
        );
        let log = self.s.gateway.log_text();
        let direct_pid = direct.pid.to_string();
        assert!(
            !logfile::lines_with(&log, "session opened")
                .iter()
                .any(|l| logfile::field(l, "pid").as_deref() == Some(direct_pid.as_str())),
            "{what}: the direct run (pid {direct_pid}) went through the gateway\n{log}"
        );
        Runs {
            what: what.to_string(),
            gateway,
            direct,
        }
    }
}

/// The two outputs of one scenario.
pub struct Runs {
    pub what: String,
    pub gateway: Output,
    pub direct: Output,
}

impl Runs {
    /// Asserts that stdout and stderr are the same on both routes; returns stdout.
    #[track_caller]
    pub fn assert_same(&self) -> String {
        self.assert_same_with(|text| text.to_string())
    }

    /// Like [`assert_same`](Self::assert_same), after `keep` reduces each stdout and
    /// stderr to what must match (e.g. pgbench's counts without its timings).
    #[track_caller]
    pub fn assert_same_with(&self, keep: impl Fn(&str) -> String) -> String {
        let stdout = [&self.gateway.stdout, &self.direct.stdout].map(|t| normalize(&keep(t)));
        let stderr = [&self.gateway.stderr, &self.direct.stderr].map(|t| normalize(&keep(t)));
        for (stream, [through, direct]) in [("stdout", &stdout), ("stderr", &stderr)] {
            assert!(
                through == direct,
                "{}: {stream} differs between the gateway run and the direct run \
                 (- gateway, + direct):\n{}\n=== gateway run ===\n{}\n=== direct run ===\n{}",
                self.what,
                line_diff(through, direct),
                self.gateway,
                self.direct
            );
        }
        let [out, _] = stdout;
        assert!(!out.is_empty(), "{}: printed nothing", self.what);
        out
    }
}

/// Line endings unified, trailing blanks and trailing empty lines dropped.
pub fn normalize(text: &str) -> String {
    let mut out: Vec<&str> = text.lines().map(str::trim_end).collect();
    while out.last() == Some(&"") {
        out.pop();
    }
    out.join("\n")
}

/// Asserts that `output` has a line equal to each of `lines` (so a scenario that
/// prints the same nonsense on both routes still fails).
#[track_caller]
pub fn assert_lines(what: &str, output: &str, lines: &[&str]) {
    for expected in lines {
        assert!(
            output.lines().any(|l| l == *expected),
            "{what}: no line `{expected}` in:\n{output}"
        );
    }
}

/// A line diff (longest common subsequence): ` ` both, `-` only in `a`, `+` only in `b`.
pub fn line_diff(a: &str, b: &str) -> String {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    // lcs[i][j]: the common subsequence length of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            let _ = writeln!(out, "  {}", a[i]);
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            let _ = writeln!(out, "- {}", a[i]);
            i += 1;
        } else {
            let _ = writeln!(out, "+ {}", b[j]);
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_marks_changed_lines() {
        assert_eq!(line_diff("a\nb\nc", "a\nx\nc"), "  a\n- b\n+ x\n  c\n");
        assert_eq!(line_diff("", "a"), "+ a\n");
    }

    #[test]
    fn normalize_drops_trailing_blanks() {
        assert_eq!(normalize("a \r\nb\n\n"), "a\nb");
    }
}
