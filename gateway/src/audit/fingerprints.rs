//! Statement fingerprints (the same for the same statement with other constants; table
//! names kept whole), remembered per thread by text and by shape (the text with its
//! literals blanked, as the policy's cache keys it): a prepared statement run a million
//! times is fingerprinted once, and so is a statement a client sends with new literals
//! each time.

use std::{cell::RefCell, collections::HashMap};

use super::record::Event;

/// Entries each map keeps before starting over.
const KEPT: usize = 4096;

#[derive(Default)]
struct Fingerprints {
    by_text: HashMap<String, String>,
    by_shape: HashMap<String, String>,
}

thread_local! {
    static FINGERPRINTS: RefCell<Fingerprints> = RefCell::default();
}

/// A statement's fingerprint. Asked right after the policy judged the same text on the
/// same thread, its shape is not scanned again (see `policy::cache::shape_key`).
pub fn of(text: &str) -> String {
    FINGERPRINTS.with_borrow_mut(|f| f.of(text))
}

/// Fills in a statement record's fingerprint, if it has none.
pub fn fill(event: &mut Event) {
    if let Event::Statement(statement) = event {
        if statement.fingerprint.is_empty() {
            statement.fingerprint = of(&statement.text);
        }
    }
}

impl Fingerprints {
    fn of(&mut self, text: &str) -> String {
        if let Some(known) = self.by_text.get(text) {
            return known.clone();
        }
        let shape = crate::policy::cache::shape_key(text);
        if let Some(known) = shape.as_ref().and_then(|s| self.by_shape.get(s)) {
            // Not remembered by text too: such texts rarely come back whole.
            return known.clone();
        }
        let fingerprint = pg_query::fingerprint(
            text,
            pg_query::ParserOptions::DEFAULT,
            pg_query::FingerprintOptions::FULL_RELNAME,
        )
        .map(|f| f.hex)
        .unwrap_or_default();
        remember(&mut self.by_text, text.to_owned(), &fingerprint);
        if let Some(shape) = shape {
            remember(&mut self.by_shape, shape, &fingerprint);
        }
        fingerprint
    }
}

fn remember(map: &mut HashMap<String, String>, key: String, fingerprint: &str) {
    if map.len() >= KEPT {
        map.clear();
    }
    map.insert(key, fingerprint.to_owned());
}
