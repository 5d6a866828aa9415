//! Every statement type of the grammar, sorted into what a rule must allow.
//! A statement type missing here (a newer grammar's) is refused, not guessed.

/// What kind of rule a statement type needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Session housekeeping: needs no rule (baseline checks still apply).
    Session,
    /// SELECT and the data-changing statements: their relations decide.
    Data,
    Ddl,
    Admin,
    Utility,
}

pub fn category(stmt: &str) -> Option<Category> {
    use Category::*;
    Some(match stmt {
        "TransactionStmt" | "VariableSetStmt" | "VariableShowStmt" | "ListenStmt"
        | "UnlistenStmt" | "DiscardStmt" | "DeallocateStmt" | "ClosePortalStmt"
        | "ConstraintsSetStmt" | "PrepareStmt" | "ExecuteStmt" | "DeclareCursorStmt"
        | "FetchStmt" => Session,

        "SelectStmt" | "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt" | "CopyStmt"
        | "TruncateStmt" | "ReturnStmt" | "PlAssignStmt" => Data,

        "VacuumStmt" | "ClusterStmt" | "ReindexStmt" | "ExplainStmt" | "NotifyStmt" | "DoStmt"
        | "CallStmt" => Utility,

        "CreateStmt"
        | "AlterTableStmt"
        | "DropStmt"
        | "IndexStmt"
        | "ViewStmt"
        | "CreateTableAsStmt"
        | "CreateSeqStmt"
        | "AlterSeqStmt"
        | "CreateFunctionStmt"
        | "AlterFunctionStmt"
        | "CreateSchemaStmt"
        | "RenameStmt"
        | "CommentStmt"
        | "RuleStmt"
        | "CreateTrigStmt"
        | "CreatePolicyStmt"
        | "AlterPolicyStmt"
        | "CompositeTypeStmt"
        | "CreateEnumStmt"
        | "AlterEnumStmt"
        | "CreateRangeStmt"
        | "DefineStmt"
        | "CreateDomainStmt"
        | "AlterDomainStmt"
        | "CreateCastStmt"
        | "CreateOpClassStmt"
        | "CreateOpFamilyStmt"
        | "AlterOpFamilyStmt"
        | "AlterObjectSchemaStmt"
        | "RefreshMatViewStmt"
        | "CreateStatsStmt"
        | "AlterStatsStmt"
        | "CreateConversionStmt"
        | "CreateTransformStmt"
        | "CreateForeignTableStmt"
        | "AlterCollationStmt"
        | "AlterTypeStmt"
        | "AlterOperatorStmt"
        | "AlterTsdictionaryStmt"
        | "AlterTsconfigurationStmt"
        | "AlterObjectDependsStmt"
        | "AlterTableMoveAllStmt" => Ddl,

        "CreateRoleStmt"
        | "AlterRoleStmt"
        | "AlterRoleSetStmt"
        | "DropRoleStmt"
        | "GrantStmt"
        | "GrantRoleStmt"
        | "AlterDefaultPrivilegesStmt"
        | "AlterOwnerStmt"
        | "CreatedbStmt"
        | "AlterDatabaseStmt"
        | "AlterDatabaseSetStmt"
        | "AlterDatabaseRefreshCollStmt"
        | "DropdbStmt"
        | "CreateTableSpaceStmt"
        | "DropTableSpaceStmt"
        | "AlterTableSpaceOptionsStmt"
        | "AlterSystemStmt"
        | "LoadStmt"
        | "CreateExtensionStmt"
        | "AlterExtensionStmt"
        | "AlterExtensionContentsStmt"
        | "CreateFdwStmt"
        | "AlterFdwStmt"
        | "CreateForeignServerStmt"
        | "AlterForeignServerStmt"
        | "CreateUserMappingStmt"
        | "AlterUserMappingStmt"
        | "DropUserMappingStmt"
        | "ImportForeignSchemaStmt"
        | "CreatePublicationStmt"
        | "AlterPublicationStmt"
        | "CreateSubscriptionStmt"
        | "AlterSubscriptionStmt"
        | "DropSubscriptionStmt"
        | "CreateEventTrigStmt"
        | "AlterEventTrigStmt"
        | "ReassignOwnedStmt"
        | "DropOwnedStmt"
        | "LockStmt"
        | "CreatePLangStmt"
        | "CheckPointStmt"
        | "CreateAmStmt"
        | "SecLabelStmt" => Admin,

        _ => return None,
    })
}

/// The command as a person would name it: `CreateTableAsStmt` → `CREATE TABLE AS`.
pub fn command_name(stmt: &str) -> String {
    match stmt {
        "SelectStmt" => return "SELECT".into(),
        "VariableSetStmt" => return "SET".into(),
        "VariableShowStmt" => return "SHOW".into(),
        "TransactionStmt" => return "TRANSACTION CONTROL".into(),
        "CreateStmt" => return "CREATE TABLE".into(),
        "IndexStmt" => return "CREATE INDEX".into(),
        "ViewStmt" => return "CREATE VIEW".into(),
        "RuleStmt" => return "CREATE RULE".into(),
        "CreateTrigStmt" => return "CREATE TRIGGER".into(),
        "DropdbStmt" => return "DROP DATABASE".into(),
        "CreatedbStmt" => return "CREATE DATABASE".into(),
        "DefineStmt" => return "CREATE (aggregate, operator or type)".into(),
        "RenameStmt" => return "ALTER ... RENAME".into(),
        "CreateSeqStmt" => return "CREATE SEQUENCE".into(),
        "AlterSeqStmt" => return "ALTER SEQUENCE".into(),
        _ => {}
    }
    let base = stmt.strip_suffix("Stmt").unwrap_or(stmt);
    let mut out = String::new();
    for (i, c) in base.char_indices() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// What a statement that names no relation acts on, for messages.
pub fn unnamed_label(stmt: &str) -> &'static str {
    match stmt {
        "CreateRoleStmt" | "AlterRoleStmt" | "AlterRoleSetStmt" | "DropRoleStmt"
        | "GrantRoleStmt" => "roles",
        "CreatedbStmt"
        | "AlterDatabaseStmt"
        | "AlterDatabaseSetStmt"
        | "DropdbStmt"
        | "AlterDatabaseRefreshCollStmt" => "databases",
        "AlterSystemStmt" | "CheckPointStmt" | "LoadStmt" => "the server",
        "DoStmt" => "an anonymous code block",
        "CallStmt" => "a procedure",
        "NotifyStmt" => "a notification channel",
        "ExplainStmt" => "EXPLAIN",
        "VacuumStmt" | "ClusterStmt" | "ReindexStmt" => "every table",
        _ => "an object the gateway does not name",
    }
}
