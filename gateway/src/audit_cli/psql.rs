//! Results and errors as psql prints them. Tables in its default aligned format
//! (`\pset format aligned`, `border 1`): headers centered, a `-+-` rule, cells padded to
//! the widest value, numbers right-aligned, multi-line values continued with `+`, NULL as
//! nothing, then `(N rows)` and an empty line. Errors at its default verbosity: the
//! message, the statement's line with a caret under the error's position, then DETAIL,
//! HINT and CONTEXT; notices the same under their own severity, without CONTEXT. Byte for byte what psql 15 prints (checked against a real psql,
//! see the tests here and the replay test of the e2e crate).

use crate::audit::{ErrorInfo, NoticeInfo};

/// How a column's values are aligned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// How psql aligns a column of this type: numbers (integers, floats, numeric, money,
/// oid, xid, xid8, cid) right, everything else left. Records written before types were
/// kept have none: left.
pub fn align_for(type_oid: Option<u32>) -> Align {
    const RIGHT: &[u32] = &[20, 21, 23, 26, 28, 29, 700, 701, 790, 1700, 5069];
    match type_oid {
        Some(oid) if RIGHT.contains(&oid) => Align::Right,
        _ => Align::Left,
    }
}

/// An error as psql prints it for `statement` (`sqlstate`: as `\set VERBOSITY verbose`
/// shows it, before the message).
pub fn error(error: &ErrorInfo, statement: &str, sqlstate: Option<&str>) -> String {
    report("ERROR", error, statement, sqlstate, true)
}

/// A notice as psql prints it (severity first: `NOTICE`, `WARNING`...). Its CONTEXT
/// only when `context` (psql's default `SHOW_CONTEXT` shows it for errors alone).
pub fn notice(
    notice: &NoticeInfo,
    statement: &str,
    sqlstate: Option<&str>,
    context: bool,
) -> String {
    report(
        &notice.severity,
        &notice.fields,
        statement,
        sqlstate,
        context,
    )
}

fn report(
    severity: &str,
    error: &ErrorInfo,
    statement: &str,
    sqlstate: Option<&str>,
    context: bool,
) -> String {
    let mut out = format!("{severity}:  ");
    if let Some(code) = sqlstate {
        out.push_str(code);
        out.push_str(": ");
    }
    out.push_str(&error.message);
    out.push('\n');
    if let Some(position) = error.position {
        out.push_str(&error_position(statement, position));
    }
    let context = if context { &error.context } else { &None };
    for (label, value) in [
        ("DETAIL", &error.detail),
        ("HINT", &error.hint),
        ("CONTEXT", context),
    ] {
        if let Some(value) = value {
            out.push_str(&format!("{label}:  {value}\n"));
        }
    }
    out
}

