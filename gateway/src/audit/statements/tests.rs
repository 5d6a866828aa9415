use super::*;

const T: i64 = 1_000_000;

fn request(text: &str) -> StatementRecord {
    StatementRecord {
        session_id: "s".into(),
        text: text.into(),
        decision: "allowed".into(),
        started_at_us: T,
        duration_us: 900,
        ..StatementRecord::default()
    }
}

/// A statement's result as the session gathers it, then taken at its completion.
fn completed(
    record: &mut StatementRecord,
    column: &str,
    rows: &[&str],
    tag: &str,
    at: i64,
) -> Outcome {
    if !column.is_empty() {
        record.columns = vec![column.into()];
        record.column_types = vec![23];
        record.result_rows = rows.iter().map(|r| vec![Some((*r).to_owned())]).collect();
    }
    record.command_tag = Some(tag.into());
    record.rows = tag.rsplit(' ').next().and_then(|n| n.parse().ok());
    Outcome::take(record, at)
}

#[test]
fn one_statement_is_one_record_as_before() {
    let mut r = request("SELECT 1 AS a;");
    let o = completed(&mut r, "a", &["1"], "SELECT 1", T + 500);
    let out = records(r, vec![o], T + 900);
    assert_eq!(out.len(), 1);
    let one = &out[0];
    assert_eq!(one.text, "SELECT 1 AS a;");
    assert_eq!((one.part, one.request_text.as_deref()), (None, None));
    assert_eq!(one.command_tag.as_deref(), Some("SELECT 1"));
    assert_eq!(one.result_rows, [vec![Some("1".to_owned())]]);
    assert_eq!(one.column_types, [23]);
    assert_eq!(one.duration_us, 900);
}

#[test]
fn several_statements_are_a_record_each() {
    let text = "BEGIN; INSERT INTO t VALUES (1), (2);\nSELECT n FROM t; COMMIT";
    let mut r = request(text);
    let outcomes = vec![
        completed(&mut r, "", &[], "BEGIN", T + 100),
        completed(&mut r, "", &[], "INSERT 0 2", T + 300),
        completed(&mut r, "n", &["1", "2"], "SELECT 2", T + 600),
        completed(&mut r, "", &[], "COMMIT", T + 800),
    ];
    let out = records(r, outcomes, T + 900);
    let texts: Vec<&str> = out.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "BEGIN",
            "INSERT INTO t VALUES (1), (2)",
            "SELECT n FROM t",
            "COMMIT"
        ]
    );
    let tags: Vec<_> = out.iter().map(|r| r.command_tag.as_deref()).collect();
    assert_eq!(
        tags,
        [
            Some("BEGIN"),
            Some("INSERT 0 2"),
            Some("SELECT 2"),
            Some("COMMIT")
        ]
    );
    assert_eq!(out[1].rows, Some(2));
    assert_eq!(out[2].columns, ["n"]);
    assert_eq!(out[2].result_rows.len(), 2);
    assert!(out[1].columns.is_empty() && out[3].result_rows.is_empty());
    let parts: Vec<_> = out.iter().map(|r| r.part).collect();
    assert_eq!(parts, [Some(1), Some(2), Some(3), Some(4)]);
    assert_eq!(out[0].request_text.as_deref(), Some(text));
    assert!(out[1..].iter().all(|r| r.request_text.is_none()));
    // Each statement from the previous one's completion to its own.
    let times: Vec<_> = out
        .iter()
        .map(|r| (r.started_at_us - T, r.duration_us))
        .collect();
    assert_eq!(times, [(0, 100), (100, 200), (300, 300), (600, 200)]);
}

