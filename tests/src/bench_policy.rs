//! The policy `cargo xtask bench` judges statements with, in the `policy-bench`
//! micro-benchmark and in front of pgbench: what an operator would write for an
//! agent working on an application's tables, so matching is not trivial (several
//! allow rules, deny rules that every statement is checked against, rules for
//! another group that do not apply).

/// The identity the bench's sessions run as, and its groups.
pub const IDENTITY: &str = "bench";
pub const GROUPS: &[&str] = &["agents"];
/// Another identity the configuration has (rules must name existing groups).
pub const OTHER_IDENTITY: &str = "migrations";
pub const OTHER_GROUPS: &[&str] = &["ci"];

pub const POLICY: &str = r#"
[[allow]]
name = "agents-read-app"
groups = ["agents"]
actions = ["read"]
objects = ["public.*", "app.*", "reporting.v_*"]

[[allow]]
name = "agents-read-catalog"
groups = ["agents"]
actions = ["read"]
objects = ["pg_catalog.*", "information_schema.*"]

[[allow]]
name = "agents-write-app"
groups = ["agents"]
actions = ["insert", "update", "delete"]
objects = ["public.pgbench_*", "public.orders", "public.order_items", "app.*"]
functions = ["nextval", "app.*"]

[[allow]]
name = "ci-migrations"
groups = ["ci"]
actions = ["ddl", "read", "write"]
objects = ["public.*", "app.*"]
languages = ["plpgsql"]

[[deny]]
name = "no-hr"
identities = ["*"]
objects = ["hr.*", "*.secrets", "public.*_audit"]

[[deny]]
name = "no-remote-or-files"
identities = ["*"]
functions = ["dblink*", "pg_read_*", "lo_*"]
"#;
