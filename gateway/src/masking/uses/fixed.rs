//! A fixed set of masked relations: for tests, the corpus and `explain`-like
//! tools that have no catalog at hand.

use serde::Deserialize;

use super::{MaskedRelation, MaskedRelations};

/// Masked relations known by their qualified name; unqualified names resolve
/// in `search_path` order.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedRelations {
    pub search_path: Vec<String>,
    #[serde(rename = "relation", default)]
    pub relations: Vec<MaskedRelation>,
}

impl FixedRelations {
    /// Reads the TOML form: `search_path = [...]` and `[[relation]]` tables.
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }
}

impl MaskedRelations for FixedRelations {
    fn lookup(&self, schema: Option<&str>, name: &str) -> Option<MaskedRelation> {
        let find = |schema: &str| {
            let qualified = format!("{schema}.{name}");
            self.relations
                .iter()
                .find(|r| r.qualified == qualified)
                .cloned()
        };
        match schema {
            Some(schema) => find(schema),
            None => self.search_path.iter().find_map(|s| find(s)),
        }
    }

    fn any_masked(&self) -> bool {
        self.relations
            .iter()
            .any(|r| !r.columns.is_empty() || !r.derived.is_empty())
    }
}
