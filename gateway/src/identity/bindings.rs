//! From a cgroup path to an identity. The nearest bound or exempt ancestor
//! decides, so binding `/agents.slice` covers every job started below it.

use std::collections::HashMap;

use crate::config::{Binding, Exemption, Subject};

use super::{Cgroup2, RuntimeBindings};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    Bound { identity: String, matched: Subject },
    Exempt { matched: Subject },
    Unbound,
}

/// Everything an operator declared, indexed by subject.
#[derive(Debug, Default)]
pub struct Bindings {
    runtime: HashMap<Subject, String>,
    config: HashMap<Subject, String>,
    exempt: Vec<Subject>,
}

impl Bindings {
    pub fn new(config: &[Binding], runtime: &RuntimeBindings, exempt: &[Exemption]) -> Self {
        Self {
            runtime: runtime
                .entries()
                .map(|(s, i)| (s.clone(), i.to_owned()))
                .collect(),
            config: config
                .iter()
                .map(|b| (b.subject.clone(), b.identity.clone()))
                .collect(),
            exempt: exempt.iter().map(|e| e.subject.clone()).collect(),
        }
    }

    /// Walks from the cgroup up to the root; at each level a runtime binding
    /// beats one from the file, and either beats an exemption.
    pub fn resolve(&self, cgroup: &str) -> Resolution {
        for level in ancestry(cgroup) {
            for subject in level.subjects() {
                if let Some(identity) = self
                    .runtime
                    .get(&subject)
                    .or_else(|| self.config.get(&subject))
                {
                    return Resolution::Bound {
                        identity: identity.clone(),
                        matched: subject,
                    };
                }
                if self.exempt.contains(&subject) {
                    return Resolution::Exempt { matched: subject };
                }
            }
        }
        Resolution::Unbound
    }
}

/// One cgroup on the way from a leaf to the root.
struct Level {
    path: String,
    /// Set when this directory is a system unit: its name, with only slices above.
    unit: Option<String>,
}

impl Level {
    fn subjects(&self) -> impl Iterator<Item = Subject> + '_ {
        std::iter::once(Subject::Cgroup(self.path.clone()))
            .chain(self.unit.clone().map(Subject::Unit))
    }
}

/// The cgroup and its ancestors, nearest first, ending with "/".
fn ancestry(cgroup: &str) -> Vec<Level> {
    let parts: Vec<&str> = cgroup.split('/').filter(|c| !c.is_empty()).collect();
    let mut levels: Vec<Level> = (0..=parts.len())
        .rev()
        .map(|depth| Level {
            path: format!("/{}", parts[..depth].join("/")),
            unit: None,
        })
        .collect();
    for depth in 1..=parts.len() {
        if parts[..depth - 1].iter().all(|p| p.ends_with(".slice"))
            && is_unit_name(parts[depth - 1])
        {
            levels[parts.len() - depth].unit = Some(parts[depth - 1].to_owned());
        }
    }
    levels
}

fn is_unit_name(name: &str) -> bool {
    [".service", ".scope", ".slice"]
        .iter()
        .any(|s| name.ends_with(s))
}

/// The cgroup ids the kernel lets connect directly. Units are found by
/// walking slices from the root, where systemd puts system units.
pub fn exempt_cgroup_ids(cgroup2: &Cgroup2, exempt: &[Exemption]) -> Vec<u64> {
    let mut ids = Vec::new();
    for exemption in exempt {
        match &exemption.subject {
            Subject::Cgroup(path) => ids.extend(cgroup2.id_of(path).ok()),
            Subject::Unit(unit) => {
                for path in unit_cgroups(cgroup2, unit) {
                    ids.extend(cgroup2.id_of(&path).ok());
                }
            }
        }
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Paths of cgroups named `unit` that sit below slices only.
fn unit_cgroups(cgroup2: &Cgroup2, unit: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut slices = vec![String::new()];
    while let Some(slice) = slices.pop() {
        let Ok(entries) = std::fs::read_dir(cgroup2.absolute(&slice)) else {
            continue;
        };
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = format!("{slice}/{name}");
            if name == unit {
                found.push(path.clone());
            }
            if name.ends_with(".slice") {
                slices.push(path);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bindings(config: &[(Subject, &str)], exempt: &[Subject]) -> Bindings {
        let config: Vec<Binding> = config
            .iter()
            .map(|(s, i)| Binding {
                subject: s.clone(),
                identity: (*i).into(),
            })
            .collect();
        let exempt: Vec<Exemption> = exempt
            .iter()
            .map(|s| Exemption {
                subject: s.clone(),
                reason: None,
            })
            .collect();
        Bindings::new(&config, &RuntimeBindings::default(), &exempt)
    }

    fn cg(p: &str) -> Subject {
        Subject::Cgroup(p.into())
    }

    #[test]
    fn nearest_ancestor_wins() {
        let b = bindings(
            &[
                (cg("/agents.slice"), "agent"),
                (cg("/agents.slice/special"), "special"),
            ],
            &[],
        );
        assert_eq!(
            b.resolve("/agents.slice/job-7/worker"),
            Resolution::Bound {
                identity: "agent".into(),
                matched: cg("/agents.slice")
            }
        );
        assert!(
            matches!(b.resolve("/agents.slice/special/x"), Resolution::Bound { identity, .. } if identity == "special")
        );
        assert_eq!(b.resolve("/other.slice/x"), Resolution::Unbound);
        assert_eq!(b.resolve("/agents"), Resolution::Unbound);
    }

    #[test]
    fn units_match_only_below_slices() {
        let b = bindings(&[(Subject::Unit("runner.service".into()), "ci")], &[]);
        assert!(matches!(
            b.resolve("/system.slice/runner.service"),
            Resolution::Bound { .. }
        ));
        assert!(matches!(
            b.resolve("/runner.service/child"),
            Resolution::Bound { .. }
        ));
        assert_eq!(
            b.resolve("/user.slice/user@0.service/app.slice/x/runner.service"),
            Resolution::Unbound
        );
    }

    #[test]
    fn exemptions_and_root_binding() {
        let b = bindings(
            &[(cg("/"), "default")],
            &[Subject::Unit("postgresql.service".into())],
        );
        assert_eq!(
            b.resolve("/system.slice/postgresql.service"),
            Resolution::Exempt {
                matched: Subject::Unit("postgresql.service".into())
            }
        );
        assert!(
            matches!(b.resolve("/anything"), Resolution::Bound { identity, .. } if identity == "default")
        );
    }
}
