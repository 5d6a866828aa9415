//! Client messages of the query phase: decoders for the ones a decision
//! needs, and encoders for the few the gateway sends upstream itself.

use bytes::{BufMut, BytesMut};

use super::{
    backend::message,
    reader::{Malformed, Reader},
};

pub const QUERY: u8 = b'Q';
pub const PARSE: u8 = b'P';
pub const BIND: u8 = b'B';
pub const DESCRIBE: u8 = b'D';
pub const EXECUTE: u8 = b'E';
pub const CLOSE: u8 = b'C';
pub const SYNC: u8 = b'S';
pub const FLUSH: u8 = b'H';
pub const FUNCTION_CALL: u8 = b'F';
pub const COPY_DATA: u8 = b'd';
pub const COPY_DONE: u8 = b'c';
pub const COPY_FAIL: u8 = b'f';
pub const TERMINATE: u8 = b'X';

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Statement,
    Portal,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Parse<'a> {
    pub name: &'a str,
    pub query: &'a str,
    pub param_types: Vec<u32>,
}

/// What a decision needs from Bind; parameter values are borrowed, not copied.
#[derive(Debug, PartialEq, Eq)]
pub struct Bind<'a> {
    pub portal: &'a str,
    pub statement: &'a str,
    pub parameters: Parameters<'a>,
    pub result_formats: Vec<i16>,
}

/// A Bind's parameter values (or a FunctionCall's arguments), as the message holds
/// them (checked when decoded).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Parameters<'a> {
    /// The format codes, two bytes each: none (all text), one (for all), or one each.
    formats: &'a [u8],
    count: usize,
    /// Each value: its length (-1 for NULL), then its bytes.
    values: &'a [u8],
}

impl<'a> Parameters<'a> {
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Each value (`None` for NULL), with whether it is in binary format.
    pub fn iter(&self) -> impl Iterator<Item = (bool, Option<&'a [u8]>)> + 'a {
        let formats = self.formats;
        let mut r = Reader::new(self.values, "parameters");
        (0..self.count).map(move |i| {
            let code = match formats.len() / 2 {
                0 => 0,
                1 => i16::from_be_bytes([formats[0], formats[1]]),
                _ => formats
                    .get(2 * i..2 * i + 2)
                    .map_or(0, |c| i16::from_be_bytes([c[0], c[1]])),
            };
            // Lengths were checked when the message was decoded.
            let value = match r.i32() {
                Ok(len) if len >= 0 => r.bytes(len as usize).ok(),
                _ => None,
            };
            (code == 1, value)
        })
    }
}

/// A fast-path call: the function, its arguments (borrowed, like a Bind's
/// parameters) and the format its result comes back in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FunctionCall<'a> {
    pub oid: u32,
    pub arguments: Parameters<'a>,
    pub result_binary: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Describe<'a> {
    pub target: Target,
    pub name: &'a str,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Execute<'a> {
    pub portal: &'a str,
    pub max_rows: i32,
}

pub type Close<'a> = Describe<'a>;

pub fn decode_query(body: &[u8]) -> Result<&str, Malformed> {
    let mut r = Reader::new(body, "Query");
    let text = r.cstr()?;
    r.finish()?;
    Ok(text)
}

pub fn decode_parse(body: &[u8]) -> Result<Parse<'_>, Malformed> {
    let mut r = Reader::new(body, "Parse");
    let name = r.cstr()?;
    let query = r.cstr()?;
    let n = r.count16(4)?;
    let param_types = (0..n).map(|_| r.u32()).collect::<Result<_, _>>()?;
    r.finish()?;
    Ok(Parse {
        name,
        query,
        param_types,
    })
}

pub fn decode_bind(body: &[u8]) -> Result<Bind<'_>, Malformed> {
    let mut r = Reader::new(body, "Bind");
    let portal = r.cstr()?;
    let statement = r.cstr()?;
    let parameters = decode_parameters(&mut r)?;
    let n_results = r.count16(2)?;
    let result_formats = (0..n_results)
        .map(|_| format_code(&mut r))
        .collect::<Result<_, _>>()?;
    r.finish()?;
    Ok(Bind {
        portal,
        statement,
        parameters,
        result_formats,
    })
}

