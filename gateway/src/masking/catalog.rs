//! Where result columns come from. PostgreSQL's RowDescription names, for
//! each plain output column, the table (or view) OID and column number it
//! comes from; this module turns those into column names that mask rules
//! match, resolving view columns to the base columns they show.
//!
//! A [`Snapshot`] holds only *candidate* columns: those whose name some mask
//! pattern could match, in tables and views, plus every column of views over
//! them. It is read on a side connection ([`TargetCatalog`]), shared by the
//! sessions of one target (server and database), and read again when a
//! session's DDL may have changed the schema, or when it is older than the
//! refresh interval.

use std::{
    collections::{HashMap, HashSet},
    fmt::Write as _,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use super::rules::IdentityMasks;
use crate::upstream::{SideConnection, SideLogin, TextRows};

/// A column as mask rules name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ColumnName {
    pub schema: String,
    pub table: String,
    pub column: String,
}

impl std::fmt::Display for ColumnName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.schema, self.table, self.column)
    }
}

/// Where one output column's values come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The column itself first, then what it plainly shows (a view column's
    /// base column, through views of views); for a computed view column, the
    /// candidate columns it is computed from.
    pub names: Vec<ColumnName>,
    /// A view column computed from candidate columns (an expression): no
    /// mask can be written for it, so it is withheld when any source is masked.
    pub derived: bool,
    pub type_oid: u32,
}

/// A relation with candidate columns.
#[derive(Debug, Clone)]
pub struct Relation {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// `r` table, `p` partitioned table, `f` foreign table, `v` view,
    /// `m` materialized view.
    pub kind: char,
    /// Every live column, in attribute-number order (COPY's column order).
    pub all_columns: Vec<(i16, String)>,
    /// Candidate columns by attribute number.
    pub candidates: HashMap<i16, Origin>,
}

impl Relation {
    pub fn candidate_named(&self, column: &str) -> Option<&Origin> {
        let (number, _) = self.all_columns.iter().find(|(_, name)| name == column)?;
        self.candidates.get(number)
    }
}

/// The candidate columns of one target at one moment.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Every relation of the database (schema, name), candidates or not, so
    /// a statement naming one created since can be told apart.
    all: HashSet<(String, String)>,
    relations: HashMap<u32, Relation>,
    by_name: HashMap<(String, String), u32>,
    /// The invalidation count this snapshot was read after.
    generation: u64,
    read_at: Option<Instant>,
}

impl Snapshot {
    /// The origin of a RowDescription field (`None`: not a candidate).
    pub fn origin(&self, table_oid: u32, column: i16) -> Option<&Origin> {
        self.relations.get(&table_oid)?.candidates.get(&column)
    }

    pub fn relation_by_oid(&self, oid: u32) -> Option<&Relation> {
        self.relations.get(&oid)
    }

    /// The relation a name in a statement refers to, resolved like the
    /// server does: a qualified name as it is, an unqualified one through
    /// the session's (pinned) search path. `None` when it has no candidates.
    pub fn relation(
        &self,
        schema: Option<&str>,
        name: &str,
        search_path: &[String],
    ) -> Option<&Relation> {
        let find = |schema: &str| {
            self.by_name
                .get(&(schema.to_owned(), name.to_owned()))
                .and_then(|oid| self.relations.get(oid))
        };
        match schema {
            Some(schema) => find(schema),
            None => search_path.iter().find_map(|schema| find(schema)),
        }
    }

    /// Whether the relation a name means existed when the snapshot was
    /// read (unqualified: in pg_catalog or a search path schema).
    pub fn knows(&self, schema: Option<&str>, name: &str, search_path: &[String]) -> bool {
        let known = |schema: &str| self.all.contains(&(schema.to_owned(), name.to_owned()));
        match schema {
            Some(schema) => known(schema),
            None => known("pg_catalog") || search_path.iter().any(|s| known(s)),
        }
    }

    pub fn relations(&self) -> impl Iterator<Item = &Relation> {
        self.relations.values()
    }

    pub fn is_empty(&self) -> bool {
        self.relations.is_empty()
    }
}

