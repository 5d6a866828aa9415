//! Reads a statement text with PostgreSQL's own grammar and says what each
//! statement in it does (see `facts`). Pure: no rules, no session state.

use pg_query::{protobuf as pb, NodeEnum, ParserOptions};

use super::{
    builtins::{self, Volatility},
    facts::*,
    procedural::body_statements,
    statements::{self, Category},
    walker::{self, Frame, RelationNode, Tree},
};

/// How the server reads string literals; it must be read the same way here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dialect {
    pub standard_conforming_strings: bool,
}

impl Default for Dialect {
    fn default() -> Self {
        Dialect {
            standard_conforming_strings: true,
        }
    }
}

/// Classifies every statement in `text`.
pub fn classify(text: &str, dialect: Dialect) -> Classified {
    classify_mode(text, dialect, ParserOptions::DEFAULT)
}

/// Classifies `text` parsed in a given mode (PL/pgSQL expressions use others).
pub fn classify_mode(text: &str, dialect: Dialect, mode: ParserOptions) -> Classified {
    if text.contains('\0') {
        return Classified::Unparsable("the statement contains a NUL byte".into());
    }
    let mut options = mode;
    if !dialect.standard_conforming_strings {
        options |= pg_query::ParserOptions::DISABLE_STANDARD_CONFORMING_STRINGS;
    }
    let parsed = match pg_query::parse(text, options) {
        Ok(parsed) => parsed,
        Err(e) => return Classified::Unparsable(parse_error(e)),
    };
    let mut out = Vec::new();
    for raw in &parsed.protobuf.stmts {
        let Some(node) = raw.stmt.as_ref().and_then(|n| n.node.as_ref()) else {
            continue;
        };
        let start = raw.stmt_location.max(0) as usize;
        let end = if raw.stmt_len > 0 {
            start + raw.stmt_len as usize
        } else {
            text.len()
        };
        let span = (start.min(text.len()), end.min(text.len()));
        let mut statement = statement(node, text.get(span.0..span.1).unwrap_or(text), dialect);
        statement.span = span;
        out.push(statement);
    }
    Classified::Statements(out)
}

fn parse_error(e: pg_query::Error) -> String {
    match e {
        pg_query::Error::Parse(message) => message,
        // prost refuses trees nested past 100 messages (about 50 levels of
        // expression): fail closed, and say so plainly.
        pg_query::Error::Decode(_) => {
            "the statement is nested too deeply for the gateway to judge (about 50 levels of expressions or subqueries at most)".into()
        }
        other => other.to_string(),
    }
}

fn statement(node: &NodeEnum, text: &str, dialect: Dialect) -> Statement {
    let mut out = Statement::default();
    let tree = match walker::walk(node) {
        Ok(tree) => tree,
        Err(e) => {
            out.unjudgeable = Some(format!("the parse tree could not be read: {e}"));
            return out;
        }
    };
    let Some(top) = tree.statements.first() else {
        out.unjudgeable = Some("not a statement".into());
        return out;
    };
    out.command = statements::command_name(top.name);
    for stmt in &tree.statements {
        if statements::category(stmt.name).is_none() {
            out.unjudgeable = Some(format!(
                "the gateway does not know the statement type {}",
                stmt.name
            ));
            return out;
        }
    }
    let created_schema = match node {
        NodeEnum::CreateSchemaStmt(s) => Some(s.schemaname.clone()),
        _ => None,
    };
    relations(&tree, created_schema.as_deref(), &mut out);
    functions(&tree, &mut out);
    operators(&tree, &mut out);
    let named = named_ddl_target(node);
    unnamed_targets(&tree, named.is_some(), &mut out);
    for parts in &tree.casts {
        if let Some((schema, name)) = split_name(parts) {
            out.casts.push(Target::Routine {
                schema: schema.map(str::to_owned),
                name: name.to_owned(),
            });
        }
    }
    for name in &tree.executes {
        out.effects.push(SessionEffect::Execute(name.clone()));
    }
    top_level(node, &mut out);
    if let Some(target) = named {
        out.accesses.push(Access {
            action: Action::Ddl,
            target,
        });
    }
    if let Some(language) = out.languages.first().cloned() {
        body(node, text, &language, dialect, &mut out);
    }
    dedup(&mut out);
    out
}

