//! Editing the SQLite file behind the store's back: each edit is found by `verify`,
//! named by the right kind, and nothing else is reported.

use rusqlite::{params, Connection};

use super::{session, statement, Fixture, T0};
use crate::audit::{
    chain::{Head, RecordRow},
    AuditStore, ProblemKind,
};

/// `s1`: opened, 6 statements, closed, in three batches; `s2`: opened, 2, closed.
fn store() -> Fixture {
    let mut f = Fixture::new();
    let s1 = session("s1", "etl", T0, 6);
    f.store.append(&s1[..3]).unwrap();
    let mut mixed = s1[3..6].to_vec();
    mixed.extend(session("s2", "ci", T0, 2));
    f.store.append(&mixed).unwrap();
    f.store.append(&s1[6..]).unwrap();
    assert!(f.store.verify().unwrap().is_ok());
    f
}

/// Applies `edit` to the file and returns what verify reports.
fn after(edit: impl FnOnce(&Connection)) -> Vec<ProblemKind> {
    let f = store();
    edit(&f.raw());
    let report = f.store.verify().unwrap();
    for p in &report.problems {
        eprintln!("  {p}");
    }
    report.kinds()
}

fn row_id(db: &Connection, session: &str, seq: i64) -> i64 {
    db.query_row(
        "SELECT id FROM records WHERE session_id = ?1 AND seq = ?2",
        params![session, seq],
        |r| r.get(0),
    )
    .unwrap()
}

fn head(db: &Connection, session: &str) -> Head {
    db.query_row(
        "SELECT seq, hash FROM records WHERE session_id = ?1 ORDER BY id DESC LIMIT 1",
        [session],
        |r| {
            Ok(Head {
                seq: r.get(0)?,
                hash: r.get(1)?,
            })
        },
    )
    .unwrap()
}

fn insert(db: &Connection, row: &RecordRow) {
    db.execute(
        "INSERT INTO records (session_id, seq, kind, at_us, payload, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            row.session_id,
            row.seq,
            row.kind,
            row.at_us,
            row.payload,
            row.prev_hash,
            row.hash
        ],
    )
    .unwrap();
}

#[test]
fn a_changed_payload_is_detected() {
    let kinds = after(|db| {
        db.execute(
            "UPDATE records SET payload = replace(payload, 'customers', 'employees') \
             WHERE session_id = 's1' AND seq = 3",
            [],
        )
        .unwrap();
    });
    assert_eq!(kinds, [ProblemKind::Changed]);
}

#[test]
fn a_changed_time_is_detected() {
    let kinds = after(|db| {
        db.execute(
            "UPDATE records SET at_us = at_us - 3600000000 WHERE session_id = 's2' AND seq = 2",
            [],
        )
        .unwrap();
    });
    assert_eq!(kinds, [ProblemKind::Changed]);
}

#[test]
fn a_record_rewritten_with_its_hash_recomputed_is_detected() {
    let kinds = after(|db| {
        let id = row_id(db, "s1", 4);
        let (prev, payload): (String, String) = db
            .query_row(
                "SELECT prev_hash, payload FROM records WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let mut row = RecordRow {
            session_id: "s1".into(),
            seq: 4,
            kind: "statement".into(),
            at_us: T0 + 3_000_000,
            payload: payload.replace("customers", "employees"),
            prev_hash: prev,
            hash: String::new(),
        };
        row.hash = row.expected_hash();
        db.execute(
            "UPDATE records SET payload = ?1, hash = ?2 WHERE id = ?3",
            params![row.payload, row.hash, id],
        )
        .unwrap();
    });
    assert_eq!(kinds, [ProblemKind::BrokenLink]);
}

#[test]
fn a_record_deleted_in_the_middle_is_detected() {
    let kinds = after(|db| {
        db.execute(
            "DELETE FROM records WHERE session_id = 's1' AND seq = 4",
            [],
        )
        .unwrap();
    });
    assert_eq!(kinds, [ProblemKind::Removed]);
}

#[test]
fn the_last_record_of_a_session_deleted_is_detected() {
    let kinds = after(|db| {
        let last = head(db, "s1").seq;
        db.execute(
            "DELETE FROM records WHERE session_id = 's1' AND seq = ?1",
            [last],
        )
        .unwrap();
    });
    assert_eq!(kinds, [ProblemKind::Removed]);
}

#[test]
fn a_whole_session_deleted_is_detected() {
    let kinds = after(|db| {
        db.execute("DELETE FROM records WHERE session_id = 's2'", [])
            .unwrap();
    });
    assert_eq!(kinds, [ProblemKind::Removed]);
}

#[test]
fn a_forged_record_at_the_end_is_detected() {
    // Correctly chained: only the checkpoints tell it apart.
    let kinds = after(|db| {
        let forged = RecordRow::seal(
            &statement("s2", 9, "allowed", T0 + 9),
            Some(&head(db, "s2")),
        );
        insert(db, &forged);
    });
    assert_eq!(kinds, [ProblemKind::Inserted]);
}

#[test]
fn a_forged_record_in_the_middle_is_detected() {
    let kinds = after(|db| {
        let prev: String = db
            .query_row(
                "SELECT hash FROM records WHERE session_id = 's1' AND seq = 2",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let forged = RecordRow::seal(
            &statement("s1", 99, "allowed", T0 + 2),
            Some(&Head { seq: 2, hash: prev }),
        );
        insert(db, &forged);
    });
    assert_eq!(kinds, [ProblemKind::Inserted]);
}

#[test]
fn a_forged_session_is_detected() {
    let kinds = after(|db| {
        for (i, event) in session("s9", "etl", T0, 1).iter().enumerate() {
            let prev = (i > 0).then(|| head(db, "s9"));
            insert(db, &RecordRow::seal(event, prev.as_ref()));
        }
    });
    assert_eq!(kinds, [ProblemKind::Inserted]);
}

#[test]
fn two_records_swapped_are_detected() {
    let kinds = after(|db| {
        let (a, b) = (row_id(db, "s1", 2), row_id(db, "s1", 3));
        // Move b's row to a scratch id, a's to b, then b's to a.
        db.execute_batch(&format!(
            "UPDATE records SET id = -1 WHERE id = {b};
             UPDATE records SET id = {b} WHERE id = {a};
             UPDATE records SET id = {a} WHERE id = -1;"
        ))
        .unwrap();
    });
    assert_eq!(kinds, [ProblemKind::Reordered]);
}

#[test]
fn a_changed_checkpoint_is_detected() {
    let kinds = after(|db| {
        db.execute("UPDATE checkpoints SET at_us = at_us + 1 WHERE id = 2", [])
            .unwrap();
    });
    assert_eq!(kinds, [ProblemKind::CheckpointChanged]);
}

#[test]
fn a_checkpoint_deleted_in_the_middle_is_detected() {
    let kinds = after(|db| {
        // Checkpoint 2 names s1 (named again by 3) and s2 (named by no other).
        db.execute("DELETE FROM checkpoints WHERE id = 2", [])
            .unwrap();
    });
    assert_eq!(
        kinds,
        [ProblemKind::CheckpointRemoved, ProblemKind::Inserted]
    );
}

#[test]
fn the_last_checkpoint_deleted_leaves_its_records_uncovered() {
    let kinds = after(|db| {
        db.execute("DELETE FROM checkpoints WHERE id = 3", [])
            .unwrap();
    });
    assert_eq!(kinds, [ProblemKind::Inserted]);
}
