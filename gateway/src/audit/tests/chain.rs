//! The chain and the verifier without a database.

use std::collections::HashMap;

use super::{session, statement, T0};
use crate::audit::{
    chain::{genesis, record_hash, seal_batch, CheckpointHead, Head, Heads, RecordRow},
    verify::{ProblemKind, Verifier},
};

/// Seals `batches` the way a store appends them, returning the records in storage order
/// and the checkpoints.
fn sealed(
    batches: &[Vec<crate::audit::Event>],
) -> (Vec<RecordRow>, Vec<crate::audit::chain::CheckpointRow>) {
    let mut heads: HashMap<String, Head> = HashMap::new();
    let mut records = Vec::new();
    let mut checkpoints: Vec<crate::audit::chain::CheckpointRow> = Vec::new();
    for batch in batches {
        let last = checkpoints.last().map(|c| c.head());
        let (rows, cp) = seal_batch(
            batch,
            |e| Ok::<_, ()>(heads.get(e.session_id()).cloned()),
            last.as_ref(),
            T0,
        )
        .unwrap();
        for row in &rows {
            heads.insert(row.session_id.clone(), row.head());
        }
        records.extend(rows);
        checkpoints.push(cp);
    }
    (records, checkpoints)
}

fn verify(
    records: &[RecordRow],
    checkpoints: &[crate::audit::chain::CheckpointRow],
) -> Vec<ProblemKind> {
    let mut v = Verifier::new();
    for cp in checkpoints {
        v.checkpoint(cp);
    }
    let mut sorted: Vec<&RecordRow> = records.iter().collect();
    sorted.sort_by(|a, b| a.session_id.cmp(&b.session_id)); // stable: keeps storage order
    for r in sorted {
        v.record(r);
    }
    v.finish().kinds()
}

#[test]
fn fields_are_length_prefixed() {
    let a = record_hash("p", "ab", 1, "c", 0, "x");
    let b = record_hash("p", "a", 1, "bc", 0, "x");
    assert_ne!(a, b);
    assert_eq!(a.len(), 64);
    assert_ne!(genesis("s1"), genesis("s2"));
    assert_ne!(
        record_hash("p", "s", 1, "k", 0, "x"),
        record_hash("p", "s", 2, "k", 0, "x")
    );
    assert_ne!(
        record_hash("p", "s", 1, "k", 0, "x"),
        record_hash("p", "s", 1, "k", 1, "x")
    );
}

#[test]
fn a_batch_chains_each_session_and_names_its_heads() {
    let mut batch = session("s1", "etl", T0, 2);
    batch.extend(session("s2", "ci", T0, 1));
    let mut lookups = 0;
    let prior = Head {
        seq: 7,
        hash: "f".repeat(64),
    };
    let (rows, cp) = seal_batch(
        &batch,
        |e| {
            lookups += 1;
            Ok::<_, ()>((e.session_id() == "s2").then(|| prior.clone()))
        },
        Some(&CheckpointHead {
            id: 4,
            hash: "e".repeat(64),
        }),
        T0,
    )
    .unwrap();
    assert_eq!(lookups, 2, "one head lookup per session");
    let s1: Vec<_> = rows.iter().filter(|r| r.session_id == "s1").collect();
    assert_eq!(s1.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(s1[0].prev_hash, genesis("s1"));
    for pair in s1.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    let s2: Vec<_> = rows.iter().filter(|r| r.session_id == "s2").collect();
    assert_eq!(s2[0].seq, 8);
    assert_eq!(s2[0].prev_hash, prior.hash);
    assert!(rows.iter().all(|r| r.expected_hash() == r.hash));
    assert_eq!(rows[1].event().unwrap(), batch[1]);

    assert_eq!((cp.id, cp.prev_hash.as_str()), (5, "e".repeat(64).as_str()));
    let heads: Heads = serde_json::from_str(&cp.heads).unwrap();
    assert_eq!(heads["s1"], s1[3].head());
    assert_eq!(heads["s2"], s2[2].head());
    assert_eq!(cp.expected_hash(), cp.hash);
}

#[test]
fn the_verifier_accepts_what_was_sealed() {
    let batches = vec![
        session("s1", "etl", T0, 3),
        vec![statement("s2", 1, "allowed", T0)],
        session("s3", "ci", T0, 1),
        vec![statement("s2", 2, "refused", T0)],
    ];
    let (records, checkpoints) = sealed(&batches);
    assert_eq!(verify(&records, &checkpoints), []);
}

#[test]
fn the_verifier_names_each_kind_of_tampering() {
    let batches = vec![session("s1", "etl", T0, 4), session("s2", "ci", T0, 2)];
    let (records, checkpoints) = sealed(&batches);
    let at = |seq| {
        records
            .iter()
            .position(|r| r.session_id == "s1" && r.seq == seq)
            .unwrap()
    };

    let mut changed = records.clone();
    changed[at(2)].payload = changed[at(2)].payload.replace("customers", "employees");
    assert_eq!(verify(&changed, &checkpoints), [ProblemKind::Changed]);

    let mut removed = records.clone();
    removed.remove(at(3));
    assert_eq!(verify(&removed, &checkpoints), [ProblemKind::Removed]);

    let mut tail = records.clone();
    tail.remove(at(6));
    assert_eq!(verify(&tail, &checkpoints), [ProblemKind::Removed]);

    let mut reordered = records.clone();
    reordered.swap(at(2), at(3));
    assert_eq!(verify(&reordered, &checkpoints), [ProblemKind::Reordered]);

    let mut relinked = records.clone();
    let r = &mut relinked[at(2)];
    r.payload = r.payload.replace("customers", "employees");
    r.hash = r.expected_hash();
    assert_eq!(verify(&relinked, &checkpoints), [ProblemKind::BrokenLink]);

    let mut inserted = records.clone();
    let head = inserted[at(6)].head();
    inserted.push(RecordRow::seal(
        &statement("s1", 9, "allowed", T0),
        Some(&head),
    ));
    assert_eq!(verify(&inserted, &checkpoints), [ProblemKind::Inserted]);

    let mut cps = checkpoints.clone();
    cps[0].at_us += 1;
    assert_eq!(verify(&records, &cps), [ProblemKind::CheckpointChanged]);

    let mut cps = checkpoints.clone();
    cps.pop();
    assert_eq!(verify(&records, &cps), [ProblemKind::Inserted]);

    // A checkpoint in the middle, whose session later checkpoints name again.
    let events = session("s1", "etl", T0, 4);
    let thirds: Vec<_> = events.chunks(2).map(|c| c.to_vec()).collect();
    let (records, mut cps) = sealed(&thirds);
    cps.remove(1);
    assert_eq!(verify(&records, &cps), [ProblemKind::CheckpointRemoved]);
}
