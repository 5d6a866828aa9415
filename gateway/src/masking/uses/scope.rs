//! First pass: which names carry masked values.
//!
//! Every FROM item becomes an entry (its visible name and the masked columns
//! it exposes): a masked relation its masked columns, a FROM-subquery or CTE
//! the outputs of its target list that carry masked values (plain references
//! keep the base column's origins, expressions too: a rule may allow the
//! expression but not a filter on its result). Every output name that carries
//! masked values is masked too. Names feed on each other (a CTE's outputs
//! depend on the names in its body), so the pass repeats until nothing new is
//! learnt.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::{
    json::{self, Field, Obj},
    MaskedRelation, MaskedRelations, Use,
};

/// Where masked values come from: a masked base column and its rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `public.customers.email`
    pub column: String,
    pub rule: String,
    pub allowed: Vec<Use>,
}

/// Names carrying masked values, with where the values come from.
pub type Columns = BTreeMap<String, Vec<Origin>>;

/// A FROM item as the statement can name it.
#[derive(Debug, Default)]
pub struct Entry {
    /// The alias, or the relation's or CTE's name.
    pub name: String,
    pub masked: Columns,
    /// View columns computed from masked columns.
    pub derived: Columns,
}

impl Entry {
    /// Every origin the entry exposes (what a whole-row reference carries).
    pub fn all_origins(&self) -> Vec<Origin> {
        let mut out = Vec::new();
        for origins in self.masked.values().chain(self.derived.values()) {
            merge(&mut out, origins);
        }
        out
    }
}

/// What the first pass learnt.
#[derive(Debug, Default)]
pub struct Names {
    pub entries: Vec<Entry>,
    /// FROM item (by `json::key`) → the entries it exposes to `*`.
    by_item: HashMap<usize, Vec<usize>>,
    /// Every name that carries masked values.
    pub masked: Columns,
    /// Every name of a view column computed from masked columns.
    pub derived: Columns,
    /// The fixpoint was not reached: nothing can be trusted.
    pub unsettled: bool,
}

impl Names {
    /// The entries a FROM item exposes.
    pub fn item_entries(&self, item: &Obj) -> &[usize] {
        self.by_item
            .get(&json::key(item))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries.iter().filter(move |e| e.name == name)
    }

    /// The masked origins a column reference (not a star) reads. A qualifier
    /// naming known FROM items decides; otherwise the name alone does.
    pub fn column_origins(&self, fields: &[Field]) -> Vec<Origin> {
        self.lookup(fields, |e| &e.masked, &self.masked)
    }

    /// The origins of the view columns computed from masked ones it reads.
    pub fn derived_origins(&self, fields: &[Field]) -> Vec<Origin> {
        self.lookup(fields, |e| &e.derived, &self.derived)
    }

    fn lookup(
        &self,
        fields: &[Field],
        columns: impl Fn(&Entry) -> &Columns,
        by_name: &Columns,
    ) -> Vec<Origin> {
        let Some(Field::Name(column)) = fields.last() else {
            return Vec::new();
        };
        let qualifier = match fields {
            [.., Field::Name(q), _] => Some(*q),
            _ => None,
        };
        if let Some(q) = qualifier {
            let mut named = self.named(q).peekable();
            if named.peek().is_some() {
                let mut out = Vec::new();
                for entry in named {
                    if let Some(origins) = columns(entry).get(*column) {
                        merge(&mut out, origins);
                    }
                }
                return out;
            }
            // ON CONFLICT's proposed row holds the values being inserted.
            if q == "excluded" {
                return Vec::new();
            }
        }
        by_name.get(*column).cloned().unwrap_or_default()
    }

    /// A single-name reference that names a FROM item exposing masked
    /// values: the whole row (`SELECT t FROM customers t`, `row_to_json(t)`).
    pub fn whole_row(&self, fields: &[Field]) -> Vec<Origin> {
        let [Field::Name(name)] = fields else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in self.named(name) {
            merge(&mut out, &entry.all_origins());
        }
        out
    }

    /// The entries `q.*` expands: those named `q`, or every one when none
    /// is (`NEW.*` in a rule, a name this pass does not know).
    pub fn star_entries(&self, qualifier: &str) -> Vec<usize> {
        let named: Vec<usize> = (0..self.entries.len())
            .filter(|&i| self.entries[i].name == qualifier)
            .collect();
        if named.is_empty() {
            (0..self.entries.len()).collect()
        } else {
            named
        }
    }

