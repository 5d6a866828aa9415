//! One client connection, as a fixed sequence of phases:
//! origin (from the kernel) → handshake → admit (identity) → upstream login →
//! client startup completion → relay. A refusal at any phase is a proper
//! ErrorResponse naming the reason; nothing is ever passed through unjudged.

mod admit;
mod handshake;
mod params;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use bytes::BytesMut;
use tokio::{io::AsyncWriteExt, net::TcpStream};
use tracing::{info, warn, Instrument};

use crate::audit::{
    record::SessionOpened,
    session::{Caps, RecordedPhases},
};
use crate::{
    engine::{self, Engine, RelayEnd, RelayOptions, SessionFacts},
    intercept::KernelOrigin,
    masking::phases::MaskingPhases,
    protocol::{backend, backend::GatewayError, sqlstate, ProtocolVersion},
    sessions::{CancelTarget, SessionInfo},
    state::Shared,
    stream::MaybeTls,
    upstream,
};
pub use admit::Admitted;
use handshake::Hello;

/// A target's masking catalog is read again when older than this, so schema
/// changes made outside the gateway are seen within it (changes made through
/// the gateway are seen at once).
const MASK_CATALOG_MAX_AGE: Duration = Duration::from_secs(10);

/// Serves one accepted connection to the end. Never panics the daemon: every
/// failure ends this connection only, with a logged reason.
pub async fn serve(tcp: TcpStream, peer: SocketAddr, local: SocketAddr, shared: Arc<Shared>) {
    let id = shared.sessions.next_id();
    let span = tracing::info_span!("session", id, %peer);
    async move {
        // Taken first: the kernel's entry is keyed by this connection's tuple.
        let origin = shared.take_origin(peer, local);
        let startup_timeout = Duration::from_secs(shared.runtime().config.gateway.startup_timeout_secs);
        let hello = match tokio::time::timeout(startup_timeout, handshake::negotiate(tcp, &shared.tls)).await {
            Err(_) => {
                warn!(reason = %format!("client did not finish startup within {}s", startup_timeout.as_secs()), "session refused");
                return;
            }
            Ok(Err(e)) => {
                warn!(reason = %e, "session refused");
                return;
            }
            Ok(Ok(hello)) => hello,
        };
        match hello {
            Hello::Cancel {
                stream,
                process_id,
                secret_key,
            } => {
                forward_cancel(&shared, origin, process_id, &secret_key).await;
                // Only now: the client takes this close as "cancel done".
                drop(stream);
            }
            Hello::Session { stream, version, parameters } => {
                run(id, stream, version, &parameters, origin, &shared).await
            }
        }
    }
    .instrument(span)
    .await
}

