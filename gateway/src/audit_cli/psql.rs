//! Results and errors as psql prints them. Tables in its default aligned format
//! (`\pset format aligned`, `border 1`): headers centered, a `-+-` rule, cells padded to
//! the widest value, numbers right-aligned, multi-line values continued with `+`, NULL as
//! nothing, then `(N rows)` and an empty line. Errors at its default verbosity: the
//! message, the statement's line with a caret under the error's position, then DETAIL,
//! HINT and CONTEXT. Byte for byte what psql 15 prints (checked against a real psql,
//! see the tests here and the replay test of the e2e crate).

use crate::audit::ErrorInfo;

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
    let mut out = String::from("ERROR:  ");
    if let Some(code) = sqlstate {
        out.push_str(code);
        out.push_str(": ");
    }
    out.push_str(&error.message);
    out.push('\n');
    if let Some(position) = error.position {
        out.push_str(&error_position(statement, position));
    }
    for (label, value) in [
        ("DETAIL", &error.detail),
        ("HINT", &error.hint),
        ("CONTEXT", &error.context),
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
mod tests {
    //! The expected texts are psql 15's own output (`psql -X -f`), captured from a
    //! throwaway server; `$` marks where a line ends, so trailing spaces stay visible.

    use super::*;

    fn cols(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    fn rows(rows: &[&[Option<&str>]]) -> Vec<Vec<Option<String>>> {
        rows.iter()
            .map(|r| r.iter().map(|v| v.map(str::to_owned)).collect())
            .collect()
    }

    /// Renders like psql for text columns and compares with `expected`, whose lines
    /// start with a `|` margin and end in `$`.
    fn check(columns: &[&str], data: &[&[Option<&str>]], expected: &str) {
        let columns = cols(columns);
        let data = rows(data);
        let got = result_table(
            &columns,
            &data,
            &vec![Align::Left; columns.len()],
            data.len() as u64,
        );
        let expected: String = expected
            .lines()
            .map(|l| {
                let l = l.trim_start();
                let l = l
                    .strip_suffix('$')
                    .unwrap_or_else(|| panic!("{l:?} ends in $"));
                let l = l
                    .strip_prefix('|')
                    .unwrap_or_else(|| panic!("{l:?} starts with |"));
                format!("{l}\n")
            })
            .collect();
        assert_eq!(got, expected, "\ngot:\n{got}\nexpected:\n{expected}");
    }

    // Every expected line starts with a `|` margin (indentation before it is dropped).

    #[test]
    fn one_row() {
        // select 1::text as id, 'alice' as name;
        check(
            &["id", "name"],
            &[&[Some("1"), Some("alice")]],
            "| id | name  $
             |----+-------$
             | 1  | alice$
             |(1 row)$
             |$",
        );
    }

    #[test]
    fn headers_center_and_null_is_empty() {
        // select 'a' as x, 'longer value' as y, NULL as z;
        check(
            &["x", "y", "z"],
            &[&[Some("a"), Some("longer value"), None]],
            "| x |      y       | z $
             |---+--------------+---$
             | a | longer value | $
             |(1 row)$
             |$",
        );
        // select 'abc' as "a very long header", 'x' as b;
        check(
            &["a very long header", "b"],
            &[&[Some("abc"), Some("x")]],
            "| a very long header | b $
             |--------------------+---$
             | abc                | x$
             |(1 row)$
             |$",
        );
        // select 'ab' as "abcd", 'abc' as "ab"; odd padding goes right.
        check(
            &["abcd", "ab"],
            &[&[Some("ab"), Some("abc")]],
            "| abcd | ab  $
             |------+-----$
             | ab   | abc$
             |(1 row)$
             |$",
        );
        // select 'a' as "x", '' as "empty";
        check(
            &["x", "empty"],
            &[&[Some("a"), Some("")]],
            "| x | empty $
             |---+-------$
             | a | $
             |(1 row)$
             |$",
        );
    }

    #[test]
    fn no_rows_and_no_columns() {
        // select * from (values ('x')) v(col) where false;
        check(
            &["col"],
            &[],
            "| col $
             |-----$
             |(0 rows)$
             |$",
        );
        // select from generate_series(1,3);
        let empty: Vec<Vec<Option<String>>> = vec![vec![], vec![], vec![]];
        assert_eq!(
            result_table(&[], &empty, &[], 3),
            "--\n(3 rows)\n\n",
            "psql prints only the rule for a result without columns"
        );
    }

    #[test]
    fn multi_line_values() {
        // select 'line1\nline2' as multi, 'short' as other;
        check(
            &["multi", "other"],
            &[&[Some("line1\nline2"), Some("short")]],
            "| multi | other $
             |-------+-------$
             | line1+| short$
             | line2 | $
             |(1 row)$
             |$",
        );
        // select 'a' as m, 'p\nqq\nr' as multi2;
        check(
            &["m", "multi2"],
            &[&[Some("a"), Some("p\nqq\nr")]],
            "| m | multi2 $
             |---+--------$
             | a | p     +$
             |   | qq    +$
             |   | r$
             |(1 row)$
             |$",
        );
        // select 'abc' as c1 union all select 'a\nb';
        check(
            &["c1"],
            &[&[Some("abc")], &[Some("a\nb")]],
            "| c1  $
             |-----$
             | abc$
             | a  +$
             | b$
             |(2 rows)$
             |$",
        );
    }

    #[test]
    fn multi_line_headers() {
        // select 'x' as "multi\nline header";
        check(
            &["multi\nline header"],
            &[&[Some("x")]],
            "|    multi   +$
             | line header $
             |-------------$
             | x$
             |(1 row)$
             |$",
        );
        // select 'x' as "h1\nh1b\nh1c", 'yy' as "h2";
        check(
            &["h1\nh1b\nh1c", "h2"],
            &[&[Some("x"), Some("yy")]],
            "| h1 +| h2 $
             | h1b+|    $
             | h1c |    $
             |-----+----$
             | x   | yy$
             |(1 row)$
             |$",
        );
    }

    #[test]
    fn wide_characters_tabs_and_control_characters() {
        // select 'héllo' as "ünï", '日本語' as wide, 'ok' as last;
        check(
            &["ünï", "wide", "last"],
            &[&[Some("héllo"), Some("日本語"), Some("ok")]],
            "|  ünï  |  wide  | last $
             |-------+--------+------$
             | héllo | 日本語 | ok$
             |(1 row)$
             |$",
        );
        // select E'tab\there' as tabbed, 'z' as z;
        check(
            &["tabbed", "z"],
            &[&[Some("tab\there"), Some("z")]],
            "|    tabbed    | z $
             |--------------+---$
             | tab     here | z$
             |(1 row)$
             |$",
        );
        // select 'a' as c1, E'x\ty\r' || chr(1) as c2, 'last\nz' as c3;
        check(
            &["c1", "c2", "c3"],
            &[&[Some("a"), Some("x\ty\r\u{1}"), Some("last\nz")]],
            "| c1 |       c2        |  c3  $
             |----+-----------------+------$
             | a  | x       y\\r\\x01 | last+$
             |    |                 | z$
             |(1 row)$
             |$",
        );
    }

    #[test]
    fn numbers_align_right_when_known() {
        // select 1, 2;
        let got = result_table(
            &cols(&["?column?", "?column?"]),
            &rows(&[&[Some("1"), Some("2")]]),
            &[Align::Right, Align::Right],
            1,
        );
        assert_eq!(
            got,
            " ?column? | ?column? \n----------+----------\n        1 |        2\n(1 row)\n\n"
        );
    }

    /// The error psql prints for `statement` when the server places the error at the
    /// first `needle` (as PostgreSQL does for an unknown column).
    fn error_at(statement: &str, needle: &str, message: &str) -> String {
        let chars = statement[..statement.find(needle).expect("the needle")]
            .chars()
            .count();
        let error = ErrorInfo {
            sqlstate: "42703".into(),
            message: message.into(),
            position: Some(chars as u32 + 1),
            ..ErrorInfo::default()
        };
        error_text(&error, statement)
    }

    fn error_text(error: &ErrorInfo, statement: &str) -> String {
        super::error(error, statement, None)
    }

    #[test]
    fn errors_show_the_line_and_a_caret() {
        let no_column = "column \"nosuchcol\" does not exist";
        let check = |statement: &str, expected: &str| {
            assert_eq!(
                error_at(statement, "nosuchcol", no_column),
                format!("ERROR:  {no_column}\n{expected}"),
                "{statement:?}"
            );
        };
        check(
            "SELECT 1,\n  nosuchcol\nFROM t",
            "LINE 2:   nosuchcol\n          ^\n",
        );
        check(
            "SELECT\t1,\tnosuchcol FROM t",
            "LINE 1: SELECT 1, nosuchcol FROM t\n                  ^\n",
        );
        check(
            "SELECT 1,\r\n\r\n nosuchcol FROM t",
            "LINE 3:  nosuchcol FROM t\n         ^\n",
        );
        check(
            "SELECT '日本語', nosuchcol FROM t",
            "LINE 1: SELECT '日本語', nosuchcol FROM t\n                         ^\n",
        );
        // Lines over 60 columns are cut around the position.
        check(
            "SELECT nosuchcol, 'aaaaaaaaaa', 'bbbbbbbbbb', 'cccccccccc', 'dddddddddd', \
             'eeeeeeeeee', 'ffffffffff' FROM t",
            "LINE 1: SELECT nosuchcol, 'aaaaaaaaaa', 'bbbbbbbbbb', 'cccccccccc', ...\n\
             \x20              ^\n",
        );
        check(
            "SELECT 'aaaaaaaaaa', 'bbbbbbbbbb', 'cccccccccc', 'dddddddddd', 'eeeeeeeeee', \
             nosuchcol FROM t",
            "LINE 1: ...bbbbb', 'cccccccccc', 'dddddddddd', 'eeeeeeeeee', nosuchcol ...\n\
             \x20                                                            ^\n",
        );
        check(
            "SELECT 'aaaaaaaaaa', 'bbbbbbbbbb', 'cccccccccc', 'dddddddddd', nosuchcol, \
             'eeeeeeeeee', 'ffffffffff', 'gggggggggg', 'hhhhhhhhhh' FROM t",
            "LINE 1: ...aaaaa', 'bbbbbbbbbb', 'cccccccccc', 'dddddddddd', nosuchcol,...\n\
             \x20                                                            ^\n",
        );
        // At the end of the text (`SELECT 1 FROM`: syntax error at end of input).
        let end = ErrorInfo {
            message: "syntax error at end of input".into(),
            position: Some(14),
            ..ErrorInfo::default()
        };
        assert_eq!(
            error_text(&end, "SELECT 1 FROM"),
            "ERROR:  syntax error at end of input\nLINE 1: SELECT 1 FROM\n                     ^\n"
        );
        assert_eq!(error_position("SELECT 1", 20), "", "past the text");
        assert_eq!(error_position("SELECT 1", 0), "", "no position");
    }

    #[test]
    fn errors_show_detail_hint_and_context() {
        // insert into u values (1),(1);  (u has a primary key)
        let duplicate = ErrorInfo {
            sqlstate: "23505".into(),
            message: "duplicate key value violates unique constraint \"u_pkey\"".into(),
            detail: Some("Key (id)=(1) already exists.".into()),
            ..ErrorInfo::default()
        };
        assert_eq!(
            error_text(&duplicate, "insert into u values (1),(1)"),
            "ERROR:  duplicate key value violates unique constraint \"u_pkey\"\n\
             DETAIL:  Key (id)=(1) already exists.\n"
        );
        let all = ErrorInfo {
            sqlstate: "P0001".into(),
            message: "boom".into(),
            position: Some(8),
            detail: Some("d".into()),
            hint: Some("h".into()),
            context: Some("PL/pgSQL function f() line 1 at RAISE".into()),
        };
        assert_eq!(
            super::error(&all, "SELECT f()", Some("P0001")),
            "ERROR:  P0001: boom\nLINE 1: SELECT f()\n               ^\nDETAIL:  d\nHINT:  h\n\
             CONTEXT:  PL/pgSQL function f() line 1 at RAISE\n"
        );
    }

    #[test]
    fn numeric_types_align_right() {
        for oid in [20, 21, 23, 700, 701, 1700, 790, 26] {
            assert_eq!(align_for(Some(oid)), Align::Right, "{oid}");
        }
        for oid in [25, 1043, 16, 1082, 1184, 2950, 114, 17] {
            assert_eq!(align_for(Some(oid)), Align::Left, "{oid}");
        }
        assert_eq!(align_for(None), Align::Left, "an older record");
        // SELECT id, name, price, f FROM t ORDER BY id;  (int, text, numeric, float8)
        let got = result_table(
            &cols(&["id", "name", "price", "f"]),
            &rows(&[
                &[Some("1"), Some("alice"), Some("10.5"), Some("1.5")],
                &[Some("22"), None, Some("3"), None],
            ]),
            &[23, 25, 1700, 701].map(|oid| align_for(Some(oid))),
            2,
        );
        assert_eq!(
            got,
            " id | name  | price |  f  \n----+-------+-------+-----\n  1 | alice |  10.5 | 1.5\n \
             22 |       |     3 |    \n(2 rows)\n\n"
        );
    }

    #[test]
    fn footers_and_tags() {
        assert_eq!(footer(0), "(0 rows)\n");
        assert_eq!(footer(1), "(1 row)\n");
        assert_eq!(footer(2), "(2 rows)\n");
        assert!(tag_after_rows("INSERT 0 1"));
        assert!(tag_after_rows("UPDATE 2"));
        assert!(tag_after_rows("DELETE 0"));
        assert!(!tag_after_rows("SELECT 1"));
        assert!(!tag_after_rows("FETCH 5"));
    }
}
