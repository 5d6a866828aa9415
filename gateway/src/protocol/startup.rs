//! The first packet of a client connection: SSLRequest, GSSENCRequest,
//! CancelRequest or StartupMessage. It has no type byte, only a length.

/// PostgreSQL's own limit for a startup packet (MAX_STARTUP_PACKET_LENGTH).
pub const MAX_STARTUP_LEN: usize = 10_000;

const SSL_REQUEST_CODE: u32 = 80_877_103;
const GSSENC_REQUEST_CODE: u32 = 80_877_104;
const CANCEL_REQUEST_CODE: u32 = 80_877_102;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtocolVersion {
    pub major: u16,
    pub minor: u16,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartupPacket {
    SslRequest,
    GssEncRequest,
    /// Protocol 3.0 cancel keys are 4 bytes; 3.2 allows up to 256.
    Cancel {
        process_id: i32,
        secret_key: Vec<u8>,
    },
    Startup {
        version: ProtocolVersion,
        parameters: Vec<(String, String)>,
    },
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum StartupError {
    #[error("invalid startup packet length {0}")]
    Length(u32),
    #[error("unsupported protocol version {0}.{1}")]
    Version(u16, u16),
    #[error("malformed startup packet: {0}")]
    Malformed(&'static str),
}

/// Validates the 4-byte length prefix; returns the body length that follows.
pub fn body_len(prefix: [u8; 4]) -> Result<usize, StartupError> {
    let len = u32::from_be_bytes(prefix);
    if !(8..=MAX_STARTUP_LEN as u32).contains(&len) {
        return Err(StartupError::Length(len));
    }
    Ok(len as usize - 4)
}

/// Parses the body (everything after the length prefix).
pub fn parse(body: &[u8]) -> Result<StartupPacket, StartupError> {
    let (code, rest) = split_u32(body).ok_or(StartupError::Malformed("missing code"))?;
    match code {
        SSL_REQUEST_CODE if rest.is_empty() => Ok(StartupPacket::SslRequest),
        GSSENC_REQUEST_CODE if rest.is_empty() => Ok(StartupPacket::GssEncRequest),
        SSL_REQUEST_CODE | GSSENC_REQUEST_CODE => Err(StartupError::Malformed("trailing bytes")),
        CANCEL_REQUEST_CODE => {
            let (pid, key) = split_u32(rest).ok_or(StartupError::Malformed("short cancel"))?;
            if !(4..=256).contains(&key.len()) {
                return Err(StartupError::Malformed("cancel key length"));
            }
            Ok(StartupPacket::Cancel {
                process_id: pid as i32,
                secret_key: key.to_vec(),
            })
        }
        _ => {
            let version = ProtocolVersion {
                major: (code >> 16) as u16,
                minor: code as u16,
            };
            if version.major != 3 {
                return Err(StartupError::Version(version.major, version.minor));
            }
            Ok(StartupPacket::Startup {
                version,
                parameters: parse_parameters(rest)?,
            })
        }
    }
}

fn split_u32(b: &[u8]) -> Option<(u32, &[u8])> {
    let (head, rest) = b.split_first_chunk::<4>()?;
    Some((u32::from_be_bytes(*head), rest))
}

/// Name/value pairs of NUL-terminated strings, ended by an empty name.
fn parse_parameters(mut b: &[u8]) -> Result<Vec<(String, String)>, StartupError> {
    let mut out = Vec::new();
    loop {
        let name = take_cstr(&mut b)?;
        if name.is_empty() {
            if !b.is_empty() {
                return Err(StartupError::Malformed("bytes after the parameter list"));
            }
            return Ok(out);
        }
        let value = take_cstr(&mut b)?;
        if out.iter().any(|(n, _)| *n == name) {
            return Err(StartupError::Malformed("duplicate parameter"));
        }
        out.push((name, value));
    }
}

fn take_cstr(b: &mut &[u8]) -> Result<String, StartupError> {
    let end = b
        .iter()
        .position(|&c| c == 0)
        .ok_or(StartupError::Malformed("unterminated string"))?;
    let s = std::str::from_utf8(&b[..end]).map_err(|_| StartupError::Malformed("not UTF-8"))?;
    *b = &b[end + 1..];
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests;
