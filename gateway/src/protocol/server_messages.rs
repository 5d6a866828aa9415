//! Server messages of the query phase the gateway looks inside: result
//! descriptions, data rows, errors, completions and ReadyForQuery.

use bytes::{BufMut, BytesMut};

use super::reader::{Malformed, Reader};

pub const PARSE_COMPLETE: u8 = b'1';
pub const BIND_COMPLETE: u8 = b'2';
pub const CLOSE_COMPLETE: u8 = b'3';
pub const NOTIFICATION: u8 = b'A';
pub const COMMAND_COMPLETE: u8 = b'C';
pub const DATA_ROW: u8 = b'D';
pub const ERROR_RESPONSE: u8 = b'E';
pub const COPY_IN_RESPONSE: u8 = b'G';
pub const COPY_OUT_RESPONSE: u8 = b'H';
pub const EMPTY_QUERY: u8 = b'I';
pub const NOTICE_RESPONSE: u8 = b'N';
pub const PARAMETER_STATUS: u8 = b'S';
pub const ROW_DESCRIPTION: u8 = b'T';
pub const FUNCTION_CALL_RESPONSE: u8 = b'V';
pub const COPY_BOTH_RESPONSE: u8 = b'W';
pub const READY_FOR_QUERY: u8 = b'Z';
pub const COPY_DONE: u8 = b'c';
pub const COPY_DATA: u8 = b'd';
pub const NO_DATA: u8 = b'n';
pub const PORTAL_SUSPENDED: u8 = b's';
pub const PARAMETER_DESCRIPTION: u8 = b't';

/// One column of a result, as RowDescription describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    /// The table the column comes from (0 for expressions).
    pub table_oid: u32,
    /// The column's number in that table (0 for expressions).
    pub column: i16,
    pub type_oid: u32,
    pub type_len: i16,
    pub type_mod: i32,
    /// 0 text, 1 binary.
    pub format: i16,
}

pub fn decode_row_description(body: &[u8]) -> Result<Vec<Field>, Malformed> {
    let mut r = Reader::new(body, "RowDescription");
    // Each field is at least a NUL plus 18 bytes.
    let n = r.count16(19)?;
    let mut fields = Vec::with_capacity(n);
    for _ in 0..n {
        fields.push(Field {
            name: r.cstr()?.to_owned(),
            table_oid: r.u32()?,
            column: r.i16()?,
            type_oid: r.u32()?,
            type_len: r.i16()?,
            type_mod: r.i32()?,
            format: r.i16()?,
        });
    }
    r.finish()?;
    Ok(fields)
}

pub fn decode_parameter_description(body: &[u8]) -> Result<Vec<u32>, Malformed> {
    let mut r = Reader::new(body, "ParameterDescription");
    let n = r.count16(4)?;
    let types = (0..n).map(|_| r.u32()).collect::<Result<_, _>>()?;
    r.finish()?;
    Ok(types)
}

/// The values of a DataRow: `None` is SQL NULL.
pub fn decode_data_row(body: &[u8]) -> Result<Vec<Option<&[u8]>>, Malformed> {
    let mut r = Reader::new(body, "DataRow");
    let n = r.count16(4)?;
    let mut cells = Vec::with_capacity(n);
    for _ in 0..n {
        let len = r.i32()?;
        cells.push(match len {
            -1 => None,
            len if len >= 0 => Some(r.bytes(len as usize)?),
            _ => return Err(r.fail("negative value length")),
        });
    }
    r.finish()?;
    Ok(cells)
}

pub fn encode_data_row<'a>(
    buf: &mut BytesMut,
    cells: impl ExactSizeIterator<Item = Option<&'a [u8]>>,
) {
    buf.put_u8(DATA_ROW);
    let len_at = buf.len();
    buf.put_u32(0);
    buf.put_i16(cells.len() as i16);
    for cell in cells {
        match cell {
            None => buf.put_i32(-1),
            Some(v) => {
                buf.put_i32(v.len() as i32);
                buf.put_slice(v);
            }
        }
    }
    let len = (buf.len() - len_at) as u32;
    buf[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
}

/// A fast-path call's result (`None`: NULL).
pub fn encode_function_call_response(buf: &mut BytesMut, value: Option<&[u8]>) {
    buf.put_u8(FUNCTION_CALL_RESPONSE);
    match value {
        None => {
            buf.put_u32(8);
            buf.put_i32(-1);
        }
        Some(v) => {
            buf.put_u32(8 + v.len() as u32);
            buf.put_i32(v.len() as i32);
            buf.put_slice(v);
        }
    }
}

/// A fast-path call's result (`None`: NULL).
pub fn decode_function_call_response(body: &[u8]) -> Result<Option<&[u8]>, Malformed> {
    let mut r = Reader::new(body, "FunctionCallResponse");
    let value = match r.i32()? {
        -1 => None,
        len if len >= 0 => Some(r.bytes(len as usize)?),
        _ => return Err(r.fail("negative value length")),
    };
    r.finish()?;
    Ok(value)
}

pub fn decode_command_complete(body: &[u8]) -> Result<&str, Malformed> {
    let mut r = Reader::new(body, "CommandComplete");
    let tag = r.cstr()?;
    r.finish()?;
    Ok(tag)
}

pub fn decode_ready_for_query(body: &[u8]) -> Result<u8, Malformed> {
    let mut r = Reader::new(body, "ReadyForQuery");
    let status = r.u8()?;
    r.finish()?;
    match status {
        b'I' | b'T' | b'E' => Ok(status),
        _ => Err(r.fail("unknown transaction status")),
    }
}

/// The fields of an ErrorResponse or NoticeResponse the gateway cares about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorFields {
    /// The untranslated severity (`V`), else the localized one (`S`).
    pub severity: String,
    pub sqlstate: String,
    pub message: String,
    /// `P`: a 1-based character position in the statement's text.
    pub position: Option<u32>,
    /// `D`, `H` and `W` (context), when the server sent them.
    pub detail: Option<String>,
    pub hint: Option<String>,
    pub context: Option<String>,
}

