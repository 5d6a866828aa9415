//! Each kind's candidate pattern, and the search that confirms candidates
//! with the checks. Patterns are ASCII-only (`(?-u)`): the values they look
//! for are ASCII, and ASCII word boundaries keep the regex engine on its
//! fast path for any text.

use std::sync::LazyLock;

use regex::Regex;

use super::{checks, Kind, Span};

const EMAIL: &str =
    r"(?-u)[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,63}\b";

/// International `+CC ...` forms; North American `(555) 123-4567`,
/// `555-123-4567`, `555.123.4567`, `1-800-555-1234`; national forms with a trunk 0
/// (`020 7946 0958`, `07700 900123`, `06 12 34 56 78`). Digits alone are
/// never a phone number here: they are far more often ids and amounts.
const PHONE: &str = concat!(
    r"(?-u)\+[0-9]{1,3}(?:[ .\-]?\(?[0-9]{1,4}\)?){2,6}",
    r"|(?:1[ .\-]?)?\(?[0-9]{3}\)?[ .\-]?[0-9]{3}[ .\-][0-9]{4}",
    r"|0[0-9]{2,4}[ \-][0-9]{3,4}[ \-]?[0-9]{3,4}",
    r"|0[0-9](?:[ .\-][0-9]{2}){4}",
);

const CARD: &str = r"(?-u)\b[0-9](?:[ \-]?[0-9]){12,18}\b";

/// US SSN, UK National Insurance number.
const NATIONAL_ID: &str = concat!(
    r"(?-u)\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b",
    r"|\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]\b",
);

/// Country, check digits, then up to 30 characters, run together or in
/// groups of four.
const IBAN: &str = r"(?-u)\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b";

/// A header that starts `{"` (`eyJ`), a payload that starts `{` (`ey`/`ew`).
const JWT: &str = r"(?-u)\beyJ[A-Za-z0-9_\-]+\.e[wy][A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*";

/// The vendors' documented token shapes: AWS access key ids, GitHub tokens
/// (classic and fine-grained), GitLab personal tokens, Slack tokens, Google
/// API keys, Stripe live secret and restricted keys.
const ACCESS_KEY: &str = concat!(
    r"(?-u)\b(?:AKIA|ASIA)[A-Z0-9]{16}\b",
    r"|\bgh[pousr]_[A-Za-z0-9]{36}\b",
    r"|\bgithub_pat_[A-Za-z0-9_]{22,255}",
    r"|\bglpat-[A-Za-z0-9_\-]{20,}",
    r"|\bxox[abprs]-[A-Za-z0-9\-]{10,}",
    r"|\bAIza[A-Za-z0-9_\-]{35}",
    r"|\b[rs]k_live_[A-Za-z0-9]{16,}",
);

/// The BEGIN line of a PEM (or PGP armoured) private key; the label is
/// captured to find the matching END line.
const PRIVATE_KEY: &str = r"(?-u)-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----";

pub(super) fn candidate(kind: Kind) -> &'static str {
    match kind {
        Kind::Email => EMAIL,
        Kind::Phone => PHONE,
        Kind::Card => CARD,
        Kind::NationalId => NATIONAL_ID,
        Kind::Iban => IBAN,
        Kind::Jwt => JWT,
        Kind::AccessKey => ACCESS_KEY,
        Kind::PrivateKey => PRIVATE_KEY,
    }
}

/// The fixed texts every value of a kind starts with; none for kinds
/// without one. Kept in step with the patterns above.
pub(super) fn literal_prefixes(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Jwt => &["eyJ"],
        Kind::AccessKey => &[
            "AKIA",
            "ASIA",
            "ghp_",
            "gho_",
            "ghu_",
            "ghs_",
            "ghr_",
            "github_pat_",
            "glpat-",
            "xoxa-",
            "xoxb-",
            "xoxp-",
            "xoxr-",
            "xoxs-",
            "AIza",
            "sk_live_",
            "rk_live_",
        ],
        Kind::PrivateKey => &["-----BEGIN "],
        Kind::Email | Kind::Phone | Kind::Card | Kind::NationalId | Kind::Iban => &[],
    }
}

/// What one pass over a text tells about which kinds it could hold.
#[derive(Debug, Clone, Copy)]
pub(super) struct Census {
    digits: usize,
    at_sign: bool,
}

impl Census {
    pub(super) fn of(text: &str) -> Self {
        let bytes = text.as_bytes();
        // Counted in u8 lanes over chunks of at most 255 bytes, a form the
        // compiler vectorizes (a plain filter().count() runs a byte at a time).
        let digits = bytes
            .chunks(255)
            .map(|chunk| {
                let in_chunk = chunk
                    .iter()
                    .fold(0u8, |n, &b| n + u8::from(b.wrapping_sub(b'0') < 10));
                usize::from(in_chunk)
            })
            .sum();
        Self {
            digits,
            at_sign: bytes.contains(&b'@'),
        }
    }

    /// A necessary condition for a value of `kind`: the fewest digits any
    /// of its forms has (an IBAN's check digits; a NINO's six; an SSN's nine;
    /// a phone number's eight; a card's thirteen), or an email's `@`.
    pub(super) fn could_hold(self, kind: Kind) -> bool {
        match kind {
            Kind::Email => self.at_sign,
            Kind::Phone => self.digits >= 8,
            Kind::Card => self.digits >= 13,
            Kind::NationalId => self.digits >= 6,
            Kind::Iban => self.digits >= 2,
            Kind::Jwt | Kind::AccessKey | Kind::PrivateKey => true,
        }
    }
}