    /// What `q.*` exposes.
    pub fn star_origins(&self, qualifier: &str) -> Vec<Origin> {
        let mut out = Vec::new();
        for i in self.star_entries(qualifier) {
            merge(&mut out, &self.entries[i].all_origins());
        }
        out
    }

    /// Every masked origin referenced anywhere in `v` (stars and whole rows
    /// included): what an expression over `v` carries.
    pub fn refs_in(&self, v: &Value) -> Vec<Origin> {
        let mut out = Vec::new();
        self.refs_into(v, &mut out);
        out
    }

    fn refs_into(&self, v: &Value, out: &mut Vec<Origin>) {
        if let Some(column) = json::node_of(v, "ColumnRef") {
            let fields = json::column_ref(column);
            match fields.as_slice() {
                [.., Field::Name(q), Field::Star] => merge(out, &self.star_origins(q)),
                [Field::Star] => {
                    for entry in &self.entries {
                        merge(out, &entry.all_origins());
                    }
                }
                _ => {
                    merge(out, &self.whole_row(&fields));
                    merge(out, &self.column_origins(&fields));
                    merge(out, &self.derived_origins(&fields));
                }
            }
            return;
        }
        match v {
            Value::Array(items) => items.iter().for_each(|i| self.refs_into(i, out)),
            Value::Object(map) => map.values().for_each(|i| self.refs_into(i, out)),
            _ => {}
        }
    }

    fn size(&self) -> usize {
        self.masked
            .values()
            .chain(self.derived.values())
            .map(Vec::len)
            .sum()
    }
}

/// Adds the origins not yet in `into`.
pub fn merge(into: &mut Vec<Origin>, origins: &[Origin]) {
    for origin in origins {
        if !into.contains(origin) {
            into.push(origin.clone());
        }
    }
}

fn add(columns: &mut Columns, name: &str, origins: &[Origin]) {
    if !origins.is_empty() {
        merge(columns.entry(name.to_owned()).or_default(), origins);
    }
}

/// Rounds before giving up (each round follows names one level further).
const MAX_ROUNDS: usize = 16;

/// Runs the first pass over a statement's tree.
pub fn collect(tree: &Value, relations: &dyn MaskedRelations) -> Names {
    let mut collector = Collector {
        relations,
        cache: HashMap::new(),
        recursive: HashMap::new(),
        names: Names::default(),
    };
    let mut settled = false;
    for _ in 0..MAX_ROUNDS {
        let before = collector.names.size();
        collector.names.entries.clear();
        collector.names.by_item.clear();
        collector.visit(tree, &Vec::new());
        if collector.names.size() == before {
            settled = true;
            break;
        }
    }
    collector.names.unsettled = !settled;
    collector.names
}

/// WITH queries visible at a point: name and the columns they expose.
type Ctes = Vec<(String, Columns)>;

/// One output column of a target list.
struct Output {
    name: String,
    origins: Vec<Origin>,
    /// Expanded from `*`: its position among the outputs is not known.
    star: bool,
    /// An unnamed expression carrying masked values: every name PostgreSQL
    /// might give it, for the enclosing query's references.
    candidates: Vec<String>,
}

struct Collector<'a> {
    relations: &'a dyn MaskedRelations,
    cache: HashMap<(Option<String>, String), Option<MaskedRelation>>,
    /// A recursive WITH query's columns, as the previous round learnt them.
    recursive: HashMap<usize, Columns>,
    names: Names,
}

