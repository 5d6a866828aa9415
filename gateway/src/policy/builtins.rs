//! A compiled-in snapshot of PostgreSQL 15's built-in `pg_catalog` objects.
//!
//! The SQL policy classifier uses it to tell built-in objects from
//! user-defined ones, and side-effect functions from pure ones: a function
//! call is allowed without an explicit grant only if it is a `pg_catalog`
//! built-in that is immutable or stable, or one of the few volatile built-ins
//! listed in [`HARMLESS_VOLATILE`]. Everything else (user functions, volatile
//! built-ins such as `pg_read_file` or `nextval`) needs a grant. The snapshot
//! is compiled in rather than read from the upstream server so that
//! `cordon explain` classifies statements offline, the same way the gateway
//! does.
//!
//! Caveat for the classifier: "not volatile" does not mean "safe". In PG 15,
//! `txid_current`, `txid_current_if_assigned`, `pg_current_xact_id` and
//! `pg_current_xact_id_if_assigned` are *stable* although `txid_current` and
//! `pg_current_xact_id` assign an xid, and the stable
//! `table_to_xml`/`schema_to_xml`/`database_to_xml` family (and their
//! `*_xmlschema` siblings) read whole tables named by a `regclass`/`name`
//! argument through SPI (privilege-checked by PostgreSQL, but invisible to a
//! relation-level policy). `pg_stat_get_*`, `current_setting` and the like are
//! stable too and read server state.
//!
//! # Data files
//!
//! `builtins/*.txt` hold one entry per line, sorted bytewise and deduplicated,
//! after a header line starting with `# generated`. Only that first line is a
//! comment: operator names such as `#`, `##` and `#>>` are ordinary entries.
//! `functions.txt` lines are `name<TAB>volatility` (`i`, `s` or `v`), with
//! the most volatile overload of each name (v > s > i); e.g. `ts_rewrite` is
//! `v` because its `(tsquery, text)` overload runs a query given as text.
//!
//! # Regenerating
//!
//! Against a scratch PostgreSQL 15 cluster fresh from `initdb` (no
//! extensions), with `H` set to the header line shown in the files:
//!
//! ```sh
//! P="psql -X -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $PORT -U postgres -d postgres"
//! { echo "$H"; $P -F "$(printf '\t')" -f functions.sql; } > builtins/functions.txt
//! { echo "$H"; $P -f relations.sql; } > builtins/relations.txt   # likewise for the others
//! ```
//!
//! The queries (one per file):
//!
//! ```sql
//! -- functions.txt (all prokinds: f, a, w, p)
//! SELECT proname,
//!        CASE max(CASE provolatile WHEN 'i' THEN 0 WHEN 's' THEN 1 ELSE 2 END)
//!             WHEN 0 THEN 'i' WHEN 1 THEN 's' ELSE 'v' END
//! FROM pg_proc
//! WHERE pronamespace = 'pg_catalog'::regnamespace
//! GROUP BY proname
//! ORDER BY proname COLLATE "C";
//!
//! -- relations.txt
//! SELECT DISTINCT relname COLLATE "C" FROM pg_class
//! WHERE relnamespace = 'pg_catalog'::regnamespace
//!   AND relkind IN ('r', 'v', 'm', 'p', 'f', 'S')
//! ORDER BY 1;
//!
//! -- operators.txt
//! SELECT DISTINCT oprname COLLATE "C" FROM pg_operator
//! WHERE oprnamespace = 'pg_catalog'::regnamespace
//! ORDER BY 1;
//!
//! -- types.txt
//! SELECT DISTINCT typname COLLATE "C" FROM pg_type
//! WHERE typnamespace = 'pg_catalog'::regnamespace
//! ORDER BY 1;
//! ```
//!
//! To review [`HARMLESS_VOLATILE`] after regenerating, list the volatile
//! built-ins with their descriptions:
//!
//! ```sql
//! SELECT proname, pg_get_function_identity_arguments(oid),
//!        obj_description(oid, 'pg_proc')
//! FROM pg_proc
//! WHERE pronamespace = 'pg_catalog'::regnamespace AND provolatile = 'v'
//! ORDER BY proname COLLATE "C";
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

/// A function's `pg_proc.provolatile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Volatility {
    /// `i`: same result for the same arguments, no side effects.
    Immutable,
    /// `s`: same result within one statement, no side effects (as declared).
    Stable,
    /// `v`: anything, including side effects.
    Volatile,
}

