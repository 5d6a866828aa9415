//! SQL the parse tree does not show: DO blocks and function bodies given as
//! strings, built-in functions that run a query or read a relation named in
//! a string, and CREATE TABLE AS EXECUTE (a prepared statement's rows).
//!
//! Whatever such SQL computes from a masked column leaves without an origin
//! (a function's result, a notice, XML, a row stored elsewhere), so it is
//! refused when it names a relation with masked columns, and, when what it
//! reads cannot be named at all, whenever the identity has masked columns.
//! Conservative on purpose: strings are searched for names, not parsed.

use pg_query::{protobuf as pb, NodeEnum};
use serde_json::Value;

use super::{LostOrigin, MaskedRelations, Use};

/// Built-ins that run SQL, or read a relation, named in a string argument.
const SQL_IN_STRINGS: &[&str] = &[
    "query_to_xml",
    "query_to_xmlschema",
    "query_to_xml_and_xmlschema",
    "table_to_xml",
    "table_to_xmlschema",
    "table_to_xml_and_xmlschema",
    "ts_stat",
    "ts_rewrite",
    "currtid2",
    // The dblink extension: SQL run over another connection, maybe this server.
    "dblink",
    "dblink_exec",
    "dblink_open",
    "dblink_send_query",
];

/// Built-ins that read what no name in the statement says: an open cursor
/// (declared earlier, its query judged for the client, not for XML), or
/// every table of a schema or database.
const SQL_UNNAMED: &[&str] = &[
    "cursor_to_xml",
    "cursor_to_xmlschema",
    "schema_to_xml",
    "schema_to_xmlschema",
    "schema_to_xml_and_xmlschema",
    "database_to_xml",
    "database_to_xmlschema",
    "database_to_xml_and_xmlschema",
];

/// Refuses a statement whose hidden SQL may read masked columns.
/// `functions`: the names of the functions it calls (as written).
pub fn check(
    stmt: &pb::Node,
    functions: &[Vec<String>],
    relations: &dyn MaskedRelations,
) -> Option<LostOrigin> {
    let node = stmt.node.as_ref()?;
    let (bodies, language) = match node {
        NodeEnum::DoStmt(s) => (strings_of(&s.args), language(&s.args, "plpgsql")),
        NodeEnum::CreateFunctionStmt(s) => (strings_of(&s.options), language(&s.options, "sql")),
        _ => (Vec::new(), String::new()),
    };
    if let Some(refusal) = bodies
        .iter()
        .find_map(|body| named_masked_relation(body, relations))
    {
        return Some(refusal);
    }
    if !bodies.is_empty() {
        if language != "sql" && language != "plpgsql" {
            return unseen(
                relations,
                format!("a {language} body runs SQL this check cannot read"),
            );
        }
        let words: Vec<String> = bodies.iter().flat_map(|b| identifiers(b)).collect();
        if let Some(word) = words.iter().find(|w| {
            *w == "execute"
                || SQL_IN_STRINGS.contains(&w.as_str())
                || SQL_UNNAMED.contains(&w.as_str())
        }) {
            return unseen(
                relations,
                format!("its body runs SQL built at run time or given as a string ({word})"),
            );
        }
    }
    // A foreign table over this very server reads a table named in its
    // options; importing a foreign schema, every table of one.
    if let NodeEnum::CreateForeignTableStmt(_) = node {
        let tree = serde_json::to_value(stmt).ok()?;
        let mut strings = Vec::new();
        string_constants(&tree, &mut strings);
        if let Some(refusal) = strings
            .iter()
            .find_map(|text| named_masked_relation(text, relations))
        {
            return Some(refusal);
        }
    }
    if let NodeEnum::ImportForeignSchemaStmt(s) = node {
        return unseen(
            relations,
            format!(
                "IMPORT FOREIGN SCHEMA {} may make any table readable under another name",
                s.remote_schema
            ),
        );
    }
    if let NodeEnum::CreateTableAsStmt(s) = node {
        if let Some(NodeEnum::ExecuteStmt(execute)) = s.query.as_ref().and_then(|q| q.node.as_ref())
        {
            return unseen(
                relations,
                format!(
                    "CREATE TABLE AS EXECUTE stores the rows of prepared statement {}, \
                     which this check cannot see",
                    execute.name
                ),
            );
        }
    }
    let called: Vec<&str> = functions.iter().filter_map(|f| last_name(f)).collect();
    if let Some(name) = called.iter().find(|n| SQL_UNNAMED.contains(n)) {
        return unseen(
            relations,
            format!("{name} returns rows of tables no name in the statement says"),
        );
    }
    if called.iter().any(|n| SQL_IN_STRINGS.contains(n)) {
        let tree = serde_json::to_value(stmt).ok()?;
        let mut strings = Vec::new();
        string_constants(&tree, &mut strings);
        return strings
            .iter()
            .find_map(|text| named_masked_relation(text, relations));
    }
    None
}

