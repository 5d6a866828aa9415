//! The policy corpus (`tests/policy-corpus/`): statements kept as files, each with the
//! identity that sends it and the verdict docs/policy.md gives it, run two ways by
//! `tests/tests/policy_corpus.rs`: through `cordon explain`, and over the wire through
//! a real gateway to a real PostgreSQL, where every statement the gateway must stop is
//! shown to have left the database as it was. The fixture's server lets every corpus
//! role do nearly everything, so an unchanged effect shows the gateway did the refusing.

mod case;
mod wire;

use std::{
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

pub use case::{AllowedEffect, Case, Direct, Protocol, Sql, Verdict, TMP_PLACEHOLDER};
pub use wire::{outcome, run_cases, CaseRun, Outcome, SeenError};

use crate::{
    clients::clean_pg_env,
    postgres::{pg_bin, TestPostgres, PG_OS_USER, SUPERUSER},
    process::run,
    tempdir::TempDir,
    workspace_dir,
};

/// An identity of the corpus's configuration.
#[derive(Clone, Copy, Debug)]
pub struct Identity {
    pub name: &'static str,
    /// The upstream role the gateway logs in as.
    pub role: &'static str,
    pub groups: &'static [&'static str],
}

/// The identities `policy.toml` writes rules for (schema.sql grants their roles).
pub const IDENTITIES: [Identity; 4] = [
    Identity {
        name: "reader",
        role: "corpus_reader",
        groups: &["agents"],
    },
    Identity {
        name: "writer",
        role: "corpus_writer",
        groups: &["agents"],
    },
    Identity {
        name: "developer",
        role: "corpus_developer",
        groups: &["agents", "developers"],
    },
    Identity {
        name: "dba",
        role: "corpus_dba",
        groups: &["humans"],
    },
];

/// The gateway's password for every corpus role.
pub const ROLE_PASSWORD: &str = "corpus-gateway-secret";

/// The database the cases run in.
pub const DATABASE: &str = "postgres";

pub fn identity(name: &str) -> Identity {
    *IDENTITIES
        .iter()
        .find(|i| i.name == name)
        .unwrap_or_else(|| panic!("no corpus identity {name}"))
}

pub fn dir() -> PathBuf {
    workspace_dir().join("tests/policy-corpus")
}

/// Every case, in file order; panics listing every malformed file.
pub fn load() -> Vec<Case> {
    let cases_dir = dir().join("cases");
    let mut paths: Vec<PathBuf> = fs::read_dir(&cases_dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", cases_dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    let mut cases = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        match Case::read(&path) {
            Ok(case) => {
                for p in case.problems() {
                    problems.push(format!("{}: {p}", case.name));
                }
                cases.push(case);
            }
            Err(e) => problems.push(format!("{}: {e}", path.display())),
        }
    }
    let mut names: Vec<&str> = cases.iter().map(|c| &c.name[..3]).collect();
    names.sort();
    for pair in names.windows(2) {
        if pair[0] == pair[1] {
            problems.push(format!("number {} is used twice", pair[0]));
        }
    }
    assert!(
        problems.is_empty(),
        "malformed corpus cases:\n  {}",
        problems.join("\n  ")
    );
    cases
}

/// `policy.toml`: the rules, as the configuration carries them.
pub fn policy() -> String {
    let path = dir().join("policy.toml");
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A complete configuration for `cordon explain`: an endpoint, the credentials and
/// identities, then the policy.
pub fn explain_config() -> String {
    let mut t = String::from(
        "[gateway]\nlisten_port = 15999\n\n\
         [[endpoint]]\nname = \"main\"\naddresses = [\"127.0.0.1:5432\"]\n",
    );
    for i in IDENTITIES {
        let groups: Vec<String> = i.groups.iter().map(|g| format!("{g:?}")).collect();
        let _ = write!(
            t,
            "\n[[credential]]\nrole = {:?}\npassword = {ROLE_PASSWORD:?}\n\n\
             [[identity]]\nname = {:?}\nrole = {:?}\ngroups = [{}]\n",
            i.role,
            i.name,
            i.role,
            groups.join(", ")
        );
    }
    t.push('\n');
    t.push_str(&policy());
    t
}

/// A directory the server may write into, with the `input.csv` the COPY FROM and
/// lo_import cases read. Stands for `{tmp}` in the cases.
pub fn server_files() -> TempDir {
    let dir = TempDir::new("cordon-test-corpus-files");
    dir.chown(PG_OS_USER);
    fs::write(dir.path().join("input.csv"), "1\t1.00\n2\t2.00\n").expect("writing input.csv");
    dir
}

/// Creates the corpus roles (with the gateway's password) and applies `schema.sql`.
pub fn set_up_database(pg: &TestPostgres) {
    for i in IDENTITIES {
        pg.create_role(i.role, ROLE_PASSWORD);
    }
    apply_sql_file(pg, &dir().join("schema.sql"));
}

/// `psql -f FILE` as the superuser over the unix socket, stopping at the first error.
fn apply_sql_file(pg: &TestPostgres, path: &Path) {
    let mut cmd = Command::new(pg_bin("psql"));
    clean_pg_env(&mut cmd);
    cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f"])
        .arg(path)
        .arg("-d")
        .arg(pg.socket_conninfo(DATABASE));
    run(&mut cmd, Duration::from_secs(60)).expect_success(&format!("psql -f {}", path.display()));
}

/// A libpq connection string for the superuser over the unix socket.
pub fn admin_dsn(pg: &TestPostgres) -> String {
    format!(
        "host={} port={} user={SUPERUSER} dbname={DATABASE}",
        pg.socket_dir().display(),
        pg.port()
    )
}

/// A connection string straight to the server as `role`, over the unix socket (trust).
pub fn direct_dsn(pg: &TestPostgres, role: &str) -> String {
    format!(
        "host={} port={} user={role} dbname={DATABASE}",
        pg.socket_dir().display(),
        pg.port()
    )
}
