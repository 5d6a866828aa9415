//! Content detectors: the second layer, over every text value an identity
//! receives, for sensitive values that reach a result without a masked
//! column's origin (pasted into a notes field, built by an expression the
//! origin analysis allowed, returned by a function).
//!
//! Each kind has a pattern that finds candidates and a precise check that
//! confirms them (Luhn for cards, mod 97 for IBANs, a JSON header for JWTs,
//! ...). Most values hold nothing, and for them `redact` allocates nothing
//! and reads the text twice: one pass counts digits and looks for an `@` (a
//! value with neither cannot hold an email, a phone or a card number); then
//! text that could hold such a value meets one combined pattern of every
//! enabled kind, and other text only a literal search for the fixed starts
//! of the remaining kinds (`eyJ`, `AKIA`, `-----BEGIN` ...).

mod checks;
mod patterns;

use std::{fmt, sync::Arc};

use regex::Regex;

/// What a detector looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Email,
    Phone,
    Card,
    NationalId,
    Iban,
    Jwt,
    AccessKey,
    PrivateKey,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Email,
        Kind::Phone,
        Kind::Card,
        Kind::NationalId,
        Kind::Iban,
        Kind::Jwt,
        Kind::AccessKey,
        Kind::PrivateKey,
    ];

    /// The configuration's name, also shown in `[redacted NAME]`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Card => "card",
            Kind::NationalId => "national-id",
            Kind::Iban => "iban",
            Kind::Jwt => "jwt",
            Kind::AccessKey => "access-key",
            Kind::PrivateKey => "private-key",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of kinds (a bit per kind).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct KindSet(u16);

impl KindSet {
    pub fn all() -> Self {
        Kind::ALL.into_iter().collect()
    }

    pub fn insert(&mut self, kind: Kind) {
        self.0 |= kind.bit();
    }

    pub fn union(self, other: KindSet) -> KindSet {
        KindSet(self.0 | other.0)
    }

    pub fn contains(self, kind: Kind) -> bool {
        self.0 & kind.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Kind> {
        Kind::ALL.into_iter().filter(move |k| self.contains(*k))
    }
}

impl FromIterator<Kind> for KindSet {
    fn from_iter<I: IntoIterator<Item = Kind>>(iter: I) -> Self {
        let mut set = KindSet::default();
        iter.into_iter().for_each(|k| set.insert(k));
        set
    }
}

/// The detectors one identity has switched on. Cheap to clone.
#[derive(Clone, Default)]
pub struct DetectorSet {
    compiled: Option<Arc<Compiled>>,
}

struct Compiled {
    kinds: KindSet,
    /// Every enabled kind's pattern in one alternation.
    all: Regex,
    /// The fixed texts that start every value of the enabled kinds that
    /// have one (JWTs, access keys, private keys), as a pure literal
    /// alternation: the regex engine runs it as a vectorized multi-literal
    /// search, much faster than the full patterns.
    literal_prefixes: Option<Regex>,
}

impl fmt::Debug for DetectorSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds: Vec<&str> = self.kinds().iter().map(Kind::name).collect();
        f.debug_tuple("DetectorSet").field(&kinds).finish()
    }
}

/// A detected value: bytes `start..end` of the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
    kind: Kind,
}

impl DetectorSet {
    /// Compiles the prefilter for `kinds` (a few milliseconds: build once per
    /// set of kinds, as `MaskPolicy` does, not per session).
    pub fn new(kinds: KindSet) -> Self {
        if kinds.is_empty() {
            return Self::default();
        }
        let patterns: Vec<String> = kinds
            .iter()
            .map(|k| format!("(?:{})", patterns::candidate(k)))
            .collect();
        let all = Regex::new(&patterns.join("|")).expect("the detector patterns compile");
        let prefixes: Vec<String> = kinds
            .iter()
            .flat_map(patterns::literal_prefixes)
            .map(|p| regex::escape(p))
            .collect();
        let literal_prefixes = (!prefixes.is_empty())
            .then(|| Regex::new(&prefixes.join("|")).expect("escaped literals compile"));
        Self {
            compiled: Some(Arc::new(Compiled {
                kinds,
                all,
                literal_prefixes,
            })),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.compiled.is_none()
    }

    pub fn kinds(&self) -> KindSet {
        self.compiled
            .as_ref()
            .map_or_else(KindSet::default, |c| c.kinds)
    }

    /// `text` with every detected value replaced by `[redacted KIND]`, or
    /// None when nothing was detected.
    pub fn redact(&self, text: &str) -> Option<String> {
        let compiled = self.compiled.as_ref()?;
        let census = patterns::Census::of(text);
        // Kinds without a fixed start can only be found by the full patterns.
        let unanchored_possible = compiled
            .kinds
            .iter()
            .any(|k| patterns::literal_prefixes(k).is_empty() && census.could_hold(k));
        let candidate = if unanchored_possible {
            compiled.all.is_match(text)
        } else {
            compiled
                .literal_prefixes
                .as_ref()
                .is_some_and(|r| r.is_match(text))
        };
        if !candidate {
            return None;
        }
        let mut spans = Vec::new();
        for kind in compiled.kinds.iter().filter(|&k| census.could_hold(k)) {
            patterns::find(kind, text, &mut spans);
        }
        if spans.is_empty() {
            return None;
        }
        Some(replace(text, spans))
    }
}

/// Replaces the spans, earliest first; of overlapping ones the one that
/// starts first (or, at the same start, the longest) wins, so a private key
/// block is one redaction, not a string of smaller ones inside it.
fn replace(text: &str, mut spans: Vec<Span>) -> String {
    spans.sort_by_key(|s| (s.start, std::cmp::Reverse(s.end)));
    let mut out = String::with_capacity(text.len());
    let mut done = 0;
    for span in spans {
        if span.start < done {
            continue;
        }
        out.push_str(&text[done..span.start]);
        out.push_str("[redacted ");
        out.push_str(span.kind.name());
        out.push(']');
        done = span.end;
    }
    out.push_str(&text[done..]);
    out
}

#[cfg(test)]
mod tests;
