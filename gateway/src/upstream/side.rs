//! A connection the gateway opens for its own catalog reads (masking needs
//! to know where result columns come from), logged in like a session's but
//! never carrying a client's statements.

use std::{net::SocketAddr, time::Duration};

use bytes::BytesMut;
use postgres_protocol::message::{backend::Message, frontend};
use tokio::io::AsyncWriteExt;

use super::{
    server_error, text_columns, LoginRequest, MessageReader, TlsMode, Upstream, UpstreamError,
};

/// What a side connection logs in with: a session's login, owned, so a
/// shared catalog can reconnect later.
#[derive(Clone)]
pub struct SideLogin {
    pub address: SocketAddr,
    pub socket_mark: u32,
    pub tls: TlsMode,
    pub user: String,
    pub password: Option<String>,
    pub database: String,
    pub timeout: Duration,
}

impl SideLogin {
    pub fn from_request(request: &LoginRequest<'_>) -> Self {
        Self {
            address: request.address,
            socket_mark: request.socket_mark,
            tls: request.tls.clone(),
            user: request.user.to_owned(),
            password: request.password.map(str::to_owned),
            database: request.database.to_owned(),
            timeout: request.timeout,
        }
    }
}

/// Rows of text values (`None` is NULL).
pub type TextRows = Vec<Vec<Option<String>>>;

pub struct SideConnection {
    upstream: Upstream,
    timeout: Duration,
}

impl SideConnection {
    /// Logs in, then clears the search_path so that everything the server
    /// prints (view definitions) names its schemas.
    pub async fn open(login: &SideLogin) -> Result<Self, UpstreamError> {
        let request = LoginRequest {
            address: login.address,
            socket_mark: login.socket_mark,
            tls: login.tls.clone(),
            user: &login.user,
            password: login.password.as_deref(),
            database: &login.database,
            parameters: &[],
            timeout: login.timeout,
            function_oids: None,
        };
        let upstream = super::login(&request).await?;
        let mut side = Self {
            upstream,
            timeout: login.timeout,
        };
        side.query("SET search_path = ''").await?;
        Ok(side)
    }

    /// Runs `sql` (simple protocol) and returns the rows of every statement
    /// in it, in order.
    pub async fn query(&mut self, sql: &str) -> Result<TextRows, UpstreamError> {
        tokio::time::timeout(self.timeout, self.query_inner(sql))
            .await
            .map_err(|_| UpstreamError::Timeout(self.timeout))?
    }

    async fn query_inner(&mut self, sql: &str) -> Result<TextRows, UpstreamError> {
        let mut buf = BytesMut::new();
        frontend::query(sql, &mut buf)?;
        let stream = &mut self.upstream.stream;
        stream.write_all(&buf).await?;
        let mut reader = MessageReader::default();
        let mut rows = Vec::new();
        let mut failed = None;
        loop {
            match reader.next(stream).await? {
                Message::DataRow(row) => rows.push(text_columns(&row)?),
                Message::ErrorResponse(body) => failed = Some(server_error(&body)),
                Message::ReadyForQuery(_) => break,
                _ => {}
            }
        }
        match failed {
            Some(error) => Err(error),
            None => Ok(rows),
        }
    }
}
