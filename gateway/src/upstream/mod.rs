//! The gateway's own connection to the database: a marked socket (so the
//! interception hooks let it through), optional TLS, and a login as the
//! identity's role with the credential only the gateway holds.

mod auth;
mod cancel;
mod connect;
mod side;
mod tls;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use bytes::BytesMut;
use postgres_protocol::message::{backend::Message, frontend};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::policy::catalog::{
    SessionCatalog, SharedFunctionOids, CATALOG_SQL, FUNCTION_OIDS_DIGEST_SQL, FUNCTION_OIDS_SQL,
};
use crate::{
    config::{Endpoint, UpstreamTls},
    stream::MaybeTls,
};

pub use cancel::send_cancel;
pub use connect::connect_marked;
pub use side::{SideConnection, SideLogin, TextRows};
pub use tls::unverified_config as unverified_tls_config;

#[derive(Clone)]
pub enum TlsMode {
    Disable,
    Prefer,
    Require,
    /// The server's certificate is checked by `config` (verify-ca or
    /// verify-full), against `server_name`, else the address connected to.
    Verify {
        config: Arc<rustls::ClientConfig>,
        server_name: Option<rustls::pki_types::ServerName<'static>>,
    },
}

impl TlsMode {
    /// The mode an endpoint's configuration asks for; reads its CA file.
    pub fn for_endpoint(endpoint: &Endpoint) -> Result<Self, String> {
        let check_name = match endpoint.tls {
            UpstreamTls::Disable => return Ok(TlsMode::Disable),
            UpstreamTls::Prefer => return Ok(TlsMode::Prefer),
            UpstreamTls::Require => return Ok(TlsMode::Require),
            UpstreamTls::VerifyCa => false,
            UpstreamTls::VerifyFull => true,
        };
        let ca = endpoint.tls_ca.as_deref().ok_or_else(|| {
            format!(
                "endpoint \"{}\" verifies TLS but names no tls_ca",
                endpoint.name
            )
        })?;
        let server_name = match &endpoint.tls_server_name {
            Some(name) => Some(
                rustls::pki_types::ServerName::try_from(name.clone())
                    .map_err(|e| format!("tls_server_name \"{name}\": {e}"))?,
            ),
            None => None,
        };
        Ok(TlsMode::Verify {
            config: tls::verifying_config(ca, check_name)?,
            server_name,
        })
    }
}

pub struct LoginRequest<'a> {
    pub address: SocketAddr,
    pub socket_mark: u32,
    pub tls: TlsMode,
    pub user: &'a str,
    pub password: Option<&'a str>,
    pub database: &'a str,
    /// Startup parameters passed on from the client (already filtered).
    pub parameters: &'a [(String, String)],
    pub timeout: Duration,
    /// Know every function's OID too: the identity may make fast-path calls, which
    /// name their function by OID only (the map is shared by this database's sessions).
    pub function_oids: Option<&'a SharedFunctionOids>,
}

/// A logged-in upstream connection, positioned after its first ReadyForQuery.
pub struct Upstream {
    pub stream: MaybeTls,
    pub parameters: Vec<(String, String)>,
    pub process_id: i32,
    pub secret_key: i32,
    pub tls: bool,
    /// The search_path pinned at login: the schemas it named that exist, in order.
    pub search_path: Vec<String>,
    /// Functions, operators and casts the database defines (for the policy).
    pub catalog: crate::policy::catalog::SessionCatalog,
}