fn relations(tree: &Tree, created_schema: Option<&str>, out: &mut Statement) {
    for relation in &tree.relations {
        if relation.name.is_empty() || is_cte_reference(tree, relation) {
            continue;
        }
        let Some((owner_id, owner, field)) = owner(&relation.ancestry) else {
            continue;
        };
        let action = relation_action(relation, owner, field);
        let creates = action == Action::Ddl && creates_relation(owner, field, relation);
        let schema = if relation.persistence == "t" && creates {
            out.effects
                .push(SessionEffect::CreateTemp(relation.name.clone()));
            Some("pg_temp".to_owned())
        } else if !relation.schema.is_empty() {
            Some(relation.schema.clone())
        } else {
            created_schema.map(str::to_owned)
        };
        let target = Target::Relation {
            schema,
            name: relation.name.clone(),
        };
        let upsert = action == Action::Insert && tree.upserts.contains(&owner_id);
        if upsert || (action == Action::Read && tree.locking.contains(&owner_id)) {
            out.accesses.push(Access {
                action: Action::Update,
                target: target.clone(),
            });
        }
        out.accesses.push(Access { action, target });
    }
}

/// The innermost statement above a RangeVar, and the field it sits in.
fn owner(ancestry: &[Frame]) -> Option<(u32, &'static str, &'static str)> {
    ancestry.iter().rev().find_map(|frame| match frame {
        Frame::Struct {
            id, name, field, ..
        } if name.ends_with("Stmt") => Some((*id, *name, *field)),
        _ => None,
    })
}

fn relation_action(relation: &RelationNode, owner: &str, field: &str) -> Action {
    let under_into = relation
        .ancestry
        .iter()
        .rev()
        .take_while(|f| !matches!(f, Frame::Struct { name, .. } if name.ends_with("Stmt")))
        .any(|f| {
            matches!(
                f,
                Frame::Struct {
                    name: "IntoClause",
                    ..
                }
            )
        });
    if under_into {
        return Action::Ddl;
    }
    match (owner, field) {
        ("SelectStmt", _) => Action::Read,
        ("InsertStmt", "relation") => Action::Insert,
        ("UpdateStmt", "relation") => Action::Update,
        ("DeleteStmt", "relation") => Action::Delete,
        ("MergeStmt", "relation") => Action::Merge,
        ("InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt", _) => Action::Read,
        // COPY's direction is settled in `top_level`.
        ("CopyStmt", _) => Action::Read,
        ("TruncateStmt", _) => Action::Truncate,
        _ => match statements::category(owner) {
            Some(Category::Admin) => Action::Admin,
            Some(Category::Utility) => Action::Utility,
            _ => Action::Ddl,
        },
    }
}

/// Whether a DDL RangeVar names the relation being created (so TEMP applies).
fn creates_relation(owner: &str, field: &str, relation: &RelationNode) -> bool {
    matches!(
        (owner, field),
        ("CreateStmt", "relation") | ("ViewStmt", "view") | ("CreateSeqStmt", "sequence")
    ) || relation.ancestry.iter().any(|f| {
        matches!(
            f,
            Frame::Struct {
                name: "IntoClause",
                ..
            }
        )
    })
}

/// Whether an unqualified name refers to a WITH query in scope rather than a
/// table. Follows PostgreSQL's scoping: a non-recursive WITH query is visible
/// to the later ones and the statement body, not to itself or earlier ones.
fn is_cte_reference(tree: &Tree, relation: &RelationNode) -> bool {
    if !relation.schema.is_empty() {
        return false;
    }
    let path = &relation.ancestry;
    for (depth, frame) in path.iter().enumerate().rev() {
        let Frame::Struct {
            id, name, field, ..
        } = frame
        else {
            continue;
        };
        if !name.ends_with("Stmt") {
            continue;
        }
        let Some(with) = tree.withs.iter().find(|w| w.owner == Some(*id)) else {
            continue;
        };
        let visible: &[String] = if *field == "with_clause" {
            // Inside the WITH clause itself: which WITH query are we in?
            let position = path.get(depth + 2..).and_then(|rest| {
                rest.iter().find_map(|f| match f {
                    Frame::Element(i) => Some(*i as usize),
                    _ => None,
                })
            });
            match (with.recursive, position) {
                (true, _) => &with.names,
                (false, Some(k)) => &with.names[..k.min(with.names.len())],
                (false, None) => &[],
            }
        } else {
            &with.names
        };
        if visible.iter().any(|n| n == &relation.name) {
            return true;
        }
    }
    false
}

