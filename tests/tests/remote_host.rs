//! A database on "another host": PostgreSQL in a network namespace the test
//! creates, reached over a veth pair at a non-loopback address. Agents still
//! connect to that address unchanged; the gateway relays over the veth.

use cordon_e2e::{
    clients::{probe_field, probe_sql, psql},
    require_root,
    scenario::{Scenario, APP_PASSWORD, APP_USER, ROLE},
};

#[test]
fn a_database_behind_a_veth_pair_is_reached_through_the_gateway() {
    require_root();
    let s = Scenario::builder().remote_host().start();
    let ns = s.netns.as_ref().expect("built with remote_host");
    let (db, host) = (ns.addr().to_string(), ns.host_addr().to_string());
    let info = s.conninfo(&db);

    let out = psql(
        &s.agent,
        &info,
        "SELECT current_user, inet_server_addr(), inet_client_addr()",
    );
    out.expect_success("psql to the namespace's address from the bound cgroup");
    // The server saw the gateway's login, arriving over the veth from the host.
    assert_eq!(out.out(), format!("{ROLE}|{db}|{host}"), "{out}");
    let line = s.wait_session_opened(out.pid);
    s.assert_session_line(&line, out.pid, "psql", &format!("{db}:{}", s.pg.port()));

    let out = probe_sql(&s.agent, &info, "SELECT current_user");
    out.expect_success("tokio-postgres to the namespace's address");
    assert_eq!(out.out(), ROLE);

    let out = probe_sql(&s.other, &info, "SELECT 1");
    assert_eq!(
        probe_field(&out, "sqlstate").as_deref(),
        Some("28000"),
        "{out}"
    );

    let out = psql(
        &s.direct,
        &info.clone().password(APP_PASSWORD),
        "SELECT current_user",
    );
    out.expect_success("the exempt cgroup connects directly");
    assert_eq!(out.out(), APP_USER, "{out}");
    s.finish();
}
