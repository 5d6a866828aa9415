//! Backend messages the gateway writes to clients itself.

use bytes::{BufMut, BytesMut};

/// Transaction status byte of ReadyForQuery.
pub const IDLE: u8 = b'I';

/// Writes one message: type byte, length, body produced by `body`.
pub(crate) fn message(buf: &mut BytesMut, tag: u8, body: impl FnOnce(&mut BytesMut)) {
    buf.put_u8(tag);
    let len_at = buf.len();
    buf.put_u32(0);
    body(buf);
    let len = (buf.len() - len_at) as u32;
    buf[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
}

fn cstr(buf: &mut BytesMut, s: &str) {
    // NUL bytes would end the field early; they never belong in these texts.
    buf.put_slice(s.replace('\0', " ").as_bytes());
    buf.put_u8(0);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Fatal,
}

/// An ErrorResponse the gateway sends in its own name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayError {
    pub severity: Severity,
    pub sqlstate: &'static str,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl GatewayError {
    pub fn fatal(sqlstate: &'static str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Fatal,
            sqlstate,
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    pub fn error(sqlstate: &'static str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            ..Self::fatal(sqlstate, message)
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn to_bytes(&self) -> bytes::Bytes {
        let mut buf = BytesMut::new();
        self.encode(&mut buf);
        buf.freeze()
    }

    pub fn encode(&self, buf: &mut BytesMut) {
        let severity = match self.severity {
            Severity::Error => "ERROR",
            Severity::Fatal => "FATAL",
        };
        message(buf, b'E', |b| {
            for (code, value) in [(b'S', severity), (b'V', severity), (b'C', self.sqlstate)] {
                b.put_u8(code);
                cstr(b, value);
            }
            b.put_u8(b'M');
            cstr(b, &self.message);
            for (code, value) in [(b'D', &self.detail), (b'H', &self.hint)] {
                if let Some(v) = value {
                    b.put_u8(code);
                    cstr(b, v);
                }
            }
            b.put_u8(0);
        });
    }
}

pub fn authentication_ok(buf: &mut BytesMut) {
    message(buf, b'R', |b| b.put_u32(0));
}

pub fn parameter_status(buf: &mut BytesMut, name: &str, value: &str) {
    message(buf, b'S', |b| {
        cstr(b, name);
        cstr(b, value);
    });
}

pub fn backend_key_data(buf: &mut BytesMut, process_id: i32, secret_key: &[u8]) {
    message(buf, b'K', |b| {
        b.put_i32(process_id);
        b.put_slice(secret_key);
    });
}

pub fn ready_for_query(buf: &mut BytesMut, status: u8) {
    message(buf, b'Z', |b| b.put_u8(status));
}

/// Tells a client that asked for a newer minor version (or `_pq_.` options)
/// which version the session will speak.
pub fn negotiate_protocol_version(buf: &mut BytesMut, minor: u16, unrecognized: &[String]) {
    message(buf, b'v', |b| {
        b.put_u32(minor as u32 | (3 << 16));
        b.put_u32(unrecognized.len() as u32);
        for option in unrecognized {
            cstr(b, option);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_response_layout() {
        let mut buf = BytesMut::new();
        GatewayError::fatal("28000", "no identity")
            .with_hint("bind it")
            .encode(&mut buf);
        assert_eq!(buf[0], b'E');
        let len = u32::from_be_bytes(buf[1..5].try_into().unwrap()) as usize;
        assert_eq!(len, buf.len() - 1);
        let body = &buf[5..];
        assert_eq!(
            body,
            b"SFATAL\0VFATAL\0C28000\0Mno identity\0Hbind it\0\0".as_slice()
        );
    }

    #[test]
    fn small_messages() {
        let mut buf = BytesMut::new();
        authentication_ok(&mut buf);
        ready_for_query(&mut buf, IDLE);
        backend_key_data(&mut buf, 1, &[0xff; 4]);
        assert_eq!(
            &buf[..],
            b"R\0\0\0\x08\0\0\0\0Z\0\0\0\x05IK\0\0\0\x0c\0\0\0\x01\xff\xff\xff\xff".as_slice()
        );
    }

    #[test]
    fn parameter_status_and_negotiation() {
        let mut buf = BytesMut::new();
        parameter_status(&mut buf, "a", "b");
        assert_eq!(&buf[..], b"S\0\0\0\x08a\0b\0".as_slice());
        buf.clear();
        negotiate_protocol_version(&mut buf, 0, &["_pq_.x".into()]);
        assert_eq!(
            &buf[..],
            b"v\0\0\0\x13\0\x03\0\0\0\0\0\x01_pq_.x\0".as_slice()
        );
    }

    #[test]
    fn nul_in_text_cannot_cut_a_field() {
        let mut buf = BytesMut::new();
        GatewayError::fatal("XX000", "a\0b").encode(&mut buf);
        assert!(buf.windows(4).any(|w| w == b"Ma b"));
    }
}