impl Collector<'_> {
    /// Any value: statements and FROM items are read for their names,
    /// everything else is searched for them.
    fn visit(&mut self, v: &Value, ctes: &Ctes) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| self.visit(i, ctes)),
            Value::Object(obj) => match json::node(v) {
                Some(("SelectStmt", s)) => {
                    self.select(s, ctes);
                }
                Some(("InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt", s)) => {
                    self.modify(s, ctes);
                }
                Some((
                    "RangeVar" | "RangeSubselect" | "JoinExpr" | "RangeFunction"
                    | "RangeTableSample" | "RangeTableFunc" | "JsonTable",
                    _,
                )) => {
                    self.range_item(v, ctes);
                }
                Some((_, fields)) => self.visit_fields(fields, &[], ctes),
                None if json::is_bare_range_var(obj) => {
                    self.relation(obj, ctes);
                }
                None => self.visit_fields(obj, &[], ctes),
            },
            _ => {}
        }
    }

    fn visit_fields(&mut self, obj: &Obj, skip: &[&str], ctes: &Ctes) {
        for (key, value) in obj {
            if !skip.contains(&key.as_str()) {
                self.visit(value, ctes);
            }
        }
    }

    /// The WITH queries of a statement, each read in the scope PostgreSQL
    /// gives it: a non-recursive one sees the ones before it, a recursive
    /// WITH makes all visible everywhere. Returns the statement's scope.
    fn with(&mut self, stmt: &Obj, outer: &Ctes) -> Ctes {
        let Some(with) = json::object(stmt, "with_clause") else {
            return outer.clone();
        };
        let ctes: Vec<&Obj> = json::list(with, "ctes")
            .iter()
            .filter_map(|c| json::node_of(c, "CommonTableExpr"))
            .collect();
        let recursive = json::boolean(with, "recursive");
        let mut scope = outer.clone();
        if recursive {
            // Their own outputs are not known before they are read: the
            // previous round's stand in (the fixpoint settles them).
            for cte in &ctes {
                let previous = self.recursive.get(&json::key(cte)).cloned();
                scope.push((
                    json::string(cte, "ctename").to_owned(),
                    previous.unwrap_or_default(),
                ));
            }
        }
        for (i, cte) in ctes.iter().enumerate() {
            let outputs = match json::field(cte, "ctequery") {
                Some(query) => self.query_outputs(query, &scope),
                None => Vec::new(),
            };
            self.visit_fields(cte, &["ctequery"], &scope);
            let renamed = self.rename(&outputs, &json::strings(json::list(cte, "aliascolnames")));
            if recursive {
                self.recursive.insert(json::key(cte), renamed.clone());
                scope[outer.len() + i].1 = renamed;
            } else {
                scope.push((json::string(cte, "ctename").to_owned(), renamed));
            }
        }
        scope
    }

    /// The outputs of a statement used as a query (CTE body, subquery).
    fn query_outputs(&mut self, query: &Value, ctes: &Ctes) -> Vec<Output> {
        match json::node(query) {
            Some(("SelectStmt", s)) => self.select(s, ctes),
            Some(("InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt", s)) => {
                self.modify(s, ctes)
            }
            _ => {
                self.visit(query, ctes);
                Vec::new()
            }
        }
    }

    fn select(&mut self, s: &Obj, outer: &Ctes) -> Vec<Output> {
        let ctes = self.with(s, outer);
        if json::int(s, "op") > 1 {
            let left = json::object(s, "larg").map(|l| self.select(l, &ctes));
            let right = json::object(s, "rarg").map(|r| self.select(r, &ctes));
            self.visit_fields(s, &["with_clause", "larg", "rarg"], &ctes);
            return set_outputs(left.unwrap_or_default(), right.unwrap_or_default());
        }
        let from: Vec<usize> = json::list(s, "from_clause")
            .iter()
            .flat_map(|item| self.range_item(item, &ctes))
            .collect();
        let outputs = if json::list(s, "values_lists").is_empty() {
            self.outputs(json::list(s, "target_list"), &from, &ctes)
        } else {
            self.values_outputs(json::list(s, "values_lists"), &ctes)
        };
        self.visit_fields(
            s,
            &["with_clause", "from_clause", "target_list", "values_lists"],
            &ctes,
        );
        outputs
    }

    /// INSERT, UPDATE, DELETE, MERGE: their RETURNING list is their output.
    fn modify(&mut self, s: &Obj, outer: &Ctes) -> Vec<Output> {
        let ctes = self.with(s, outer);
        let mut from = Vec::new();
        // The target is always a table: WITH queries do not shadow it.
        if let Some(relation) = json::object(s, "relation") {
            from.push(self.relation(relation, &Vec::new()));
        }
        for key in ["from_clause", "using_clause"] {
            for item in json::list(s, key) {
                from.extend(self.range_item(item, &ctes));
            }
        }
        if let Some(source) = json::field(s, "source_relation") {
            from.extend(self.range_item(source, &ctes));
        }
        let outputs = match json::object(s, "returning_clause") {
            Some(returning) => self.outputs(json::list(returning, "exprs"), &from, &ctes),
            None => Vec::new(),
        };
        self.visit_fields(
            s,
            &[
                "with_clause",
                "relation",
                "from_clause",
                "using_clause",
                "source_relation",
                "returning_clause",
            ],
            &ctes,
        );
        outputs
    }

    /// The entries a FROM item exposes.
    fn range_item(&mut self, item: &Value, ctes: &Ctes) -> Vec<usize> {
        let Some((kind, obj)) = json::node(item) else {
            self.visit(item, ctes);
            return Vec::new();
        };
        let exposed = match kind {
            "RangeVar" => vec![self.relation(obj, ctes)],
            "RangeSubselect" => {
                let outputs = match json::field(obj, "subquery") {
                    Some(query) => self.query_outputs(query, ctes),
                    None => Vec::new(),
                };
                let (name, colnames) = alias(obj);
                let columns = self.rename(&outputs, &colnames);
                vec![self.push(name, columns, Columns::new())]
            }
            "JoinExpr" => {
                let mut sides = Vec::new();
                for key in ["larg", "rarg"] {
                    if let Some(side) = json::field(obj, key) {
                        sides.extend(self.range_item(side, ctes));
                    }
                }
                self.visit_fields(obj, &["larg", "rarg"], ctes);
                let (name, _) = alias(obj);
                if !name.is_empty() {
                    let mut masked = Columns::new();
                    let mut derived = Columns::new();
                    for &i in &sides {
                        for (n, o) in &self.names.entries[i].masked {
                            add(&mut masked, n, o);
                        }
                        for (n, o) in &self.names.entries[i].derived {
                            add(&mut derived, n, o);
                        }
                    }
                    let entry = self.push(name, masked, derived);
                    sides.push(entry);
                }
                sides
            }
            "RangeTableSample" => {
                let exposed = match json::field(obj, "relation") {
                    Some(relation) => self.range_item(relation, ctes),
                    None => Vec::new(),
                };
                self.visit_fields(obj, &["relation"], ctes);
                exposed
            }
            // Functions and table functions in FROM: their outputs carry
            // whatever masked values their arguments do, under any name
            // they may be given.
            _ => {
                self.visit_fields(obj, &[], ctes);
                let origins = self.names.refs_in(item);
                let mut columns = Columns::new();
                let (name, colnames) = alias(obj);
                let named = output_names(item);
                for column in colnames.into_iter().chain(named.iter().map(String::as_str)) {
                    add(&mut columns, column, &origins);
                }
                add(&mut columns, &name, &origins);
                vec![self.push(name, columns, Columns::new())]
            }
        };
        self.names.by_item.insert(json::key(obj), exposed.clone());
        exposed
    }

    /// A relation named in the statement: a WITH query in scope, or a table
    /// or view (masked or not).
    fn relation(&mut self, range_var: &Obj, ctes: &Ctes) -> usize {
        let schema = json::string(range_var, "schemaname");
        let name = json::string(range_var, "relname");
        let (alias, colnames) = alias(range_var);
        let visible = if alias.is_empty() { name } else { &alias };
        let cte = ctes
            .iter()
            .rev()
            .find(|(cte, _)| schema.is_empty() && cte == name);
        let (mut masked, mut derived) = (Columns::new(), Columns::new());
        if let Some((_, columns)) = cte {
            masked = columns.clone();
        } else if let Some(relation) = self.lookup(schema, name) {
            for column in &relation.columns {
                let origin = Origin {
                    column: format!("{}.{}", relation.qualified, column.name),
                    rule: column.rule.clone(),
                    allowed: column.allowed.clone(),
                };
                add(&mut masked, &column.name, &[origin]);
            }
            for column in &relation.derived {
                let origin = Origin {
                    column: format!("{}.{}", relation.qualified, column.name),
                    rule: column.rule.clone(),
                    allowed: Vec::new(),
                };
                add(&mut derived, &column.name, &[origin]);
            }
        }
        // `customers AS c(a, b)` renames columns by position, which only the
        // catalog knows: every new name may be any masked column.
        for columns in [&mut masked, &mut derived] {
            let all: Vec<Origin> = columns.values().flatten().cloned().collect();
            for colname in &colnames {
                add(columns, colname, &all);
            }
        }
        let visible = visible.to_owned();
        let entry = self.push(visible, masked, derived);
        self.names.by_item.insert(json::key(range_var), vec![entry]);
        entry
    }

    fn lookup(&mut self, schema: &str, name: &str) -> Option<MaskedRelation> {
        let schema = Some(schema.to_owned()).filter(|s| !s.is_empty());
        let relations = self.relations;
        self.cache
            .entry((schema.clone(), name.to_owned()))
            .or_insert_with(|| relations.lookup(schema.as_deref(), name))
            .clone()
    }

    fn push(&mut self, name: String, masked: Columns, derived: Columns) -> usize {
        for (n, origins) in &masked {
            add(&mut self.names.masked, n, origins);
        }
        for (n, origins) in &derived {
            add(&mut self.names.derived, n, origins);
        }
        self.names.entries.push(Entry {
            name,
            masked,
            derived,
        });
        self.names.entries.len() - 1
    }

    /// A target list's outputs; each output name that carries masked values
    /// becomes a masked name (`ORDER BY alias`, outer references to it).
    fn outputs(&mut self, targets: &[Value], from: &[usize], ctes: &Ctes) -> Vec<Output> {
        let mut out = Vec::new();
        for target in targets {
            let Some(res) = json::node_of(target, "ResTarget") else {
                self.visit(target, ctes);
                continue;
            };
            let Some(val) = json::field(res, "val") else {
                continue;
            };
            self.visit(val, ctes);
            if let Some(column) = json::node_of(val, "ColumnRef") {
                let fields = json::column_ref(column);
                if fields.last() == Some(&Field::Star) {
                    let entries: Vec<usize> = match fields.as_slice() {
                        [.., Field::Name(q), Field::Star] => self.names.star_entries(q),
                        _ => from.to_vec(),
                    };
                    for i in entries {
                        let entry = &self.names.entries[i];
                        for (name, origins) in entry.masked.iter().chain(&entry.derived) {
                            out.push(Output {
                                name: name.clone(),
                                origins: origins.clone(),
                                star: true,
                                candidates: Vec::new(),
                            });
                        }
                    }
                    continue;
                }
            }
            let origins = self.names.refs_in(val);
            let (name, candidates) = match json::string(res, "name") {
                "" if !origins.is_empty() => (figure_name(val), candidate_names(val)),
                "" => (figure_name(val), Vec::new()),
                alias => (alias.to_owned(), Vec::new()),
            };
            add(&mut self.names.masked, &name, &origins);
            out.push(Output {
                name,
                origins,
                star: false,
                candidates,
            });
        }
        out
    }

    /// VALUES rows: column i is `column<i>`, carrying what any row's i-th
    /// expression carries.
    fn values_outputs(&mut self, rows: &[Value], ctes: &Ctes) -> Vec<Output> {
        let mut out: Vec<Output> = Vec::new();
        for row in rows {
            self.visit(row, ctes);
            let items = json::node_of(row, "List")
                .map(|l| json::list(l, "items"))
                .unwrap_or(&[]);
            for (i, item) in items.iter().enumerate() {
                let origins = self.names.refs_in(item);
                if out.len() <= i {
                    out.push(Output {
                        name: format!("column{}", i + 1),
                        origins: Vec::new(),
                        star: false,
                        candidates: Vec::new(),
                    });
                }
                merge(&mut out[i].origins, &origins);
            }
        }
        out
    }

    /// Columns under the names an alias list gives them by position. After a
    /// `*` positions are unknown: every alias may be any of the columns.
    fn rename(&mut self, outputs: &[Output], colnames: &[&str]) -> Columns {
        let mut columns = Columns::new();
        let starred = outputs.iter().any(|o| o.star);
        let mut all = Vec::new();
        for output in outputs {
            merge(&mut all, &output.origins);
        }
        for (i, output) in outputs.iter().enumerate() {
            match colnames.get(i) {
                Some(alias) if !starred => add(&mut columns, alias, &output.origins),
                _ => {
                    add(&mut columns, &output.name, &output.origins);
                    for candidate in &output.candidates {
                        add(&mut columns, candidate, &output.origins);
                    }
                }
            }
        }
        if starred {
            for colname in colnames {
                add(&mut columns, colname, &all);
            }
        }
        for (name, origins) in &columns {
            add(&mut self.names.masked, name, origins);
        }
        columns
    }
}

