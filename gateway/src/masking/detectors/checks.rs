//! The precise checks that turn a pattern's candidate into a detection:
//! check digits, number ranges, decodable structure and the characters
//! around it. Each is what tells a real value from a look-alike id.

/// Whether `b` continues a word or a number, so a candidate next to it is
/// only part of a longer token.
fn joins_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether the candidate starting at `start` stands on its own: not glued to
/// a word, a number, or a dashed/dotted/slashed token (`ORD-555-123-4567`,
/// `10.555.123.4567`, `a/555 ...`).
pub fn free_before(text: &[u8], start: usize) -> bool {
    let Some(&prev) = start.checked_sub(1).and_then(|i| text.get(i)) else {
        return true;
    };
    match prev {
        b'-' | b'/' | b':' | b'+' => false,
        b'.' => !start
            .checked_sub(2)
            .and_then(|i| text.get(i))
            .is_some_and(u8::is_ascii_digit),
        b => !joins_token(b),
    }
}

/// Whether the candidate ending at `end` is not continued by more of a
/// token (`-12`, `/2`, `:30`, a decimal `.5`).
pub fn free_after(text: &[u8], end: usize) -> bool {
    let Some(&next) = text.get(end) else {
        return true;
    };
    match next {
        b'-' | b'/' | b':' => false,
        b'.' => !text.get(end + 1).is_some_and(u8::is_ascii_digit),
        b => !joins_token(b),
    }
}

/// The Luhn checksum over decimal digits (ASCII), as card numbers carry.
pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// Card numbers as people write them: 13 to 19 digits run together, or
/// grouped by one kind of separator as issuers print them: 4-4-4-4,
/// 4-4-4-4-3, 4-4-4-1, American Express's 4-6-5 and Diners' 4-6-4. Issuers'
/// numbers start with 2 to 6; leaving out 1 keeps 13-digit epoch-millisecond
/// timestamps, which pass Luhn one time in ten, from being taken for cards.
/// Luhn passes one look-alike in ten, so the layout matters.
pub fn card(candidate: &[u8]) -> bool {
    let digits: Vec<u8> = candidate
        .iter()
        .copied()
        .filter(u8::is_ascii_digit)
        .collect();
    if !(13..=19).contains(&digits.len()) || !(b'2'..=b'6').contains(&digits[0]) {
        return false;
    }
    let separator = candidate.iter().copied().find(|b| !b.is_ascii_digit());
    if let Some(sep) = separator {
        if candidate.iter().any(|&b| !b.is_ascii_digit() && b != sep) {
            return false;
        }
        let groups: Vec<usize> = candidate.split(|&b| b == sep).map(<[u8]>::len).collect();
        let printed = matches!(
            groups.as_slice(),
            [4, 4, 4, 4] | [4, 4, 4, 4, 3] | [4, 4, 4, 1] | [4, 6, 5] | [4, 6, 4]
        );
        if !printed {
            return false;
        }
    }
    luhn(&digits)
}

