//! Which of the client's startup parameters reach the server. Allow-listed:
//! `options` could set any GUC (search_path, role, ...) and arbitrary names
//! are GUCs too, so anything not listed here is dropped.

/// Parameters passed upstream unchanged (names compared case-insensitively).
const PASSED: &[&str] = &[
    "application_name",
    "datestyle",
    "timezone",
    "intervalstyle",
    "extra_float_digits",
];

/// What the gateway takes from the client's StartupMessage.
#[derive(Debug, PartialEq, Eq)]
pub struct ClientStartup {
    /// The user the client claimed; informational only, never an identity.
    pub claimed_user: Option<String>,
    pub database: Option<String>,
    /// Parameters to send upstream, client_encoding forced to UTF8.
    pub upstream: Vec<(String, String)>,
    /// Names dropped, for the log.
    pub dropped: Vec<String>,
    pub replication: bool,
    /// `_pq_.` protocol options the gateway does not support.
    pub protocol_options: Vec<String>,
}

pub fn filter(parameters: &[(String, String)]) -> ClientStartup {
    let mut out = ClientStartup {
        claimed_user: None,
        database: None,
        upstream: Vec::new(),
        dropped: Vec::new(),
        replication: false,
        protocol_options: Vec::new(),
    };
    for (name, value) in parameters {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "user" => out.claimed_user = Some(value.clone()),
            "database" => out.database = Some(value.clone()),
            "replication" => {
                out.replication = !matches!(value.as_str(), "false" | "off" | "no" | "0")
            }
            // The gateway always speaks UTF8 upstream (later phases read text).
            "client_encoding" => {}
            _ if lower.starts_with("_pq_.") => out.protocol_options.push(name.clone()),
            _ if PASSED.contains(&lower.as_str()) => {
                out.upstream.push((name.clone(), value.clone()))
            }
            _ => out.dropped.push(name.clone()),
        }
    }
    out.upstream.push(("client_encoding".into(), "UTF8".into()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn options_and_unknown_gucs_are_dropped() {
        let s = filter(&p(&[
            ("user", "agent"),
            ("database", "app"),
            ("options", "-c search_path=evil"),
            ("search_path", "evil"),
            ("application_name", "job"),
            ("client_encoding", "LATIN1"),
        ]));
        assert_eq!(s.claimed_user.as_deref(), Some("agent"));
        assert_eq!(s.database.as_deref(), Some("app"));
        assert_eq!(
            s.upstream,
            p(&[("application_name", "job"), ("client_encoding", "UTF8")])
        );
        assert_eq!(
            s.dropped,
            vec!["options".to_string(), "search_path".to_string()]
        );
        assert!(!s.replication);
    }

    #[test]
    fn replication_and_protocol_options_are_noticed() {
        let s = filter(&p(&[("replication", "database"), ("_pq_.x", "1")]));
        assert!(s.replication);
        assert_eq!(s.protocol_options, vec!["_pq_.x".to_string()]);
        assert!(!filter(&p(&[("replication", "false")])).replication);
    }
}