/// A set operation's outputs: named by its left arm, carrying what either
/// arm's column at that position carries (any column, after a `*`).
fn set_outputs(left: Vec<Output>, right: Vec<Output>) -> Vec<Output> {
    let starred = left.iter().chain(&right).any(|o| o.star);
    let mut all = Vec::new();
    for output in left.iter().chain(&right) {
        merge(&mut all, &output.origins);
    }
    let mut out = left;
    for (i, r) in right.into_iter().enumerate() {
        match out.get_mut(i) {
            Some(l) => merge(&mut l.origins, &r.origins),
            None => out.push(r),
        }
    }
    if starred {
        for output in &mut out {
            merge(&mut output.origins, &all);
        }
    }
    out
}

/// The alias of a FROM item: its name and column names.
fn alias(item: &Obj) -> (String, Vec<&str>) {
    match json::object(item, "alias") {
        Some(alias) => (
            json::string(alias, "aliasname").to_owned(),
            json::strings(json::list(alias, "colnames")),
        ),
        None => (String::new(), Vec::new()),
    }
}

/// The names a function in FROM may give its columns: its own name and any
/// column definitions (`AS t(a int)`, XMLTABLE/JSON_TABLE columns).
fn output_names(item: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect_output_names(item, &mut out);
    out
}