fn functions(tree: &Tree, out: &mut Statement) {
    for function in &tree.functions {
        let Some((schema, name)) = split_name(&function.name) else {
            out.unjudgeable = Some("a function call without a name".into());
            continue;
        };
        match function_use(schema, name) {
            Some(use_) => out.functions.push(use_),
            None if schema.is_none() => out.builtin_calls.push(name.to_owned()),
            None => {}
        }
        if is_builtin_schema(schema) && name == "set_config" {
            match &function.first_string_arg {
                Some(setting) => {
                    if let Some(check) = BaselineCheck::for_setting(setting) {
                        out.baseline.push(BaselineHit {
                            check,
                            detail: format!("set_config('{setting}', ...)"),
                        });
                    }
                }
                None => {
                    out.unjudgeable =
                        Some("set_config with a setting name that is not a constant string".into())
                }
            }
        }
    }
}

/// Whether a call of `schema.name` needs a grant, and why.
pub fn function_use(schema: Option<&str>, name: &str) -> Option<FunctionUse> {
    let why = if is_builtin_schema(schema) {
        match builtins::function(name) {
            None if schema.is_some() => "not a built-in function",
            None => "not a pg_catalog built-in",
            Some(Volatility::Volatile) if !builtins::is_harmless_volatile(name) => {
                "a volatile built-in with side effects"
            }
            Some(_) if READS_WHAT_POLICY_CANNOT_SEE.contains(&name) => {
                "a built-in that reads tables or state the policy cannot see"
            }
            Some(_) => return None,
        }
    } else {
        "not a pg_catalog function"
    };
    Some(FunctionUse {
        schema: schema.map(str::to_owned),
        name: name.to_owned(),
        why: why.into(),
    })
}

/// Stable built-ins that still need a grant: they read whole tables named
/// in an argument (invisible to a relation-level policy) or assign an xid.
const READS_WHAT_POLICY_CANNOT_SEE: &[&str] = &[
    "table_to_xml",
    "table_to_xmlschema",
    "table_to_xml_and_xmlschema",
    "schema_to_xml",
    "schema_to_xmlschema",
    "schema_to_xml_and_xmlschema",
    "database_to_xml",
    "database_to_xmlschema",
    "database_to_xml_and_xmlschema",
    "cursor_to_xml",
    "cursor_to_xmlschema",
    "txid_current",
    "pg_current_xact_id",
];

fn is_builtin_schema(schema: Option<&str>) -> bool {
    matches!(schema, None | Some("pg_catalog"))
}

/// `[name]`, `[schema, name]` or `[catalog, schema, name]`.
fn split_name(parts: &[String]) -> Option<(Option<&str>, &str)> {
    match parts {
        [name] => Some((None, name)),
        [.., schema, name] => Some((Some(schema), name)),
        [] => None,
    }
}

fn operators(tree: &Tree, out: &mut Statement) {
    for parts in &tree.operators {
        let Some((schema, symbol)) = split_name(parts) else {
            continue;
        };
        if is_builtin_schema(schema) && builtins::is_operator(symbol) {
            if schema.is_none() {
                out.builtin_operators.push(symbol.to_owned());
            }
            continue;
        }
        out.functions.push(FunctionUse {
            schema: schema.map(str::to_owned),
            name: format!("operator:{symbol}"),
            why: "not a built-in operator".into(),
        });
    }
}

/// DDL, admin and utility statements that name no relation still need a rule
/// for their action; their object is one only `*` covers.
/// `top_named`: the top statement's object is named from its name list.
fn unnamed_targets(tree: &Tree, top_named: bool, out: &mut Statement) {
    let top = tree.statements.first().map(|s| s.id);
    for stmt in &tree.statements {
        if top_named && Some(stmt.id) == top {
            continue;
        }
        let action = match statements::category(stmt.name) {
            Some(Category::Ddl) => Action::Ddl,
            Some(Category::Admin) => Action::Admin,
            Some(Category::Utility) => Action::Utility,
            _ => continue,
        };
        let owns_relation = tree
            .relations
            .iter()
            .any(|r| owner(&r.ancestry).is_some_and(|(id, _, _)| id == stmt.id));
        if !owns_relation && !names_its_target(stmt.name) {
            out.accesses.push(Access {
                action,
                target: Target::Unnamed(statements::unnamed_label(stmt.name)),
            });
        }
    }
}

/// Statements whose target `top_level` names itself, and DO and CALL, which
/// are judged by their language grant and body, or by the procedure's grant.
fn names_its_target(stmt: &str) -> bool {
    matches!(
        stmt,
        "DropStmt" | "CreateSchemaStmt" | "CreateFunctionStmt" | "DoStmt" | "CallStmt"
    )
}

