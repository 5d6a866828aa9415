//! The chain heads of the sessions a store is appending to, remembered between batches.
//!
//! Chaining a record needs its session's head (last seq and hash). Reading it from the
//! store costs a query per session per batch, and a batch holds statements of up to as
//! many sessions as there are clients: with group commit that query was most of an
//! append's work. Only this store appends a session's records (its id is unique to the
//! gateway that opened it), so the head a committed append left is still the head at the
//! next append, and is kept here instead.
//!
//! The cache is only ever a copy of committed state: heads are remembered after a commit
//! succeeds, forgotten when their session closes, and everything is forgotten after a
//! failed append (a commit whose outcome is unknown, e.g. a connection lost at COMMIT,
//! might have written) and after a purge. What is not here is read from the store.

use std::{cell::RefCell, collections::HashMap};

use super::{chain::Head, chain::RecordRow, record::Event};

/// Above this many open sessions the cache starts over (read back as needed).
const MAX_SESSIONS: usize = 100_000;

#[derive(Default)]
pub struct HeadCache(RefCell<HashMap<String, Head>>);

impl HeadCache {
    pub fn get(&self, session_id: &str) -> Option<Head> {
        self.0.borrow().get(session_id).cloned()
    }

    /// After `rows` (sealed from `events`, in order) were committed.
    pub fn committed(&self, events: &[Event], rows: &[RecordRow]) {
        let mut heads = self.0.borrow_mut();
        if heads.len() >= MAX_SESSIONS {
            heads.clear();
        }
        for (event, row) in events.iter().zip(rows) {
            match event {
                // A closed session gets no more records.
                Event::Closed(_) => {
                    heads.remove(&row.session_id);
                }
                _ => {
                    let head = row.head();
                    match heads.get_mut(&row.session_id) {
                        Some(known) => *known = head,
                        None => {
                            heads.insert(row.session_id.clone(), head);
                        }
                    }
                }
            }
        }
    }

    /// After a failed append or a purge: the store is the only truth again.
    pub fn forget(&self) {
        self.0.borrow_mut().clear();
    }
}
