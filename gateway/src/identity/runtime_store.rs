//! Bindings made with `cordon bind`, kept in the state directory so they
//! survive restarts. Written atomically, readable by root only.

use std::{
    io::{self, Write},
    os::unix::fs::{DirBuilderExt, OpenOptionsExt},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::config::Subject;

const FILE_NAME: &str = "bindings.json";
const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    subject: Subject,
    identity: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    version: u32,
    bindings: Vec<Entry>,
}

#[derive(Debug, Default)]
pub struct RuntimeBindings {
    /// None for an in-memory set (tests); otherwise the state directory.
    dir: Option<PathBuf>,
    entries: Vec<Entry>,
}

impl RuntimeBindings {
    /// Reads the stored bindings. A missing file is an empty set; a file that
    /// cannot be understood stops the daemon rather than losing bindings.
    pub fn load(state_dir: &Path) -> io::Result<Self> {
        let path = state_dir.join(FILE_NAME);
        let entries = match std::fs::read(&path) {
            Ok(bytes) => {
                let stored: Stored = serde_json::from_slice(&bytes).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: {e}", path.display()),
                    )
                })?;
                if stored.version != FORMAT_VERSION {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{}: format version {} is not {FORMAT_VERSION}",
                            path.display(),
                            stored.version
                        ),
                    ));
                }
                stored.bindings
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(Self {
            dir: Some(state_dir.to_owned()),
            entries,
        })
    }

    pub fn entries(&self) -> impl Iterator<Item = (&Subject, &str)> {
        self.entries
            .iter()
            .map(|e| (&e.subject, e.identity.as_str()))
    }

    /// Binds (or re-binds) a subject and saves the set.
    pub fn add(&mut self, subject: Subject, identity: String) -> io::Result<()> {
        let mut next = self.entries.clone();
        next.retain(|e| e.subject != subject);
        next.push(Entry { subject, identity });
        self.save(next)
    }

    /// Removes a subject's binding; false when there was none.
    pub fn remove(&mut self, subject: &Subject) -> io::Result<bool> {
        let mut next = self.entries.clone();
        next.retain(|e| &e.subject != subject);
        if next.len() == self.entries.len() {
            return Ok(false);
        }
        self.save(next)?;
        Ok(true)
    }

    /// Writes to disk first; memory changes only once the file is in place.
    fn save(&mut self, entries: Vec<Entry>) -> io::Result<()> {
        if let Some(dir) = &self.dir {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
            let stored = Stored {
                version: FORMAT_VERSION,
                bindings: entries.clone(),
            };
            let json = serde_json::to_vec_pretty(&stored).map_err(io::Error::other)?;
            let tmp = dir.join(format!(".{FILE_NAME}.tmp"));
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(&json)?;
            file.sync_all()?;
            std::fs::rename(&tmp, dir.join(FILE_NAME))?;
        }
        self.entries = entries;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_survive_a_reload_and_unbind() {
        let dir = std::env::temp_dir().join(format!("cordon-rb-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut store = RuntimeBindings::load(&dir).unwrap();
        assert_eq!(store.entries().count(), 0);
        let subject = Subject::Cgroup("/a".into());
        store.add(subject.clone(), "ci".into()).unwrap();
        store.add(subject.clone(), "agent".into()).unwrap();
        let again = RuntimeBindings::load(&dir).unwrap();
        let entries: Vec<_> = again
            .entries()
            .map(|(s, i)| (s.clone(), i.to_owned()))
            .collect();
        assert_eq!(entries, vec![(subject.clone(), "agent".to_owned())]);
        assert!(store.remove(&subject).unwrap());
        assert!(!store.remove(&subject).unwrap());
        assert_eq!(RuntimeBindings::load(&dir).unwrap().entries().count(), 0);
        std::fs::write(dir.join(FILE_NAME), "{not json").unwrap();
        assert!(RuntimeBindings::load(&dir).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