fn collect_output_names(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| collect_output_names(i, out)),
        Value::Object(obj) => {
            if let Some(("FuncCall", call)) = json::node(v) {
                if let Some(name) = json::strings(json::list(call, "funcname")).last() {
                    out.push((*name).to_owned());
                }
            }
            for key in ["colname", "name"] {
                if let Some(Value::String(name)) = obj.get(key) {
                    out.push(name.clone());
                }
            }
            obj.values().for_each(|i| collect_output_names(i, out));
        }
        _ => {}
    }
}

/// Every name PostgreSQL might give an unnamed expression: its figured
/// name, the names and strings inside it, and the keywords it names
/// expressions after (`greatest`, `case`, `xmlelement`, ...).
fn candidate_names(val: &Value) -> Vec<String> {
    let mut out = vec![figure_name(val)];
    out.extend(KEYWORD_NAMES.iter().map(|k| (*k).to_owned()));
    strings_in(val, &mut out);
    out
}

fn strings_in(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| strings_in(i, out)),
        Value::Object(obj) => obj.values().for_each(|i| strings_in(i, out)),
        _ => {}
    }
}

/// Names PostgreSQL's FigureColname gives expressions after a keyword.
const KEYWORD_NAMES: &[&str] = &[
    "?column?",
    "array",
    "case",
    "coalesce",
    "exists",
    "greatest",
    "grouping",
    "json",
    "json_array",
    "json_arrayagg",
    "json_exists",
    "json_object",
    "json_objectagg",
    "json_query",
    "json_scalar",
    "json_serialize",
    "json_value",
    "least",
    "merge_action",
    "nullif",
    "row",
    "xmlconcat",
    "xmlelement",
    "xmlexists",
    "xmlforest",
    "xmlparse",
    "xmlpi",
    "xmlroot",
    "xmlserialize",
];

/// The name PostgreSQL gives an output column without an alias (after its
/// FigureColname): the column's, the function's, or a placeholder.
fn figure_name(val: &Value) -> String {
    match json::node(val) {
        Some(("ColumnRef", column)) => match json::column_ref(column).last() {
            Some(Field::Name(name)) => (*name).to_owned(),
            _ => "?column?".into(),
        },
        Some(("FuncCall", call)) => json::strings(json::list(call, "funcname"))
            .last()
            .map(|n| (*n).to_owned())
            .unwrap_or_else(|| "?column?".into()),
        Some(("TypeCast", cast)) => json::field(cast, "arg")
            .map(figure_name)
            .filter(|n| n != "?column?")
            .unwrap_or_else(|| "?column?".into()),
        Some(("AIndirection", ind)) => json::field(ind, "arg")
            .map(figure_name)
            .unwrap_or_else(|| "?column?".into()),
        Some(("CaseExpr", _)) => "case".into(),
        Some(("CoalesceExpr", _)) => "coalesce".into(),
        Some(("RowExpr", _)) => "row".into(),
        Some(("AArrayExpr", _)) => "array".into(),
        _ => "?column?".into(),
    }
}
