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

/// Classifications by statement shape (the text with its literals blanked),
/// for statements whose classification provably does not depend on literal
/// values: `SELECT ... WHERE id = 1` and `... = 2` are judged once. Clients
/// that inline values (pgbench -M simple, most ORMs' simple mode) send a new
/// text each time; the shape saves the parse.
static SHAPES: LazyLock<Mutex<TextCache>> = LazyLock::new(Default::default);

/// Classifies `text`, from the session's or the shared cache when it was
/// seen before.
pub fn classified(local: &mut TextCache, dialect: Dialect, text: &str) -> Arc<Classified> {
    if let Some(hit) = local.get(text) {
        return Arc::clone(hit);
    }
    let shared = &SHARED[usize::from(dialect.standard_conforming_strings)];
    let cached = shared.lock().ok().and_then(|c| c.get(text).cloned());
    let result = cached.unwrap_or_else(|| by_shape(dialect, text));
    local.insert(text, &result, SESSION_ENTRIES, SESSION_BYTES);
    result
}

/// Classifies a text not seen before: from the shape cache when a text of
/// the same shape was judged, else by parsing (and keeping the result).
fn by_shape(dialect: Dialect, text: &str) -> Arc<Classified> {
    // The scanner reads strings as standard_conforming_strings = on.
    let key = dialect
        .standard_conforming_strings
        .then(|| shape_key(text))
        .flatten();
    if let Some(key) = &key {
        if let Some(hit) = SHAPES.lock().ok().and_then(|c| c.get(key).cloned()) {
            return hit;
        }
    }
    let fresh = Arc::new(classify(text, dialect));
    if let Ok(mut cache) = SHARED[usize::from(dialect.standard_conforming_strings)].lock() {
        cache.insert(text, &fresh, SHARED_ENTRIES, SHARED_BYTES);
    }
    if let Some(key) = key.filter(|_| literal_independent(&fresh)) {
        if let Ok(mut cache) = SHAPES.lock() {
            cache.insert(&key, &fresh, SHARED_ENTRIES, SHARED_BYTES);
        }
    }
    fresh
}

/// Literal kinds become one private-use character each in a shape key.
const LITERAL_MARK: u32 = 0xE000;

/// The statement's tokens as PostgreSQL's own scanner reads them, with
/// every literal replaced by its kind and comments dropped.
pub(crate) fn shape_key(text: &str) -> Option<String> {
    // The policy and the recording both ask for the shape of the statement a session
    // just sent, on the same thread: the scan runs once.
    thread_local! {
        static LAST: std::cell::RefCell<(String, Option<String>)> = Default::default();
    }
    if text.contains('\0') || text.len() > CACHEABLE_TEXT_LEN {
        return None;
    }
    if let Some(known) = LAST.with_borrow(|(last, key)| (last == text).then(|| key.clone())) {
        return known;
    }
    let key = scan_shape(text);
    LAST.with_borrow_mut(|(last, last_key)| {
        last.clear();
        last.push_str(text);
        last_key.clone_from(&key);
    });
    key
}

fn scan_shape(text: &str) -> Option<String> {
    use pg_query::protobuf::Token;
    let scanned = pg_query::scan(text).ok()?;
    let mut key = String::with_capacity(text.len() + scanned.tokens.len());
    for token in &scanned.tokens {
        match Token::try_from(token.token) {
            Ok(
                Token::Iconst
                | Token::Fconst
                | Token::Sconst
                | Token::Usconst
                | Token::Bconst
                | Token::Xconst,
            ) => key.push(char::from_u32(LITERAL_MARK + token.token as u32)?),
            Ok(Token::SqlComment | Token::CComment) => continue,
            _ => key.push_str(text.get(token.start as usize..token.end as usize)?),
        }
        key.push('\0');
    }
    Some(key)
}

/// Whether a classification would be the same for any literal values: plain
/// queries and data changes whose facts come from names alone. Literals
/// matter to set_config (its setting name), COPY (file names), EXPLAIN
/// (option values), DO and CREATE FUNCTION (bodies), and the session
/// statements; those are never reused by shape.
fn literal_independent(classified: &Classified) -> bool {
    let Classified::Statements(statements) = classified else {
        return false;
    };
    !statements.is_empty()
        && statements.iter().all(|s| {
            matches!(
                s.command.as_str(),
                "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "MERGE"
            ) && s.baseline.is_empty()
                && s.unjudgeable.is_none()
                && s.languages.is_empty()
                && s.effects.is_empty()
                && !s.builtin_calls.iter().any(|f| f == "set_config")
                && !s.functions.iter().any(|f| f.name == "set_config")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_blank_literals_and_comments_only() {
        let a = shape_key("SELECT * FROM t WHERE id = 1 AND s = 'x' /* c */").unwrap();
        let b = shape_key("select * from t where id = 2 and s = 'yy'").unwrap();
        assert_ne!(a, b, "keywords keep their spelling");
        let c = shape_key("SELECT * FROM t WHERE id = 99 AND s = E'z' -- c").unwrap();
        assert_eq!(a, c);
        assert_ne!(
            a,
            shape_key("SELECT * FROM u WHERE id = 1 AND s = 'x'").unwrap()
        );
        assert_ne!(
            shape_key("SELECT 'a' FROM t").unwrap(),
            shape_key("SELECT \"a\" FROM t").unwrap()
        );
        // The dollar-quoted text is one literal: what hides inside is blanked with it.
        assert_eq!(
            shape_key("SELECT $$; DELETE FROM t$$").unwrap(),
            shape_key("SELECT 'x'").unwrap()
        );
    }

    #[test]
    fn only_literal_independent_classifications_are_shared_by_shape() {
        let dialect = Dialect::default();
        for (sql, shareable) in [
            ("SELECT * FROM t WHERE id = 1", true),
            ("UPDATE t SET n = 2 WHERE id = 1", true),
            ("SELECT set_config('search_path', 'x', false)", false),
            ("COPY t FROM '/etc/passwd'", false),
            ("EXPLAIN (ANALYZE false) DELETE FROM t", false),
            ("DO 'BEGIN DELETE FROM t; END'", false),
            ("SET search_path = 'x'", false),
        ] {
            assert_eq!(
                literal_independent(&classify(sql, dialect)),
                shareable,
                "{sql}"
            );
        }
    }

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
