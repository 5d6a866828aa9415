//! A bounds-checked cursor over a message body. Every read can fail; none
//! panics or allocates more than the input it was given.

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed {message} message: {problem}")]
pub struct Malformed {
    pub message: &'static str,
    pub problem: &'static str,
}

pub struct Reader<'a> {
    rest: &'a [u8],
    message: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(body: &'a [u8], message: &'static str) -> Self {
        Self {
            rest: body,
            message,
        }
    }

    pub fn fail(&self, problem: &'static str) -> Malformed {
        Malformed {
            message: self.message,
            problem,
        }
    }

    pub fn u8(&mut self) -> Result<u8, Malformed> {
        let (&first, rest) = self.rest.split_first().ok_or(self.fail("too short"))?;
        self.rest = rest;
        Ok(first)
    }

    pub fn i16(&mut self) -> Result<i16, Malformed> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    pub fn i32(&mut self) -> Result<i32, Malformed> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> Result<u32, Malformed> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(self.fail("too short"))?;
        self.rest = rest;
        Ok(*head)
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if n > self.rest.len() {
            return Err(self.fail("a length points past the end"));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    /// A NUL-terminated string; PostgreSQL requires valid text in the session
    /// encoding, and the gateway forces UTF-8.
    pub fn cstr(&mut self) -> Result<&'a str, Malformed> {
        let end = self
            .rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(self.fail("unterminated string"))?;
        let text = std::str::from_utf8(&self.rest[..end]).map_err(|_| self.fail("not UTF-8"))?;
        self.rest = &self.rest[end + 1..];
        Ok(text)
    }

    /// A count (Int16) that must not be negative, bounded by what is left so a
    /// forged count cannot make the caller reserve a huge vector.
    pub fn count16(&mut self, min_item_len: usize) -> Result<usize, Malformed> {
        let n = self.i16()?;
        let n = usize::try_from(n).map_err(|_| self.fail("negative count"))?;
        if n.saturating_mul(min_item_len) > self.rest.len() {
            return Err(self.fail("count larger than the message"));
        }
        Ok(n)
    }

    /// What is left to read.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }

    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    pub fn finish(&self) -> Result<(), Malformed> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.fail("trailing bytes"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounded() {
        let mut r = Reader::new(b"ab\0\x00\x02\xff", "test");
        assert_eq!(r.cstr().unwrap(), "ab");
        assert_eq!(r.i16().unwrap(), 2);
        assert!(r.i16().is_err());
        assert_eq!(r.remaining(), 1);
        assert!(r.finish().is_err());
    }

    #[test]
    fn counts_cannot_exceed_the_message() {
        assert!(Reader::new(b"\x7f\xff", "t").count16(2).is_err());
        assert!(Reader::new(b"\xff\xff", "t").count16(0).is_err());
        assert_eq!(Reader::new(b"\0\x01ab", "t").count16(2).unwrap(), 1);
    }
}