async fn run(
    id: u64,
    mut client: MaybeTls,
    version: ProtocolVersion,
    parameters: &[(String, String)],
    origin: Option<KernelOrigin>,
    shared: &Arc<Shared>,
) {
    let startup = params::filter(parameters);
    let minor = protocol_minor(version);
    let runtime = shared.runtime();
    let admitted = match admit::admit(shared, &runtime, origin, &startup) {
        Ok(a) => a,
        Err(refusal) => return refuse(&mut client, refusal).await,
    };
    let database = startup
        .database
        .clone()
        .or_else(|| startup.claimed_user.clone())
        .unwrap_or_else(|| admitted.role.clone());
    let groups = runtime
        .config
        .identity(&admitted.identity)
        .map(|i| i.groups.as_slice())
        .unwrap_or_default();
    let login = upstream::LoginRequest {
        address: admitted.origin.destination,
        socket_mark: runtime.config.intercept.socket_mark,
        tls: admitted.upstream_tls,
        user: &admitted.role,
        password: admitted.password.as_deref(),
        database: &database,
        parameters: &startup.upstream,
        timeout: Duration::from_secs(runtime.config.gateway.startup_timeout_secs.max(5)),
        function_oids: runtime
            .config
            .policy
            .allows_fast_path_calls(&admitted.identity, groups)
            .then_some(&shared.function_oids),
    };
    let server = match upstream::login(&login).await {
        Ok(server) => server,
        Err(e) => {
            let refusal = GatewayError::fatal(
                upstream_sqlstate(&e),
                format!(
                    "cordon: could not log in to {} as role \"{}\" for identity \"{}\": {e}",
                    admitted.origin.destination, admitted.role, admitted.identity
                ),
            );
            return refuse(&mut client, refusal).await;
        }
    };
    let registration = shared.sessions.register(
        SessionInfo {
            id,
            identity: admitted.identity.clone(),
            cgroup: admitted.cgroup.clone(),
            pid: admitted.origin.pid,
            uid: admitted.origin.uid,
            comm: admitted.origin.comm.clone(),
            destination: admitted.origin.destination,
            role: admitted.role.clone(),
            database: database.clone(),
            client_tls: client.is_tls(),
            started_unix: 0,
        },
        CancelTarget {
            address: admitted.origin.destination,
            process_id: server.process_id,
            secret_key: server.secret_key,
        },
        cancel_key_len(minor),
    );
    let mut hello = BytesMut::new();
    if minor != version.minor || !startup.protocol_options.is_empty() {
        backend::negotiate_protocol_version(&mut hello, minor, &startup.protocol_options);
    }
    backend::authentication_ok(&mut hello);
    for (name, value) in &server.parameters {
        backend::parameter_status(&mut hello, name, value);
    }
    backend::backend_key_data(
        &mut hello,
        registration.key.process_id,
        &registration.key.secret_key,
    );
    backend::ready_for_query(&mut hello, backend::IDLE);
    if let Err(e) = client.write_all(&hello).await {
        warn!(reason = %e, "client went away during startup");
        return;
    }
    info!(
        identity = %admitted.identity,
        cgroup = %admitted.cgroup,
        pid = admitted.origin.pid,
        uid = admitted.origin.uid,
        comm = %admitted.origin.comm,
        destination = %admitted.origin.destination,
        role = %admitted.role,
        database = %database,
        client_tls = client.is_tls(),
        upstream_tls = server.tls,
        dropped_parameters = ?startup.dropped,
        search_path = ?server.search_path,
        catalog_functions = server.catalog.path_functions.len(),
        "session opened"
    );
    let phases = shared.phases.for_session(&SessionFacts {
        id,
        identity: &admitted.identity,
        groups,
        role: &admitted.role,
        database: &database,
        policy: &runtime.config.policy,
        search_path: &server.search_path,
        catalog: &server.catalog,
        dialect: crate::policy::Dialect {
            standard_conforming_strings: server.standard_conforming_strings(),
        },
    });
    let masks = runtime
        .config
        .masking
        .for_identity(&admitted.identity, groups);
    let phases = if masks.masks_anything() {
        let catalog = shared.mask_catalogs.for_target(
            admitted.origin.destination,
            &database,
            &masks,
            MASK_CATALOG_MAX_AGE,
        );
        catalog.set_login(upstream::SideLogin::from_request(&login));
        let masking = MaskingPhases::new(
            phases,
            masks,
            &admitted.identity,
            &server.search_path,
            catalog,
        )
        .naming_functions(server.catalog.functions_by_oid.clone());
        Box::new(masking)
    } else {
        phases
    };
    let phases = match &shared.recorder {
        Some(writer) => {
            let recording = &runtime.config.recording;
            let opened = SessionOpened {
                session_id: crate::audit::session::session_id(id),
                identity: admitted.identity.clone(),
                cgroup: admitted.cgroup.clone(),
                pid: admitted.origin.pid,
                uid: admitted.origin.uid,
                comm: admitted.origin.comm.clone(),
                destination: admitted.origin.destination.to_string(),
                role: admitted.role.clone(),
                database: database.clone(),
                client_tls: client.is_tls(),
                application_name: startup
                    .upstream
                    .iter()
                    .find(|(k, _)| k == "application_name")
                    .map(|(_, v)| v.clone()),
                at_us: crate::audit::session::now_us(),
            };
            let caps = Caps {
                rows: recording.max_rows,
                bytes: recording.max_bytes,
            };
            let recorded = RecordedPhases::new(phases, writer.clone(), opened, caps)
                .naming_functions(server.catalog.functions_by_oid.clone());
            Box::new(recorded) as Box<dyn crate::engine::Phases>
        }
        None => phases,
    };
    let mark = runtime.config.intercept.socket_mark;
    let destination = admitted.origin.destination;
    let options = RelayOptions {
        hold_cancel: Arc::clone(&registration.hold_cancel),
        cancel_upstream: Box::pin(upstream::send_cancel(
            destination,
            mark,
            server.process_id,
            server.secret_key,
        )),
    };
    let (end, traffic) = engine::relay(client, server.stream, Engine::new(phases), options).await;
    let (to_server, to_client) = (traffic.to_server, traffic.to_client);
    match end {
        RelayEnd::Terminated => info!(to_server, to_client, "session closed"),
        RelayEnd::ClientVanished { cancelled } => info!(
            to_server,
            to_client,
            cancelled,
            "session closed: the client went away without Terminate; the server session was ended"
        ),
        RelayEnd::ClientViolation(e) => {
            warn!(to_server, to_client, reason = %e.message, "session closed")
        }
        RelayEnd::ServerEnded { told_client } => warn!(
            to_server,
            to_client, told_client, "session closed: the database server ended the connection"
        ),
        RelayEnd::ServerViolation(e) => {
            warn!(to_server, to_client, reason = %e.message, "session closed")
        }
    }
    drop(registration);
}

