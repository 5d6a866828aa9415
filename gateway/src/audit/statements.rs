//! A simple Query of several statements (`SELECT 1; SELECT 2`) is recorded as one
//! record per statement, each with its own text, result, tag and timing, the way psql
//! shows them apart. The engine reports each statement's completion (its command tag);
//! the result gathered up to then is taken aside as an [`Outcome`], and when the
//! request finishes its text is split with PostgreSQL's own parser to name each one.
//! A single statement costs nothing more than moving its result out and back.

use super::record::{ErrorInfo, NoticeInfo, NotificationInfo, StatementRecord};

/// What one completed statement of a simple Query returned.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    columns: Vec<String>,
    column_types: Vec<u32>,
    result_rows: Vec<Vec<Option<String>>>,
    copy_data: Vec<String>,
    copy_in_data: Vec<String>,
    notices: Vec<NoticeInfo>,
    notices_truncated: bool,
    notifications: Vec<NotificationInfo>,
    truncated: bool,
    command_tag: Option<String>,
    rows: Option<u64>,
    ended_at_us: i64,
}

impl Outcome {
    /// Takes the result `record` gathered for the statement that just completed,
    /// leaving it empty for the next one.
    pub(super) fn take(record: &mut StatementRecord, ended_at_us: i64) -> Self {
        let mut outcome = Outcome {
            columns: std::mem::take(&mut record.columns),
            column_types: std::mem::take(&mut record.column_types),
            result_rows: std::mem::take(&mut record.result_rows),
            copy_data: std::mem::take(&mut record.copy_data),
            copy_in_data: std::mem::take(&mut record.copy_in_data),
            notices: std::mem::take(&mut record.notices),
            notices_truncated: std::mem::take(&mut record.notices_truncated),
            notifications: std::mem::take(&mut record.notifications),
            truncated: std::mem::take(&mut record.truncated),
            command_tag: record.command_tag.take(),
            rows: record.rows.take(),
            ended_at_us,
        };
        // Rows past the caps streamed by unread: the tag counted them.
        let returned = outcome.rows.unwrap_or(0) as usize;
        if !outcome.columns.is_empty() && returned > outcome.result_rows.len() {
            outcome.truncated = true;
        }
        outcome
    }

    /// Adds this outcome's notices and notifications after `record`'s.
    fn move_messages(&mut self, record: &mut StatementRecord) {
        record.notices.append(&mut self.notices);
        record.notifications.append(&mut self.notifications);
        record.notices_truncated |= self.notices_truncated;
    }

    /// Puts the result back into `record`. Notices and notifications that came after
    /// the statement's completion (a notification is sent at commit, after it) and are
    /// in `record` already stay, after this statement's own.
    fn put(mut self, record: &mut StatementRecord) {
        std::mem::swap(&mut self.notices, &mut record.notices);
        std::mem::swap(&mut self.notifications, &mut record.notifications);
        self.move_messages(record);
        record.columns = self.columns;
        record.column_types = self.column_types;
        record.result_rows = self.result_rows;
        record.copy_data = self.copy_data;
        record.copy_in_data = self.copy_in_data;
        record.truncated = self.truncated;
        record.command_tag = self.command_tag;
        record.rows = self.rows;
    }
}

/// The records of a simple Query: `record` is the request (its whole text, decision,
/// start and duration, and the error that ended it if one did), `outcomes` its
/// statements that completed, in order. One statement: one record, as before. Several:
/// one record each, the statements after a failed one recorded as not run. When the
/// text cannot be split to match what the server ran, one record with the tags joined
/// by `; ` (how records were kept before the split).
pub(super) fn records(
    mut record: StatementRecord,
    mut outcomes: Vec<Outcome>,
    finished_at_us: i64,
) -> Vec<StatementRecord> {
    let failed = record.error.is_some();
    if record.decision != "allowed" {
        // Judged as a whole (a refusal names the statement it is about).
        return vec![record];
    }
    if outcomes.len() == 1 && !failed {
        outcomes.pop().expect("one").put(&mut record);
        return vec![record];
    }
    if outcomes.is_empty() && !has_several_statements(&record.text) {
        return vec![record];
    }
    let whole = record.text.clone();
    let texts = match pg_query::split_with_parser(&whole) {
        Ok(texts) => texts,
        Err(_) => return vec![joined(record, outcomes)],
    };
    let ran = outcomes.len() + usize::from(failed);
    let matches = if failed {
        texts.len() >= ran
    } else {
        texts.len() == ran
    };
    if !matches || texts.len() < 2 {
        return vec![joined(record, outcomes)];
    }
    let error = record.error.take();
    // What the failed statement sent before it failed; `record` is left without a
    // result, the base of every statement's record.
    let mut partial = Some(Outcome::take(&mut record, 0));
    let mut clock = record.started_at_us;
    let mut one = |n: usize, text: &str, ended_at_us: i64| {
        let r = StatementRecord {
            text: text.trim().to_owned(),
            // Its own, filled in when it is sealed.
            fingerprint: String::new(),
            part: Some(n as u32 + 1),
            request_text: (n == 0).then(|| whole.clone()),
            started_at_us: clock,
            duration_us: ended_at_us - clock,
            ..record.clone()
        };
        clock = ended_at_us;
        r
    };
    let mut out = Vec::with_capacity(texts.len());
    let completed = outcomes.len();
    for (n, outcome) in outcomes.into_iter().enumerate() {
        let mut r = one(n, texts[n], outcome.ended_at_us);
        outcome.put(&mut r);
        out.push(r);
    }
    for (n, text) in texts.iter().enumerate().skip(completed) {
        let mut r = one(n, text, finished_at_us);
        if n == completed && failed {
            if let Some(partial) = partial.take() {
                partial.put(&mut r);
            }
            r.error = error.clone();
        } else {
            r.duration_us = 0;
            r.error = Some(ErrorInfo {
                message: "not run: the server skipped it after an earlier error".into(),
                ..ErrorInfo::default()
            });
        }
        out.push(r);
    }
    // What came after the last completion of a query that did not fail (a
    // notification sent at commit) goes with its last statement.
    if let (Some(mut partial), Some(last)) = (partial, out.last_mut()) {
        partial.move_messages(last);
    }
    out
}

/// Whether `text` may hold more than one statement: a `;` before its end. (Quoted
/// semicolons only cost a split that finds one statement.)
fn has_several_statements(text: &str) -> bool {
    text.trim_end().trim_end_matches(';').contains(';')
}

/// One record for the whole request: the tags joined, the rows added up, the rows of
/// every result in one table.
fn joined(mut record: StatementRecord, outcomes: Vec<Outcome>) -> StatementRecord {
    let partial = Outcome::take(&mut record, 0);
    for mut outcome in outcomes.into_iter().chain([partial]) {
        outcome.move_messages(&mut record);
        if record.columns.is_empty() {
            record.columns = outcome.columns;
            record.column_types = outcome.column_types;
        }
        record.result_rows.extend(outcome.result_rows);
        record.copy_data.extend(outcome.copy_data);
        record.copy_in_data.extend(outcome.copy_in_data);
        record.truncated |= outcome.truncated;
        if let Some(tag) = outcome.command_tag {
            record.command_tag = Some(match record.command_tag.take() {
                Some(earlier) => format!("{earlier}; {tag}"),
                None => tag,
            });
        }
        if let Some(rows) = outcome.rows {
            record.rows = Some(record.rows.unwrap_or(0) + rows);
        }
    }
    record
}

#[cfg(test)]
mod tests;