#[test]
fn after_a_failed_statement_the_rest_did_not_run() {
    let mut r = request("SELECT 1 AS a; SELECT 1/0; SELECT 3");
    let outcomes = vec![completed(&mut r, "a", &["1"], "SELECT 1", T + 100)];
    r.error = Some(ErrorInfo {
        sqlstate: "22012".into(),
        message: "division by zero".into(),
        ..ErrorInfo::default()
    });
    let out = records(r, outcomes, T + 900);
    assert_eq!(out.len(), 3);
    assert_eq!(out[0].error, None);
    assert_eq!(out[0].command_tag.as_deref(), Some("SELECT 1"));
    assert_eq!(out[1].text, "SELECT 1/0");
    assert_eq!(
        out[1].error.as_ref().map(|e| e.sqlstate.as_str()),
        Some("22012")
    );
    assert_eq!((out[1].started_at_us, out[1].duration_us), (T + 100, 800));
    assert_eq!(out[2].text, "SELECT 3");
    let skipped = out[2].error.as_ref().expect("not run");
    assert_eq!(skipped.sqlstate, "", "the client saw nothing for it");
    assert_eq!(out[2].duration_us, 0);
}

#[test]
fn refusals_and_unsplittable_requests_stay_whole() {
    let mut refused = request("SELECT 1; DELETE FROM t");
    refused.decision = "refused".into();
    refused.error = Some(ErrorInfo {
        sqlstate: "42501".into(),
        message: "cordon policy: ...".into(),
        ..ErrorInfo::default()
    });
    let out = records(refused.clone(), Vec::new(), T + 900);
    assert_eq!(out, [refused]);

    // A first statement that fails: the rest never ran.
    let mut failed = request("SELECT 1/0; SELECT 2");
    failed.error = Some(ErrorInfo {
        sqlstate: "22012".into(),
        message: "division by zero".into(),
        ..ErrorInfo::default()
    });
    let out = records(failed, Vec::new(), T + 900);
    assert_eq!(out.len(), 2);
    assert_eq!(
        out[0].error.as_ref().map(|e| e.sqlstate.as_str()),
        Some("22012")
    );

    // More completions than the text has statements: kept whole, tags joined.
    let mut odd = request("SELECT 1 AS a");
    let outcomes = vec![
        completed(&mut odd, "a", &["1"], "SELECT 1", T + 100),
        completed(&mut odd, "a", &["2"], "SELECT 1", T + 200),
    ];
    let out = records(odd, outcomes, T + 900);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].command_tag.as_deref(), Some("SELECT 1; SELECT 1"));
    assert_eq!(out[0].rows, Some(2));
    assert_eq!(out[0].result_rows.len(), 2);
    assert_eq!(out[0].text, "SELECT 1 AS a");
}

#[test]
fn quoted_semicolons_are_one_statement() {
    let mut r = request("SELECT ';' AS a, $$x;y$$ AS b");
    let o = completed(&mut r, "a", &[";"], "SELECT 1", T + 500);
    let out = records(r, vec![o], T + 900);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].part, None);
}

/// A notification sent at commit comes after the statement's completion.
fn notification(payload: &str) -> NotificationInfo {
    NotificationInfo {
        pid: 7,
        channel: "jobs".into(),
        payload: payload.into(),
    }
}

#[test]
fn what_comes_after_the_last_completion_stays_with_the_last_statement() {
    // One statement: its own notice, then a notification after its completion.
    let mut r = request("NOTIFY jobs, 'a'");
    r.notices.push(NoticeInfo::default());
    let o = completed(&mut r, "", &[], "NOTIFY", T + 500);
    r.notifications.push(notification("a"));
    let out = records(r, vec![o], T + 900);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].notices.len(), 1);
    assert_eq!(out[0].notifications, [notification("a")]);

    // Several: the last one's.
    let mut r = request("SELECT 1; NOTIFY jobs, 'b'");
    let outcomes = vec![
        completed(&mut r, "?column?", &["1"], "SELECT 1", T + 300),
        completed(&mut r, "", &[], "NOTIFY", T + 600),
    ];
    r.notifications.push(notification("b"));
    let out = records(r, outcomes, T + 900);
    assert_eq!(out.len(), 2);
    assert!(out[0].notifications.is_empty());
    assert_eq!(out[1].notifications, [notification("b")]);
}