/// The protocol the gateway speaks with the client: 3.2 (long cancel keys)
/// when asked for 3.2 or newer, else 3.0. Upstream it always logs in with
/// 3.0: cancel keys are the gateway's own on the client side.
fn protocol_minor(requested: ProtocolVersion) -> u16 {
    if requested.minor >= 2 {
        2
    } else {
        0
    }
}

fn cancel_key_len(minor: u16) -> usize {
    if minor >= 2 {
        32
    } else {
        4
    }
}

fn upstream_sqlstate(e: &upstream::UpstreamError) -> &'static str {
    // The server's own SQLSTATE would need a 'static; the classes matter.
    match e.sqlstate() {
        "28P01" | "28000" => sqlstate::INVALID_AUTHORIZATION_SPECIFICATION,
        "3D000" => "3D000",
        "53300" => "53300",
        "57P03" => sqlstate::CANNOT_CONNECT_NOW,
        _ => sqlstate::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
    }
}

async fn refuse(client: &mut MaybeTls, refusal: GatewayError) {
    warn!(sqlstate = refusal.sqlstate, reason = %refusal.message, "session refused");
    let mut buf = BytesMut::new();
    refusal.encode(&mut buf);
    let _ = client.write_all(&buf).await;
    let _ = client.shutdown().await;
}

async fn forward_cancel(
    shared: &Shared,
    origin: Option<KernelOrigin>,
    process_id: i32,
    secret_key: &[u8],
) {
    // A cancelling client usually closes its socket before we accept it, and
    // the kernel drops the origin with the socket; the gateway-issued key is
    // what authorizes a cancel (as in PostgreSQL itself).
    if let Some(origin) = &origin {
        info!(pid = origin.pid, comm = %origin.comm, "cancel request");
    }
    let Some(target) = shared.sessions.accept_cancel(process_id, secret_key) else {
        warn!(process_id, "cancel request with an unknown key ignored");
        return;
    };
    let mark = shared.runtime().config.intercept.socket_mark;
    match upstream::send_cancel(target.address, mark, target.process_id, target.secret_key).await {
        Ok(()) => info!(process_id, upstream = %target.address, "cancel request forwarded"),
        Err(e) => warn!(process_id, reason = %e, "forwarding a cancel request failed"),
    }
}