/// `name` or `schema.name` (any schema: an extension's functions live
/// wherever it was installed).
fn last_name(name: &[String]) -> Option<&str> {
    match name {
        [name] | [_, name] => Some(name),
        _ => None,
    }
}

/// Refused when the identity has any masked column: what is read is unknown.
fn unseen(relations: &dyn MaskedRelations, why: String) -> Option<LostOrigin> {
    relations.any_masked().then(|| LostOrigin {
        column: String::new(),
        rule: String::new(),
        usage: Use::CopiedElsewhere,
        why: Some(why),
    })
}

/// Every string constant in a tree (`sval` fields).
fn string_constants<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| string_constants(i, out)),
        Value::Object(map) => {
            for (key, value) in map {
                match value {
                    Value::String(s) if key == "sval" => out.push(s),
                    _ => string_constants(value, out),
                }
            }
        }
        _ => {}
    }
}

/// The body's language, lower case (`LANGUAGE plpython3u`).
fn language(options: &[pb::Node], default: &str) -> String {
    options
        .iter()
        .find_map(|o| match &o.node {
            Some(NodeEnum::DefElem(d)) if d.defname == "language" => {
                match d.arg.as_deref()?.node.as_ref()? {
                    NodeEnum::String(s) => Some(s.sval.to_ascii_lowercase()),
                    _ => None,
                }
            }
            _ => None,
        })
        .unwrap_or_else(|| default.to_owned())
}

/// The `AS` strings among DO's arguments or a function's options.
fn strings_of(options: &[pb::Node]) -> Vec<&str> {
    let mut out = Vec::new();
    for option in options {
        let Some(NodeEnum::DefElem(def)) = &option.node else {
            continue;
        };
        if def.defname != "as" {
            continue;
        }
        match def.arg.as_deref().and_then(|a| a.node.as_ref()) {
            Some(NodeEnum::String(s)) => out.push(s.sval.as_str()),
            Some(NodeEnum::List(list)) => {
                for item in &list.items {
                    if let Some(NodeEnum::String(s)) = &item.node {
                        out.push(s.sval.as_str());
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn named_masked_relation(body: &str, relations: &dyn MaskedRelations) -> Option<LostOrigin> {
    let words = identifiers(body);
    let mut asked = std::collections::HashSet::new();
    for (i, word) in words.iter().enumerate() {
        let qualified = (i >= 2 && words[i - 1] == ".").then(|| words[i - 2].as_str());
        if word == "." || !asked.insert((qualified, word.as_str())) {
            continue;
        }
        let Some(relation) = relations.lookup(qualified, word) else {
            continue;
        };
        // Name the masked column the body mentions, else the first one.
        let mentioned = relation
            .columns
            .iter()
            .map(|c| (&c.name, &c.rule))
            .chain(relation.derived.iter().map(|c| (&c.name, &c.rule)))
            .find(|(name, _)| words.iter().any(|w| w == *name));
        let first = relation.columns.first().map(|c| (&c.name, &c.rule));
        let first = first.or_else(|| relation.derived.first().map(|c| (&c.name, &c.rule)));
        let (name, rule) = mentioned.or(first)?;
        return Some(LostOrigin {
            column: format!("{}.{name}", relation.qualified),
            rule: rule.clone(),
            usage: Use::CopiedElsewhere,
            why: Some(format!(
                "SQL in a string names {}, and what it computes from it leaves without an origin",
                relation.qualified
            )),
        });
    }
    None
}

/// The identifiers of a body (unquoted ones folded to lower case, quoted
/// ones as written) and the dots between them, in order. Strings and
/// comments are not skipped: a name inside them counts too.
fn identifiers(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphabetic() || c == '_' {
            let mut word = c.to_lowercase().to_string();
            while let Some(&n) = chars.peek() {
                if !(n.is_alphanumeric() || n == '_' || n == '$') {
                    break;
                }
                word.extend(n.to_lowercase());
                chars.next();
            }
            out.push(word);
        } else if c == '"' {
            let mut word = String::new();
            while let Some(n) = chars.next() {
                if n == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                    } else {
                        break;
                    }
                }
                word.push(n);
            }
            out.push(word);
        } else if c == '.' {
            out.push(".".into());
        } else if c.is_ascii_digit() {
            while chars
                .peek()
                .is_some_and(|n| n.is_alphanumeric() || *n == '_')
            {
                chars.next();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::identifiers;

    #[test]
    fn identifiers_fold_case_and_keep_quoted_names() {
        assert_eq!(
            identifiers(r#"SELECT Email FROM public."Cust""x" WHERE id=1"#),
            ["select", "email", "from", "public", ".", "Cust\"x", "where", "id"]
        );
    }
}
