//! What the database itself defines that changes what a statement runs:
//! functions and operators in the session's search path that may be chosen
//! over a built-in of the same name, and casts that run a user function.
//! Read once per session at upstream login (with the pinned search_path).

use std::collections::{HashMap, HashSet};

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
}

impl SessionCatalog {
    /// Takes one row of [`CATALOG_SQL`].
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
            _ => {}
        }
    }
}