/// The object of DDL statements that name it as a list of names rather than
/// a RangeVar: types, domains, functions being altered, comments on objects.
fn named_ddl_target(node: &NodeEnum) -> Option<Target> {
    let names = |list: &[pb::Node]| {
        let (schema, name) = name_parts(list);
        (!name.is_empty()).then_some(Target::Routine { schema, name })
    };
    match node {
        NodeEnum::CreateEnumStmt(s) => names(&s.type_name),
        NodeEnum::AlterEnumStmt(s) => names(&s.type_name),
        NodeEnum::CreateRangeStmt(s) => names(&s.type_name),
        NodeEnum::AlterTypeStmt(s) => names(&s.type_name),
        NodeEnum::CreateDomainStmt(s) => names(&s.domainname),
        NodeEnum::DefineStmt(s) => names(&s.defnames),
        NodeEnum::AlterFunctionStmt(s) => s.func.as_ref().and_then(|f| names(&f.objname)),
        NodeEnum::CommentStmt(s) => object_target(s.object.as_deref()?, s.objtype),
        NodeEnum::RenameStmt(s) if s.relation.is_none() => {
            object_target(s.object.as_deref()?, s.rename_type)
        }
        NodeEnum::AlterObjectSchemaStmt(s) if s.relation.is_none() => {
            object_target(s.object.as_deref()?, s.object_type)
        }
        _ => None,
    }
}

/// An object named by a list of names, a function signature or (for a
/// schema) a bare name. Roles, databases and the like stay unnamed.
fn object_target(node: &pb::Node, object_type: i32) -> Option<Target> {
    use pb::ObjectType as O;
    // Columns, triggers, rules, policies and constraints: `[schema.]table.member`.
    let on_table = [
        O::ObjectColumn,
        O::ObjectTrigger,
        O::ObjectRule,
        O::ObjectPolicy,
        O::ObjectTabconstraint,
    ]
    .iter()
    .any(|t| *t as i32 == object_type);
    let (schema, name) = match node.node.as_ref()? {
        NodeEnum::List(list) if on_table => {
            let table = list.items.split_last().map_or(&[][..], |(_, table)| table);
            let (schema, name) = name_parts(table);
            return (!name.is_empty()).then_some(Target::Relation { schema, name });
        }
        NodeEnum::List(list) => name_parts(&list.items),
        NodeEnum::ObjectWithArgs(f) => name_parts(&f.objname),
        NodeEnum::TypeName(t) => name_parts(&t.names),
        NodeEnum::String(schema) if object_type == pb::ObjectType::ObjectSchema as i32 => {
            return Some(Target::Schema(schema.sval.clone()))
        }
        _ => return None,
    };
    (!name.is_empty()).then_some(Target::Routine { schema, name })
}