/// Each kind's pattern compiled once for the process, indexed by `Kind as usize`.
static FINDERS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    Kind::ALL
        .iter()
        .map(|&k| Regex::new(candidate(k)).expect("the detector patterns compile"))
        .collect()
});

/// Appends to `spans` every confirmed value of `kind` in `text`.
pub(super) fn find(kind: Kind, text: &str, spans: &mut Vec<Span>) {
    let finder = &FINDERS[kind as usize];
    let bytes = text.as_bytes();
    if kind == Kind::PrivateKey {
        return find_private_keys(finder, text, spans);
    }
    // A rejected candidate may hide a real value that starts inside it
    // (`1234 4111 1111 1111 1111` is no card, the last sixteen digits are),
    // so the search resumes one character after a rejected start, not after
    // its end. Every pattern starts with an ASCII character, so start + 1
    // is a character boundary.
    let mut from = 0;
    while let Some(m) = finder.find_at(text, from) {
        let (start, candidate) = (m.start(), &bytes[m.range()]);
        let end = match kind {
            Kind::Email | Kind::AccessKey => Some(m.end()),
            Kind::Phone => phone(bytes, start, m.end()),
            Kind::Card => card(bytes, start, m.end()),
            Kind::NationalId => national_id(bytes, start, m.end()),
            Kind::Iban => checks::iban(candidate).map(|len| start + len),
            Kind::Jwt => checks::jwt(m.as_str()).then_some(m.end()),
            Kind::PrivateKey => unreachable!("handled above"),
        };
        match end {
            Some(end) => {
                spans.push(Span { start, end, kind });
                from = end.max(start + 1);
            }
            None => from = start + 1,
        }
    }
}

/// A phone candidate that stands alone. International forms (`+`) have 8
/// to 15 digits (E.164's maximum); their pattern is greedy, so a candidate
/// with more digits is cut back to the longest run of whole groups that
/// fits. National forms have a fixed shape; spaced ones next to more digit
/// groups are a slice of a longer number (an account number, a table of
/// figures), not a phone number.
fn phone(text: &[u8], start: usize, mut end: usize) -> Option<usize> {
    if !checks::free_before(text, start) {
        return None;
    }
    let span = &text[start..end];
    // The last group's optional `)` may have taken a closing parenthesis
    // that belongs to the surrounding text.
    let opens = span.iter().filter(|&&b| b == b'(').count();
    let closes = span.iter().filter(|&&b| b == b')').count();
    if closes > opens && span.ends_with(b")") {
        end -= 1;
    }
    let span = &text[start..end];
    if span[0] == b'+' {
        let digits = |e: usize| span[..e].iter().filter(|b| b.is_ascii_digit()).count();
        let group_ends = (1..span.len())
            .filter(|&i| matches!(span[i], b' ' | b'.' | b'-' | b'('))
            .chain([span.len()]);
        let ends: Vec<usize> = group_ends.collect();
        return ends
            .into_iter()
            .rev()
            .find(|&e| (8..=15).contains(&digits(e)) && checks::free_after(text, start + e))
            .map(|e| start + e);
    }
    let more_digits =
        |at: Option<usize>| at.and_then(|i| text.get(i)).is_some_and(u8::is_ascii_digit);
    let within_longer = span.contains(&b' ')
        && ((start >= 1 && text[start - 1] == b' ' && more_digits(start.checked_sub(2)))
            || (text.get(end) == Some(&b' ') && more_digits(Some(end + 1))));
    (!within_longer && checks::free_after(text, end)).then_some(end)
}

/// The pattern is greedy: a longer run of digit groups
/// (`4111 1111 1111 1111 45`) may hold a card that ends at an earlier group
/// boundary, so every boundary is tried, the longest first.
fn card(text: &[u8], start: usize, end: usize) -> Option<usize> {
    let candidate = &text[start..end];
    let group_ends = candidate
        .iter()
        .enumerate()
        .filter(|(_, b)| !b.is_ascii_digit())
        .map(|(i, _)| i)
        .chain([candidate.len()]);
    let ends: Vec<usize> = group_ends.collect();
    ends.into_iter()
        .rev()
        .find(|&e| checks::card(&candidate[..e]) && checks::free_after(text, start + e))
        .map(|e| start + e)
}

fn national_id(text: &[u8], start: usize, end: usize) -> Option<usize> {
    let candidate = &text[start..end];
    let valid = if candidate[0].is_ascii_digit() {
        checks::ssn(candidate) && checks::free_before(text, start) && checks::free_after(text, end)
    } else {
        checks::nino(candidate)
    };
    valid.then_some(end)
}

/// From a BEGIN line through the END line with the same label; a key whose
/// END line is missing (a truncated value) is redacted to the end of the
/// text: the part shown would still be key material.
fn find_private_keys(finder: &Regex, text: &str, spans: &mut Vec<Span>) {
    let mut from = 0;
    while let Some(caps) = finder.captures_at(text, from) {
        let begin = caps.get(0).expect("group 0 is the match");
        let label = caps.get(1).expect("the label is not optional").as_str();
        let end_line = format!("-----END {label}-----");
        let end = text[begin.end()..]
            .find(&end_line)
            .map_or(text.len(), |i| begin.end() + i + end_line.len());
        spans.push(Span {
            start: begin.start(),
            end,
            kind: Kind::PrivateKey,
        });
        from = end;
    }
}
