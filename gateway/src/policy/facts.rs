//! What a statement does, as the classifier read it from the parse tree: the
//! vocabulary rules and decisions are written in.

use std::fmt;

/// An action a rule can allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Read,
    Insert,
    Update,
    Delete,
    Merge,
    Truncate,
    Ddl,
    Admin,
    Utility,
}

impl Action {
    pub const ALL: [Action; 9] = [
        Action::Read,
        Action::Insert,
        Action::Update,
        Action::Delete,
        Action::Merge,
        Action::Truncate,
        Action::Ddl,
        Action::Admin,
        Action::Utility,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Insert => "insert",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Merge => "merge",
            Action::Truncate => "truncate",
            Action::Ddl => "ddl",
            Action::Admin => "admin",
            Action::Utility => "utility",
        }
    }

    fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of actions, as a rule lists them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Actions(u16);

impl Actions {
    pub fn all() -> Self {
        Action::ALL.iter().copied().collect()
    }

    pub fn contains(self, action: Action) -> bool {
        self.0 & action.bit() != 0
    }

    pub fn insert(&mut self, action: Action) {
        self.0 |= action.bit();
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Action> {
        Action::ALL.into_iter().filter(move |a| self.contains(*a))
    }

    /// Parses a rule's action word; `write` and `all` stand for several.
    pub fn parse_word(word: &str) -> Option<Actions> {
        let single = |a: Action| Some([a].into_iter().collect());
        match word {
            "read" => single(Action::Read),
            "insert" => single(Action::Insert),
            "update" => single(Action::Update),
            "delete" => single(Action::Delete),
            "merge" => single(Action::Merge),
            "truncate" => single(Action::Truncate),
            "ddl" => single(Action::Ddl),
            "admin" => single(Action::Admin),
            "utility" => single(Action::Utility),
            "write" => Some(
                [
                    Action::Insert,
                    Action::Update,
                    Action::Delete,
                    Action::Merge,
                    Action::Truncate,
                ]
                .into_iter()
                .collect(),
            ),
            "all" => Some(Actions::all()),
            _ => None,
        }
    }
}

impl FromIterator<Action> for Actions {
    fn from_iter<I: IntoIterator<Item = Action>>(iter: I) -> Self {
        let mut set = Actions::default();
        for action in iter {
            set.insert(action);
        }
        set
    }
}

impl fmt::Display for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.iter().map(Action::name).collect();
        f.write_str(&names.join(", "))
    }
}

/// What an action is taken on, as written (before search_path resolution).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A table, view, sequence or index; `schema` is `None` when unqualified.
    Relation {
        schema: Option<String>,
        name: String,
    },
    /// A whole schema (CREATE/DROP SCHEMA).
    Schema(String),
    /// A function or procedure being created, altered or dropped.
    Routine {
        schema: Option<String>,
        name: String,
    },
    /// Something outside any schema, or that the classifier does not name
    /// (roles, databases, the server): only a `*` pattern covers it.
    Unnamed(&'static str),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Relation { schema, name } | Target::Routine { schema, name } => match schema {
                Some(schema) => write!(f, "{schema}.{name}"),
                None => f.write_str(name),
            },
            Target::Schema(schema) => write!(f, "{schema}.*"),
            Target::Unnamed(what) => f.write_str(what),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Access {
    pub action: Action,
    pub target: Target,
}

/// A function (or operator) the statement calls that needs a grant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FunctionUse {
    /// `schema` is `None` when unqualified (and not a pg_catalog built-in).
    pub schema: Option<String>,
    pub name: String,
    /// Why it needs a grant ("volatile built-in", "not a built-in", ...).
    pub why: std::borrow::Cow<'static, str>,
}

impl FunctionUse {
    pub fn display_name(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{schema}.{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// The built-in checks that refuse for everyone unless overridden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BaselineCheck {
    DropDatabase,
    CopyProgram,
    CopyFile,
    AlterSystem,
    CreateExtension,
    SetRole,
    SetSearchPath,
    SetStandardConformingStrings,
    SetClientEncoding,
}

impl BaselineCheck {
    pub const ALL: [BaselineCheck; 9] = [
        BaselineCheck::DropDatabase,
        BaselineCheck::CopyProgram,
        BaselineCheck::CopyFile,
        BaselineCheck::AlterSystem,
        BaselineCheck::CreateExtension,
        BaselineCheck::SetRole,
        BaselineCheck::SetSearchPath,
        BaselineCheck::SetStandardConformingStrings,
        BaselineCheck::SetClientEncoding,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BaselineCheck::DropDatabase => "drop-database",
            BaselineCheck::CopyProgram => "copy-program",
            BaselineCheck::CopyFile => "copy-file",
            BaselineCheck::AlterSystem => "alter-system",
            BaselineCheck::CreateExtension => "create-extension",
            BaselineCheck::SetRole => "set-role",
            BaselineCheck::SetSearchPath => "set-search-path",
            BaselineCheck::SetStandardConformingStrings => "set-standard-conforming-strings",
            BaselineCheck::SetClientEncoding => "set-client-encoding",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The baseline check guarding a setting, if any.
    pub fn for_setting(setting: &str) -> Option<Self> {
        match setting.to_ascii_lowercase().as_str() {
            "role" | "session_authorization" => Some(BaselineCheck::SetRole),
            "search_path" => Some(BaselineCheck::SetSearchPath),
            "standard_conforming_strings" => Some(BaselineCheck::SetStandardConformingStrings),
            "client_encoding" | "names" => Some(BaselineCheck::SetClientEncoding),
            _ => None,
        }
    }
}

/// A baseline check that fired, with what fired it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineHit {
    pub check: BaselineCheck,
    pub detail: String,
}

/// Session bookkeeping a statement does or depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEffect {
    Prepare(String),
    /// EXECUTE of a prepared statement: must be one this session prepared.
    Execute(String),
    Deallocate(Option<String>),
    Declare(String),
    /// FETCH or MOVE: the cursor must be one this session declared.
    Fetch(String),
    Close(Option<String>),
    /// A temporary relation created under this name.
    CreateTemp(String),
}

/// One statement's classification.
#[derive(Debug, Clone, Default)]
pub struct Statement {
    /// The command, as PostgreSQL names it in a command tag ("SELECT", "CREATE TABLE").
    pub command: String,
    /// Byte range of the statement within the text it came in.
    pub span: (usize, usize),
    pub accesses: Vec<Access>,
    pub functions: Vec<FunctionUse>,
    /// Unqualified calls of pg_catalog built-ins that need no grant, unless
    /// the database defines a function of that name in the search path.
    pub builtin_calls: Vec<String>,
    /// Unqualified built-in operator symbols, likewise.
    pub builtin_operators: Vec<String>,
    /// Types cast to (`x::t`, `CAST(x AS t)`): a cast may run a user function.
    pub casts: Vec<Target>,
    pub languages: Vec<String>,
    pub baseline: Vec<BaselineHit>,
    pub effects: Vec<SessionEffect>,
    /// Set when the statement cannot be judged (it is then refused).
    pub unjudgeable: Option<String>,
}

/// A whole statement text: every statement in it, or why it was not understood.
#[derive(Debug, Clone)]
pub enum Classified {
    Statements(Vec<Statement>),
    /// The grammar rejected it (or it could not be read at all).
    Unparsable(String),
}