fn top_level(node: &NodeEnum, out: &mut Statement) {
    match node {
        NodeEnum::VariableSetStmt(s) => variable_set(s, out),
        NodeEnum::AlterRoleSetStmt(s) => {
            if let Some(set) = &s.setstmt {
                variable_set(set, out)
            }
        }
        NodeEnum::AlterDatabaseSetStmt(s) => {
            if let Some(set) = &s.setstmt {
                variable_set(set, out)
            }
        }
        NodeEnum::DiscardStmt(s) if s.target == pb::DiscardMode::DiscardAll as i32 => baseline(
            out,
            BaselineCheck::SetSearchPath,
            "DISCARD ALL (it would reset the pinned search_path and role)",
        ),
        NodeEnum::CopyStmt(s) => copy(s, out),
        NodeEnum::ExplainStmt(s) => explain(s, out),
        NodeEnum::PrepareStmt(s) => out.effects.push(SessionEffect::Prepare(s.name.clone())),
        NodeEnum::DeclareCursorStmt(s) => out
            .effects
            .push(SessionEffect::Declare(s.portalname.clone())),
        NodeEnum::FetchStmt(s) => out.effects.push(SessionEffect::Fetch(s.portalname.clone())),
        NodeEnum::ClosePortalStmt(s) => out.effects.push(SessionEffect::Close(
            Some(s.portalname.clone()).filter(|n| !n.is_empty()),
        )),
        NodeEnum::DeallocateStmt(s) => out.effects.push(SessionEffect::Deallocate(
            Some(s.name.clone()).filter(|n| !s.isall && !n.is_empty()),
        )),
        NodeEnum::DoStmt(s) => {
            let language = def_string(&s.args, "language").unwrap_or("plpgsql");
            out.languages.push(language.to_owned());
        }
        NodeEnum::CreateFunctionStmt(s) => {
            let language = def_string(&s.options, "language")
                .unwrap_or("sql")
                .to_owned();
            out.languages.push(language);
            let (schema, name) = name_parts(&s.funcname);
            out.accesses.push(Access {
                action: Action::Ddl,
                target: Target::Routine { schema, name },
            });
        }
        NodeEnum::CreateTrigStmt(s) => {
            let (schema, name) = name_parts(&s.funcname);
            if let Some(use_) = function_use(schema.as_deref(), &name) {
                out.functions.push(use_);
            }
        }
        NodeEnum::DropStmt(s) => {
            drop(s, out);
            cascade(s.behavior, Action::Ddl, out);
        }
        NodeEnum::TruncateStmt(s) => cascade(s.behavior, Action::Truncate, out),
        NodeEnum::CreateSchemaStmt(s) => out.accesses.push(Access {
            action: Action::Ddl,
            target: Target::Schema(s.schemaname.clone()),
        }),
        NodeEnum::DropdbStmt(s) => baseline(
            out,
            BaselineCheck::DropDatabase,
            &format!("DROP DATABASE {}", s.dbname),
        ),
        NodeEnum::AlterSystemStmt(_) => baseline(out, BaselineCheck::AlterSystem, "ALTER SYSTEM"),
        NodeEnum::CreateExtensionStmt(s) => baseline(
            out,
            BaselineCheck::CreateExtension,
            &format!("CREATE EXTENSION {}", s.extname),
        ),
        NodeEnum::AlterExtensionStmt(s) => baseline(
            out,
            BaselineCheck::CreateExtension,
            &format!("ALTER EXTENSION {}", s.extname),
        ),
        NodeEnum::AlterExtensionContentsStmt(s) => baseline(
            out,
            BaselineCheck::CreateExtension,
            &format!("ALTER EXTENSION {}", s.extname),
        ),
        _ => {}
    }
}

/// CASCADE reaches objects the statement does not name: only a rule for
/// every object covers that.
fn cascade(behavior: i32, action: Action, out: &mut Statement) {
    if behavior == pb::DropBehavior::DropCascade as i32 {
        out.accesses.push(Access {
            action,
            target: Target::Unnamed("objects that depend on it (CASCADE)"),
        });
    }
}

/// What a DO block or function body does counts as done by the statement.
fn body(node: &NodeEnum, text: &str, language: &str, dialect: Dialect, out: &mut Statement) {
    match body_statements(text, node, language, dialect) {
        Ok(inner) => {
            for statement in inner {
                out.accesses.extend(statement.accesses);
                out.functions.extend(statement.functions);
                out.languages.extend(statement.languages);
                out.baseline.extend(statement.baseline);
                if let Some(why) = statement.unjudgeable {
                    out.unjudgeable.get_or_insert(why);
                }
            }
        }
        Err(why) => {
            out.unjudgeable
                .get_or_insert(format!("{} cannot be judged: {why}", out.command));
        }
    }
}

fn baseline(out: &mut Statement, check: BaselineCheck, detail: &str) {
    out.baseline.push(BaselineHit {
        check,
        detail: detail.to_owned(),
    });
}

fn variable_set(s: &pb::VariableSetStmt, out: &mut Statement) {
    if s.kind == pb::VariableSetKind::VarResetAll as i32 {
        return baseline(
            out,
            BaselineCheck::SetSearchPath,
            "RESET ALL (it would reset the pinned search_path and role)",
        );
    }
    if let Some(check) = BaselineCheck::for_setting(&s.name) {
        let verb = if s.kind == pb::VariableSetKind::VarReset as i32 {
            "RESET"
        } else {
            "SET"
        };
        baseline(out, check, &format!("{verb} {}", s.name));
    }
}

fn copy(s: &pb::CopyStmt, out: &mut Statement) {
    if s.is_program {
        baseline(
            out,
            BaselineCheck::CopyProgram,
            &format!("COPY ... PROGRAM '{}'", s.filename),
        );
    } else if !s.filename.is_empty() {
        baseline(
            out,
            BaselineCheck::CopyFile,
            &format!("COPY ... '{}' (a server file)", s.filename),
        );
    }
    if let Some(relation) = &s.relation {
        let target = Target::Relation {
            schema: Some(relation.schemaname.clone()).filter(|s| !s.is_empty()),
            name: relation.relname.clone(),
        };
        let action = if s.is_from {
            Action::Insert
        } else {
            Action::Read
        };
        // The walker saw COPY's table as a read; COPY FROM writes it.
        for access in &mut out.accesses {
            if access.target == target && access.action == Action::Read {
                access.action = action;
            }
        }
    }
}

