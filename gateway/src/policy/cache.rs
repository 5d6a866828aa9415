//! Classifications kept per session and across sessions, so a statement text
//! is parsed once however often it runs. Both caches are bounded by entries
//! and by bytes of text; when full they are emptied (simple, and bounded).

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, Mutex},
};

use super::{
    classify::{classify, Dialect},
    facts::Classified,
};

/// Texts longer than this are classified each time rather than kept.
const CACHEABLE_TEXT_LEN: usize = 16 * 1024;

/// A session's own cache: small, since a gateway holds thousands of sessions.
const SESSION_ENTRIES: usize = 512;
const SESSION_BYTES: usize = 128 * 1024;

/// The cache all sessions share (per dialect).
const SHARED_ENTRIES: usize = 16 * 1024;
const SHARED_BYTES: usize = 16 * 1024 * 1024;

#[derive(Default)]
pub struct TextCache {
    map: HashMap<Box<str>, Arc<Classified>>,
    bytes: usize,
}

impl TextCache {
    fn get(&self, text: &str) -> Option<&Arc<Classified>> {
        self.map.get(text)
    }

    fn insert(&mut self, text: &str, value: &Arc<Classified>, entries: usize, bytes: usize) {
        if text.len() > CACHEABLE_TEXT_LEN || self.map.contains_key(text) {
            return;
        }
        if self.map.len() >= entries || self.bytes + text.len() > bytes {
            self.map.clear();
            self.bytes = 0;
        }
        self.bytes += text.len();
        self.map.insert(text.into(), Arc::clone(value));
    }
}

static SHARED: LazyLock<[Mutex<TextCache>; 2]> = LazyLock::new(Default::default);

/// Classifies `text`, from the session's or the shared cache when it was
/// seen before.
pub fn classified(local: &mut TextCache, dialect: Dialect, text: &str) -> Arc<Classified> {
    if let Some(hit) = local.get(text) {
        return Arc::clone(hit);
    }
    let shared = &SHARED[usize::from(dialect.standard_conforming_strings)];
    let cached = shared.lock().ok().and_then(|c| c.get(text).cloned());
    let result = cached.unwrap_or_else(|| {
        let fresh = Arc::new(classify(text, dialect));
        if let Ok(mut cache) = shared.lock() {
            cache.insert(text, &fresh, SHARED_ENTRIES, SHARED_BYTES);
        }
        fresh
    });
    local.insert(text, &result, SESSION_ENTRIES, SESSION_BYTES);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_by_bytes_and_entries() {
        let value = Arc::new(Classified::Statements(Vec::new()));
        let mut cache = TextCache::default();
        for i in 0..100 {
            cache.insert(&format!("{i:0>1000}"), &value, 1000, 10_000);
            assert!(cache.bytes <= 10_000);
        }
        for i in 0..100 {
            cache.insert(&format!("SELECT {i}"), &value, 10, usize::MAX);
            assert!(cache.map.len() <= 10);
        }
        cache.insert(&"x".repeat(CACHEABLE_TEXT_LEN + 1), &value, 10, usize::MAX);
        assert!(cache.get(&"x".repeat(CACHEABLE_TEXT_LEN + 1)).is_none());
    }
}
