//! What the database itself defines that changes what a statement runs:
//! functions and operators in the session's search path that may be chosen
//! over a built-in of the same name, and casts that run a user function.
//! Read once per session at upstream login (with the pinned search_path).

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::{Arc, Mutex},
};

/// Run after the search_path is pinned; rows are (kind, name, detail).
pub const CATALOG_SQL: &str = "SELECT 'f', p.proname, '' FROM pg_catalog.pg_proc p \
     JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
     WHERE n.nspname = ANY (pg_catalog.current_schemas(false)) AND n.nspname <> 'pg_catalog' \
     UNION SELECT 'o', o.oprname, '' FROM pg_catalog.pg_operator o \
     JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace \
     WHERE n.nspname = ANY (pg_catalog.current_schemas(false)) AND n.nspname <> 'pg_catalog' \
     UNION SELECT 'c', t.typname, pn.nspname || '.' || p.proname FROM pg_catalog.pg_cast c \
     JOIN pg_catalog.pg_type t ON t.oid = c.casttarget \
     JOIN pg_catalog.pg_proc p ON p.oid = c.castfunc \
     JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace \
     WHERE pn.nspname <> 'pg_catalog'";

// The two queries below read the same rows: the digest is of exactly what the map holds.
/// A function's key and name, as [`FUNCTION_OIDS_SQL`] reads them.
macro_rules! function_columns {
    () => {
        "p.oid::pg_catalog.text || ' ' || p.prorettype::pg_catalog.text, \
         pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(p.proname)"
    };
}
macro_rules! every_function {
    () => {
        " FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
    };
}

/// Every function by OID, for sessions that may make fast-path calls (which name their
/// function by OID only). Rows are ('p', "OID RETURN-TYPE-OID", the quoted, qualified name).
pub const FUNCTION_OIDS_SQL: &str = concat!("SELECT 'p', ", function_columns!(), every_function!());

/// One row ('d', digest, ''): the rows [`FUNCTION_OIDS_SQL`] would read, hashed in OID
/// order, so a login reads the whole map only when it changed.
pub const FUNCTION_OIDS_DIGEST_SQL: &str = concat!(
    "SELECT 'd', pg_catalog.md5(pg_catalog.string_agg(pg_catalog.concat_ws(' ', ",
    function_columns!(),
    "), E'\\n' ORDER BY p.oid)), ''",
    every_function!()
);

/// A function a fast-path call may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastPathFunction {
    /// Schema-qualified and quoted: `pg_catalog.lo_open`.
    pub name: String,
    /// The OID of the type it returns.
    pub returns: u32,
}

/// The session's view of the database, as far as the policy needs it
/// (empty for `cordon explain`, which judges without a database).
#[derive(Debug, Clone, Default)]
pub struct SessionCatalog {
    /// Names of functions defined in the search path's own schemas.
    pub path_functions: HashSet<String>,
    /// Operator symbols defined in the search path's own schemas.
    pub path_operators: HashSet<String>,
    /// Type name → the user function a cast to it runs.
    pub cast_functions: HashMap<String, String>,
    /// Function OID → the function; read only for sessions whose identity may make
    /// fast-path calls.
    pub functions_by_oid: FunctionsByOid,
}

impl SessionCatalog {
    /// Takes one row of [`CATALOG_SQL`] or [`FUNCTION_OIDS_SQL`].
    pub fn add_row(&mut self, kind: &str, name: &str, detail: &str) {
        match kind {
            "f" => {
                self.path_functions.insert(name.to_owned());
            }
            "o" => {
                self.path_operators.insert(name.to_owned());
            }
            "c" => {
                self.cast_functions
                    .insert(name.to_owned(), detail.to_owned());
            }
            "p" => {
                let numbers = name.split_once(' ');
                let parsed = numbers
                    .and_then(|(oid, returns)| Some((oid.parse().ok()?, returns.parse().ok()?)));
                if let Some((oid, returns)) = parsed {
                    let function = FastPathFunction {
                        name: detail.to_owned(),
                        returns,
                    };
                    Arc::make_mut(&mut self.functions_by_oid).insert(oid, function);
                }
            }
            _ => {}
        }
    }
}

/// Function OID → the function.
pub type FunctionsByOid = Arc<HashMap<u32, FastPathFunction>>;

/// The function OIDs of each database, shared by its sessions: a login reads only a
/// digest of `pg_proc` ([`FUNCTION_OIDS_DIGEST_SQL`]), and the whole map
/// ([`FUNCTION_OIDS_SQL`]) only when no map of that digest is known. So each session
/// judges calls by the functions of its login's moment, and a thousand sessions hold
/// one map.
#[derive(Default)]
pub struct SharedFunctionOids {
    by_database: Mutex<HashMap<(SocketAddr, String), (String, FunctionsByOid)>>,
}

impl SharedFunctionOids {
    /// The map of `database` at `server` whose digest is `digest`, if known.
    pub fn get(&self, server: SocketAddr, database: &str, digest: &str) -> Option<FunctionsByOid> {
        let shared = self.lock();
        let (known, map) = shared.get(&(server, database.to_owned()))?;
        (known == digest).then(|| Arc::clone(map))
    }

    /// Keeps `map`, read under `digest`, as the one of `database` at `server`.
    pub fn put(&self, server: SocketAddr, database: &str, digest: String, map: FunctionsByOid) {
        self.lock()
            .insert((server, database.to_owned()), (digest, map));
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(SocketAddr, String), (String, FunctionsByOid)>> {
        // A panic elsewhere leaves the map whole: each change is a single insert.
        self.by_database.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The SQL a fast-path call of `function` (a quoted, qualified name) with
/// `arguments` arguments stands for: what the policy judges in its place.
pub fn fast_path_sql(function: &str, arguments: usize) -> String {
    let placeholders: Vec<String> = (1..=arguments).map(|n| format!("${n}")).collect();
    format!("SELECT {function}({})", placeholders.join(", "))
}