/// EXPLAIN runs its statement only with ANALYZE; otherwise it only plans it,
/// so the statement's accesses count as reads.
fn explain(s: &pb::ExplainStmt, out: &mut Statement) {
    let analyze = s.options.iter().any(|o| match &o.node {
        Some(NodeEnum::DefElem(d)) if d.defname == "analyze" => match d.arg.as_deref() {
            None => true,
            Some(arg) => def_arg_is_true(arg),
        },
        _ => false,
    });
    if !analyze {
        for access in &mut out.accesses {
            if access.action != Action::Utility {
                access.action = Action::Read;
            }
        }
        out.effects
            .retain(|e| matches!(e, SessionEffect::Execute(_)));
    }
    out.accesses.push(Access {
        action: Action::Utility,
        target: Target::Unnamed("EXPLAIN"),
    });
}

fn def_arg_is_true(arg: &pb::Node) -> bool {
    match &arg.node {
        Some(NodeEnum::String(s)) => !matches!(
            s.sval.to_ascii_lowercase().as_str(),
            "false" | "off" | "0" | "no"
        ),
        Some(NodeEnum::Boolean(b)) => b.boolval,
        Some(NodeEnum::Integer(i)) => i.ival != 0,
        Some(NodeEnum::AConst(c)) => match &c.val {
            Some(pb::a_const::Val::Boolval(b)) => b.boolval,
            Some(pb::a_const::Val::Ival(i)) => i.ival != 0,
            Some(pb::a_const::Val::Sval(s)) => !matches!(
                s.sval.to_ascii_lowercase().as_str(),
                "false" | "off" | "0" | "no"
            ),
            _ => true,
        },
        _ => true,
    }
}

fn def_string<'a>(options: &'a [pb::Node], name: &str) -> Option<&'a str> {
    options.iter().find_map(|o| match &o.node {
        Some(NodeEnum::DefElem(d)) if d.defname == name => match d.arg.as_deref()?.node.as_ref()? {
            NodeEnum::String(s) => Some(s.sval.as_str()),
            _ => None,
        },
        _ => None,
    })
}

/// A qualified name from a list of String nodes.
fn name_parts(list: &[pb::Node]) -> (Option<String>, String) {
    let parts: Vec<String> = list
        .iter()
        .filter_map(|n| match &n.node {
            Some(NodeEnum::String(s)) => Some(s.sval.clone()),
            _ => None,
        })
        .collect();
    match split_name(&parts) {
        Some((schema, name)) => (schema.map(str::to_owned), name.to_owned()),
        None => (None, String::new()),
    }
}

fn drop(s: &pb::DropStmt, out: &mut Statement) {
    use pb::ObjectType as O;
    let kind = O::try_from(s.remove_type).unwrap_or(O::Undefined);
    for object in &s.objects {
        let target = match (&object.node, kind) {
            (
                Some(NodeEnum::List(list)),
                O::ObjectTable
                | O::ObjectView
                | O::ObjectIndex
                | O::ObjectSequence
                | O::ObjectMatview
                | O::ObjectForeignTable,
            ) => {
                let (schema, name) = name_parts(&list.items);
                Target::Relation { schema, name }
            }
            (Some(NodeEnum::String(schema)), O::ObjectSchema) => {
                Target::Schema(schema.sval.clone())
            }
            (
                Some(NodeEnum::ObjectWithArgs(f)),
                O::ObjectFunction | O::ObjectProcedure | O::ObjectRoutine | O::ObjectAggregate,
            ) => {
                let (schema, name) = name_parts(&f.objname);
                Target::Routine { schema, name }
            }
            _ => Target::Unnamed("object"),
        };
        out.accesses.push(Access {
            action: Action::Ddl,
            target,
        });
    }
}

fn dedup(out: &mut Statement) {
    let mut seen = std::collections::HashSet::new();
    out.accesses.retain(|a| seen.insert(a.clone()));
    let mut seen = std::collections::HashSet::new();
    out.functions.retain(|f| seen.insert(f.clone()));
    out.languages.sort();
    out.languages.dedup();
    for list in [&mut out.builtin_calls, &mut out.builtin_operators] {
        list.sort();
        list.dedup();
    }
}
