//! Message framing after startup: a type byte, then a 4-byte length that counts
//! itself. Every length is checked against a bound before anything is buffered.

/// Bytes in a message header (type byte + length).
pub const HEADER_LEN: usize = 5;

/// PostgreSQL's own ceiling for any message (PQ_LARGE_MESSAGE_LIMIT, 1 GiB - 1).
pub const MAX_MESSAGE_LEN: usize = (1 << 30) - 1;

/// PostgreSQL's limit for the client's small control messages (Describe, Close,
/// Execute, Sync, Flush, Terminate, CopyDone: PQ_SMALL_MESSAGE_LIMIT).
pub const MAX_SMALL_MESSAGE_LEN: usize = 10_000;

/// The largest message the gateway holds whole to look inside (a statement's
/// text, a Bind with its parameters, a row it must rewrite). Larger ones that
/// need no decision stream through; larger ones that do are refused.
pub const MAX_INSPECTED_LEN: usize = 64 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub tag: u8,
    /// The whole message on the wire: header plus body.
    pub total: usize,
}

impl Header {
    pub fn body_len(&self) -> usize {
        self.total - HEADER_LEN
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("message type {} has an invalid length {len}", tag_name(*.tag))]
    Length { tag: u8, len: u32 },
}

/// Reads the header at the start of `buf`, if all five bytes are there.
pub fn peek_header(buf: &[u8]) -> Option<Result<Header, FrameError>> {
    let head: &[u8; HEADER_LEN] = buf.first_chunk()?;
    let tag = head[0];
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
    if len < 4 || len as usize > MAX_MESSAGE_LEN {
        return Some(Err(FrameError::Length { tag, len }));
    }
    Some(Ok(Header {
        tag,
        total: len as usize + 1,
    }))
}

/// A printable name for a type byte in messages and logs.
pub fn tag_name(tag: u8) -> String {
    if tag.is_ascii_graphic() {
        format!("'{}'", tag as char)
    } else {
        format!("0x{tag:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_read_only_when_complete() {
        assert_eq!(peek_header(b"Q\0\0\0"), None);
        assert_eq!(
            peek_header(b"Q\0\0\0\x09abc").unwrap(),
            Ok(Header {
                tag: b'Q',
                total: 10
            })
        );
    }

    #[test]
    fn lengths_below_four_or_above_the_ceiling_are_refused() {
        assert!(peek_header(b"Q\0\0\0\x03").unwrap().is_err());
        assert!(peek_header(b"Q\x7f\xff\xff\xff").unwrap().is_err());
        assert!(peek_header(b"Q\0\0\0\x04").unwrap().is_ok());
    }

    #[test]
    fn tag_names_are_printable() {
        assert_eq!(tag_name(b'Q'), "'Q'");
        assert_eq!(tag_name(0), "0x00");
    }
}
