//! `cordon audit verify`: recomputes every session chain and the checkpoint chain and
//! checks that the checkpoints and the records agree. The back ends feed it rows in
//! storage order (checkpoints by id, then records by session and row id; SQLite also
//! any record outside its session's row ranges), within one read snapshot; it keeps one
//! entry per session and the current session's hashes.

use std::{collections::HashMap, fmt};

use serde::Serialize;

use super::chain::{
    checkpoint_genesis, genesis, CheckpointHead, CheckpointRow, Head, Heads, RecordRow,
    CHECKPOINT_PURGE,
};

/// What kind of tampering a problem points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A record's content no longer matches its hash, or a checkpoint names a different
    /// hash for it.
    Changed,
    /// Records are missing: a gap in a session's sequence, or a record a checkpoint
    /// names is gone (the tail of a session, or a whole session).
    Removed,
    /// Records that should not be there: a duplicate sequence number, or records no
    /// checkpoint covers (added after the fact, or the latest checkpoint was removed).
    Inserted,
    /// A session's records are stored out of sequence order.
    Reordered,
    /// Consecutive records do not link: one was rewritten with a recomputed hash.
    BrokenLink,
    /// A checkpoint's content no longer matches its hash, or it does not link to the
    /// previous one.
    CheckpointChanged,
    /// A gap in the checkpoint ids.
    CheckpointRemoved,
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProblemKind::Changed => "changed",
            ProblemKind::Removed => "removed",
            ProblemKind::Inserted => "inserted",
            ProblemKind::Reordered => "reordered",
            ProblemKind::BrokenLink => "broken link",
            ProblemKind::CheckpointChanged => "checkpoint changed",
            ProblemKind::CheckpointRemoved => "checkpoint removed",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub session_id: Option<String>,
    pub seq: Option<i64>,
    pub checkpoint: Option<i64>,
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(id) = &self.session_id {
            write!(f, ": session {id}")?;
        }
        if let Some(seq) = self.seq {
            write!(f, " record {seq}")?;
        }
        if let Some(cp) = self.checkpoint {
            write!(f, " (checkpoint {cp})")?;
        }
        write!(f, ": {}", self.detail)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub sessions: u64,
    pub records: u64,
    pub checkpoints: u64,
    /// Sessions removed by retention (listed in purge checkpoints).
    pub purged_sessions: u64,
    /// Keep this elsewhere (a log, a ticket): a store rewritten wholesale ends elsewhere.
    pub last_checkpoint: Option<CheckpointHead>,
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The distinct problem kinds, in the order first seen.
    pub fn kinds(&self) -> Vec<ProblemKind> {
        let mut kinds = Vec::new();
        for p in &self.problems {
            if !kinds.contains(&p.kind) {
                kinds.push(p.kind);
            }
        }
        kinds
    }
}

/// The newest head a checkpoint names for a session.
struct Anchor {
    checkpoint: i64,
    head: Head,
}

/// What is kept of a record while its session is checked.
struct Link {
    seq: i64,
    prev_hash: String,
    hash: String,
}

#[derive(Default)]
pub struct Verifier {
    report: VerifyReport,
    anchors: HashMap<String, Anchor>,
    /// Session -> the purge checkpoint that removed it.
    purged: HashMap<String, i64>,
    current: Option<(String, Vec<Link>)>,
}