impl Upstream {
    /// Whether the server reads `'\\'` as a backslash (the SQL standard).
    pub fn standard_conforming_strings(&self) -> bool {
        self.parameters
            .iter()
            .find(|(name, _)| name == "standard_conforming_strings")
            .is_none_or(|(_, value)| value != "off")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the server does not offer TLS, and this endpoint requires it")]
    TlsRefused,
    #[error("TLS: {0}")]
    Tls(String),
    #[error("the server asked for {0}, which the gateway does not support")]
    UnsupportedAuth(String),
    #[error("the server asked for a password, and no credential holds one for this role")]
    NoPassword,
    #[error("the server said: {message} (SQLSTATE {code})")]
    Server { code: String, message: String },
    #[error("unexpected message during login: {0}")]
    Protocol(String),
}

impl UpstreamError {
    /// The SQLSTATE the server reported, or 08001 for everything else.
    pub fn sqlstate(&self) -> &str {
        match self {
            UpstreamError::Server { code, .. } => code,
            _ => "08001",
        }
    }
}

pub async fn login(request: &LoginRequest<'_>) -> Result<Upstream, UpstreamError> {
    tokio::time::timeout(request.timeout, login_inner(request))
        .await
        .map_err(|_| UpstreamError::Timeout(request.timeout))?
}

async fn login_inner(request: &LoginRequest<'_>) -> Result<Upstream, UpstreamError> {
    let tcp = connect_marked(request.address, request.socket_mark).await?;
    let mut stream = tls::negotiate(tcp, request.address, &request.tls).await?;
    let tls = stream.is_tls();
    let mut buf = BytesMut::new();
    let mut parameters: Vec<(&str, &str)> =
        vec![("user", request.user), ("database", request.database)];
    parameters.extend(
        request
            .parameters
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    frontend::startup_message(parameters, &mut buf)?;
    stream.write_all(&buf).await?;

    let mut reader = MessageReader::default();
    auth::authenticate(&mut stream, &mut reader, request.user, request.password).await?;
    let mut upstream = Upstream {
        stream,
        parameters: Vec::new(),
        process_id: 0,
        secret_key: 0,
        tls,
        search_path: Vec::new(),
        catalog: Default::default(),
    };
    loop {
        match reader.next(&mut upstream.stream).await? {
            Message::ParameterStatus(body) => {
                upstream
                    .parameters
                    .push((body.name()?.to_owned(), body.value()?.to_owned()));
            }
            Message::BackendKeyData(body) => {
                upstream.process_id = body.process_id();
                upstream.secret_key = body.secret_key();
            }
            Message::NoticeResponse(_) => {}
            Message::ReadyForQuery(_) => break,
            Message::ErrorResponse(body) => return Err(server_error(&body)),
            _ => {
                return Err(UpstreamError::Protocol(
                    "expected ParameterStatus or ReadyForQuery".into(),
                ))
            }
        }
    }
    if !reader.is_empty() {
        return Err(UpstreamError::Protocol(
            "the server sent data before the client asked".into(),
        ));
    }
    (upstream.search_path, upstream.catalog) =
        pin_search_path(&mut upstream.stream, &mut reader).await?;
    if let Some(shared) = request.function_oids {
        upstream.catalog.functions_by_oid =
            function_oids(&mut upstream.stream, &mut reader, shared, request).await?;
    }
    Ok(upstream)
}

/// Sets the session's search_path to the schemas it currently resolves to
/// (dropping `$user` and schemas that do not exist), so that an unqualified
/// name means the same thing for the whole session, and returns them with
/// what the database defines in them (`CATALOG_SQL`). The policy resolves
/// names against this list and refuses every way of changing it.
const PIN_SEARCH_PATH_SQL: &str = "SELECT pg_catalog.set_config('search_path', \
     pg_catalog.array_to_string(ARRAY(SELECT pg_catalog.quote_ident(s) \
     FROM pg_catalog.unnest(pg_catalog.current_schemas(false)) AS s), ', '), false); \
     SELECT s FROM pg_catalog.unnest(pg_catalog.current_schemas(false)) AS s";

async fn pin_search_path(
    stream: &mut MaybeTls,
    reader: &mut MessageReader,
) -> Result<(Vec<String>, SessionCatalog), UpstreamError> {
    let sql = format!("{PIN_SEARCH_PATH_SQL}; {CATALOG_SQL}");
    let (mut schemas, mut catalog) = (Vec::new(), SessionCatalog::default());
    run_catalog_queries(stream, reader, &sql, 3, |query, row| match (query, row) {
        (1, [Some(name)]) => schemas.push(name.clone()),
        (2, [Some(kind), Some(name), Some(detail)]) => catalog.add_row(kind, name, detail),
        _ => {}
    })
    .await?;
    Ok((schemas, catalog))
}

/// The database's function OIDs: the shared map when its digest is the one the database
/// has now, else read whole (and shared from then on).
async fn function_oids(
    stream: &mut MaybeTls,
    reader: &mut MessageReader,
    shared: &SharedFunctionOids,
    request: &LoginRequest<'_>,
) -> Result<crate::policy::catalog::FunctionsByOid, UpstreamError> {
    let mut digest = None;
    run_catalog_queries(stream, reader, FUNCTION_OIDS_DIGEST_SQL, 1, |_, row| {
        if let [Some(_), Some(value), _] = row {
            digest = Some(value.clone());
        }
    })
    .await?;
    let digest = digest.ok_or_else(|| {
        UpstreamError::Protocol("the server did not answer the function digest query".into())
    })?;
    if let Some(known) = shared.get(request.address, request.database, &digest) {
        return Ok(known);
    }
    let mut catalog = SessionCatalog::default();
    run_catalog_queries(stream, reader, FUNCTION_OIDS_SQL, 1, |_, row| {
        if let [Some(kind), Some(name), Some(detail)] = row {
            catalog.add_row(kind, name, detail);
        }
    })
    .await?;
    let map = catalog.functions_by_oid;
    shared.put(request.address, request.database, digest, map.clone());
    Ok(map)
}

/// Runs `sql` (`queries` statements, simple protocol) at login; hands each row to
/// `on_row` with the index of the statement it answers.
async fn run_catalog_queries(
    stream: &mut MaybeTls,
    reader: &mut MessageReader,
    sql: &str,
    queries: usize,
    mut on_row: impl FnMut(usize, &[Option<String>]),
) -> Result<(), UpstreamError> {
    let mut buf = BytesMut::new();
    frontend::query(sql, &mut buf)?;
    stream.write_all(&buf).await?;
    let mut completed = 0;
    loop {
        match reader.next(stream).await? {
            Message::DataRow(row) => on_row(completed, &text_columns(&row)?),
            Message::CommandComplete(_) => completed += 1,
            Message::RowDescription(_)
            | Message::NoticeResponse(_)
            | Message::ParameterStatus(_) => {}
            Message::ReadyForQuery(_) => break,
            Message::ErrorResponse(body) => return Err(server_error(&body)),
            _ => {
                return Err(UpstreamError::Protocol(
                    "unexpected reply to the gateway's catalog queries at login".into(),
                ))
            }
        }
    }
    if completed != queries {
        return Err(UpstreamError::Protocol(
            "the server did not answer the gateway's catalog queries at login".into(),
        ));
    }
    Ok(())
}

/// A DataRow's values as text (NULL is `None`).
fn text_columns(
    row: &postgres_protocol::message::backend::DataRowBody,
) -> Result<Vec<Option<String>>, UpstreamError> {
    use fallible_iterator::FallibleIterator;
    let not_utf8 = || UpstreamError::Protocol("a catalog name is not UTF-8".into());
    let mut out = Vec::new();
    let mut ranges = row.ranges();
    while let Some(range) = ranges.next()? {
        out.push(match range {
            Some(range) => Some(
                std::str::from_utf8(&row.buffer()[range])
                    .map_err(|_| not_utf8())?
                    .to_owned(),
            ),
            None => None,
        });
    }
    Ok(out)
}

/// Reads whole backend messages off a stream.
#[derive(Default)]
struct MessageReader {
    buf: BytesMut,
}

impl MessageReader {
    async fn next(&mut self, stream: &mut MaybeTls) -> Result<Message, UpstreamError> {
        loop {
            if let Some(message) = Message::parse(&mut self.buf)? {
                return Ok(message);
            }
            if stream.read_buf(&mut self.buf).await? == 0 {
                return Err(UpstreamError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

fn server_error(body: &postgres_protocol::message::backend::ErrorResponseBody) -> UpstreamError {
    use fallible_iterator::FallibleIterator;
    let (mut code, mut message) = (String::from("08001"), String::from("(no message)"));
    let mut fields = body.fields();
    while let Ok(Some(field)) = fields.next() {
        match field.type_() {
            b'C' => code = String::from_utf8_lossy(field.value_bytes()).into_owned(),
            b'M' => message = String::from_utf8_lossy(field.value_bytes()).into_owned(),
            _ => {}
        }
    }
    UpstreamError::Server { code, message }
}
