//! PostgreSQL's binary `numeric` format for a decimal string, both ways. tokio-postgres
//! has no numeric type of its own (only through optional crates), and the scenario
//! wants numeric to cross the gateway in binary, parameters and results alike.

use std::{error::Error, fmt::Write as _};

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};

const POSITIVE: u16 = 0x0000;
const NEGATIVE: u16 = 0x4000;
const NAN: u16 = 0xC000;

/// A numeric as its decimal text, e.g. `-12345.6780`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Numeric(pub String);

impl ToSql for Numeric {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        let (negative, text) = match self.0.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, self.0.as_str()),
        };
        let (int, frac) = text.split_once('.').unwrap_or((text, ""));
        if !(int.chars().chain(frac.chars())).all(|c| c.is_ascii_digit()) {
            return Err(format!("not a decimal number: {}", self.0).into());
        }
        // Base-10000 digits: the integer part padded on the left, the fraction on the
        // right, to whole groups of four decimal digits.
        let int = int.trim_start_matches('0');
        let int = format!("{}{int}", "0".repeat((4 - int.len() % 4) % 4));
        let frac_padded = format!("{frac}{}", "0".repeat((4 - frac.len() % 4) % 4));
        let mut weight = (int.len() / 4) as i16 - 1;
        let mut digits: Vec<i16> = format!("{int}{frac_padded}")
            .as_bytes()
            .chunks(4)
            .map(|group| {
                std::str::from_utf8(group)
                    .expect("ASCII")
                    .parse()
                    .expect("digits")
            })
            .collect();
        while digits.first() == Some(&0) {
            digits.remove(0);
            weight -= 1;
        }
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if digits.is_empty() {
            weight = 0;
        }
        let sign = if negative && !digits.is_empty() {
            NEGATIVE
        } else {
            POSITIVE
        };
        out.put_i16(digits.len() as i16);
        out.put_i16(weight);
        out.put_u16(sign);
        out.put_u16(frac.len() as u16);
        for digit in digits {
            out.put_i16(digit);
        }
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Numeric {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        let word = |i: usize| -> Result<u16, Box<dyn Error + Sync + Send>> {
            raw.get(2 * i..2 * i + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .ok_or_else(|| "numeric value too short".into())
        };
        let ndigits = word(0)? as usize;
        let weight = word(1)? as i16 as i32;
        let sign = word(2)?;
        let dscale = word(3)? as usize;
        if sign == NAN {
            return Ok(Self("NaN".into()));
        }
        let digits = (0..ndigits)
            .map(|i| word(4 + i))
            .collect::<Result<Vec<u16>, _>>()?;
        let digit = |position: i32| -> u16 {
            usize::try_from(position)
                .ok()
                .and_then(|p| digits.get(p).copied())
                .unwrap_or(0)
        };
        let mut text = String::new();
        if sign == NEGATIVE {
            text.push('-');
        }
        if weight < 0 {
            text.push('0');
        } else {
            let _ = write!(text, "{}", digit(0));
            for position in 1..=weight {
                let _ = write!(text, "{:04}", digit(position));
            }
        }
        if dscale > 0 {
            let mut frac = String::new();
            let mut position = weight + 1;
            while frac.len() < dscale {
                let _ = write!(frac, "{:04}", digit(position));
                position += 1;
            }
            frac.truncate(dscale);
            text.push('.');
            text.push_str(&frac);
        }
        Ok(Self(text))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for text in [
            "0",
            "1.5",
            "-1.50",
            "0.0001",
            "12345.678",
            "10000",
            "-0.00",
            "99999999.99990",
        ] {
            let mut buf = BytesMut::new();
            Numeric(text.into())
                .to_sql(&Type::NUMERIC, &mut buf)
                .expect("encodes");
            let back = Numeric::from_sql(&Type::NUMERIC, &buf).expect("decodes");
            let expected = if text == "-0.00" { "0.00" } else { text };
            assert_eq!(back.0, expected, "{text}");
        }
    }
}
