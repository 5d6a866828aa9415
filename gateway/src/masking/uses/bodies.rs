//! DO blocks and function bodies given as strings. Whatever language they
//! are in, what they compute from a masked column leaves them without an
//! origin (a function's result, a notice, a row stored elsewhere), so a body
//! that names a masked relation at all is refused. Conservative on purpose:
//! the body is searched for names, not parsed.

use pg_query::{protobuf as pb, NodeEnum};

use super::{LostOrigin, MaskedRelations, Use};

/// Refuses a DO or CREATE FUNCTION/PROCEDURE whose body names a relation with
/// masked columns.
pub fn check(node: &NodeEnum, relations: &dyn MaskedRelations) -> Option<LostOrigin> {
    let bodies = match node {
        NodeEnum::DoStmt(s) => strings_of(&s.args),
        NodeEnum::CreateFunctionStmt(s) => strings_of(&s.options),
        _ => return None,
    };
    bodies
        .iter()
        .find_map(|body| named_masked_relation(body, relations))
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
                "the body names {}, and what a body computes from it leaves without an origin",
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
