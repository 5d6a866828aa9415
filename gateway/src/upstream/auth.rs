//! Answering the server's authentication request with the role's credential:
//! trust, cleartext, md5 or SCRAM-SHA-256.

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::{
    authentication::{md5_hash, sasl},
    message::{backend::Message, frontend},
};
use tokio::io::AsyncWriteExt;

use super::{server_error, MessageReader, UpstreamError};
use crate::stream::MaybeTls;

pub(super) async fn authenticate(
    stream: &mut MaybeTls,
    reader: &mut MessageReader,
    user: &str,
    password: Option<&str>,
) -> Result<(), UpstreamError> {
    let mut buf = BytesMut::new();
    match reader.next(stream).await? {
        Message::AuthenticationOk => return Ok(()),
        Message::AuthenticationCleartextPassword => {
            frontend::password_message(need(password)?.as_bytes(), &mut buf)?;
        }
        Message::AuthenticationMd5Password(body) => {
            let hash = md5_hash(user.as_bytes(), need(password)?.as_bytes(), body.salt());
            frontend::password_message(hash.as_bytes(), &mut buf)?;
        }
        Message::AuthenticationSasl(body) => {
            let mut offered = Vec::new();
            let mut mechanisms = body.mechanisms();
            while let Some(m) = mechanisms.next()? {
                offered.push(m.to_owned());
            }
            if !offered.iter().any(|m| m == sasl::SCRAM_SHA_256) {
                return Err(UpstreamError::UnsupportedAuth(format!(
                    "SASL {}",
                    offered.join(", ")
                )));
            }
            return scram(stream, reader, need(password)?).await;
        }
        Message::ErrorResponse(body) => return Err(server_error(&body)),
        Message::AuthenticationKerberosV5 | Message::AuthenticationScmCredential => {
            return Err(UpstreamError::UnsupportedAuth(
                "Kerberos or SCM credentials".into(),
            ))
        }
        Message::AuthenticationGss
        | Message::AuthenticationSspi
        | Message::AuthenticationGssContinue(_) => {
            return Err(UpstreamError::UnsupportedAuth("GSSAPI/SSPI".into()))
        }
        _ => {
            return Err(UpstreamError::Protocol(
                "expected an authentication request".into(),
            ))
        }
    }
    stream.write_all(&buf).await?;
    expect_ok(stream, reader).await
}

fn need(password: Option<&str>) -> Result<&str, UpstreamError> {
    password.ok_or(UpstreamError::NoPassword)
}

/// SCRAM-SHA-256 without channel binding (the server's certificate is not
/// pinned, so binding to it would add nothing).
async fn scram(
    stream: &mut MaybeTls,
    reader: &mut MessageReader,
    password: &str,
) -> Result<(), UpstreamError> {
    let mut scram =
        sasl::ScramSha256::new(password.as_bytes(), sasl::ChannelBinding::unsupported());
    let mut buf = BytesMut::new();
    frontend::sasl_initial_response(sasl::SCRAM_SHA_256, scram.message(), &mut buf)?;
    stream.write_all(&buf).await?;
    match reader.next(stream).await? {
        Message::AuthenticationSaslContinue(body) => scram.update(body.data())?,
        Message::ErrorResponse(body) => return Err(server_error(&body)),
        _ => return Err(UpstreamError::Protocol("expected SASL continue".into())),
    }
    buf.clear();
    frontend::sasl_response(scram.message(), &mut buf)?;
    stream.write_all(&buf).await?;
    match reader.next(stream).await? {
        Message::AuthenticationSaslFinal(body) => scram.finish(body.data())?,
        Message::ErrorResponse(body) => return Err(server_error(&body)),
        _ => return Err(UpstreamError::Protocol("expected SASL final".into())),
    }
    expect_ok(stream, reader).await
}

async fn expect_ok(stream: &mut MaybeTls, reader: &mut MessageReader) -> Result<(), UpstreamError> {
    match reader.next(stream).await? {
        Message::AuthenticationOk => Ok(()),
        Message::ErrorResponse(body) => Err(server_error(&body)),
        _ => Err(UpstreamError::Protocol("expected AuthenticationOk".into())),
    }
}