/// US Social Security number `AAA-GG-SSSS` with the ranges never issued
/// excluded: area 000, 666 and 900-999, group 00, serial 0000.
pub fn ssn(candidate: &[u8]) -> bool {
    let number = |part: &[u8]| part.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
    if candidate.len() != 11 {
        return false;
    }
    let (area, group, serial) = (
        number(&candidate[0..3]),
        number(&candidate[4..6]),
        number(&candidate[7..11]),
    );
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// UK National Insurance number: the pattern allows only the issued letters;
/// these prefixes are never issued. Spaces are all or nothing.
pub fn nino(candidate: &[u8]) -> bool {
    const NEVER_ISSUED: [&[u8]; 7] = [b"BG", b"GB", b"KN", b"NK", b"NT", b"TN", b"ZZ"];
    if NEVER_ISSUED.contains(&&candidate[..2]) {
        return false;
    }
    let spaces = candidate.iter().filter(|&&b| b == b' ').count();
    spaces == 0 || spaces == 4
}

/// IBAN lengths by country (the ISO 13616 registry): a known country must
/// have exactly its length, which also tells where an IBAN written in
/// groups ends when the next word looks like one more group.
fn iban_length(country: &[u8]) -> Option<usize> {
    #[rustfmt::skip]
    const LENGTHS: &[(&[u8; 2], usize)] = &[
        (b"AD", 24), (b"AE", 23), (b"AL", 28), (b"AT", 20), (b"AZ", 28), (b"BA", 20),
        (b"BE", 16), (b"BG", 22), (b"BH", 22), (b"BR", 29), (b"BY", 28), (b"CH", 21),
        (b"CR", 22), (b"CY", 28), (b"CZ", 24), (b"DE", 22), (b"DK", 18), (b"DO", 28),
        (b"EE", 20), (b"EG", 29), (b"ES", 24), (b"FI", 18), (b"FO", 18), (b"FR", 27),
        (b"GB", 22), (b"GE", 22), (b"GI", 23), (b"GL", 18), (b"GR", 27), (b"GT", 28),
        (b"HR", 21), (b"HU", 28), (b"IE", 22), (b"IL", 23), (b"IQ", 23), (b"IS", 26),
        (b"IT", 27), (b"JO", 30), (b"KW", 30), (b"KZ", 20), (b"LB", 28), (b"LC", 32),
        (b"LI", 21), (b"LT", 20), (b"LU", 20), (b"LV", 21), (b"MC", 27), (b"MD", 24),
        (b"ME", 22), (b"MK", 19), (b"MR", 27), (b"MT", 31), (b"MU", 30), (b"NL", 18),
        (b"NO", 15), (b"PK", 24), (b"PL", 28), (b"PS", 29), (b"PT", 25), (b"QA", 29),
        (b"RO", 24), (b"RS", 22), (b"SA", 24), (b"SC", 31), (b"SE", 24), (b"SI", 19),
        (b"SK", 24), (b"SM", 27), (b"ST", 25), (b"SV", 28), (b"TL", 23), (b"TN", 24),
        (b"TR", 26), (b"UA", 29), (b"VA", 22), (b"VG", 24), (b"XK", 20),
    ];
    LENGTHS
        .iter()
        .find(|(code, _)| code.as_slice() == country)
        .map(|&(_, len)| len)
}

/// The shortest IBAN any country uses, and the longest the standard allows.
const IBAN_LENGTHS: std::ops::RangeInclusive<usize> = 15..=34;

/// The end (exclusive, in `candidate`) of the IBAN the candidate starts
/// with, if any: the country's length (or, for a country not in the table,
/// the longest group-aligned prefix) whose check digits pass mod 97.
pub fn iban(candidate: &[u8]) -> Option<usize> {
    // Byte index just past each alphanumeric character.
    let ends: Vec<usize> = candidate
        .iter()
        .enumerate()
        .filter(|(_, b)| b.is_ascii_alphanumeric())
        .map(|(i, _)| i + 1)
        .collect();
    // An IBAN may only end where a group ends: at the candidate's end or a space.
    let ends_group = |len: usize| {
        let end = ends[len - 1];
        end == candidate.len() || candidate[end] == b' '
    };
    let valid = |len: usize| ends_group(len) && iban_mod97(candidate, len);
    match iban_length(&candidate[..2]) {
        Some(len) => (len <= ends.len() && valid(len)).then(|| ends[len - 1]),
        None => (*IBAN_LENGTHS.start()..=ends.len().min(*IBAN_LENGTHS.end()))
            .rev()
            .find(|&len| valid(len))
            .map(|len| ends[len - 1]),
    }
}

/// ISO 7064 mod 97-10 over the first `len` alphanumerics: the first four
/// characters move to the end, letters count as 10..35, and the remainder
/// must be 1.
fn iban_mod97(candidate: &[u8], len: usize) -> bool {
    let chars: Vec<u8> = candidate
        .iter()
        .copied()
        .filter(u8::is_ascii_alphanumeric)
        .take(len)
        .collect();
    let (head, tail) = chars.split_at(4);
    let mut rest = 0u32;
    for &c in tail.iter().chain(head) {
        rest = match c {
            b'0'..=b'9' => (rest * 10 + u32::from(c - b'0')) % 97,
            _ => (rest * 100 + u32::from(c - b'A') + 10) % 97,
        };
    }
    rest == 1
}

/// A JWT (header.payload.signature) whose header and payload decode to JSON
/// objects: base64url-looking text alone is too common (hashes, ids).
pub fn jwt(candidate: &str) -> bool {
    let mut parts = candidate.split('.');
    let (Some(header), Some(payload)) = (parts.next(), parts.next()) else {
        return false;
    };
    [header, payload].into_iter().all(|part| {
        base64url_decode(part)
            .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
            .is_some_and(|value| value.is_object())
    })
}

/// Unpadded base64url (RFC 4648 section 5), as JWTs use.
fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let sextet = |c: u8| -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        }))
    };
    let bytes = text.trim_end_matches('=').as_bytes();
    if bytes.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for &c in chunk {
            acc = (acc << 6) | sextet(c)?;
        }
        // A chunk of n characters carries n * 6 bits: 3, 2 or 1 whole bytes.
        let bits = chunk.len() * 6;
        acc <<= 24 - bits;
        let whole = bits / 8;
        out.extend_from_slice(&acc.to_be_bytes()[1..=whole]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_known_numbers() {
        assert!(luhn(b"4111111111111111"));
        assert!(luhn(b"79927398713"));
        assert!(!luhn(b"4111111111111112"));
    }

    #[test]
    fn base64url() {
        assert_eq!(base64url_decode("eyJhIjoxfQ").unwrap(), br#"{"a":1}"#);
        assert_eq!(base64url_decode("YQ").unwrap(), b"a");
        assert_eq!(base64url_decode("YWI").unwrap(), b"ab");
        assert_eq!(base64url_decode("YWJj").unwrap(), b"abc");
        assert_eq!(base64url_decode("_-8").unwrap(), [0xff, 0xef]);
        assert!(base64url_decode("Y").is_none());
        assert!(base64url_decode("a+b/").is_none());
    }

    #[test]
    fn iban_known_numbers() {
        assert_eq!(iban(b"DE89370400440532013000"), Some(22));
        assert_eq!(iban(b"GB82 WEST 1234 5698 7654 32"), Some(27));
        assert_eq!(iban(b"DE89370400440532013001"), None);
        // A country missing from the table: the check digits decide.
        assert_eq!(iban(b"LY83002048000020100120361"), Some(25));
    }

    #[test]
    fn boundaries() {
        let text = b"ab 555 x-555 1.5";
        assert!(free_before(text, 3));
        assert!(!free_before(text, 9));
        assert!(!free_before(text, 1));
        assert!(free_after(text, 6));
        assert!(!free_after(text, 14));
        assert!(free_after(text, text.len()));
    }
}