/// psql's excerpt of `statement` at an error's `position` (1-based, in characters):
/// `LINE n: ` and that line, cut to about 60 columns around the position with `...`
/// where cut, then a caret under the position. Empty when the position is outside
/// the text.
pub fn error_position(statement: &str, position: u32) -> String {
    const DISPLAY_COLUMNS: usize = 60;
    /// How far from the right end of a cut line the position is kept.
    const RIGHT_MARGIN: usize = 10;
    let Some(at) = (position as usize).checked_sub(1) else {
        return String::new();
    };
    let chars: Vec<char> = statement.chars().collect();
    // The screen column each character starts at, up to the end of the error's line.
    // Every character counts at least one column (tabs, control characters too).
    let mut starts = Vec::with_capacity(chars.len() + 1);
    let (mut column, mut line, mut begin, mut end) = (0, 1, 0, None);
    for (i, &c) in chars.iter().enumerate() {
        starts.push(column);
        if c == '\r' || c == '\n' {
            if i >= at {
                end = Some(i);
                break;
            }
            // `\r\n` is one line break.
            if c == '\r' || i == 0 || chars[i - 1] != '\r' {
                line += 1;
            }
            begin = i + 1;
        }
        column += char_width(c).max(1);
    }
    let mut end = end.unwrap_or_else(|| {
        starts.push(column);
        chars.len()
    });
    if at > end {
        return String::new();
    }
    let (mut cut_left, mut cut_right) = (false, false);
    let width = |from: usize, to: usize, starts: &[usize]| starts[to] - starts[from];
    if width(begin, end, &starts) > DISPLAY_COLUMNS {
        if starts[begin] + DISPLAY_COLUMNS >= starts[at] + RIGHT_MARGIN {
            // Cutting the right end is enough.
            while width(begin, end, &starts) > DISPLAY_COLUMNS {
                end -= 1;
            }
            cut_right = true;
        } else {
            while starts[at] + RIGHT_MARGIN < starts[end] {
                end -= 1;
                cut_right = true;
            }
            while width(begin, end, &starts) > DISPLAY_COLUMNS {
                begin += 1;
                cut_left = true;
            }
        }
    }
    let mut out = format!("LINE {line}: ");
    if cut_left {
        out.push_str("...");
    }
    let caret = out.len() + starts[at] - starts[begin];
    out.extend(
        chars[begin..end]
            .iter()
            .map(|&c| if c == '\t' { ' ' } else { c }),
    );
    if cut_right {
        out.push_str("...");
    }
    out.push('\n');
    spaces(&mut out, caret);
    out.push_str("^\n");
    out
}

/// The table (header, rule, rows) without the footer. psql prints no header or rows for
/// a result without columns, only the rule `--`.
pub fn table(columns: &[String], rows: &[Vec<Option<String>>], align: &[Align]) -> String {
    if columns.is_empty() {
        return "--\n".to_owned();
    }
    let header: Vec<Vec<Line>> = columns.iter().map(|c| lines(c)).collect();
    let body: Vec<Vec<Vec<Line>>> = rows
        .iter()
        .map(|row| {
            (0..columns.len())
                .map(|j| lines(row.get(j).and_then(Option::as_deref).unwrap_or("")))
                .collect()
        })
        .collect();
    let mut widths = vec![0usize; columns.len()];
    for cells in std::iter::once(&header).chain(&body) {
        for (width, cell) in widths.iter_mut().zip(cells) {
            for line in cell {
                *width = (*width).max(line.width);
            }
        }
    }
    let mut out = String::new();
    row_lines(&mut out, &header, &widths, None);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
    out.push_str(&rule.join("+"));
    out.push('\n');
    for cells in &body {
        row_lines(&mut out, cells, &widths, Some(align));
    }
    out
}

/// `(1 row)`, `(N rows)`.
pub fn footer(rows: u64) -> String {
    if rows == 1 {
        "(1 row)\n".to_owned()
    } else {
        format!("({rows} rows)\n")
    }
}

/// What psql prints for a result with columns: the table, the footer, an empty line.
pub fn result_table(
    columns: &[String],
    rows: &[Vec<Option<String>>],
    align: &[Align],
    row_count: u64,
) -> String {
    let mut out = table(columns, rows, align);
    out.push_str(&footer(row_count));
    out.push('\n');
    out
}

/// Whether psql prints the command tag after a result's rows (`INSERT ... RETURNING`).
pub fn tag_after_rows(tag: &str) -> bool {
    ["INSERT", "UPDATE", "DELETE", "MERGE"]
        .iter()
        .any(|verb| tag.starts_with(verb))
}

/// One display line of a cell and its width in terminal columns.
struct Line {
    text: String,
    width: usize,
}

