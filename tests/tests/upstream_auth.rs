//! The gateway logs in upstream with whatever method the server's pg_hba.conf
//! demands of the role: SCRAM-SHA-256 (every other test), md5 and trust here.

use cordon_e2e::{cgroup::CgroupGuard, clients::psql, require_root, scenario::Scenario};

const MD5_ROLE: &str = "cordon_md5";
const MD5_PASSWORD: &str = "md5-only-secret";
const TRUST_ROLE: &str = "cordon_trust";

#[test]
fn md5_and_trust_roles_log_in_upstream() {
    require_root();
    let md5_agent = CgroupGuard::unique("md5-agent");
    let trust_agent = CgroupGuard::unique("trust-agent");
    let (md5_path, trust_path) = (md5_agent.path().to_owned(), trust_agent.path().to_owned());
    let s = Scenario::builder()
        .gateway(move |b, _| {
            b.credential(MD5_ROLE, MD5_PASSWORD)
                // A credential without a password: the role logs in by trust.
                .extra_toml(&format!("\n[[credential]]\nrole = \"{TRUST_ROLE}\"\n"))
                .identity("md5-agent", MD5_ROLE, &[])
                .identity("trust-agent", TRUST_ROLE, &[])
                .bind(&md5_path, "md5-agent")
                .bind(&trust_path, "trust-agent")
        })
        .start();
    s.pg.psql_admin(&format!(
        "SET password_encryption = 'md5'; CREATE ROLE {MD5_ROLE} LOGIN PASSWORD '{MD5_PASSWORD}'"
    ));
    s.pg.psql_admin(&format!("CREATE ROLE {TRUST_ROLE} LOGIN"));
    let stored = s.pg.psql_admin(&format!(
        "SELECT left(rolpassword, 3) FROM pg_authid WHERE rolname = '{MD5_ROLE}'"
    ));
    assert_eq!(
        stored.trim(),
        "md5",
        "the md5 role's password should be stored as md5"
    );

    let info = s.conninfo("127.0.0.1");
    for (cgroup, role) in [(&md5_agent, MD5_ROLE), (&trust_agent, TRUST_ROLE)] {
        let out = psql(cgroup, &info, "SELECT current_user");
        out.expect_success(&format!("psql as {role} through the gateway"));
        assert_eq!(out.out(), role, "{out}");
    }
    let log = s.pg.log_text();
    assert!(
        log.contains(&format!("identity=\"{MD5_ROLE}\" method=md5")),
        "PostgreSQL should log an md5 authentication for {MD5_ROLE}:\n{log}"
    );
    s.finish();
    drop((md5_agent, trust_agent));
}
