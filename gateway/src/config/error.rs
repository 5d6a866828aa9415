//! Configuration errors an operator can act on: file, line, column and field.

use std::{fmt, ops::Range, path::PathBuf};

/// Where in the file a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl Location {
    /// 1-based line and column of a byte offset into `text`.
    pub fn of_offset(text: &str, offset: usize) -> Self {
        let offset = offset.min(text.len());
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Self { line, column }
    }
}

#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub location: Option<Location>,
    /// The TOML key the problem is about, when there is one.
    pub field: Option<String>,
    pub message: String,
}

impl ConfigError {
    pub fn new(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            location: None,
            field: None,
            message: message.into(),
        }
    }

    pub fn at(mut self, text: &str, span: Range<usize>) -> Self {
        self.location = Some(Location::of_offset(text, span.start));
        self
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Turns a TOML parse or type error into one that names the key. The
    /// parser gives a span; the key is read back from the line it points at.
    pub fn from_toml(file: impl Into<PathBuf>, text: &str, error: &toml::de::Error) -> Self {
        let mut out = Self::new(file, error.message().trim());
        if let Some(span) = error.span() {
            out = out.at(text, span.clone());
            if let Some(key) = key_on_line(text, span.start) {
                out.field = Some(key);
            }
        }
        out
    }
}

/// The bare key of a `key = value` line containing byte `offset`.
fn key_on_line(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = text[start..end].trim_start();
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    bare.then(|| key.to_owned())
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(loc) = &self.location {
            write!(f, ":{}:{}", loc.line, loc.column)?;
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        write!(f, "{}", self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_one_based() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(
            Location::of_offset(text, 0),
            Location { line: 1, column: 1 }
        );
        assert_eq!(
            Location::of_offset(text, 6),
            Location { line: 2, column: 1 }
        );
        assert_eq!(
            Location::of_offset(text, 11),
            Location { line: 2, column: 6 }
        );
    }

    #[test]
    fn keys_are_read_back_from_the_line() {
        let text = "[gateway]\nlisten_port = \"fast\"\n";
        assert_eq!(key_on_line(text, 25).as_deref(), Some("listen_port"));
        assert_eq!(key_on_line(text, 2), None);
    }

    #[test]
    fn display_names_file_line_and_field() {
        let e = ConfigError::new("/etc/c.toml", "bad")
            .at("x\ny = 1", 2..3)
            .field("y");
        assert_eq!(e.to_string(), "/etc/c.toml:2:1: field `y`: bad");
    }
}
