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
