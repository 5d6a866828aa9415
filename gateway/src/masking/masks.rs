//! What a mask rule writes in place of a value. Each mask writes one result
//! cell straight into the outgoing buffer: this runs per cell on results of
//! millions of rows, so nothing here allocates beyond that buffer.

use std::{os::unix::fs::MetadataExt, path::Path};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// What `redact` writes when the rule gives no `text`, and what the partial
/// masks fall back to when a value has no part that could be kept.
pub const DEFAULT_REDACT_TEXT: &str = "[masked]";

/// Types whose text and binary forms are both the value's UTF-8 bytes, so a
/// mask string is a valid value in either format: text, varchar, bpchar,
/// name, unknown. (Domains arrive as their base type in a RowDescription.)
const TEXT_LIKE_TYPES: [u32; 5] = [25, 1043, 1042, 19, 705];

/// Hex characters of the keyed hash shown (128 bits: collisions are not a
/// practical concern, and the column stays readable).
const HASH_HEX_CHARS: usize = 32;

/// Stars that replace the kept-back part of a partial mask. Fixed length, so
/// the mask says nothing about how long the hidden part was.
const STARS: &[u8] = b"****";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mask {
    /// A fixed text.
    Redact { text: String },
    /// `****@example.com`: the domain stays, the mailbox goes.
    PartialEmail,
    /// `**** **** **** 1234`: the last four digits stay.
    PartialCard,
    /// Keyed HMAC-SHA256 of the value as lowercase hex: equal values stay
    /// equal, so joins and grouping on the masked column still work.
    Hash,
    /// Always NULL.
    Null,
}

impl Mask {
    /// The names the configuration's `mask` field accepts.
    pub const NAMES: [&'static str; 5] =
        ["redact", "partial-email", "partial-card", "hash", "null"];

    /// The mask of a configuration name; `text` is redact's replacement.
    pub fn from_name(name: &str, text: Option<String>) -> Option<Self> {
        Some(match name {
            "redact" => Mask::Redact {
                text: text.unwrap_or_else(|| DEFAULT_REDACT_TEXT.to_owned()),
            },
            "partial-email" => Mask::PartialEmail,
            "partial-card" => Mask::PartialCard,
            "hash" => Mask::Hash,
            "null" => Mask::Null,
            _ => return None,
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Mask::Redact { .. } => "redact",
            Mask::PartialEmail => "partial-email",
            Mask::PartialCard => "partial-card",
            Mask::Hash => "hash",
            Mask::Null => "null",
        }
    }

    /// Whether applying this mask needs the deployment's hash key.
    pub fn needs_key(&self) -> bool {
        matches!(self, Mask::Hash)
    }

    /// Appends the masked form of one non-NULL cell (`value`, of type
    /// `type_oid`, in binary or text `format`) to `out`. Returns false when
    /// the cell must be sent as NULL instead; `out` is then left as it was.
    ///
    /// Only text-like types can hold a mask string: a text-format `****` in an
    /// integer column would break every client that decodes by type, so
    /// every other type becomes NULL in both formats. For text-like types the
    /// binary form is the text itself, so `binary` changes nothing.
    pub fn apply(
        &self,
        value: &[u8],
        type_oid: u32,
        _binary: bool,
        key: Option<&HashKey>,
        out: &mut Vec<u8>,
    ) -> bool {
        if !TEXT_LIKE_TYPES.contains(&type_oid) {
            return false;
        }
        match self {
            Mask::Null => return false,
            Mask::Redact { text } => out.extend_from_slice(text.as_bytes()),
            Mask::PartialEmail => partial_email(value, out),
            Mask::PartialCard => partial_card(value, out),
            // No key means a configuration the validator should have refused:
            // fail closed rather than show the value or an unkeyed hash.
            Mask::Hash => match key {
                Some(key) => key.write_hex(value, out),
                None => return false,
            },
        }
        true
    }
}

fn partial_email(value: &[u8], out: &mut Vec<u8>) {
    match value.iter().rposition(|&b| b == b'@') {
        Some(at) if at + 1 < value.len() => {
            out.extend_from_slice(STARS);
            out.extend_from_slice(&value[at..]);
        }
        _ => out.extend_from_slice(DEFAULT_REDACT_TEXT.as_bytes()),
    }
}

/// Card numbers have 12 to 19 digits; with fewer, the last four would be
/// too much of the value to show.
const MIN_CARD_DIGITS: usize = 12;

fn partial_card(value: &[u8], out: &mut Vec<u8>) {
    let digits = value.iter().filter(|b| b.is_ascii_digit()).count();
    if digits < MIN_CARD_DIGITS {
        out.extend_from_slice(DEFAULT_REDACT_TEXT.as_bytes());
        return;
    }
    out.extend_from_slice(b"**** **** **** ");
    let mut last_four = [0u8; 4];
    let mut kept = 0;
    for &b in value.iter().rev().filter(|b| b.is_ascii_digit()).take(4) {
        kept += 1;
        last_four[4 - kept] = b;
    }
    out.extend_from_slice(&last_four);
}

/// The deployment secret for keyed hashes, with the HMAC's key schedule
/// done once: each cell clones the keyed state instead of re-keying.
#[derive(Clone)]
pub struct HashKey {
    keyed: Hmac<Sha256>,
}

impl std::fmt::Debug for HashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashKey(<secret>)")
    }
}

impl HashKey {
    /// Shorter keys make the hashes of low-entropy values (phone numbers,
    /// ids) guessable by brute force over the key.
    pub const MIN_LEN: usize = 32;

    pub fn from_bytes(key: &[u8]) -> Result<Self, String> {
        if key.len() < Self::MIN_LEN {
            return Err(format!(
                "holds {} bytes; a hash key needs at least {} (e.g. `head -c 32 /dev/urandom > FILE`)",
                key.len(),
                Self::MIN_LEN
            ));
        }
        let keyed = Hmac::<Sha256>::new_from_slice(key)
            .map_err(|e| format!("cannot key HMAC-SHA256: {e}"))?;
        Ok(Self { keyed })
    }

    /// Reads the key file: its bytes, as they are, are the key. The file
    /// must belong to the gateway's user and be closed to group and others,
    /// or agents' users might read the secret and reverse the hashes.
    pub fn load(path: &Path) -> Result<Self, String> {
        let meta =
            std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if !meta.is_file() {
            return Err(format!("{} is not a regular file", path.display()));
        }
        let mode = meta.mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "{} is open to group or others (mode {mode:o}); chmod 600 it",
                path.display()
            ));
        }
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me {
            return Err(format!(
                "{} belongs to uid {}, not to the gateway's user (uid {me}); chown it",
                path.display(),
                meta.uid()
            ));
        }
        let key =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::from_bytes(&key).map_err(|e| format!("{} {e}", path.display()))
    }

    /// Appends the first `HASH_HEX_CHARS` lowercase hex digits of the MAC.
    pub fn write_hex(&self, value: &[u8], out: &mut Vec<u8>) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut mac = self.keyed.clone();
        mac.update(value);
        let tag = mac.finalize().into_bytes();
        for &byte in &tag[..HASH_HEX_CHARS / 2] {
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0x0f)]);
        }
    }
}

#[cfg(test)]
mod tests;
