//! Second pass: every use of a masked name, and whether its rule allows it.
//!
//! A clause fixes the use of everything under it (WHERE → filter, ORDER BY →
//! sort, ...); a target list's plain column references keep their origin
//! where the rows go to the client, and everything else in it is an
//! expression. Node types without a rule here are searched as expressions:
//! an unknown construct is never a plain output.

use serde_json::Value;

use super::{
    json::{self, Field, Obj},
    scope::{merge, Names, Origin},
    LostOrigin, Use,
};

type Verdict = Result<(), LostOrigin>;

/// Where a target list's values go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sink {
    /// To the client, with each plain column's origin in the description.
    Output,
    /// Into the enclosing query (FROM-subquery, WITH query), which judges
    /// what it does with them under their output names.
    PassThrough,
    /// Nowhere (EXISTS ignores its subquery's target list).
    Discard,
    /// Somewhere their origin is lost: any masked value is this use.
    Lost(Use),
}

/// Judges a statement's tree (a `Node`) with the names of the first pass.
pub fn statement(tree: &Value, names: &Names) -> Verdict {
    if names.unsettled {
        let first = names.masked.values().flatten().next();
        return Err(LostOrigin {
            column: first.map_or(String::new(), |o| o.column.clone()),
            rule: first.map_or(String::new(), |o| o.rule.clone()),
            usage: Use::Expression,
            why: Some("the statement nests its names too deeply to follow".into()),
        });
    }
    Judge { names }.statement(tree, Sink::Output)
}

struct Judge<'a> {
    names: &'a Names,
}

