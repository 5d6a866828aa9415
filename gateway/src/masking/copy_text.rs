//! COPY's text format, one row at a time (PostgreSQL sends one row per
//! CopyData): fields split by a one-byte delimiter, backslash escapes, and
//! a NULL marker (`\N` unless the COPY said otherwise).

/// How a COPY ... TO STDOUT writes its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextFormat {
    pub delimiter: u8,
    pub null: Vec<u8>,
}

impl Default for TextFormat {
    fn default() -> Self {
        Self {
            delimiter: b'\t',
            null: b"\\N".to_vec(),
        }
    }
}

/// A row that is not what PostgreSQL writes in this format.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

impl TextFormat {
    /// The row's fields, decoded (`None` is NULL). `row` must be one whole
    /// line, newline included.
    pub fn decode(&self, row: &[u8]) -> Result<Vec<Option<Vec<u8>>>, Malformed> {
        let line = row
            .strip_suffix(b"\n")
            .ok_or(Malformed("a COPY row does not end with a newline"))?;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        self.split(line)
            .into_iter()
            .map(|field| {
                if field == self.null.as_slice() {
                    Ok(None)
                } else {
                    unescape(field).map(Some)
                }
            })
            .collect()
    }

    /// Splits at delimiters that are not escaped by a backslash.
    fn split<'a>(&self, line: &'a [u8]) -> Vec<&'a [u8]> {
        let mut fields = Vec::new();
        let (mut start, mut i) = (0, 0);
        while i < line.len() {
            match line[i] {
                b'\\' => i += 2,
                b if b == self.delimiter => {
                    fields.push(&line[start..i]);
                    i += 1;
                    start = i;
                }
                _ => i += 1,
            }
        }
        fields.push(&line[start.min(line.len())..]);
        fields
    }

    /// Writes one field, escaped, with the delimiter before it unless first.
    pub fn encode_field(&self, first: bool, value: Option<&[u8]>, out: &mut Vec<u8>) {
        if !first {
            out.push(self.delimiter);
        }
        match value {
            None => out.extend_from_slice(&self.null),
            Some(value) => {
                for &b in value {
                    match b {
                        b'\\' => out.extend_from_slice(b"\\\\"),
                        b'\n' => out.extend_from_slice(b"\\n"),
                        b'\r' => out.extend_from_slice(b"\\r"),
                        b'\t' => out.extend_from_slice(b"\\t"),
                        b if b == self.delimiter => {
                            out.push(b'\\');
                            out.push(b);
                        }
                        b => out.push(b),
                    }
                }
            }
        }
    }
}

fn unescape(field: &[u8]) -> Result<Vec<u8>, Malformed> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let b = field[i];
        i += 1;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let Some(&next) = field.get(i) else {
            return Err(Malformed("a COPY field ends in a lone backslash"));
        };
        i += 1;
        match next {
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut value = u32::from(next - b'0');
                for _ in 0..2 {
                    match field.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(value as u8);
            }
            b'x' => {
                let mut value = 0u32;
                let mut digits = 0;
                while digits < 2 {
                    match field.get(i).and_then(|d| (*d as char).to_digit(16)) {
                        Some(d) => {
                            value = value * 16 + d;
                            i += 1;
                            digits += 1;
                        }
                        None => break,
                    }
                }
                if digits == 0 {
                    out.push(b'x');
                } else {
                    out.push(value as u8);
                }
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_decode_and_encode_back() {
        let format = TextFormat::default();
        let row = b"1\ta\\tb\\\\c\\nd\t\\N\t\\101\\x42\n";
        let fields = format.decode(row).unwrap();
        assert_eq!(
            fields,
            vec![
                Some(b"1".to_vec()),
                Some(b"a\tb\\c\nd".to_vec()),
                None,
                Some(b"AB".to_vec()),
            ]
        );
        let mut out = Vec::new();
        for (i, field) in fields.iter().enumerate() {
            format.encode_field(i == 0, field.as_deref(), &mut out);
        }
        out.push(b'\n');
        assert_eq!(out, b"1\ta\\tb\\\\c\\nd\t\\N\tAB\n");
    }

    #[test]
    fn other_delimiters_and_null_markers() {
        let format = TextFormat {
            delimiter: b'|',
            null: b"NULL".to_vec(),
        };
        assert_eq!(
            format.decode(b"x\\|y|NULL|\n").unwrap(),
            vec![Some(b"x|y".to_vec()), None, Some(Vec::new())]
        );
        let mut out = Vec::new();
        format.encode_field(true, Some(b"a|b"), &mut out);
        format.encode_field(false, None, &mut out);
        assert_eq!(out, b"a\\|b|NULL");
    }

    #[test]
    fn partial_rows_are_refused() {
        let format = TextFormat::default();
        assert!(format.decode(b"1\t2").is_err());
        assert!(format.decode(b"1\t2\\\n").is_err());
    }
}