/// Turns `*`-globs (the only wildcard mask patterns have) into one
/// anchored POSIX regular expression for the catalog query; `None` when a
/// pattern matches every name (no filter).
pub fn names_regex(globs: &[String]) -> Option<String> {
    if globs.iter().any(|g| g.chars().all(|c| c == '*')) {
        return None;
    }
    let mut alternatives = Vec::new();
    for glob in globs {
        let mut re = String::new();
        for c in glob.chars() {
            match c {
                '*' => re.push_str(".*"),
                c if c.is_ascii_alphanumeric() || c == '_' => re.push(c),
                // Everything else literally (a bracket expression cannot
                // carry `]`, `^` or `\` that way, so those are escaped).
                ']' | '^' | '\\' => {
                    re.push('\\');
                    re.push(c);
                }
                c => {
                    re.push('[');
                    re.push(c);
                    re.push(']');
                }
            }
        }
        alternatives.push(re);
    }
    Some(format!("^({})$", alternatives.join("|")))
}

/// A SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn oid_list(oids: impl IntoIterator<Item = u32>) -> String {
    let mut list = String::new();
    for oid in oids {
        if !list.is_empty() {
            list.push(',');
        }
        let _ = write!(list, "{oid}");
    }
    if list.is_empty() {
        list.push('0');
    }
    list
}

/// Columns of user relations whose names match the filter.
fn candidates_sql(regex: Option<&str>) -> String {
    let filter = regex
        .map(|re| format!(" AND a.attname OPERATOR(pg_catalog.~) {}", literal(re)))
        .unwrap_or_default();
    format!(
        "SELECT c.oid, n.nspname, c.relname, c.relkind FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r','p','f','v','m') \
         AND n.nspname NOT IN ('pg_catalog','information_schema') \
         AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' \
         AND EXISTS (SELECT FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid \
         AND a.attnum > 0 AND NOT a.attisdropped{filter})"
    )
}

/// Every relation a statement can name (temporary ones are per session and
/// not seen from the side connection).
const ALL_RELATIONS_SQL: &str = "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('r','p','f','v','m') \
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'";

/// Views and materialized views whose rules read any of `oids`, with their
/// definitions (schema-qualified: the side connection's search_path is empty).
fn dependent_views_sql(oids: &str) -> String {
    format!(
        "SELECT DISTINCT v.oid, n.nspname, v.relname, v.relkind, pg_catalog.pg_get_viewdef(v.oid) \
         FROM pg_catalog.pg_depend d \
         JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid \
         JOIN pg_catalog.pg_class v ON v.oid = r.ev_class \
         JOIN pg_catalog.pg_namespace n ON n.oid = v.relnamespace \
         WHERE d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass \
         AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass \
         AND d.refobjid IN ({oids}) AND v.oid <> d.refobjid"
    )
}

fn columns_sql(oids: &str) -> String {
    format!(
        // A domain's values are its base type's (as results describe them).
        "SELECT a.attrelid, a.attnum, a.attname, \
         CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END \
         FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
         WHERE a.attrelid IN ({oids}) AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY a.attrelid, a.attnum"
    )
}

/// Views of views are followed this deep.
const MAX_VIEW_DEPTH: usize = 16;

