//! What a binding or an exemption applies to: a cgroup path or a systemd unit.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Subject {
    /// A cgroup2 path relative to the cgroup2 mount, starting with "/".
    Cgroup(String),
    /// A systemd unit name (`x.service`, `x.scope`, `x.slice`).
    Unit(String),
}

const UNIT_SUFFIXES: [&str; 3] = [".service", ".scope", ".slice"];

impl Subject {
    /// The TOML key this subject is written under.
    pub fn key(&self) -> &'static str {
        match self {
            Subject::Cgroup(_) => "cgroup",
            Subject::Unit(_) => "unit",
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        match self {
            Subject::Cgroup(path) => {
                if !path.starts_with('/') {
                    return Err(format!(
                        "cgroup \"{path}\" must be a path under the cgroup2 mount starting with \"/\""
                    ));
                }
                if path.split('/').any(|c| c == "." || c == "..") {
                    return Err(format!(
                        "cgroup \"{path}\" must not contain \".\" or \"..\""
                    ));
                }
                Ok(())
            }
            Subject::Unit(unit) => {
                if unit.contains('/')
                    || !UNIT_SUFFIXES
                        .iter()
                        .any(|s| unit.len() > s.len() && unit.ends_with(s))
                {
                    return Err(format!(
                        "unit \"{unit}\" must be a systemd unit name ending in .service, .scope or .slice"
                    ));
                }
                Ok(())
            }
        }
    }

    /// A cgroup path with trailing slashes and repeated slashes removed.
    pub fn normalized(self) -> Self {
        match self {
            Subject::Cgroup(path) => {
                let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
                Subject::Cgroup(format!("/{}", parts.join("/")))
            }
            unit => unit,
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Cgroup(path) => write!(f, "cgroup {path}"),
            Subject::Unit(unit) => write!(f, "unit {unit}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(Subject::Cgroup("/ci.slice/job-1".into()).validate().is_ok());
        assert!(Subject::Cgroup("ci.slice".into()).validate().is_err());
        assert!(Subject::Cgroup("/a/../b".into()).validate().is_err());
        assert!(Subject::Unit("gitlab-runner.service".into())
            .validate()
            .is_ok());
        assert!(Subject::Unit("gitlab-runner".into()).validate().is_err());
        assert!(Subject::Unit(".service".into()).validate().is_err());
    }

    #[test]
    fn cgroup_paths_are_normalized() {
        assert_eq!(
            Subject::Cgroup("//a//b/".into()).normalized(),
            Subject::Cgroup("/a/b".into())
        );
        assert_eq!(
            Subject::Cgroup("/".into()).normalized(),
            Subject::Cgroup("/".into())
        );
    }

    #[test]
    fn json_shape_is_keyed_by_kind() {
        let json = serde_json::to_string(&Subject::Unit("x.service".into())).unwrap();
        assert_eq!(json, r#"{"unit":"x.service"}"#);
    }
}