impl Judge<'_> {
    /// A statement; `returning` is where a RETURNING list's rows go.
    fn statement(&self, v: &Value, returning: Sink) -> Verdict {
        let Some((kind, s)) = json::node(v) else {
            return self.expr(v, Use::Expression);
        };
        match kind {
            "SelectStmt" => self.select(s, Sink::Output),
            "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt" => {
                self.modify(kind, s, returning)
            }
            "CopyStmt" => self.copy(s),
            // The rows are stored in the new table or view.
            "CreateTableAsStmt" => self.query(json::field(s, "query"), Use::CopiedElsewhere),
            // What a view, cursor or prepared statement returns keeps the
            // origins a plain SELECT would.
            "ViewStmt" | "DeclareCursorStmt" => match json::field(s, "query") {
                Some(query) => self.statement(query, Sink::Output),
                None => Ok(()),
            },
            // EXPLAIN is judged as its statement: ANALYZE runs it (row
            // counts reveal filters), and a plain plan's estimates come from
            // statistics drawn from the values.
            "PrepareStmt" | "ExplainStmt" => match json::field(s, "query") {
                Some(query) => self.statement(query, returning),
                None => Ok(()),
            },
            // A function's result carries no origin, and what it stores
            // is stored.
            "CreateFunctionStmt" | "DoStmt" => self.expr(v, Use::CopiedElsewhere),
            // Triggers and rules hand whole rows (NEW, OLD) to code that can
            // store them; a publication replicates them; a table that
            // inherits from or is attached to another shows its rows there,
            // under the other table's name.
            "CreateTrigStmt" | "RuleStmt" | "CreatePublicationStmt" | "AlterPublicationStmt" => {
                self.whole_table(
                    Use::CopiedElsewhere,
                    kind,
                    "hand its table's whole rows to where no mask applies",
                )
            }
            "AlterTableStmt" if moves_rows(s) => self.whole_table(
                Use::CopiedElsewhere,
                kind,
                "show its table's rows under another table's name",
            ),
            // Masks are configured by name: a masked table or column under
            // a new name or schema would be masked by no rule.
            "RenameStmt" | "AlterObjectSchemaStmt" => self.whole_table(
                Use::CopiedElsewhere,
                kind,
                "put its values under a name no mask rule names",
            ),
            // Extended statistics publish most common values and the like.
            "CreateStatsStmt" => {
                self.whole_table(Use::Group, kind, "publish statistics of its values")
            }
            // CLUSTER stores the rows in an index's order, which every later
            // read shows.
            "ClusterStmt" => {
                self.whole_table(Use::Sort, kind, "store its rows in an index's order")
            }
            "IndexStmt" if json::boolean(s, "unique") => {
                // A unique index tells which values repeat (its error shows them).
                for elem in json::list(s, "index_params") {
                    match json::node_of(elem, "IndexElem") {
                        Some(e) if json::field(e, "expr").is_none() => {
                            self.column(&[Field::Name(json::string(e, "name"))], Use::Group)?
                        }
                        _ => self.expr(elem, Use::Group)?,
                    }
                }
                self.expr(v, Use::Expression)
            }
            _ => self.expr(v, Use::Expression),
        }
    }

    /// A statement that does something with every value of the masked
    /// relations it names (`what` it would do, for the message).
    fn whole_table(&self, usage: Use, kind: &str, what: &str) -> Verdict {
        let all = self.names.entries.iter().flat_map(|e| e.all_origins());
        match all.into_iter().next() {
            Some(origin) => Err(LostOrigin {
                column: origin.column,
                rule: origin.rule,
                usage,
                why: Some(format!("{kind} would {what}")),
            }),
            None => Ok(()),
        }
    }

    /// A table constraint: its keys compare values, and a foreign key into
    /// a masked column tells whether a value exists there.
    fn constraint(&self, c: &Obj, flow: Use) -> Verdict {
        self.names_used(json::list(c, "keys"), Use::Group)?;
        if let Some(referenced) = json::object(c, "pktable") {
            let columns = json::strings(json::list(c, "pk_attrs"));
            for &i in self.names.item_entries(referenced) {
                let entry = &self.names.entries[i];
                let mut compared = Vec::new();
                for (name, origins) in entry.masked.iter().chain(&entry.derived) {
                    // Without a column list it is the primary key, which only
                    // the catalog knows.
                    if columns.is_empty() || columns.contains(&name.as_str()) {
                        merge(&mut compared, origins);
                    }
                }
                refuse(compared, Use::Filter)?;
            }
        }
        for (key, value) in c {
            if key != "pktable" {
                self.expr(value, flow)?;
            }
        }
        Ok(())
    }

    /// A query whose every masked value goes where `usage` says.
    fn query(&self, query: Option<&Value>, usage: Use) -> Verdict {
        let Some(query) = query else {
            return Ok(());
        };
        match json::node(query) {
            Some(("SelectStmt", s)) => self.select(s, Sink::Lost(usage)),
            Some((kind @ ("InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt"), s)) => {
                self.modify(kind, s, Sink::Lost(usage))
            }
            _ => self.expr(query, usage),
        }
    }

    fn with(&self, stmt: &Obj) -> Verdict {
        let Some(with) = json::object(stmt, "with_clause") else {
            return Ok(());
        };
        for cte in json::list(with, "ctes") {
            let Some(cte) = json::node_of(cte, "CommonTableExpr") else {
                self.expr(cte, Use::Expression)?;
                continue;
            };
            if let Some(query) = json::field(cte, "ctequery") {
                match json::node(query) {
                    Some(("SelectStmt", s)) => self.select(s, Sink::PassThrough)?,
                    _ => self.statement(query, Sink::PassThrough)?,
                }
            }
            // SEARCH orders by its columns and CYCLE compares them; both
            // also output them, in the sequence or path column they add.
            if let Some(search) = json::object(cte, "search_clause") {
                self.names_used(json::list(search, "search_col_list"), Use::Sort)?;
                self.names_used(json::list(search, "search_col_list"), Use::Expression)?;
            }
            if let Some(cycle) = json::object(cte, "cycle_clause") {
                self.names_used(json::list(cycle, "cycle_col_list"), Use::Group)?;
                self.names_used(json::list(cycle, "cycle_col_list"), Use::Expression)?;
                for key in ["cycle_mark_value", "cycle_mark_default"] {
                    if let Some(v) = json::field(cycle, key) {
                        self.expr(v, Use::Expression)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn select(&self, s: &Obj, sink: Sink) -> Verdict {
        self.with(s)?;
        if json::int(s, "op") > 1 {
            for arm in ["larg", "rarg"] {
                if let Some(arm) = json::object(s, arm) {
                    self.select(arm, Sink::Lost(Use::SetOperation))?;
                }
            }
            return self.clauses(s, &[], &[]);
        }
        // SELECT ... INTO stores its rows in a new table.
        let sink = if json::field(s, "into_clause").is_some() {
            Sink::Lost(Use::CopiedElsewhere)
        } else {
            sink
        };
        let mut from = Vec::new();
        for item in json::list(s, "from_clause") {
            self.range_item(item)?;
            from.extend_from_slice(self.entries_of(item));
        }
        let targets = json::list(s, "target_list");
        for target in targets {
            self.target(target, sink, &from)?;
        }
        for row in json::list(s, "values_lists") {
            let items = json::node_of(row, "List").map_or(&[][..], |l| json::list(l, "items"));
            for item in items {
                self.target(item, sink, &from)?;
            }
        }
        if let Some(first) = json::list(s, "distinct_clause").first() {
            if json::node(first).is_none() {
                // Plain DISTINCT: every output column is compared.
                for target in targets {
                    self.target(target, Sink::Lost(Use::Group), &from)?;
                }
            }
        }
        self.clauses(s, targets, &from)
    }

    /// The clauses of a SELECT besides FROM and its outputs.
    fn clauses(&self, s: &Obj, targets: &[Value], from: &[usize]) -> Verdict {
        for key in ["where_clause", "having_clause"] {
            if let Some(v) = json::field(s, key) {
                self.expr(v, Use::Filter)?;
            }
        }
        for (key, usage) in [
            ("group_clause", Use::Group),
            ("sort_clause", Use::Sort),
            ("distinct_clause", Use::Group),
        ] {
            for item in json::list(s, key) {
                let item = json::node_of(item, "SortBy")
                    .and_then(|sort| json::field(sort, "node"))
                    .unwrap_or(item);
                match json::ordinal(item) {
                    // `ORDER BY 2`: the second output column. After a `*`,
                    // which one that is only the catalog knows: any of them.
                    Some(_) if targets.iter().any(is_star) => {
                        for target in targets {
                            self.target(target, Sink::Lost(usage), from)?;
                        }
                    }
                    Some(k) => match targets.get(k.wrapping_sub(1)) {
                        Some(target) => self.target(target, Sink::Lost(usage), from)?,
                        None => self.expr(item, usage)?,
                    },
                    None => self.expr(item, usage)?,
                }
            }
        }
        for window in json::list(s, "window_clause") {
            match json::node_of(window, "WindowDef") {
                Some(def) => self.window(def)?,
                None => self.expr(window, Use::Expression)?,
            }
        }
        for key in ["limit_offset", "limit_count"] {
            if let Some(v) = json::field(s, key) {
                self.expr(v, Use::Expression)?;
            }
        }
        Ok(())
    }

    /// One output column (a `ResTarget`, or a VALUES item).
    fn target(&self, target: &Value, sink: Sink, from: &[usize]) -> Verdict {
        let val = match json::node_of(target, "ResTarget") {
            Some(res) => match json::field(res, "val") {
                Some(val) => val,
                None => return Ok(()),
            },
            None => target,
        };
        if sink == Sink::Discard {
            return Ok(());
        }
        let Some(column) = json::node_of(val, "ColumnRef") else {
            let flow = match sink {
                Sink::Lost(usage) => usage,
                _ => Use::Expression,
            };
            return self.expr(val, flow);
        };
        let fields = json::column_ref(column);
        if fields.last() != Some(&Field::Star) {
            return match sink {
                Sink::Lost(usage) => self.column(&fields, usage),
                // A plain column keeps its origin, unless it is a whole row
                // or a view's computed column.
                _ => {
                    refuse(self.names.whole_row(&fields), Use::WholeRow)?;
                    refuse(self.names.derived_origins(&fields), Use::Derived)
                }
            };
        }
        let entries: Vec<usize> = match fields.as_slice() {
            [.., Field::Name(q), Field::Star] => self.names.star_entries(q),
            _ => from.to_vec(),
        };
        let mut derived = Vec::new();
        let mut masked = Vec::new();
        for &i in &entries {
            let entry = &self.names.entries[i];
            for origins in entry.derived.values() {
                merge(&mut derived, origins);
            }
            for origins in entry.masked.values() {
                merge(&mut masked, origins);
            }
        }
        refuse(derived, Use::Derived)?;
        match sink {
            Sink::Lost(usage) => refuse(masked, usage),
            _ => Ok(()),
        }
    }

    /// A column reference whose values flow into `usage`.
    fn column(&self, fields: &[Field], usage: Use) -> Verdict {
        match fields {
            [.., Field::Name(q), Field::Star] => refuse(self.names.star_origins(q), Use::WholeRow),
            [.., Field::Star] => {
                let all = self.names.entries.iter().flat_map(|e| e.all_origins());
                refuse(all.collect(), Use::WholeRow)
            }
            _ => {
                refuse(self.names.whole_row(fields), Use::WholeRow)?;
                refuse(self.names.derived_origins(fields), Use::Derived)?;
                refuse(self.names.column_origins(fields), usage)
            }
        }
    }

    /// Any expression: every masked reference in it is `flow`, except where
    /// a nested clause or query says otherwise.
    fn expr(&self, v: &Value, flow: Use) -> Verdict {
        match v {
            Value::Array(items) => items.iter().try_for_each(|i| self.expr(i, flow)),
            Value::Object(obj) => match json::node(v) {
                Some(("ColumnRef", c)) => self.column(&json::column_ref(c), flow),
                Some(("FuncCall", call)) => self.call(call, flow),
                Some(("SubLink", link)) => self.sublink(link, flow),
                Some(("WindowDef", def)) => self.window(def),
                Some(("Constraint", c)) => self.constraint(c, flow),
                Some(("SelectStmt", s)) => self.select(s, Sink::Lost(flow)),
                Some((kind @ ("InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt"), s)) => {
                    self.modify(kind, s, Sink::Lost(flow))
                }
                Some((_, fields)) => fields.values().try_for_each(|f| self.expr(f, flow)),
                None => obj.values().try_for_each(|f| self.expr(f, flow)),
            },
            _ => Ok(()),
        }
    }

    fn call(&self, call: &Obj, flow: Use) -> Verdict {
        let args = if flow == Use::Expression && is_aggregate(call) {
            Use::Aggregate
        } else {
            flow
        };
        for arg in json::list(call, "args") {
            self.expr(arg, args)?;
        }
        for order in json::list(call, "agg_order") {
            self.expr(order, Use::Sort)?;
        }
        if let Some(filter) = json::field(call, "agg_filter") {
            self.expr(filter, Use::Filter)?;
        }
        if let Some(over) = json::object(call, "over") {
            self.window(over)?;
        }
        Ok(())
    }

    fn window(&self, def: &Obj) -> Verdict {
        for item in json::list(def, "partition_clause") {
            self.expr(item, Use::Group)?;
        }
        for item in json::list(def, "order_clause") {
            self.expr(item, Use::Sort)?;
        }
        for key in ["start_offset", "end_offset"] {
            if let Some(v) = json::field(def, key) {
                self.expr(v, Use::Expression)?;
            }
        }
        Ok(())
    }

    fn sublink(&self, link: &Obj, flow: Use) -> Verdict {
        if let Some(test) = json::field(link, "testexpr") {
            self.expr(test, flow)?;
        }
        let exists = json::int(link, "sub_link_type") == 1;
        match json::field(link, "subselect").and_then(|q| json::node_of(q, "SelectStmt")) {
            Some(s) if exists => self.select(s, Sink::Discard),
            Some(s) => self.select(s, Sink::Lost(flow)),
            None => match json::field(link, "subselect") {
                Some(other) => self.expr(other, flow),
                None => Ok(()),
            },
        }
    }

    /// The entries a FROM item (a `Node`) exposes.
    fn entries_of(&self, item: &Value) -> &[usize] {
        json::node(item).map_or(&[], |(_, obj)| self.names.item_entries(obj))
    }

    /// A FROM item: what joins, samples and functions do with masked values.
    fn range_item(&self, item: &Value) -> Verdict {
        let Some((kind, obj)) = json::node(item) else {
            return self.expr(item, Use::Expression);
        };
        match kind {
            "RangeVar" => Ok(()),
            "RangeSubselect" => match json::field(obj, "subquery") {
                Some(query) => match json::node(query) {
                    Some(("SelectStmt", s)) => self.select(s, Sink::PassThrough),
                    _ => self.expr(query, Use::Expression),
                },
                None => Ok(()),
            },
            "JoinExpr" => self.join(obj),
            "RangeTableSample" => {
                if let Some(relation) = json::field(obj, "relation") {
                    self.range_item(relation)?;
                }
                for key in ["args", "repeatable"] {
                    if let Some(v) = json::field(obj, key) {
                        self.expr(v, Use::Expression)?;
                    }
                }
                Ok(())
            }
            // Functions, XMLTABLE, JSON_TABLE: their arguments are
            // expressions, and the names of what they return only the
            // catalog knows, so no rule can let masked values through them.
            _ => {
                self.expr(item, Use::Expression)?;
                match self.names.refs_in(item).into_iter().next() {
                    Some(origin) => Err(LostOrigin {
                        column: origin.column,
                        rule: origin.rule,
                        usage: Use::Expression,
                        why: Some(
                            "a function in FROM returns columns whose names only the catalog \
                             knows, so their later uses cannot be judged"
                                .into(),
                        ),
                    }),
                    None => Ok(()),
                }
            }
        }
    }

    fn join(&self, join: &Obj) -> Verdict {
        let mut sides = Vec::new();
        for key in ["larg", "rarg"] {
            if let Some(side) = json::field(join, key) {
                self.range_item(side)?;
                sides.extend_from_slice(self.entries_of(side));
            }
        }
        if let Some(quals) = json::field(join, "quals") {
            self.expr(quals, Use::Join)?;
        }
        self.names_used(json::list(join, "using_clause"), Use::Join)?;
        if json::boolean(join, "is_natural") {
            // NATURAL JOIN compares every column both sides share, which
            // only the catalog knows.
            let mut all = Vec::new();
            for &i in &sides {
                merge(&mut all, &self.names.entries[i].all_origins());
            }
            refuse(all, Use::Join)?;
        }
        Ok(())
    }

    /// Column names given as plain names (USING, SEARCH BY, CYCLE).
    fn names_used(&self, list: &[Value], usage: Use) -> Verdict {
        for name in json::strings(list) {
            self.column(&[Field::Name(name)], usage)?;
        }
        Ok(())
    }

    /// INSERT, UPDATE, DELETE, MERGE.
    fn modify(&self, kind: &str, s: &Obj, returning: Sink) -> Verdict {
        self.with(s)?;
        let mut from = Vec::new();
        if let Some(relation) = json::object(s, "relation") {
            from.extend_from_slice(self.names.item_entries(relation));
        }
        for key in ["from_clause", "using_clause"] {
            for item in json::list(s, key) {
                self.range_item(item)?;
                from.extend_from_slice(self.entries_of(item));
            }
        }
        if let Some(source) = json::field(s, "source_relation") {
            self.range_item(source)?;
            from.extend_from_slice(self.entries_of(source));
        }
        match kind {
            "InsertStmt" => {
                self.query(json::field(s, "select_stmt"), Use::CopiedElsewhere)?;
                if let Some(conflict) = json::object(s, "on_conflict_clause") {
                    self.assignments(json::list(conflict, "target_list"))?;
                    if let Some(w) = json::field(conflict, "where_clause") {
                        self.expr(w, Use::Filter)?;
                    }
                    if let Some(infer) = json::field(conflict, "infer") {
                        self.expr(infer, Use::Filter)?;
                    }
                }
            }
            "UpdateStmt" => self.assignments(json::list(s, "target_list"))?,
            "MergeStmt" => {
                if let Some(on) = json::field(s, "join_condition") {
                    self.expr(on, Use::Join)?;
                }
                for clause in json::list(s, "merge_when_clauses") {
                    let Some(clause) = json::node_of(clause, "MergeWhenClause") else {
                        self.expr(clause, Use::CopiedElsewhere)?;
                        continue;
                    };
                    if let Some(condition) = json::field(clause, "condition") {
                        self.expr(condition, Use::Filter)?;
                    }
                    self.assignments(json::list(clause, "target_list"))?;
                    for value in json::list(clause, "values") {
                        self.expr(value, Use::CopiedElsewhere)?;
                    }
                }
            }
            _ => {}
        }
        if let Some(w) = json::field(s, "where_clause") {
            self.expr(w, Use::Filter)?;
        }
        if let Some(clause) = json::object(s, "returning_clause") {
            for target in json::list(clause, "exprs") {
                self.target(target, returning, &from)?;
            }
        }
        Ok(())
    }

    /// `SET column = value`: the value is stored.
    fn assignments(&self, targets: &[Value]) -> Verdict {
        for target in targets {
            let value = json::node_of(target, "ResTarget").and_then(|r| json::field(r, "val"));
            self.expr(value.unwrap_or(target), Use::CopiedElsewhere)?;
        }
        Ok(())
    }

    /// COPY: a table to the client is masked by column position; to a file
    /// or program, or a query's rows anywhere, nothing masks them.
    fn copy(&self, s: &Obj) -> Verdict {
        if let Some(query) = json::field(s, "query") {
            return self.query(Some(query), Use::CopiedElsewhere);
        }
        let Some(relation) = json::object(s, "relation") else {
            return Ok(());
        };
        let to_client = json::string(s, "filename").is_empty() && !json::boolean(s, "is_program");
        if json::boolean(s, "is_from") || to_client {
            return Ok(());
        }
        let columns = json::strings(json::list(s, "attlist"));
        for &i in self.names.item_entries(relation) {
            let entry = &self.names.entries[i];
            let mut copied = Vec::new();
            for (name, origins) in entry.masked.iter().chain(&entry.derived) {
                if columns.is_empty() || columns.contains(&name.as_str()) {
                    merge(&mut copied, origins);
                }
            }
            refuse(copied, Use::CopiedElsewhere)?;
        }
        Ok(())
    }
}

/// ALTER TABLE ... INHERIT or ATTACH PARTITION: rows then show in another
/// table.
fn moves_rows(alter: &Obj) -> bool {
    const ADD_INHERIT: i64 = pg_query::protobuf::AlterTableType::AtAddInherit as i64;
    const ATTACH_PARTITION: i64 = pg_query::protobuf::AlterTableType::AtAttachPartition as i64;
    json::list(alter, "cmds")
        .iter()
        .filter_map(|cmd| json::node_of(cmd, "AlterTableCmd"))
        .any(|cmd| matches!(json::int(cmd, "subtype"), ADD_INHERIT | ATTACH_PARTITION))
}

/// Whether a target-list entry is `*` or `t.*`.
fn is_star(target: &Value) -> bool {
    json::node_of(target, "ResTarget")
        .and_then(|res| json::field(res, "val"))
        .and_then(|val| json::node_of(val, "ColumnRef"))
        .is_some_and(|c| json::column_ref(c).last() == Some(&Field::Star))
}

/// Refuses when any origin's rule does not allow `usage`.
fn refuse(origins: Vec<Origin>, usage: Use) -> Verdict {
    match origins
        .into_iter()
        .find(|o| !usage.allowable() || !o.allowed.contains(&usage))
    {
        Some(origin) => Err(LostOrigin {
            column: origin.column,
            rule: origin.rule,
            usage,
            why: None,
        }),
        None => Ok(()),
    }
}

/// Whether a call aggregates its arguments over rows: aggregate syntax, or
/// a built-in aggregate's name. Unknown functions are plain expressions,
/// which a rule allowing aggregates does not cover.
fn is_aggregate(call: &Obj) -> bool {
    if json::boolean(call, "agg_star")
        || json::boolean(call, "agg_distinct")
        || json::boolean(call, "agg_within_group")
        || !json::list(call, "agg_order").is_empty()
        || json::field(call, "agg_filter").is_some()
    {
        return true;
    }
    let name = json::strings(json::list(call, "funcname"));
    match name.as_slice() {
        [name] | ["pg_catalog", name] => AGGREGATES.contains(name),
        _ => false,
    }
}

/// PostgreSQL's built-in aggregate functions.
const AGGREGATES: &[&str] = &[
    "any_value",
    "array_agg",
    "avg",
    "bit_and",
    "bit_or",
    "bit_xor",
    "bool_and",
    "bool_or",
    "count",
    "corr",
    "covar_pop",
    "covar_samp",
    "every",
    "json_agg",
    "json_agg_strict",
    "json_arrayagg",
    "json_object_agg",
    "json_object_agg_strict",
    "json_object_agg_unique",
    "json_object_agg_unique_strict",
    "json_objectagg",
    "jsonb_agg",
    "jsonb_agg_strict",
    "jsonb_object_agg",
    "jsonb_object_agg_strict",
    "jsonb_object_agg_unique",
    "jsonb_object_agg_unique_strict",
    "max",
    "min",
    "mode",
    "percentile_cont",
    "percentile_disc",
    "range_agg",
    "range_intersect_agg",
    "regr_avgx",
    "regr_avgy",
    "regr_count",
    "regr_intercept",
    "regr_r2",
    "regr_slope",
    "regr_sxx",
    "regr_sxy",
    "regr_syy",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "string_agg",
    "sum",
    "var_pop",
    "var_samp",
    "variance",
    "xmlagg",
];
