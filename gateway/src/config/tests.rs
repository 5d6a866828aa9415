use std::path::Path;

use super::*;

const MINIMAL: &str = r#"
[[endpoint]]
name = "main"
addresses = ["127.0.0.1:5432", "[::1]:5432"]

[[credential]]
role = "cordon_ci"
password = "pw"

[[identity]]
name = "ci"
role = "cordon_ci"

[[bind]]
cgroup = "/ci.slice/job-1/"
identity = "ci"

[[exempt]]
unit = "postgresql.service"
reason = "the database itself"
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/etc/cordon/cordon.toml"), text)
}

#[test]
fn defaults_fill_absent_tables() {
    let config = parse(MINIMAL).expect("valid");
    assert_eq!(config.gateway.listen_port, DEFAULT_LISTEN_PORT);
    assert_eq!(config.intercept.socket_mark, DEFAULT_SOCKET_MARK);
    assert_eq!(config.intercept.attach_cgroup, "/");
    assert_eq!(config.endpoints[0].tls, UpstreamTls::Prefer);
    assert_eq!(
        config.bindings[0].subject,
        Subject::Cgroup("/ci.slice/job-1".into())
    );
    assert_eq!(
        config.exempt[0].reason.as_deref(),
        Some("the database itself")
    );
    assert_eq!(
        config
            .credential("cordon_ci")
            .unwrap()
            .resolve_password()
            .unwrap()
            .as_deref(),
        Some("pw")
    );
}

fn error_of(text: &str) -> String {
    parse(text).expect_err("should be refused").to_string()
}

#[test]
fn unknown_identity_is_located() {
    let text = MINIMAL.replace("identity = \"ci\"", "identity = \"nobody\"");
    let e = error_of(&text);
    assert!(
        e.starts_with("/etc/cordon/cordon.toml:16:12: field `identity`:"),
        "{e}"
    );
    assert!(e.contains("\"nobody\" is not defined"), "{e}");
}

#[test]
fn role_without_credential_is_refused() {
    let text = MINIMAL.replace(
        "role = \"cordon_ci\"\n\n[[bind]]",
        "role = \"other\"\n\n[[bind]]",
    );
    assert!(error_of(&text).contains("field `role`: role \"other\" has no [[credential]]"));
}

#[test]
fn bad_subjects_are_refused() {
    let text = MINIMAL.replace("cgroup = \"/ci.slice/job-1/\"", "cgroup = \"ci.slice\"");
    assert!(error_of(&text).contains("field `cgroup`"));
    let text = MINIMAL.replace("unit = \"postgresql.service\"", "unit = \"postgresql\"");
    assert!(error_of(&text).contains("field `unit`"));
    let text = MINIMAL.replace(
        "unit = \"postgresql.service\"",
        "cgroup = \"/ci.slice/job-1\"",
    );
    assert!(error_of(&text).contains("both bound and exempt"));
}

#[test]
fn type_errors_name_the_key() {
    let text = format!("[gateway]\nlisten_port = \"fast\"\n{MINIMAL}");
    let e = error_of(&text);
    assert!(
        e.contains(":2:") && e.contains("field `listen_port`"),
        "{e}"
    );
}

#[test]
fn endpoint_problems() {
    assert!(error_of("").contains("no [[endpoint]]"));
    let text = MINIMAL.replace("\"127.0.0.1:5432\", ", "\"0.0.0.0:5432\", ");
    assert!(error_of(&text).contains("wildcard"));
    let text = MINIMAL.replace("\"127.0.0.1:5432\", ", "\"127.0.0.1:15432\", ");
    assert!(error_of(&text).contains("gateway's own listener"));
}

