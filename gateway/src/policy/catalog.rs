//! What the database itself defines that changes what a statement runs:
//! functions and operators in the session's search path that may be chosen
//! over a built-in of the same name, and casts that run a user function.
//! Read once per session at upstream login (with the pinned search_path).

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
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

/// Every function by OID, for sessions that may make fast-path calls (which name their
/// function by OID only); run after [`CATALOG_SQL`]. Rows are ('p', "OID RETURN-TYPE-OID",
/// the quoted, qualified name).
pub const FUNCTION_OIDS_SQL: &str =
    "SELECT 'p', p.oid::pg_catalog.text || ' ' || p.prorettype::pg_catalog.text, \
     pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(p.proname) \
     FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace";

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
    pub functions_by_oid: Arc<HashMap<u32, FastPathFunction>>,
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

/// The SQL a fast-path call of `function` (a quoted, qualified name) with
/// `arguments` arguments stands for: what the policy judges in its place.
pub fn fast_path_sql(function: &str, arguments: usize) -> String {
    let placeholders: Vec<String> = (1..=arguments).map(|n| format!("${n}")).collect();
    format!("SELECT {function}({})", placeholders.join(", "))
}
