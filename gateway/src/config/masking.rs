//! `[masking]`, `[[mask]]` and `[[detect]]`: checked and compiled into the
//! masking policy (docs/masking.md).

use std::collections::HashSet;

use toml::Spanned;

use super::{file, ConfigError, Identity, Validator};
use crate::masking::{
    rules::allowable_uses, ColumnPattern, DetectRule, HashKey, Kind, KindSet, Mask, MaskPolicy,
    MaskRule,
};

impl Validator<'_> {
    pub(super) fn masking(
        &self,
        settings: Option<file::MaskingTable>,
        masks: Vec<file::MaskTable>,
        detects: Vec<file::DetectTable>,
        identities: &[Identity],
    ) -> Result<MaskPolicy, ConfigError> {
        // Read now, so a bad key stops a start or a reload, not a session.
        let hash_key = match settings.and_then(|s| s.hash_key_file) {
            Some(file) => Some(
                HashKey::load(file.get_ref()).map_err(|m| self.error(&file, "hash_key_file", m))?,
            ),
            None => None,
        };
        let mut names = HashSet::new();
        let mut rules = Vec::new();
        for table in masks {
            self.unique_name(&mut names, &table.name)?;
            rules.push(self.mask_rule(table, hash_key.is_some(), identities)?);
        }
        let mut detect_rules = Vec::new();
        for table in detects {
            self.unique_name(&mut names, &table.name)?;
            detect_rules.push(self.detect_rule(table, identities)?);
        }
        Ok(MaskPolicy::new(rules, detect_rules, hash_key))
    }

    fn mask_rule(
        &self,
        table: file::MaskTable,
        have_key: bool,
        identities: &[Identity],
    ) -> Result<MaskRule, ConfigError> {
        if table.columns.get_ref().is_empty() {
            return Err(self.error(
                &table.columns,
                "columns",
                "names no columns; give schema.table.column, table.column or column patterns",
            ));
        }
        let patterns = table
            .columns
            .get_ref()
            .iter()
            .map(|p| ColumnPattern::parse(p).map_err(|m| self.error(&table.columns, "columns", m)))
            .collect::<Result<Vec<_>, _>>()?;
        let name = table.mask.get_ref().as_str();
        if let Some(text) = &table.text {
            if name != "redact" {
                return Err(self.error(text, "text", "is only used with mask = \"redact\""));
            }
        }
        let mask = Mask::from_name(name, table.text.map(Spanned::into_inner)).ok_or_else(|| {
            self.error(
                &table.mask,
                "mask",
                format!(
                    "unknown mask \"{name}\"; one of: {}",
                    Mask::NAMES.join(", ")
                ),
            )
        })?;
        if mask.needs_key() && !have_key {
            return Err(self.error(
                &table.mask,
                "mask",
                "mask = \"hash\" needs [masking] hash_key_file (the deployment's secret hash key)",
            ));
        }
        let exempt = self.known_subjects(
            (table.exempt_identities, "exempt_identities"),
            (table.exempt_groups, "exempt_groups"),
            identities,
        )?;
        let allowed_uses = match table.allow_uses {
            Some(list) => {
                if let Some(bad) = list
                    .get_ref()
                    .iter()
                    .find(|u| !allowable_uses().any(|known| known == u.as_str()))
                {
                    return Err(self.error(
                        &list,
                        "allow_uses",
                        format!(
                            "unknown use \"{bad}\"; any of: {}",
                            allowable_uses().collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
                list.into_inner()
            }
            None => Vec::new(),
        };
        Ok(MaskRule {
            name: table.name.into_inner(),
            patterns,
            mask,
            exempt,
            allowed_uses,
        })
    }

    fn detect_rule(
        &self,
        table: file::DetectTable,
        identities: &[Identity],
    ) -> Result<DetectRule, ConfigError> {
        let subjects = self.subjects(&table.name, table.identities, table.groups, identities)?;
        let mut kinds = KindSet::default();
        for word in table.kinds.get_ref() {
            if word == "all" {
                kinds = KindSet::all();
                continue;
            }
            let kind = Kind::from_name(word).ok_or_else(|| {
                let known: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
                self.error(
                    &table.kinds,
                    "kinds",
                    format!(
                        "unknown kind \"{word}\"; all, or any of: {}",
                        known.join(", ")
                    ),
                )
            })?;
            kinds.insert(kind);
        }
        if kinds.is_empty() {
            return Err(self.error(
                &table.kinds,
                "kinds",
                format!(
                    "rule \"{}\" detects nothing; give kinds (\"all\" for every detector)",
                    table.name.get_ref()
                ),
            ));
        }
        Ok(DetectRule {
            name: table.name.into_inner(),
            subjects,
            kinds,
        })
    }
}

#[cfg(test)]
mod tests;