/// Prints one row (or the header, `align` None): as many lines as its tallest cell.
fn row_lines(out: &mut String, cells: &[Vec<Line>], widths: &[usize], align: Option<&[Align]>) {
    let height = cells.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let last = cells.len() - 1;
    for k in 0..height {
        for (j, (cell, &width)) in cells.iter().zip(widths).enumerate() {
            if j == 0 {
                out.push(' ');
            }
            let (text, w) = cell.get(k).map_or(("", 0), |l| (l.text.as_str(), l.width));
            let continues = k + 1 < cell.len();
            let pad = width - w;
            match align {
                None => {
                    spaces(out, pad / 2);
                    out.push_str(text);
                    spaces(out, pad - pad / 2);
                }
                Some(align) => match align.get(j).copied().unwrap_or(Align::Left) {
                    Align::Left => {
                        out.push_str(text);
                        if j != last || continues {
                            spaces(out, pad);
                        }
                    }
                    Align::Right => {
                        spaces(out, pad);
                        out.push_str(text);
                    }
                },
            }
            if continues {
                out.push('+');
            } else if j != last || align.is_none() {
                out.push(' ');
            }
            if j != last {
                out.push_str("| ");
            }
        }
        out.push('\n');
    }
}

fn spaces(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// A value as psql shows it: split at newlines, tabs expanded to the next multiple of 8,
/// `\r` as `\r`, other control characters as `\xNN` (`\uNNNN` beyond ASCII).
fn lines(value: &str) -> Vec<Line> {
    value
        .split('\n')
        .map(|raw| {
            let mut line = Line {
                text: String::with_capacity(raw.len()),
                width: 0,
            };
            for c in raw.chars() {
                match c {
                    '\t' => loop {
                        line.text.push(' ');
                        line.width += 1;
                        if line.width.is_multiple_of(8) {
                            break;
                        }
                    },
                    '\r' => {
                        line.text.push_str("\\r");
                        line.width += 2;
                    }
                    c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                        line.text.push_str(&format!("\\x{:02X}", c as u32));
                        line.width += 4;
                    }
                    c if (0x80..0xa0).contains(&(c as u32)) => {
                        line.text.push_str(&format!("\\u{:04X}", c as u32));
                        line.width += 6;
                    }
                    c => {
                        line.text.push(c);
                        line.width += char_width(c);
                    }
                }
            }
            line
        })
        .collect()
}

/// Terminal columns of a printable character, as psql's `ucs_wcwidth` counts them:
/// 0 for combining marks and zero-width characters, 2 for East Asian wide and
/// full-width characters (and emoji), 1 otherwise.
fn char_width(c: char) -> usize {
    let u = c as u32;
    const ZERO: &[(u32, u32)] = &[
        (0x0300, 0x036f),
        (0x0483, 0x0489),
        (0x0591, 0x05bd),
        (0x0610, 0x061a),
        (0x064b, 0x065f),
        (0x0e31, 0x0e31),
        (0x0e34, 0x0e3a),
        (0x0e47, 0x0e4e),
        (0x1ab0, 0x1aff),
        (0x1dc0, 0x1dff),
        (0x200b, 0x200f),
        (0x202a, 0x202e),
        (0x2060, 0x2064),
        (0x20d0, 0x20ff),
        (0xfe00, 0xfe0f),
        (0xfe20, 0xfe2f),
        (0xfeff, 0xfeff),
        (0xe0100, 0xe01ef),
    ];
    const WIDE: &[(u32, u32)] = &[
        (0x1100, 0x115f),
        (0x231a, 0x231b),
        (0x2329, 0x232a),
        (0x23e9, 0x23ec),
        (0x2614, 0x2615),
        (0x2e80, 0x303e),
        (0x3041, 0x33ff),
        (0x3400, 0x4dbf),
        (0x4e00, 0x9fff),
        (0xa000, 0xa4cf),
        (0xa960, 0xa97f),
        (0xac00, 0xd7a3),
        (0xf900, 0xfaff),
        (0xfe10, 0xfe19),
        (0xfe30, 0xfe6f),
        (0xff00, 0xff60),
        (0xffe0, 0xffe6),
        (0x1f300, 0x1f64f),
        (0x1f680, 0x1f6ff),
        (0x1f900, 0x1f9ff),
        (0x20000, 0x3fffd),
    ];
    let within = |ranges: &[(u32, u32)]| ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&u));
    if within(ZERO) {
        0
    } else if within(WIDE) {
        2
    } else {
        1
    }
}

#[cfg(test)]
mod tests;