/// Volatile `pg_catalog` functions that change nothing outside the
/// statement's own result: they read nothing beyond the role's ordinary
/// data (and the clock), and write, lock, signal or reconfigure nothing.
///
/// Deliberately left out (among all the obviously effectful ones):
/// `setseed` and `set_config` (session state); `currval`, `lastval`,
/// `pg_sequence_last_value` (sequences; `currval`'s `regclass` argument
/// names a relation inside a literal); `pg_relation_size`,
/// `pg_table_size`, `pg_total_relation_size`, `pg_indexes_size`,
/// `pg_database_size`, `pg_tablespace_size` (stat data files);
/// `pg_is_in_recovery`, `pg_jit_available` (server state; the latter may
/// load the JIT library); `pg_collation_actual_version`,
/// `pg_database_collation_actual_version` (ask the OS);
/// `pg_xact_status`, `txid_status`, `pg_xact_commit_timestamp*`,
/// `pg_last_committed_xact` (other transactions' commit state);
/// `pg_stat_get_xact_*`, `pg_stat_have_stats`, `pg_stat_clear_snapshot`
/// (statistics subsystem); `pg_sleep*` (holds a backend);
/// `query_to_xml*`, `ts_stat`, `ts_rewrite`, `cursor_to_xml*`, `currtid2`
/// (run SQL given as text, advance a cursor, or read a relation named in a
/// string, all invisible to the classifier). `random_normal` would qualify
/// but only exists from PostgreSQL 16 on.
pub const HARMLESS_VOLATILE: &[&str] = &[
    // Wall clock: volatile only because the time moves during a statement.
    "clock_timestamp",
    "timeofday",
    // Randomness: touches only this backend's own PRNG / the OS entropy pool.
    "gen_random_uuid",
    "random",
    // The text of the statement the client itself just sent.
    "current_query",
    // Partition hierarchy from the world-readable catalog (pg_inherits); at
    // most AccessShareLock on the partitions, the same lock a SELECT takes.
    "pg_partition_ancestors",
    "pg_partition_tree",
];

static FUNCTIONS_TXT: &str = include_str!("builtins/functions.txt");
static RELATIONS_TXT: &str = include_str!("builtins/relations.txt");
static OPERATORS_TXT: &str = include_str!("builtins/operators.txt");
static TYPES_TXT: &str = include_str!("builtins/types.txt");

static FUNCTIONS: LazyLock<HashMap<&'static str, Volatility>> = LazyLock::new(|| {
    entries(FUNCTIONS_TXT)
        .map(|line| {
            let (name, volatility) = line
                .split_once('\t')
                .unwrap_or_else(|| panic!("builtins/functions.txt: no tab in {line:?}"));
            let volatility = match volatility {
                "i" => Volatility::Immutable,
                "s" => Volatility::Stable,
                "v" => Volatility::Volatile,
                other => panic!("builtins/functions.txt: bad volatility {other:?} for {name}"),
            };
            (name, volatility)
        })
        .collect()
});
static RELATIONS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| entries(RELATIONS_TXT).collect());
static OPERATORS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| entries(OPERATORS_TXT).collect());
static TYPES: LazyLock<HashSet<&'static str>> = LazyLock::new(|| entries(TYPES_TXT).collect());