impl ErrorFields {
    /// FATAL and PANIC end the server connection.
    pub fn ends_session(&self) -> bool {
        matches!(self.severity.as_str(), "FATAL" | "PANIC")
    }
}

pub fn decode_error_fields(body: &[u8]) -> Result<ErrorFields, Malformed> {
    let mut r = Reader::new(body, "ErrorResponse");
    let mut fields = ErrorFields::default();
    let mut localized_severity = None;
    loop {
        let code = r.u8()?;
        if code == 0 {
            break;
        }
        let value = r.cstr()?;
        match code {
            b'V' => fields.severity = value.to_owned(),
            b'S' => localized_severity = Some(value),
            b'C' => fields.sqlstate = value.to_owned(),
            b'M' => fields.message = value.to_owned(),
            b'P' => fields.position = value.parse().ok(),
            b'D' => fields.detail = Some(value.to_owned()),
            b'H' => fields.hint = Some(value.to_owned()),
            b'W' => fields.context = Some(value.to_owned()),
            _ => {}
        }
    }
    r.finish()?;
    if fields.severity.is_empty() {
        fields.severity = localized_severity.unwrap_or_default().to_owned();
    }
    Ok(fields)
}

/// Field types of an ErrorResponse or NoticeResponse that are codes or
/// source locations, never text derived from data.
const CODE_FIELDS: &[u8] = b"SVCPpFLR";

/// Re-encodes an ErrorResponse or NoticeResponse (`tag`) whose text fields
/// `rewrite` changes: it gets each field's type byte and value and returns a
/// replacement. `None` when nothing changed (the message passes as it was).
pub fn rewrite_notice_fields(
    tag: u8,
    body: &[u8],
    mut rewrite: impl FnMut(u8, &str) -> Option<String>,
) -> Result<Option<BytesMut>, Malformed> {
    let mut r = Reader::new(body, "ErrorResponse");
    let mut fields = Vec::new();
    let mut changed = false;
    loop {
        let code = r.u8()?;
        if code == 0 {
            break;
        }
        let value = r.cstr()?;
        let replaced = if CODE_FIELDS.contains(&code) {
            None
        } else {
            rewrite(code, value)
        };
        changed |= replaced.is_some();
        fields.push((code, replaced.unwrap_or_else(|| value.to_owned())));
    }
    r.finish()?;
    if !changed {
        return Ok(None);
    }
    let mut out = BytesMut::new();
    out.put_u8(tag);
    let len_at = out.len();
    out.put_u32(0);
    for (code, value) in fields {
        out.put_u8(code);
        put_cstr(&mut out, &value);
    }
    out.put_u8(0);
    finish_length(&mut out, len_at);
    Ok(Some(out))
}

/// Re-encodes a NotificationResponse whose channel (`false`) or payload
/// (`true`) `rewrite` changes; `None` when nothing changed.
/// A NotificationResponse: the notifying backend's PID, the channel and the payload.
pub fn decode_notification(body: &[u8]) -> Result<(i32, &str, &str), Malformed> {
    let mut r = Reader::new(body, "NotificationResponse");
    let pid = r.i32()?;
    let channel = r.cstr()?;
    let payload = r.cstr()?;
    r.finish()?;
    Ok((pid, channel, payload))
}

pub fn rewrite_notification(
    body: &[u8],
    mut rewrite: impl FnMut(bool, &str) -> Option<String>,
) -> Result<Option<BytesMut>, Malformed> {
    let (pid, channel, payload) = decode_notification(body)?;
    let new_channel = rewrite(false, channel);
    let new_payload = rewrite(true, payload);
    if new_channel.is_none() && new_payload.is_none() {
        return Ok(None);
    }
    let mut out = BytesMut::new();
    out.put_u8(NOTIFICATION);
    let len_at = out.len();
    out.put_u32(0);
    out.put_i32(pid);
    put_cstr(&mut out, new_channel.as_deref().unwrap_or(channel));
    put_cstr(&mut out, new_payload.as_deref().unwrap_or(payload));
    finish_length(&mut out, len_at);
    Ok(Some(out))
}

/// A C string; a NUL inside would end it early, so it becomes a space.
fn put_cstr(out: &mut BytesMut, value: &str) {
    out.put_slice(value.replace('\0', " ").as_bytes());
    out.put_u8(0);
}

fn finish_length(out: &mut BytesMut, len_at: usize) {
    let len = (out.len() - len_at) as u32;
    out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
}

#[cfg(test)]
mod tests;
