//! Tamper evidence. Each session's records form a hash chain: a record's hash covers the
//! previous record's hash, the session, its sequence number (from 1), its kind, its time
//! and its payload, each length-prefixed so no two different records hash the same bytes.
//! A session's chain starts from a genesis value derived from its id.
//!
//! Every appended batch also writes a checkpoint, chained to the previous checkpoint,
//! naming the head (last seq and hash) of each session the batch touched. The checkpoints
//! tie the session chains together: a session's tail cannot be cut, nor a record added at
//! its end, nor a whole session deleted, without a checkpoint disagreeing. Retention
//! writes a `purge` checkpoint listing the sessions it removed, with their final heads.
//!
//! Nothing here is keyed: someone who can rewrite the whole store can recompute every
//! hash. The latest checkpoint hash ([`super::VerifyReport::last_checkpoint`]) is what
//! to keep elsewhere to catch that.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::record::Event;

/// Checkpoint kinds.
pub const CHECKPOINT_APPEND: &str = "append";
pub const CHECKPOINT_PURGE: &str = "purge";

/// The last record of a session: its sequence number and hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "(i64, String)", into = "(i64, String)")]
pub struct Head {
    pub seq: i64,
    pub hash: String,
}

impl From<(i64, String)> for Head {
    fn from((seq, hash): (i64, String)) -> Self {
        Self { seq, hash }
    }
}

impl From<Head> for (i64, String) {
    fn from(head: Head) -> Self {
        (head.seq, head.hash)
    }
}

/// Session id -> head, as a checkpoint stores it (a JSON object, keys sorted).
pub type Heads = BTreeMap<String, Head>;

/// One stored record, as both back ends keep it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordRow {
    pub session_id: String,
    pub seq: i64,
    pub kind: String,
    pub at_us: i64,
    /// The event's JSON, exactly the bytes hashed.
    pub payload: String,
    pub prev_hash: String,
    pub hash: String,
}

impl RecordRow {
    /// Chains `event` after `prev` (None: the session's first record).
    pub fn seal(event: &Event, prev: Option<&Head>) -> Self {
        let session_id = event.session_id().to_string();
        let (seq, prev_hash) = match prev {
            Some(head) => (head.seq + 1, head.hash.clone()),
            None => (1, genesis(&session_id)),
        };
        let payload = serde_json::to_string(event).expect("audit events always serialize");
        let kind = event.kind().to_string();
        let at_us = event.at_us();
        let hash = record_hash(&prev_hash, &session_id, seq, &kind, at_us, &payload);
        Self {
            session_id,
            seq,
            kind,
            at_us,
            payload,
            prev_hash,
            hash,
        }
    }

    /// Recomputes the hash from the other fields.
    pub fn expected_hash(&self) -> String {
        record_hash(
            &self.prev_hash,
            &self.session_id,
            self.seq,
            &self.kind,
            self.at_us,
            &self.payload,
        )
    }

    pub fn head(&self) -> Head {
        self.view().head()
    }

    pub fn event(&self) -> Result<Event, serde_json::Error> {
        serde_json::from_str(&self.payload)
    }

    /// Its fields, borrowed.
    pub fn view(&self) -> RowRef<'_> {
        RowRef {
            session_id: &self.session_id,
            seq: self.seq,
            kind: &self.kind,
            at_us: self.at_us,
            payload: &self.payload,
            prev_hash: &self.prev_hash,
            hash: &self.hash,
        }
    }
}

/// A record's fields, borrowed: from a journal frame (the store takes journaled records
/// into its tables without copying them first) or from a [`RecordRow`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowRef<'a> {
    pub session_id: &'a str,
    pub seq: i64,
    pub kind: &'a str,
    pub at_us: i64,
    pub payload: &'a str,
    pub prev_hash: &'a str,
    pub hash: &'a str,
}

impl RowRef<'_> {
    pub fn to_row(&self) -> RecordRow {
        RecordRow {
            session_id: self.session_id.to_owned(),
            seq: self.seq,
            kind: self.kind.to_owned(),
            at_us: self.at_us,
            payload: self.payload.to_owned(),
            prev_hash: self.prev_hash.to_owned(),
            hash: self.hash.to_owned(),
        }
    }

    pub fn head(&self) -> Head {
        Head {
            seq: self.seq,
            hash: self.hash.to_owned(),
        }
    }
}

/// One stored checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointRow {
    /// 1, 2, 3, ... with no gaps.
    pub id: i64,
    pub at_us: i64,
    /// [`CHECKPOINT_APPEND`] or [`CHECKPOINT_PURGE`].
    pub kind: String,
    /// JSON [`Heads`] of the sessions a batch touched (empty for a purge).
    pub heads: String,
    /// JSON [`Heads`] of the sessions a purge removed, at their final records (empty for
    /// an append).
    pub purged: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The latest checkpoint's id and hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointHead {
    pub id: i64,
    pub hash: String,
}

impl CheckpointRow {
    /// Chains a checkpoint after `prev` (None: the first).
    pub fn seal(
        prev: Option<&CheckpointHead>,
        at_us: i64,
        kind: &str,
        heads: &Heads,
        purged: &Heads,
    ) -> Self {
        let (id, prev_hash) = match prev {
            Some(p) => (p.id + 1, p.hash.clone()),
            None => (1, checkpoint_genesis()),
        };
        let heads = serde_json::to_string(heads).expect("heads always serialize");
        let purged = serde_json::to_string(purged).expect("heads always serialize");
        let hash = checkpoint_hash(&prev_hash, id, at_us, kind, &heads, &purged);
        Self {
            id,
            at_us,
            kind: kind.to_string(),
            heads,
            purged,
            prev_hash,
            hash,
        }
    }