/// The format codes and values of a Bind or FunctionCall, checked and borrowed.
fn decode_parameters<'a>(r: &mut Reader<'a>) -> Result<Parameters<'a>, Malformed> {
    let n_formats = r.count16(2)?;
    let formats = r.rest();
    for _ in 0..n_formats {
        format_code(r)?;
    }
    let formats = &formats[..2 * n_formats];
    let n_params = r.count16(4)?;
    let values = r.rest();
    for _ in 0..n_params {
        let len = r.i32()?;
        if len >= 0 {
            r.bytes(len as usize)?;
        } else if len != -1 {
            return Err(r.fail("negative parameter length"));
        }
    }
    let values = &values[..values.len() - r.remaining()];
    Ok(Parameters {
        formats,
        count: n_params,
        values,
    })
}

fn format_code(r: &mut Reader<'_>) -> Result<i16, Malformed> {
    match r.i16()? {
        code @ (0 | 1) => Ok(code),
        _ => Err(r.fail("format code other than 0 or 1")),
    }
}

pub fn decode_describe(body: &[u8]) -> Result<Describe<'_>, Malformed> {
    decode_target(body, "Describe")
}

pub fn decode_close(body: &[u8]) -> Result<Close<'_>, Malformed> {
    decode_target(body, "Close")
}

fn decode_target<'a>(body: &'a [u8], message: &'static str) -> Result<Describe<'a>, Malformed> {
    let mut r = Reader::new(body, message);
    let target = match r.u8()? {
        b'S' => Target::Statement,
        b'P' => Target::Portal,
        _ => return Err(r.fail("target is neither 'S' nor 'P'")),
    };
    let name = r.cstr()?;
    r.finish()?;
    Ok(Describe { target, name })
}

pub fn decode_execute(body: &[u8]) -> Result<Execute<'_>, Malformed> {
    let mut r = Reader::new(body, "Execute");
    let portal = r.cstr()?;
    let max_rows = r.i32()?;
    r.finish()?;
    Ok(Execute { portal, max_rows })
}

pub fn decode_function_call(body: &[u8]) -> Result<FunctionCall<'_>, Malformed> {
    let mut r = Reader::new(body, "FunctionCall");
    let oid = r.u32()?;
    let arguments = decode_parameters(&mut r)?;
    let result_binary = format_code(&mut r)? == 1;
    r.finish()?;
    Ok(FunctionCall {
        oid,
        arguments,
        result_binary,
    })
}

fn cstr(buf: &mut BytesMut, s: &str) {
    buf.put_slice(s.as_bytes());
    buf.put_u8(0);
}

pub fn encode_query(buf: &mut BytesMut, text: &str) {
    message(buf, QUERY, |b| cstr(b, text));
}

pub fn encode_parse(buf: &mut BytesMut, name: &str, query: &str) {
    message(buf, PARSE, |b| {
        cstr(b, name);
        cstr(b, query);
        b.put_i16(0);
    });
}

pub fn encode_describe_portal(buf: &mut BytesMut, portal: &str) {
    message(buf, DESCRIBE, |b| {
        b.put_u8(b'P');
        cstr(b, portal);
    });
}

pub fn encode_terminate(buf: &mut BytesMut) {
    message(buf, TERMINATE, |_| {});
}

#[cfg(test)]
mod tests;

/// A Bind message of the unnamed statement, written by `postgres-protocol`, for tests.
#[cfg(test)]
pub fn bind_message_for_test(portal: &str, formats: &[i16], values: &[Option<&[u8]>]) -> BytesMut {
    let mut buf = BytesMut::new();
    postgres_protocol::message::frontend::bind(
        portal,
        "",
        formats.iter().copied(),
        values.iter().copied(),
        |v: Option<&[u8]>, out: &mut BytesMut| match v {
            Some(v) => {
                out.extend_from_slice(v);
                Ok(postgres_protocol::IsNull::No)
            }
            None => Ok(postgres_protocol::IsNull::Yes),
        },
        [],
        &mut buf,
    )
    .map_err(|_| "bind")
    .expect("a bind message encodes");
    buf
}