impl Verifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the checkpoints in id order, before any record.
    pub fn checkpoint(&mut self, row: &CheckpointRow) {
        self.report.checkpoints += 1;
        let (expected_id, expected_prev) = match &self.report.last_checkpoint {
            Some(last) => (last.id + 1, last.hash.clone()),
            None => (1, checkpoint_genesis()),
        };
        if row.expected_hash() != row.hash {
            self.checkpoint_problem(
                ProblemKind::CheckpointChanged,
                row.id,
                "its content does not match its hash".into(),
            );
        }
        if row.id > expected_id {
            let detail = if row.id == expected_id + 1 {
                format!("checkpoint {expected_id} is missing")
            } else {
                format!("checkpoints {expected_id} to {} are missing", row.id - 1)
            };
            self.checkpoint_problem(ProblemKind::CheckpointRemoved, row.id, detail);
        } else if row.prev_hash != expected_prev {
            self.checkpoint_problem(
                ProblemKind::CheckpointChanged,
                row.id,
                "it does not link to the previous checkpoint".into(),
            );
        }
        self.report.last_checkpoint = Some(row.head());
        let heads: Heads = match serde_json::from_str(&row.heads) {
            Ok(heads) => heads,
            Err(e) => {
                self.checkpoint_problem(
                    ProblemKind::CheckpointChanged,
                    row.id,
                    format!("its heads do not parse: {e}"),
                );
                Heads::new()
            }
        };
        for (session, head) in heads {
            let anchor = Anchor {
                checkpoint: row.id,
                head,
            };
            match self.anchors.get(&session) {
                Some(a) if a.head.seq > anchor.head.seq => {}
                Some(a) if a.head.seq == anchor.head.seq && a.head.hash != anchor.head.hash => {
                    self.checkpoint_problem(
                        ProblemKind::CheckpointChanged,
                        row.id,
                        format!(
                            "it names a different hash for session {session} record {} than checkpoint {}",
                            anchor.head.seq, a.checkpoint
                        ),
                    );
                }
                _ => {
                    self.anchors.insert(session, anchor);
                }
            }
        }
        if row.kind == CHECKPOINT_PURGE {
            match serde_json::from_str::<Heads>(&row.purged) {
                Ok(purged) => {
                    for session in purged.into_keys() {
                        self.purged.insert(session, row.id);
                    }
                }
                Err(e) => self.checkpoint_problem(
                    ProblemKind::CheckpointChanged,
                    row.id,
                    format!("its purge list does not parse: {e}"),
                ),
            }
        }
    }

    /// Feeds the records grouped by session, each session's in storage (row id) order.
    pub fn record(&mut self, row: &RecordRow) {
        self.report.records += 1;
        if self.current.as_ref().map(|(s, _)| s.as_str()) != Some(row.session_id.as_str()) {
            self.finish_session();
            self.current = Some((row.session_id.clone(), Vec::new()));
        }
        if row.expected_hash() != row.hash {
            self.problem(
                ProblemKind::Changed,
                &row.session_id,
                Some(row.seq),
                "its content does not match its hash".into(),
            );
        }
        let links = &mut self.current.as_mut().expect("set above").1;
        links.push(Link {
            seq: row.seq,
            prev_hash: row.prev_hash.clone(),
            hash: row.hash.clone(),
        });
    }

    /// A record stored where its session's records are not (the SQLite store keeps
    /// ranges of row ids per session): put there by something other than Cordon.
    pub fn outside_spans(&mut self, row: &RecordRow) {
        self.report.records += 1;
        self.problem(
            ProblemKind::Inserted,
            &row.session_id,
            Some(row.seq),
            "stored outside the row ranges Cordon wrote for its session".into(),
        );
    }

    pub fn finish(mut self) -> VerifyReport {
        self.finish_session();
        let mut gone: Vec<(String, Anchor)> = self.anchors.drain().collect();
        gone.sort_by(|a, b| a.0.cmp(&b.0));
        for (session, anchor) in gone {
            match self.purged.get(&session) {
                Some(&purge) if purge > anchor.checkpoint => {}
                _ => self.problem(
                    ProblemKind::Removed,
                    &session,
                    None,
                    format!(
                        "checkpoint {} names record {} but the session has no records",
                        anchor.checkpoint, anchor.head.seq
                    ),
                ),
            }
        }
        self.report.purged_sessions = self.purged.len() as u64;
        self.report
    }

    fn finish_session(&mut self) {
        let Some((session, links)) = self.current.take() else {
            return;
        };
        self.report.sessions += 1;

        // Storage order must follow sequence order.
        // (A second record with a sequence number already seen is an insertion, below.)
        let mut highest = i64::MIN;
        let mut seen = std::collections::HashSet::new();
        for link in &links {
            if seen.insert(link.seq) && link.seq < highest {
                self.problem(
                    ProblemKind::Reordered,
                    &session,
                    Some(link.seq),
                    format!("stored after record {highest}"),
                );
            }
            highest = highest.max(link.seq);
        }

        // Walk the chain in sequence order.
        let mut sorted: Vec<&Link> = links.iter().collect();
        sorted.sort_by_key(|l| l.seq);
        let mut expected_seq = 1;
        let mut expected_prev = genesis(&session);
        let mut by_seq: HashMap<i64, &Link> = HashMap::new();
        for link in sorted {
            if link.seq < expected_seq {
                let detail = if link.seq < 1 {
                    "sequence numbers start at 1".to_string()
                } else {
                    "a second record with this sequence number".to_string()
                };
                self.problem(ProblemKind::Inserted, &session, Some(link.seq), detail);
                continue;
            }
            if link.seq > expected_seq {
                let detail = if link.seq == expected_seq + 1 {
                    format!("record {expected_seq} is missing")
                } else {
                    format!("records {expected_seq} to {} are missing", link.seq - 1)
                };
                self.problem(ProblemKind::Removed, &session, Some(link.seq), detail);
            } else if link.prev_hash != expected_prev {
                self.problem(
                    ProblemKind::BrokenLink,
                    &session,
                    Some(link.seq),
                    "it does not link to the previous record".into(),
                );
            }
            expected_seq = link.seq + 1;
            expected_prev = link.hash.clone();
            by_seq.insert(link.seq, link);
        }

        // The checkpoints: the newest head named must be there, unchanged, and nothing
        // may follow it.
        if let Some(&purge) = self.purged.get(&session) {
            self.problem(
                ProblemKind::Inserted,
                &session,
                None,
                format!("the session was purged (checkpoint {purge}) but has records"),
            );
        }
        match self.anchors.remove(&session) {
            None => self.problem(
                ProblemKind::Inserted,
                &session,
                None,
                "no checkpoint names this session".into(),
            ),
            Some(anchor) => {
                match by_seq.get(&anchor.head.seq) {
                    None => self.problem(
                        ProblemKind::Removed,
                        &session,
                        Some(anchor.head.seq),
                        format!("checkpoint {} names it but it is gone", anchor.checkpoint),
                    ),
                    Some(link) if link.hash != anchor.head.hash => self.problem(
                        ProblemKind::Changed,
                        &session,
                        Some(anchor.head.seq),
                        format!(
                            "checkpoint {} names a different hash for it",
                            anchor.checkpoint
                        ),
                    ),
                    Some(_) => {}
                }
                let extra = links.iter().filter(|l| l.seq > anchor.head.seq).count();
                if extra > 0 {
                    self.problem(
                        ProblemKind::Inserted,
                        &session,
                        Some(anchor.head.seq + 1),
                        format!(
                            "{extra} record(s) after record {} (the newest a checkpoint names)",
                            anchor.head.seq
                        ),
                    );
                }
            }
        }
    }

    fn problem(&mut self, kind: ProblemKind, session: &str, seq: Option<i64>, detail: String) {
        self.report.problems.push(Problem {
            kind,
            session_id: Some(session.to_string()),
            seq,
            checkpoint: None,
            detail,
        });
    }

    fn checkpoint_problem(&mut self, kind: ProblemKind, id: i64, detail: String) {
        self.report.problems.push(Problem {
            kind,
            session_id: None,
            seq: None,
            checkpoint: Some(id),
            detail,
        });
    }
}
