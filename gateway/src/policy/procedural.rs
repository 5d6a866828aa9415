//! The statements inside DO blocks and function bodies. A PL/pgSQL or SQL
//! body runs with the caller's (or definer's) rights, so what it does is
//! judged as if the identity ran each statement itself: a body that deletes
//! from a table the identity may not delete from is refused when it is
//! created or run, whatever the language grant says.

use pg_query::{protobuf as pb, NodeEnum, ParserOptions};
use serde_json::Value;

use super::{
    classify::{classify_mode, Dialect},
    facts::{Classified, Statement},
};

/// The statements a DO block or CREATE FUNCTION body runs, classified; or why
/// they cannot be judged. Languages other than plpgsql and sql are opaque:
/// their `languages` grant is the operator's consent to anything inside.
pub fn body_statements(
    text: &str,
    node: &NodeEnum,
    language: &str,
    dialect: Dialect,
) -> Result<Vec<Statement>, String> {
    match language.to_ascii_lowercase().as_str() {
        "plpgsql" => {
            if !dialect.standard_conforming_strings {
                return Err(
                    "PL/pgSQL is not judged while standard_conforming_strings is off".into(),
                );
            }
            let tree = plpgsql_tree(text)?;
            let mut out = Vec::new();
            plpgsql_statements(&tree, dialect, &mut out)?;
            Ok(out)
        }
        "sql" => match sql_body(node) {
            Some(body) => match classify_mode(body, dialect, ParserOptions::DEFAULT) {
                Classified::Statements(statements) => Ok(statements),
                Classified::Unparsable(why) => Err(format!("its SQL body does not parse: {why}")),
            },
            // BEGIN ATOMIC bodies are parsed with the statement itself.
            None => Ok(Vec::new()),
        },
        _ => Ok(Vec::new()),
    }
}

/// The PL/pgSQL compiler's tree of a DO block or CREATE FUNCTION, as JSON.
///
/// libpg_query writes `{}}` for datums it has no output for (the NEW and OLD
/// records of trigger functions), which is not JSON; `pg_query::parse_plpgsql`
/// then fails on every trigger function. The C function is called directly
/// so the text can be repaired first: `,{}}` and `[{}}` cannot occur in valid
/// JSON, so dropping the stray brace there (outside strings) changes nothing else.
fn plpgsql_tree(text: &str) -> Result<Value, String> {
    use std::ffi::{c_char, CStr, CString};

    #[repr(C)]
    struct ParseResult {
        functions: *mut c_char,
        error: *mut ParseError,
    }
    #[repr(C)]
    struct ParseError {
        message: *mut c_char,
    }
    unsafe extern "C" {
        fn pg_query_parse_plpgsql(input: *const c_char) -> ParseResult;
        fn pg_query_free_plpgsql_parse_result(result: ParseResult);
    }

    let input = CString::new(text).map_err(|_| "the statement contains a NUL byte".to_owned())?;
    // SAFETY: libpg_query's documented API: the result owns C strings that
    // stay valid until it is freed, which happens once, below.
    let (json, error) = unsafe {
        let result = pg_query_parse_plpgsql(input.as_ptr());
        let error = (!result.error.is_null()).then(|| {
            CStr::from_ptr((*result.error).message)
                .to_string_lossy()
                .into_owned()
        });
        let json = (!result.functions.is_null()).then(|| {
            CStr::from_ptr(result.functions)
                .to_string_lossy()
                .into_owned()
        });
        pg_query_free_plpgsql_parse_result(result);
        (json, error)
    };
    if let Some(message) = error {
        return Err(format!("its PL/pgSQL body does not parse: {message}"));
    }
    let json = json.unwrap_or_else(|| "[]".into());
    serde_json::from_str(&drop_stray_braces(&json))
        .map_err(|e| format!("the PL/pgSQL compiler's output could not be read: {e}"))
}

/// Removes the `}` after an empty object that opens a list element
/// (`,{}}` or `[{}}`), outside JSON strings.
fn drop_stray_braces(json: &str) -> String {
    let bytes = json.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let (mut in_string, mut escaped) = (false, false);
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        out.push(c);
        i += 1;
        if in_string {
            match c {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_string = true,
            b'{' if bytes.get(i..i + 2) == Some(b"}}")
                && matches!(out.iter().rev().nth(1), Some(b',' | b'[')) =>
            {
                out.push(b'}');
                i += 2;
            }
            _ => {}
        }
    }
    String::from_utf8(out).unwrap_or_default()
}

/// The `AS '...'` string of a SQL-language function.
fn sql_body(node: &NodeEnum) -> Option<&str> {
    let NodeEnum::CreateFunctionStmt(f) = node else {
        return None;
    };
    f.options.iter().find_map(|o| match &o.node {
        Some(NodeEnum::DefElem(d)) if d.defname == "as" => match d.arg.as_deref()?.node.as_ref()? {
            NodeEnum::List(list) => match list.items.first()?.node.as_ref()? {
                NodeEnum::String(pb::String { sval }) => Some(sval.as_str()),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    })
}

/// Every SQL text in a PL/pgSQL tree (statements, conditions, assignments),
/// classified in the parse mode PL/pgSQL itself uses for it.
fn plpgsql_statements(
    value: &Value,
    dialect: Dialect,
    out: &mut Vec<Statement>,
) -> Result<(), String> {
    match value {
        Value::Array(items) => {
            for item in items {
                plpgsql_statements(item, dialect, out)?;
            }
        }
        Value::Object(map) => {
            for (key, inner) in map {
                if key.starts_with("PLpgSQL_stmt_dyn")
                    || (key == "PLpgSQL_stmt_open" && inner.get("dynquery").is_some())
                {
                    return Err("it runs dynamic SQL (EXECUTE of a string), which cannot be judged before it runs".into());
                }
                if key == "PLpgSQL_expr" {
                    let query = inner.get("query").and_then(Value::as_str).unwrap_or("");
                    let mode = inner.get("parseMode").and_then(Value::as_i64).unwrap_or(0);
                    match classify_mode(query, dialect, ParserOptions::from_mode(mode)) {
                        Classified::Statements(statements) => out.extend(statements),
                        Classified::Unparsable(why) => {
                            return Err(format!(
                                "a statement in its body does not parse ({query}): {why}"
                            ))
                        }
                    }
                    continue;
                }
                plpgsql_statements(inner, dialect, out)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// PL/pgSQL's parse modes, as its tree numbers them.
trait FromMode {
    fn from_mode(mode: i64) -> Self;
}

impl FromMode for ParserOptions {
    fn from_mode(mode: i64) -> Self {
        match mode {
            2 => ParserOptions::PLPGSQL_EXPR,
            3 => ParserOptions::PLPGSQL_ASSIGN1,
            4 => ParserOptions::PLPGSQL_ASSIGN2,
            5 => ParserOptions::PLPGSQL_ASSIGN3,
            _ => ParserOptions::DEFAULT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::drop_stray_braces;

    #[test]
    fn stray_braces_go_only_outside_strings() {
        assert_eq!(
            drop_stray_braces(r#"[{}},{}},{"a":",{}}"}]"#),
            r#"[{},{},{"a":",{}}"}]"#
        );
        assert_eq!(drop_stray_braces(r#"{"a":{}}"#), r#"{"a":{}}"#);
    }
}