/// Reads a snapshot: candidate relations, the views over them (to a fixed
/// depth), every column of both, and the views' definitions.
pub async fn read_snapshot(
    side: &mut SideConnection,
    regex: Option<&str>,
    matches: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Snapshot, String> {
    let error = |e: crate::upstream::UpstreamError| format!("reading the catalog: {e}");
    let mut relations: Vec<RelationRow> = Vec::new();
    for row in side.query(&candidates_sql(regex)).await.map_err(error)? {
        relations.push(RelationRow::parse(&row, None)?);
    }
    let mut frontier: Vec<u32> = relations.iter().map(|r| r.oid).collect();
    let mut seen_views = HashSet::new();
    for _ in 0..MAX_VIEW_DEPTH {
        if frontier.is_empty() {
            break;
        }
        let rows = side
            .query(&dependent_views_sql(&oid_list(frontier.iter().copied())))
            .await
            .map_err(error)?;
        frontier.clear();
        for row in rows {
            let view = RelationRow::parse(&row, Some(4))?;
            if !seen_views.insert(view.oid) {
                continue;
            }
            frontier.push(view.oid);
            // A view can be a candidate of its own (a column name matches).
            match relations.iter_mut().find(|r| r.oid == view.oid) {
                Some(known) => known.definition = view.definition,
                None => relations.push(view),
            }
        }
    }
    let columns = side
        .query(&columns_sql(&oid_list(relations.iter().map(|r| r.oid))))
        .await
        .map_err(error)?;
    let mut snapshot = build(relations, &columns, matches)?;
    for row in side.query(ALL_RELATIONS_SQL).await.map_err(error)? {
        if let [Some(schema), Some(name)] = &row[..] {
            snapshot.all.insert((schema.clone(), name.clone()));
        }
    }
    Ok(snapshot)
}

/// One row of the relation queries.
#[derive(Debug, Clone)]
struct RelationRow {
    oid: u32,
    schema: String,
    name: String,
    kind: char,
    definition: Option<String>,
}

impl RelationRow {
    fn parse(row: &[Option<String>], definition: Option<usize>) -> Result<Self, String> {
        let text = |i: usize| {
            row.get(i)
                .cloned()
                .flatten()
                .ok_or_else(|| format!("catalog row without column {i}"))
        };
        Ok(Self {
            oid: parse_number(&text(0)?)?,
            schema: text(1)?,
            name: text(2)?,
            kind: text(3)?.chars().next().unwrap_or('r'),
            definition: definition.and_then(|i| row.get(i).cloned().flatten()),
        })
    }
}

fn parse_number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("catalog value {text:?} is not a number"))
}