/// The entries of a data file: every non-empty line after the `# generated`
/// header. Later lines starting with `#` are entries (operators `#`, `##`).
fn entries(text: &'static str) -> impl Iterator<Item = &'static str> {
    let body = match text.strip_prefix("# generated") {
        Some(header_rest) => header_rest.split_once('\n').map_or("", |(_, rest)| rest),
        None => text,
    };
    body.lines()
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .filter(|line| !line.is_empty())
}

/// The most volatile overload of a pg_catalog function with this name.
pub fn function(name: &str) -> Option<Volatility> {
    FUNCTIONS.get(name).copied()
}

/// Volatile built-ins that change nothing outside the statement's own result
/// (`random()`, `clock_timestamp()`, `gen_random_uuid()`, ...); see
/// [`HARMLESS_VOLATILE`].
pub fn is_harmless_volatile(name: &str) -> bool {
    HARMLESS_VOLATILE.contains(&name)
}

/// A table, view, materialized view, sequence or foreign table in pg_catalog.
pub fn is_relation(name: &str) -> bool {
    RELATIONS.contains(name)
}

/// An operator name defined in pg_catalog (for any operand types).
pub fn is_operator(symbol: &str) -> bool {
    OPERATORS.contains(symbol)
}

/// A type name in pg_catalog (internal spellings: `int4`, `_text`, ...).
pub fn is_type(name: &str) -> bool {
    TYPES.contains(name)
}

#[cfg(test)]
mod tests {
    use super::Volatility::{Immutable, Stable, Volatile};
    use super::*;

    #[test]
    fn function_volatility() {
        assert_eq!(function("lower"), Some(Immutable));
        assert_eq!(function("now"), Some(Stable));
        assert_eq!(function("lo_export"), Some(Volatile));
        assert_eq!(function("pg_read_file"), Some(Volatile));
        assert_eq!(function("nextval"), Some(Volatile));
        assert_eq!(function("set_config"), Some(Volatile));
        // Aggregates and window functions are included.
        assert_eq!(function("count"), Some(Immutable));
        assert_eq!(function("row_number"), Some(Immutable));
        // Mixed overloads keep the most volatile one.
        assert_eq!(function("to_tsvector"), Some(Stable));
        assert_eq!(function("ts_rewrite"), Some(Volatile));
        // Case-sensitive, catalog spelling only; no user functions.
        assert_eq!(function("LOWER"), None);
        assert_eq!(function("my_func"), None);
        assert_eq!(function(""), None);
    }

    #[test]
    fn relations() {
        assert!(is_relation("pg_class"));
        assert!(is_relation("pg_stat_activity"));
        assert!(is_relation("pg_settings"));
        assert!(!is_relation("accounts"));
        assert!(!is_relation("PG_CLASS"));
        // Indexes are not relations here.
        assert!(!is_relation("pg_class_oid_index"));
    }

    #[test]
    fn operators() {
        assert!(is_operator("="));
        assert!(is_operator("||"));
        assert!(is_operator("->>"));
        assert!(is_operator("@>"));
        // Operators that look like comments survive the header handling.
        assert!(is_operator("#"));
        assert!(is_operator("#>>"));
        assert!(!is_operator("###"));
        assert!(!is_operator(""));
    }

    #[test]
    fn types() {
        assert!(is_type("int4"));
        assert!(is_type("text"));
        assert!(is_type("_int4"));
        assert!(is_type("jsonb"));
        assert!(!is_type("integer"));
        assert!(!is_type("my_enum"));
    }

    #[test]
    fn harmless_volatile_entries_are_volatile_builtins() {
        for &name in HARMLESS_VOLATILE {
            assert_eq!(function(name), Some(Volatile), "{name}");
            assert!(is_harmless_volatile(name), "{name}");
        }
        for name in ["random", "clock_timestamp", "timeofday", "gen_random_uuid"] {
            assert!(is_harmless_volatile(name), "{name}");
        }
        for name in [
            "set_config",
            "setseed",
            "nextval",
            "setval",
            "currval",
            "lastval",
            "lo_import",
            "lo_export",
            "pg_read_file",
            "pg_read_binary_file",
            "pg_ls_dir",
            "pg_stat_file",
            "pg_terminate_backend",
            "pg_cancel_backend",
            "pg_reload_conf",
            "pg_rotate_logfile",
            "pg_advisory_lock",
            "pg_notify",
            "pg_sleep",
            "pg_logical_emit_message",
            "pg_switch_wal",
            "pg_create_logical_replication_slot",
            "pg_stat_reset",
            "txid_current",
            "query_to_xml",
            "now",
            "lower",
        ] {
            assert!(!is_harmless_volatile(name), "{name}");
        }
    }

    #[test]
    fn data_files_are_sorted_and_unique() {
        for (file, text) in [
            ("functions", FUNCTIONS_TXT),
            ("relations", RELATIONS_TXT),
            ("operators", OPERATORS_TXT),
            ("types", TYPES_TXT),
        ] {
            assert!(text.starts_with("# generated from PostgreSQL 15"), "{file}");
            let keys: Vec<&str> = entries(text)
                .map(|line| line.split('\t').next().unwrap_or(line))
                .collect();
            assert!(keys.len() > 50, "{file}: only {} entries", keys.len());
            assert!(
                keys.windows(2).all(|w| w[0] < w[1]),
                "{file} not sorted/unique"
            );
        }
        assert_eq!(FUNCTIONS.len(), entries(FUNCTIONS_TXT).count());
    }
}
