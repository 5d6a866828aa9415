//! One direction's bytes on their way through the gateway: read into a
//! reusable buffer, judged message by message, and sent on as runs of the
//! original bytes (split off without copying) with the gateway's own
//! messages spliced in where a decision replaced something.

use bytes::{Buf, Bytes, BytesMut};

use crate::protocol::frame::{self, FrameError, Header};

/// How much a read asks for. Also the buffer an idle session keeps.
pub const READ_CHUNK: usize = 8 << 10;

/// How much a read asks for while a large result or COPY streams.
const STREAMING_READ_CHUNK: usize = 64 << 10;

/// A buffer grown past this for one large message is given back once empty,
/// so a session that once saw a big row does not keep the memory.
const KEEP_CAPACITY: usize = 64 << 10;

/// Below this much free space a read first makes room.
const MIN_SPARE: usize = 1 << 10;

#[derive(Default)]
pub struct StreamBuf {
    /// Bytes read and not yet sent on or dropped.
    pub buf: BytesMut,
    /// The first `judged` bytes of `buf` are to be sent on unchanged.
    judged: usize,
    /// Bytes of the current message still to pass without being looked at.
    passing: usize,
    /// Bytes of the current message still to drop.
    dropping: usize,
    /// What to write, in order.
    pub out: Vec<Bytes>,
    /// The last read filled all the room it had: data is streaming, so read
    /// in larger pieces (fewer system calls per byte).
    streaming: bool,
}

/// The next message, when there is one to judge.
pub enum Next {
    /// Its header; `complete` says whether the whole message is buffered.
    Message { header: Header, complete: bool },
    /// Everything buffered is judged; read more.
    Empty,
}

impl StreamBuf {
    /// Makes room for the next read.
    pub fn reserve_for_read(&mut self, hold_total: Option<usize>) {
        if self.buf.is_empty() && self.buf.capacity() > KEEP_CAPACITY {
            self.buf = BytesMut::new();
        }
        // Room for a held message grows with what actually arrived (doubling),
        // so a header that merely claims a large length costs nothing.
        let unjudged = self.buf.len() - self.judged;
        let min_spare = hold_total.map_or(MIN_SPARE, |total| {
            total
                .saturating_sub(unjudged)
                .clamp(MIN_SPARE, unjudged.max(READ_CHUNK))
        });
        let chunk = if self.streaming {
            STREAMING_READ_CHUNK
        } else {
            READ_CHUNK
        };
        if self.buf.capacity() - self.buf.len() < min_spare.max(chunk / 2) {
            self.buf.reserve(min_spare.max(chunk));
        }
    }

    /// Room left for the next read.
    pub fn spare(&self) -> usize {
        self.buf.capacity() - self.buf.len()
    }

    /// Records whether a read filled all the room it was given.
    pub fn note_read(&mut self, read: usize, room: usize) {
        self.streaming = read == room;
    }

    /// Advances over bytes that pass or drop without being looked at, then
    /// reports the next message to judge.
    pub fn next_message(&mut self) -> Result<Next, FrameError> {
        if self.passing > 0 {
            let n = self.passing.min(self.buf.len() - self.judged);
            self.judged += n;
            self.passing -= n;
            if self.passing > 0 {
                return Ok(Next::Empty);
            }
        }
        if self.dropping > 0 {
            self.split_judged();
            let n = self.dropping.min(self.buf.len());
            self.buf.advance(n);
            self.dropping -= n;
            if self.dropping > 0 {
                return Ok(Next::Empty);
            }
        }
        match frame::peek_header(&self.buf[self.judged..]) {
            None => Ok(Next::Empty),
            Some(Err(e)) => Err(e),
            Some(Ok(header)) => Ok(Next::Message {
                header,
                complete: self.buf.len() - self.judged >= header.total,
            }),
        }
    }

    /// The current message, whole (only valid when `next` said complete).
    pub fn message(&self, header: &Header) -> &[u8] {
        &self.buf[self.judged..self.judged + header.total]
    }

    /// The current message's body.
    pub fn body(&self, header: &Header) -> &[u8] {
        &self.message(header)[frame::HEADER_LEN..]
    }

    /// Sends the current message on unchanged; it may still be arriving.
    pub fn pass(&mut self, header: &Header) {
        self.passing = header.total;
    }

    /// Drops the current message; it may still be arriving.
    pub fn drop_message(&mut self, header: &Header) {
        self.split_judged();
        self.dropping = header.total;
    }

    /// Sends `bytes` instead of the current (complete) message.
    pub fn replace(&mut self, header: &Header, bytes: Bytes) {
        self.split_judged();
        self.buf.advance(header.total);
        self.out.push(bytes);
    }

    /// Sends `bytes` before the current message.
    pub fn insert(&mut self, bytes: Bytes) {
        self.split_judged();
        self.out.push(bytes);
    }

    /// Moves the judged bytes to the output, ready to write.
    pub fn split_judged(&mut self) {
        if self.judged > 0 {
            self.out.push(self.buf.split_to(self.judged).freeze());
            self.judged = 0;
        }
    }

    /// Bytes still expected of a message that is passing or dropping.
    pub fn mid_message(&self) -> bool {
        self.passing > 0 || self.dropping > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(s: &mut StreamBuf, bytes: &[u8]) {
        s.buf.extend_from_slice(bytes);
    }

    fn output(s: &mut StreamBuf) -> Vec<u8> {
        s.split_judged();
        s.out.drain(..).flat_map(|b| b.to_vec()).collect()
    }

    #[test]
    fn passing_messages_stream_even_when_incomplete() {
        let mut s = StreamBuf::default();
        feed(&mut s, b"d\0\0\0\x0babc");
        let Next::Message { header, complete } = s.next_message().unwrap() else {
            panic!()
        };
        assert!(!complete);
        s.pass(&header);
        assert!(matches!(s.next_message().unwrap(), Next::Empty));
        assert_eq!(output(&mut s), b"d\0\0\0\x0babc");
        feed(&mut s, b"def");
        assert!(matches!(s.next_message().unwrap(), Next::Empty));
        assert_eq!(output(&mut s), b"def");
        assert!(s.mid_message());
        feed(&mut s, b"gZ\0\0\0\x05I");
        let Next::Message { header, complete } = s.next_message().unwrap() else {
            panic!()
        };
        assert!(complete && header.tag == b'Z');
        s.pass(&header);
        assert!(matches!(s.next_message().unwrap(), Next::Empty));
        assert_eq!(output(&mut s), b"gZ\0\0\0\x05I");
    }

    #[test]
    fn replacing_and_dropping_splice_the_output() {
        let mut s = StreamBuf::default();
        feed(&mut s, b"S\0\0\0\x04Q\0\0\0\x05xH\0\0\0\x04");
        let Next::Message { header, .. } = s.next_message().unwrap() else {
            panic!()
        };
        s.pass(&header);
        let Next::Message { header, complete } = s.next_message().unwrap() else {
            panic!()
        };
        assert!(complete && s.body(&header) == b"x");
        s.replace(&header, Bytes::from_static(b"<new>"));
        let Next::Message { header, .. } = s.next_message().unwrap() else {
            panic!()
        };
        s.drop_message(&header);
        assert!(matches!(s.next_message().unwrap(), Next::Empty));
        assert_eq!(output(&mut s), b"S\0\0\0\x04<new>");
        assert!(s.buf.is_empty());
    }

    #[test]
    fn a_bad_length_is_an_error() {
        let mut s = StreamBuf::default();
        feed(&mut s, b"Q\0\0\0\x01");
        assert!(s.next_message().is_err());
    }
}
