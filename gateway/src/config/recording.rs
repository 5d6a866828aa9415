//! `[recording]`: where session records are kept, how much of each result,
//! and for how long.

use std::path::PathBuf;

use toml::Spanned;

use super::{file, ConfigError, Validator};

/// Where records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordingStore {
    /// SQLite (WAL) file, by default `<state_dir>/audit.db`.
    Sqlite { path: PathBuf },
    /// A PostgreSQL database shared by a fleet of gateways.
    Postgres { conninfo: String },
}

/// When a statement's record reaches the disk (`sync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingSync {
    /// Written to the kernel before the result reaches the client (a killed or crashed
    /// gateway loses nothing), flushed to disk within a few milliseconds.
    Periodic,
    /// Flushed to disk before the result reaches the client (a power loss loses
    /// nothing either); several times the CPU per statement.
    EachResult,
}

#[derive(Debug, Clone)]
pub struct Recording {
    /// Off only for measurements: a gateway that does not record is blind.
    pub enabled: bool,
    pub store: RecordingStore,
    /// When records reach the disk (SQLite; the PostgreSQL store commits each group).
    pub sync: RecordingSync,
    /// Result rows kept per statement (as the client saw them); more are counted, not kept.
    pub max_rows: usize,
    /// Bytes of result values kept per statement.
    pub max_bytes: usize,
    /// Sessions closed longer ago than this are purged (None: kept forever).
    pub retention_secs: Option<u64>,
}

pub const DEFAULT_MAX_ROWS: usize = 100;
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024;

impl Validator<'_> {
    pub(super) fn recording(
        &self,
        raw: Option<file::RecordingTable>,
        state_dir: &std::path::Path,
    ) -> Result<Recording, ConfigError> {
        let mut recording = Recording {
            enabled: true,
            store: RecordingStore::Sqlite {
                path: state_dir.join("audit.db"),
            },
            sync: RecordingSync::Periodic,
            max_rows: DEFAULT_MAX_ROWS,
            max_bytes: DEFAULT_MAX_BYTES,
            retention_secs: None,
        };
        let Some(raw) = raw else {
            return Ok(recording);
        };
        recording.enabled = raw.enabled.map(Spanned::into_inner).unwrap_or(true);
        let kind = raw
            .store
            .as_ref()
            .map(|s| s.get_ref().as_str())
            .unwrap_or("sqlite");
        recording.store = match kind {
            "sqlite" => {
                if let Some(conninfo) = &raw.conninfo {
                    return Err(self.error(conninfo, "conninfo", "only for store = \"postgres\""));
                }
                RecordingStore::Sqlite {
                    path: raw
                        .path
                        .map(Spanned::into_inner)
                        .unwrap_or_else(|| state_dir.join("audit.db")),
                }
            }
            "postgres" => {
                let Some(conninfo) = raw.conninfo else {
                    let at = raw.store.as_ref().expect("store was given");
                    return Err(self.error(at, "conninfo", "store = \"postgres\" needs conninfo"));
                };
                if let Some(path) = &raw.path {
                    return Err(self.error(path, "path", "only for store = \"sqlite\""));
                }
                RecordingStore::Postgres {
                    conninfo: conninfo.into_inner(),
                }
            }
            other => {
                let at = raw.store.as_ref().expect("store was given");
                return Err(self.error(
                    at,
                    "store",
                    format!("unknown store \"{other}\"; use \"sqlite\" or \"postgres\""),
                ));
            }
        };
        if let Some(sync) = &raw.sync {
            recording.sync = match sync.get_ref().as_str() {
                "periodic" => RecordingSync::Periodic,
                "each-result" => RecordingSync::EachResult,
                other => {
                    return Err(self.error(
                        sync,
                        "sync",
                        format!("unknown sync \"{other}\"; use \"periodic\" or \"each-result\""),
                    ))
                }
            };
        }
        if let Some(rows) = raw.max_rows {
            recording.max_rows = rows.into_inner();
        }
        if let Some(bytes) = raw.max_bytes {
            recording.max_bytes = bytes.into_inner();
        }
        if let Some(retention) = raw.retention {
            let secs = parse_duration(retention.get_ref()).ok_or_else(|| {
                self.error(
                    &retention,
                    "retention",
                    "a duration such as \"90d\", \"12h\" or \"30m\" (d, h, m, s)",
                )
            })?;
            recording.retention_secs = Some(secs);
        }
        Ok(recording)
    }
}

/// `90d`, `12h`, `30m`, `45s`.
pub fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let number: u64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let scale = match unit {
        'd' => 86_400,
        'h' => 3_600,
        'm' => 60,
        's' => 1,
        _ => return None,
    };
    number.checked_mul(scale).filter(|s| *s > 0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations() {
        assert_eq!(super::parse_duration("90d"), Some(90 * 86_400));
        assert_eq!(super::parse_duration("12h"), Some(12 * 3_600));
        assert_eq!(super::parse_duration("0d"), None);
        assert_eq!(super::parse_duration("90"), None);
        assert_eq!(super::parse_duration("d"), None);
    }
}