#[test]
fn password_files_must_be_private() {
    let dir = std::env::temp_dir().join(format!("cordon-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("secret");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let text = MINIMAL.replace(
        "password = \"pw\"",
        &format!("password_file = {:?}", secret.display().to_string()),
    );
    let config = parse(&text).unwrap();
    let credential = config.credential("cordon_ci").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = credential.resolve_password().unwrap_err().to_string();
    assert!(
        e.contains("field `password_file`") && e.contains("chmod 600"),
        "{e}"
    );
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(
        credential.resolve_password().unwrap().as_deref(),
        Some("s3cret")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn upstream_tls_settings_must_fit_the_mode() {
    let endpoint = "addresses = [\"127.0.0.1:5432\", \"[::1]:5432\"]";
    let with = |extra: &str| MINIMAL.replace(endpoint, &format!("{endpoint}\n{extra}"));
    let e = error_of(&with("tls = \"verify-full\""));
    assert!(
        e.contains("field `tls`") && e.contains("need tls_ca"),
        "{e}"
    );
    let e = error_of(&with("tls = \"require\"\ntls_ca = \"/etc/ca.pem\""));
    assert!(e.contains("field `tls_ca`"), "{e}");
    let e = error_of(&with(
        "tls = \"verify-ca\"\ntls_ca = \"/etc/ca.pem\"\ntls_server_name = \"db\"",
    ));
    assert!(e.contains("field `tls_server_name`"), "{e}");
    let e = error_of(&with("tls = \"verify-everything\""));
    assert!(e.contains("field `tls`"), "{e}");
    let config = parse(&with(
        "tls = \"verify-full\"\ntls_ca = \"/etc/ca.pem\"\ntls_server_name = \"db.internal\"",
    ))
    .unwrap();
    assert_eq!(config.endpoints[0].tls, UpstreamTls::VerifyFull);
    assert_eq!(
        config.endpoints[0].tls_server_name.as_deref(),
        Some("db.internal")
    );
}

#[test]
fn policy_rules_are_checked_and_located() {
    let rule = |body: &str| format!("{MINIMAL}\n[[allow]]\nname = \"r\"\n{body}\n");
    let e = error_of(&rule("identities = [\"ci\"]\nactions = [\"reed\"]"));
    assert!(
        e.contains(":25:")
            && e.contains("field `actions`")
            && e.contains("unknown action \"reed\""),
        "{e}"
    );
    let e = error_of(&rule("identities = [\"nobody\"]\nactions = [\"read\"]"));
    assert!(
        e.contains("field `identities`") && e.contains("\"nobody\""),
        "{e}"
    );
    let e = error_of(&rule(
        "groups = [\"ci\"]\nactions = [\"read\"]\nobjects = [\"orders\"]",
    ));
    assert!(e.contains("field `groups`"), "{e}");
    let e = error_of(&rule(
        "identities = [\"ci\"]\nactions = [\"read\"]\nobjects = [\"orders\"]",
    ));
    assert!(
        e.contains("field `objects`") && e.contains("schema.name"),
        "{e}"
    );
    let e = error_of(&rule("identities = [\"ci\"]\nlanguages = [\"plpython3u\"]"));
    assert!(e.contains("untrusted"), "{e}");
    let e = error_of(&rule("identities = [\"ci\"]"));
    assert!(e.contains("would do nothing"), "{e}");
    let e = error_of(&format!(
        "{MINIMAL}\n[[baseline_override]]\nname = \"o\"\ncheck = \"drop-database\"\nidentities = [\"ci\"]\n"
    ));
    assert!(e.contains("field `reason`"), "{e}");
    let ok = parse(&rule(
        "identities = [\"*\"]\nactions = [\"read\", \"write\"]\nobjects = [\"app.*\"]",
    ))
    .expect("valid");
    assert_eq!(ok.policy.rules.len(), 1);
}

#[test]
fn recording_sync_is_periodic_unless_each_result_is_asked() {
    assert_eq!(
        parse(MINIMAL).unwrap().recording.sync,
        RecordingSync::Periodic
    );
    let text = format!("{MINIMAL}\n[recording]\nsync = \"each-result\"\n");
    assert_eq!(
        parse(&text).unwrap().recording.sync,
        RecordingSync::EachResult
    );
    let text = format!("{MINIMAL}\n[recording]\nsync = \"always\"\n");
    let e = error_of(&text);
    assert!(e.contains(":23:8: field `sync`"), "{e}");
    assert!(e.contains("\"periodic\" or \"each-result\""), "{e}");
}