/// Puts the rows together: table columns whose names match are candidates
/// of their own; view columns are resolved through their definitions.
fn build(
    relations: Vec<RelationRow>,
    columns: &TextRows,
    matches: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Snapshot, String> {
    let mut snapshot = Snapshot::default();
    let mut definitions = Vec::new();
    for row in relations {
        snapshot
            .by_name
            .insert((row.schema.clone(), row.name.clone()), row.oid);
        if let Some(definition) = row.definition {
            definitions.push((row.oid, definition));
        }
        snapshot.relations.insert(
            row.oid,
            Relation {
                oid: row.oid,
                schema: row.schema,
                name: row.name,
                kind: row.kind,
                all_columns: Vec::new(),
                candidates: HashMap::new(),
            },
        );
    }
    let mut types = HashMap::new();
    for row in columns {
        let [Some(oid), Some(number), Some(name), Some(type_oid)] = &row[..] else {
            return Err("catalog column row of the wrong shape".into());
        };
        let (oid, number): (u32, i16) = (parse_number(oid)?, parse_number(number)?);
        let type_oid: u32 = parse_number(type_oid)?;
        let Some(relation) = snapshot.relations.get_mut(&oid) else {
            continue;
        };
        relation.all_columns.push((number, name.clone()));
        types.insert((oid, number), type_oid);
        if matches(name) {
            let own = ColumnName {
                schema: relation.schema.clone(),
                table: relation.name.clone(),
                column: name.clone(),
            };
            relation.candidates.insert(
                number,
                Origin {
                    names: vec![own],
                    derived: false,
                    type_oid,
                },
            );
        }
    }
    // A view's columns depend on what it reads; views over views need the
    // inner view resolved first, so repeat until nothing changes.
    for _ in 0..=MAX_VIEW_DEPTH {
        let mut changed = false;
        for (oid, definition) in &definitions {
            let resolved = super::view_columns::resolve(definition, &snapshot);
            let relation = snapshot.relations.get_mut(oid).expect("inserted above");
            for (index, shown) in resolved.into_iter().enumerate() {
                let Some((number, name)) = relation.all_columns.get(index).cloned() else {
                    break;
                };
                let Some(mut shown) = shown else { continue };
                let own = ColumnName {
                    schema: relation.schema.clone(),
                    table: relation.name.clone(),
                    column: name,
                };
                shown.names.insert(0, own);
                shown.type_oid = types
                    .get(&(*oid, number))
                    .copied()
                    .unwrap_or(shown.type_oid);
                if relation.candidates.get(&number) != Some(&shown) {
                    relation.candidates.insert(number, shown);
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    Ok(snapshot)
}

/// One target's catalog: the newest snapshot, read again when invalidated
/// or old, on a side connection opened with a session's login.
pub struct TargetCatalog {
    regex: Option<String>,
    matches: Box<dyn Fn(&str) -> bool + Send + Sync>,
    max_age: Duration,
    /// Bumped by every invalidation; a snapshot read after the bump is fresh.
    generation: AtomicU64,
    current: Mutex<Option<Arc<Snapshot>>>,
    login: Mutex<Option<SideLogin>>,
    /// One reader at a time; holds the side connection between reads.
    side: tokio::sync::Mutex<Option<SideConnection>>,
}

impl TargetCatalog {
    pub fn new(
        regex: Option<String>,
        matches: Box<dyn Fn(&str) -> bool + Send + Sync>,
        max_age: Duration,
    ) -> Self {
        Self {
            regex,
            matches,
            max_age,
            generation: AtomicU64::new(1),
            current: Mutex::new(None),
            login: Mutex::new(None),
            side: tokio::sync::Mutex::new(None),
        }
    }

    /// The login the next side connection uses (the newest session's).
    pub fn set_login(&self, login: SideLogin) {
        if let Ok(mut slot) = self.login.lock() {
            *slot = Some(login);
        }
    }

    /// The schema may have changed (a DDL statement completed): the next
    /// use reads the catalog again first.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The current snapshot when it may be used as it is.
    pub fn fresh(&self) -> Option<Arc<Snapshot>> {
        let current = self.current.lock().ok()?.clone()?;
        let wanted = self.generation.load(Ordering::Acquire);
        let young = current
            .read_at
            .is_some_and(|at| at.elapsed() < self.max_age);
        (current.generation >= wanted && young).then_some(current)
    }

    /// The newest snapshot, fresh or not (for results of statements
    /// checked against a fresh one moments ago).
    pub fn latest(&self) -> Option<Arc<Snapshot>> {
        self.current.lock().ok()?.clone()
    }

    /// A fresh snapshot, reading the catalog when needed (one reader at a
    /// time: sessions that ask meanwhile get the same read).
    pub async fn snapshot(&self) -> Result<Arc<Snapshot>, String> {
        if let Some(fresh) = self.fresh() {
            return Ok(fresh);
        }
        let mut side = self.side.lock().await;
        if let Some(fresh) = self.fresh() {
            return Ok(fresh);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let mut outcome = Err(String::new());
        // A side connection that broke since the last read is opened again once.
        for _ in 0..2 {
            if side.is_none() {
                let login = self
                    .login
                    .lock()
                    .ok()
                    .and_then(|l| l.clone())
                    .ok_or("no session has logged in to this target yet")?;
                let opened = SideConnection::open(&login)
                    .await
                    .map_err(|e| format!("opening the catalog connection: {e}"))?;
                *side = Some(opened);
            }
            let connection = side.as_mut().expect("opened above");
            outcome = read_snapshot(connection, self.regex.as_deref(), &*self.matches).await;
            if outcome.is_ok() {
                break;
            }
            *side = None;
        }
        let mut snapshot = outcome?;
        snapshot.generation = generation;
        snapshot.read_at = Some(Instant::now());
        let snapshot = Arc::new(snapshot);
        if let Ok(mut current) = self.current.lock() {
            *current = Some(Arc::clone(&snapshot));
        }
        tracing::debug!(
            relations = snapshot.relations.len(),
            "read the masking catalog"
        );
        Ok(snapshot)
    }
}

/// The catalogs of every target sessions have reached, by server address,
/// database and the mask patterns' name filter.
#[derive(Default)]
pub struct Catalogs {
    targets: Mutex<
        std::collections::HashMap<(std::net::SocketAddr, String, String), Arc<TargetCatalog>>,
    >,
}

impl Catalogs {
    pub fn for_target(
        &self,
        address: std::net::SocketAddr,
        database: &str,
        masks: &IdentityMasks,
        max_age: std::time::Duration,
    ) -> Arc<TargetCatalog> {
        let globs: Vec<String> = masks
            .column_name_globs()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let regex = super::catalog::names_regex(&globs);
        let key = (
            address,
            database.to_owned(),
            regex.clone().unwrap_or_default(),
        );
        let mut targets = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(targets.entry(key).or_insert_with(|| {
            // Candidates are columns some rule's column part could match;
            // whose rules apply is decided per session.
            let masks = masks.clone();
            let matches = move |name: &str| masks.may_mask_column_name(name);
            Arc::new(TargetCatalog::new(regex, Box::new(matches), max_age))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_become_one_anchored_regex() {
        let globs = vec!["email".to_owned(), "card_*".to_owned(), "a.b$".to_owned()];
        assert_eq!(
            names_regex(&globs).as_deref(),
            Some("^(email|card_.*|a[.]b[$])$")
        );
        assert_eq!(names_regex(&["*".to_owned()]), None);
        assert_eq!(
            names_regex(&["x]^\\".to_owned()]).as_deref(),
            Some("^(x\\]\\^\\\\)$")
        );
    }

    fn relation(oid: u32, name: &str, kind: char, definition: Option<&str>) -> RelationRow {
        RelationRow {
            oid,
            schema: "public".into(),
            name: name.into(),
            kind,
            definition: definition.map(str::to_owned),
        }
    }

    fn column(oid: u32, number: i16, name: &str) -> Vec<Option<String>> {
        [
            oid.to_string(),
            number.to_string(),
            name.to_owned(),
            "25".to_owned(),
        ]
        .into_iter()
        .map(Some)
        .collect()
    }

    /// customers(id, email, phone), a view showing email plainly and phone
    /// computed, and a view over that view.
    fn snapshot() -> Snapshot {
        let relations = vec![
            relation(10, "customers", 'r', None),
            relation(
                20,
                "contacts",
                'v',
                Some(
                    "SELECT c.id, c.email AS mail, lower(c.phone) AS phone_lower, \
                     row_to_json(c.*) AS whole FROM public.customers c;",
                ),
            ),
            relation(
                30,
                "mails",
                'v',
                Some("SELECT contacts.mail AS m, contacts.id FROM public.contacts;"),
            ),
            relation(
                40,
                "unioned",
                'v',
                Some("SELECT customers.email FROM public.customers UNION SELECT 'x';"),
            ),
        ];
        let columns = vec![
            column(10, 1, "id"),
            column(10, 2, "email"),
            column(10, 3, "phone"),
            column(20, 1, "id"),
            column(20, 2, "mail"),
            column(20, 3, "phone_lower"),
            column(20, 4, "whole"),
            column(30, 1, "m"),
            column(30, 2, "id"),
            column(40, 1, "id"),
        ];
        build(relations, &columns, &|name| {
            name == "email" || name == "phone"
        })
        .unwrap()
    }

    fn names(origin: &Origin) -> Vec<String> {
        origin.names.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn view_columns_resolve_to_what_they_show() {
        let snapshot = snapshot();
        let email = snapshot.origin(10, 2).unwrap();
        assert_eq!(names(email), ["public.customers.email"]);
        assert!(snapshot.origin(10, 1).is_none());

        let mail = snapshot.origin(20, 2).unwrap();
        assert!(!mail.derived);
        assert_eq!(
            names(mail),
            ["public.contacts.mail", "public.customers.email"]
        );
        let lowered = snapshot.origin(20, 3).unwrap();
        assert!(lowered.derived);
        assert_eq!(
            names(lowered),
            ["public.contacts.phone_lower", "public.customers.phone"]
        );
        let whole = snapshot.origin(20, 4).unwrap();
        assert!(whole.derived);
        assert!(names(whole).contains(&"public.customers.email".to_owned()));
        assert!(snapshot.origin(20, 1).is_none(), "id shows no candidate");

        let m = snapshot.origin(30, 1).unwrap();
        assert!(!m.derived);
        assert_eq!(
            names(m),
            [
                "public.mails.m",
                "public.contacts.mail",
                "public.customers.email"
            ]
        );
        // A set operation is not followed: its column counts as computed
        // from every candidate it reads.
        assert!(snapshot.origin(40, 1).unwrap().derived);
    }

    #[test]
    fn names_resolve_through_the_search_path() {
        let snapshot = snapshot();
        let path = ["app".to_owned(), "public".to_owned()];
        assert_eq!(snapshot.relation(None, "customers", &path).unwrap().oid, 10);
        assert!(snapshot.relation(Some("app"), "customers", &path).is_none());
        assert!(snapshot.relation(None, "orders", &path).is_none());
        let customers = snapshot.relation_by_oid(10).unwrap();
        assert!(customers.candidate_named("email").is_some());
        assert!(customers.candidate_named("id").is_none());
    }

    #[test]
    fn literals_double_their_quotes() {
        assert_eq!(literal("it's"), "'it''s'");
    }
}