    pub fn expected_hash(&self) -> String {
        checkpoint_hash(
            &self.prev_hash,
            self.id,
            self.at_us,
            &self.kind,
            &self.heads,
            &self.purged,
        )
    }

    pub fn head(&self) -> CheckpointHead {
        CheckpointHead {
            id: self.id,
            hash: self.hash.clone(),
        }
    }
}

/// Chains a batch: each event after its session's current head (looked up once per
/// session through `head_of`, then followed within the batch), and the checkpoint naming
/// the new heads after `last_checkpoint`.
pub fn seal_batch<E>(
    events: &[Event],
    head_of: impl FnMut(&Event) -> Result<Option<Head>, E>,
    last_checkpoint: Option<&CheckpointHead>,
    now_us: i64,
) -> Result<(Vec<RecordRow>, CheckpointRow), E> {
    let rows = seal_records(events, head_of)?;
    let views: Vec<RowRef> = rows.iter().map(RecordRow::view).collect();
    let checkpoint = checkpoint_after(&views, last_checkpoint, now_us);
    Ok((rows, checkpoint))
}

/// Chains each event after its session's current head: `head_of` is asked once per
/// session (with the session's first event in the batch), later events follow within
/// the batch.
pub fn seal_records<E>(
    events: &[Event],
    mut head_of: impl FnMut(&Event) -> Result<Option<Head>, E>,
) -> Result<Vec<RecordRow>, E> {
    let mut heads: BTreeMap<&str, Head> = BTreeMap::new();
    let mut rows = Vec::with_capacity(events.len());
    for event in events {
        let id = event.session_id();
        let prev = match heads.get(id) {
            Some(head) => Some(head.clone()),
            None => head_of(event)?,
        };
        let row = RecordRow::seal(event, prev.as_ref());
        heads.insert(id, row.head());
        rows.push(row);
    }
    Ok(rows)
}

/// The checkpoint after `last_checkpoint` naming the last head of each session in
/// `rows` (sealed in order).
pub fn checkpoint_after(
    rows: &[RowRef],
    last_checkpoint: Option<&CheckpointHead>,
    now_us: i64,
) -> CheckpointRow {
    // Each session's last row, found before anything is copied.
    let mut last: BTreeMap<&str, &RowRef> = BTreeMap::new();
    for row in rows {
        last.insert(row.session_id, row);
    }
    let heads: Heads = last
        .into_iter()
        .map(|(session, row)| (session.to_owned(), row.head()))
        .collect();
    CheckpointRow::seal(
        last_checkpoint,
        now_us,
        CHECKPOINT_APPEND,
        &heads,
        &Heads::new(),
    )
}

/// Where a session's chain starts.
pub fn genesis(session_id: &str) -> String {
    let mut h = Framed::new(b"cordon-audit-genesis-v1");
    h.field(session_id.as_bytes());
    h.finish()
}

/// Where the checkpoint chain starts.
pub fn checkpoint_genesis() -> String {
    Framed::new(b"cordon-audit-checkpoint-genesis-v1").finish()
}

pub fn record_hash(
    prev_hash: &str,
    session_id: &str,
    seq: i64,
    kind: &str,
    at_us: i64,
    payload: &str,
) -> String {
    let hex = record_hash_hex(prev_hash, session_id, seq, kind, at_us, payload.as_bytes());
    String::from_utf8(hex.to_vec()).expect("hex digits")
}

/// [`record_hash`] as hex digits in place, for sealing without allocating.
pub fn record_hash_hex(
    prev_hash: &str,
    session_id: &str,
    seq: i64,
    kind: &str,
    at_us: i64,
    payload: &[u8],
) -> [u8; 64] {
    let mut h = Framed::new(b"cordon-audit-record-v1");
    h.field(prev_hash.as_bytes());
    h.field(session_id.as_bytes());
    h.field(&seq.to_be_bytes());
    h.field(kind.as_bytes());
    h.field(&at_us.to_be_bytes());
    h.field(payload);
    h.finish_hex()
}

pub fn checkpoint_hash(
    prev_hash: &str,
    id: i64,
    at_us: i64,
    kind: &str,
    heads: &str,
    purged: &str,
) -> String {
    let mut h = Framed::new(b"cordon-audit-checkpoint-v1");
    h.field(prev_hash.as_bytes());
    h.field(&id.to_be_bytes());
    h.field(&at_us.to_be_bytes());
    h.field(kind.as_bytes());
    h.field(heads.as_bytes());
    h.field(purged.as_bytes());
    h.finish()
}

/// SHA-256 over a domain tag and fields, each prefixed by its length (u64, big-endian).
struct Framed(Sha256);

impl Framed {
    fn new(domain: &[u8]) -> Self {
        let mut framed = Self(Sha256::new());
        framed.field(domain);
        framed
    }

    fn field(&mut self, bytes: &[u8]) {
        self.0.update((bytes.len() as u64).to_be_bytes());
        self.0.update(bytes);
    }

    fn finish(self) -> String {
        String::from_utf8(self.finish_hex().to_vec()).expect("hex digits")
    }

    fn finish_hex(self) -> [u8; 64] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut hex = [0u8; 64];
        for (i, b) in self.0.finalize().iter().enumerate() {
            hex[2 * i] = DIGITS[(b >> 4) as usize];
            hex[2 * i + 1] = DIGITS[(b & 0xf) as usize];
        }
        hex
    }
}
