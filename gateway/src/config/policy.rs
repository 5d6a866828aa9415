//! `[[allow]]`, `[[deny]]` and `[[baseline_override]]`: checked and compiled
//! into the policy the gateway judges statements with.

use std::collections::HashSet;

use toml::Spanned;

use super::{file, ConfigError, Identity, Validator};
use crate::policy::{
    decide::is_untrusted_language,
    facts::{Actions, BaselineCheck},
    rules::{BaselineOverride, FunctionPattern, ObjectPattern, Policy, Rule, RuleKind, Subjects},
};

impl Validator<'_> {
    pub(super) fn policy(
        &self,
        allow: Vec<file::RuleTable>,
        deny: Vec<file::RuleTable>,
        overrides: Vec<file::OverrideTable>,
        identities: &[Identity],
    ) -> Result<Policy, ConfigError> {
        let mut names = HashSet::new();
        let mut policy = Policy::default();
        for (table, kind) in allow
            .into_iter()
            .map(|t| (t, RuleKind::Allow))
            .chain(deny.into_iter().map(|t| (t, RuleKind::Deny)))
        {
            self.unique_name(&mut names, &table.name)?;
            policy.rules.push(self.rule(table, kind, identities)?);
        }
        for table in overrides {
            self.unique_name(&mut names, &table.name)?;
            policy
                .overrides
                .push(self.baseline_override(table, identities)?);
        }
        for o in &policy.overrides {
            tracing::warn!(
                rule = %o.name,
                check = o.check.name(),
                reason = %o.reason,
                "the configuration overrides a baseline check"
            );
        }
        Ok(policy)
    }

    /// Rule names are unique within one family (policy rules, masking
    /// rules): refusals and recordings quote them.
    pub(super) fn unique_name(
        &self,
        names: &mut HashSet<String>,
        name: &Spanned<String>,
    ) -> Result<(), ConfigError> {
        if name.get_ref().trim().is_empty() {
            return Err(self.error(name, "name", "a rule needs a name (refusals quote it)"));
        }
        if !names.insert(name.get_ref().clone()) {
            return Err(self.error(
                name,
                "name",
                format!("rule \"{}\" is defined twice", name.get_ref()),
            ));
        }
        Ok(())
    }

    /// Who a rule applies to (`identities`, `groups`): at least one of them.
    pub(super) fn subjects(
        &self,
        name: &Spanned<String>,
        identities_field: Option<Spanned<Vec<String>>>,
        groups_field: Option<Spanned<Vec<String>>>,
        identities: &[Identity],
    ) -> Result<Subjects, ConfigError> {
        let subjects = self.known_subjects(
            (identities_field, "identities"),
            (groups_field, "groups"),
            identities,
        )?;
        if subjects.identities.is_empty() && subjects.groups.is_empty() {
            return Err(self.error(
                name,
                "identities",
                format!(
                    "rule \"{}\" applies to nobody: give identities or groups (\"*\" for everyone)",
                    name.get_ref()
                ),
            ));
        }
        Ok(subjects)
    }

    /// Identity and group lists (under the given field names), each name
    /// defined by some `[[identity]]`, or `*`.
    pub(super) fn known_subjects(
        &self,
        (identities_field, identities_key): (Option<Spanned<Vec<String>>>, &str),
        (groups_field, groups_key): (Option<Spanned<Vec<String>>>, &str),
        identities: &[Identity],
    ) -> Result<Subjects, ConfigError> {
        let mut subjects = Subjects::default();
        if let Some(list) = identities_field {
            for identity in list.get_ref() {
                if identity != "*" && !identities.iter().any(|i| &i.name == identity) {
                    return Err(self.error(
                        &list,
                        identities_key,
                        format!("no [[identity]] is named \"{identity}\""),
                    ));
                }
            }
            subjects.identities = list.into_inner();
        }
        if let Some(list) = groups_field {
            for group in list.get_ref() {
                if group != "*" && !identities.iter().any(|i| i.groups.contains(group)) {
                    return Err(self.error(
                        &list,
                        groups_key,
                        format!("no [[identity]] is in group \"{group}\""),
                    ));
                }
            }
            subjects.groups = list.into_inner();
        }
        Ok(subjects)
    }

    fn rule(
        &self,
        table: file::RuleTable,
        kind: RuleKind,
        identities: &[Identity],
    ) -> Result<Rule, ConfigError> {
        let subjects = self.subjects(&table.name, table.identities, table.groups, identities)?;
        let mut actions = Actions::default();
        if let Some(words) = &table.actions {
            for word in words.get_ref() {
                let parsed = Actions::parse_word(word).ok_or_else(|| {
                    self.error(words, "actions", format!(
                        "unknown action \"{word}\"; use read, insert, update, delete, merge, truncate, write, ddl, admin, utility or all"
                    ))
                })?;
                parsed.iter().for_each(|a| actions.insert(a));
            }
        } else if kind == RuleKind::Deny && table.objects.is_some() {
            actions = Actions::all();
        }
        let objects = match &table.objects {
            Some(list) => list
                .get_ref()
                .iter()
                .map(|p| ObjectPattern::parse(p).map_err(|m| self.error(list, "objects", m)))
                .collect::<Result<Vec<_>, _>>()?,
            None => vec![ObjectPattern::Any],
        };
        let functions = match &table.functions {
            Some(list) => list
                .get_ref()
                .iter()
                .map(|p| FunctionPattern::parse(p).map_err(|m| self.error(list, "functions", m)))
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        let languages = match table.languages {
            Some(list) => {
                if kind == RuleKind::Allow {
                    if let Some(bad) = list.get_ref().iter().find(|l| is_untrusted_language(l)) {
                        return Err(self.error(&list, "languages", format!(
                            "\"{bad}\" is an untrusted language; the gateway never allows code in one"
                        )));
                    }
                }
                list.into_inner()
            }
            None => Vec::new(),
        };
        let fast_path_calls = table
            .fast_path_calls
            .map(Spanned::into_inner)
            .unwrap_or(false);
        let require_approval = match table.require_approval {
            Some(flag) if kind == RuleKind::Deny => {
                return Err(self.error(
                    &flag,
                    "require_approval",
                    "only an allow rule can ask for approval",
                ))
            }
            Some(flag) => flag.into_inner(),
            None => false,
        };
        if actions.is_empty() && functions.is_empty() && languages.is_empty() && !fast_path_calls {
            return Err(self.error(&table.name, "actions", format!(
                "rule \"{}\" names no actions, functions, languages or fast_path_calls, so it would do nothing",
                table.name.get_ref()
            )));
        }
        Ok(Rule {
            name: table.name.into_inner(),
            kind,
            subjects,
            actions,
            objects,
            functions,
            languages,
            fast_path_calls,
            require_approval,
        })
    }

    fn baseline_override(
        &self,
        table: file::OverrideTable,
        identities: &[Identity],
    ) -> Result<BaselineOverride, ConfigError> {
        let subjects = self.subjects(&table.name, table.identities, table.groups, identities)?;
        let check = BaselineCheck::from_name(table.check.get_ref()).ok_or_else(|| {
            let known: Vec<&str> = BaselineCheck::ALL.iter().map(|c| c.name()).collect();
            self.error(
                &table.check,
                "check",
                format!(
                    "unknown baseline check \"{}\"; one of: {}",
                    table.check.get_ref(),
                    known.join(", ")
                ),
            )
        })?;
        let reason = match table.reason {
            Some(reason) if !reason.get_ref().trim().is_empty() => reason.into_inner(),
            _ => return Err(self.error(
                &table.name,
                "reason",
                "a baseline override needs a reason (it is logged whenever the override is used)",
            )),
        };
        Ok(BaselineOverride {
            name: table.name.into_inner(),
            check,
            subjects,
            reason,
        })
    }
}
