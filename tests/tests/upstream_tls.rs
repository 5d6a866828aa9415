//! Upstream TLS verification against a server whose certificate a throwaway
//! CA signed for 127.0.0.1, 127.0.0.2, ::1 and db.cordon.test: verify-full
//! accepts it, refuses another CA and a name the certificate does not carry;
//! verify-ca checks only the chain.

use cordon_e2e::{
    cgroup::CgroupGuard,
    clients::{probe_field, probe_sql, psql, Conninfo},
    gateway::GatewayBuilder,
    postgres::{make_ca, TestPostgres, SERVER_DNS_NAME},
    require_root,
    tempdir::TempDir,
};

const ROLE: &str = "cordon_tls";
const PASSWORD: &str = "tls-role-secret";

#[test]
fn verify_full_and_verify_ca() {
    require_root();
    let pg = TestPostgres::start_with_ssl();
    pg.create_role(ROLE, PASSWORD);
    let right_ca = pg.ca_cert().expect("the server has a CA");
    let other = TempDir::new("cordon-test-ca");
    let wrong_ca = make_ca(other.path());
    let agent = CgroupGuard::unique("agent");
    let info = Conninfo::new("127.0.0.2", pg.port())
        .user("anyone")
        .password("wrong");
    let cases = [
        ("verify-full", &right_ca, None, None),
        ("verify-full", &right_ca, Some(SERVER_DNS_NAME), None),
        (
            "verify-full",
            &wrong_ca,
            None,
            Some("invalid peer certificate"),
        ),
        (
            "verify-full",
            &right_ca,
            Some("other.cordon.test"),
            Some("not valid for name"),
        ),
        ("verify-ca", &right_ca, None, None),
        (
            "verify-ca",
            &wrong_ca,
            None,
            Some("invalid peer certificate"),
        ),
    ];
    for (mode, ca, name, refusal) in cases {
        let what = format!("tls = {mode}, CA {}, server name {name:?}", ca.display());
        let mut builder = GatewayBuilder::new()
            .endpoint("tls", &[&format!("127.0.0.2:{}", pg.port())], mode)
            .endpoint_setting("tls_ca", &ca.display().to_string());
        if let Some(name) = name {
            builder = builder.endpoint_setting("tls_server_name", name);
        }
        let gateway = builder
            .credential(ROLE, PASSWORD)
            .identity("agent", ROLE, &[])
            .bind(agent.path(), "agent")
            .start();
        match refusal {
            None => {
                let out = psql(
                    &agent,
                    &info,
                    "SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                );
                out.expect_success(&what);
                assert_eq!(out.out(), format!("{ROLE}|t"), "{what}: {out}");
            }
            Some(reason) => {
                let out = probe_sql(&agent, &info, "SELECT 1");
                assert_eq!(
                    probe_field(&out, "sqlstate").as_deref(),
                    Some("08001"),
                    "{what}: {out}"
                );
                assert!(
                    out.out().contains(reason),
                    "{what}: should say {reason}: {out}"
                );
            }
        }
        drop(gateway);
    }
}

#[test]
fn check_config_reads_the_ca_file() {
    let dir = TempDir::new("cordon-check");
    let config = dir.path().join("cordon.toml");
    std::fs::write(
        &config,
        "[[endpoint]]\nname = \"main\"\naddresses = [\"127.0.0.1:5432\"]\ntls = \"verify-full\"\n\
         tls_ca = \"/nonexistent/ca.pem\"\n\n[[credential]]\nrole = \"r\"\n\n\
         [[identity]]\nname = \"i\"\nrole = \"r\"\n",
    )
    .unwrap();
    let out = cordon_e2e::process::run(
        std::process::Command::new(cordon_e2e::cordon_bin())
            .arg("check-config")
            .arg(&config),
        std::time::Duration::from_secs(30),
    );
    assert!(!out.success(), "{out}");
    assert!(out.stderr.contains("/nonexistent/ca.pem"), "{out}");
}
