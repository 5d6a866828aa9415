use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use crate::config::{Config, ConfigError};
use crate::masking::{Kind, Mask};

/// 22 lines; masking tables appended below start on line 23.
const BASE: &str = r#"[[endpoint]]
name = "main"
addresses = ["127.0.0.1:5432"]

[[credential]]
role = "cordon_ci"
password = "pw"

[[identity]]
name = "ci"
role = "cordon_ci"
groups = ["agents"]

[[identity]]
name = "dba-tools"
role = "cordon_ci"
groups = ["auditors"]

[[bind]]
cgroup = "/ci.slice"
identity = "ci"

"#;

fn parse(tables: &str) -> Result<Config, ConfigError> {
    Config::parse(
        Path::new("/etc/cordon/cordon.toml"),
        &format!("{BASE}{tables}"),
    )
}

/// The error for a file with `tables` appended, checked to start with the
/// file, the line and the field.
fn error_at(tables: &str, line: usize, field: &str) -> String {
    let e = parse(tables).expect_err("should be refused").to_string();
    let prefix = format!("/etc/cordon/cordon.toml:{line}:");
    assert!(
        e.starts_with(&prefix) && e.contains(&format!("field `{field}`")),
        "expected line {line} and field `{field}`: {e}"
    );
    e
}

/// A private key file of `len` bytes with `mode`, in a directory removed on drop.
struct KeyFile {
    dir: PathBuf,
    path: PathBuf,
}

impl KeyFile {
    fn new(name: &str, len: usize, mode: u32) -> Self {
        let dir =
            std::env::temp_dir().join(format!("cordon-mask-config-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mask.key");
        std::fs::write(&path, vec![0x5a; len]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        Self { dir, path }
    }

    fn table(&self) -> String {
        format!(
            "[masking]\nhash_key_file = {:?}\n",
            self.path.display().to_string()
        )
    }
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn no_masking_tables_means_masking_is_off() {
    let config = parse("").unwrap();
    assert!(config.masking.is_empty());
    assert!(!config.masking.for_identity("ci", &[]).masks_anything());
}

#[test]
fn a_full_masking_configuration() {
    let key = KeyFile::new("full", 32, 0o600);
    let tables = format!(
        r#"{}
[[mask]]
name = "customer contact"
columns = ["public.customers.email", "*.*.phone", "ssn"]
mask = "partial-email"
exempt_identities = ["dba-tools"]
exempt_groups = ["auditors"]
allow_uses = ["filter", "join"]

[[mask]]
name = "notes"
columns = ["customers.notes"]
mask = "redact"
text = "****"

[[mask]]
name = "card hash"
columns = ["card"]
mask = "hash"

[[detect]]
name = "agents"
groups = ["agents"]
kinds = ["email", "card"]

[[detect]]
name = "everyone"
identities = ["*"]
kinds = ["all"]
"#,
        key.table()
    );
    let config = parse(&tables).unwrap();
    let policy = &config.masking;
    assert!(policy.hash_key().is_some());
    let rules = policy.rules();
    assert_eq!(rules.len(), 3);
    assert_eq!(rules[0].name, "customer contact");
    assert_eq!(rules[0].mask, Mask::PartialEmail);
    assert_eq!(rules[0].exempt.identities, ["dba-tools"]);
    assert_eq!(rules[0].exempt.groups, ["auditors"]);
    assert_eq!(rules[0].allowed_uses, ["filter", "join"]);
    assert_eq!(
        rules[1].mask,
        Mask::Redact {
            text: "****".into()
        }
    );
    assert_eq!(rules[2].mask, Mask::Hash);
    assert_eq!(
        policy.column_name_globs(),
        ["email", "phone", "ssn", "notes", "card"]
    );

    let ci = policy.for_identity("ci", &["agents".to_owned()]);
    assert_eq!(
        ci.rule_for("public", "customers", "email").unwrap().name,
        "customer contact"
    );
    assert_eq!(
        ci.rule_for("crm", "customers", "notes").unwrap().name,
        "notes"
    );
    assert!(ci.rule_for("public", "orders", "notes").is_none());
    assert!(ci.hash_key().is_some());
    assert_eq!(ci.detectors().kinds(), crate::masking::KindSet::all());

    let dba = policy.for_identity("dba-tools", &["auditors".to_owned()]);
    assert!(dba.rule_for("public", "customers", "email").is_none());
    assert_eq!(
        dba.rule_for("public", "wallet", "card").unwrap().name,
        "card hash"
    );
    assert!(dba.detectors().kinds().contains(Kind::Jwt));
}

#[test]
fn mask_rule_errors_name_line_and_field() {
    let rule = |body: &str| format!("[[mask]]\nname = \"m\"\ncolumns = [\"email\"]\n{body}\n");
    let e = error_at(&rule("mask = \"scramble\""), 26, "mask");
    assert!(
        e.contains("unknown mask \"scramble\"") && e.contains("partial-email"),
        "{e}"
    );
    let e = error_at(&rule("mask = \"partial-email\"\ntext = \"x\""), 27, "text");
    assert!(e.contains("only used with mask = \"redact\""), "{e}");
    let e = error_at(
        &rule("mask = \"null\"\nallow_uses = [\"filter\", \"peek\"]"),
        27,
        "allow_uses",
    );
    assert!(
        e.contains("unknown use \"peek\"") && e.contains("expression"),
        "{e}"
    );
    let e = error_at(&rule("mask = \"hash\""), 26, "mask");
    assert!(e.contains("hash_key_file"), "{e}");
    let e = error_at(
        &rule("mask = \"null\"\nexempt_identities = [\"nobody\"]"),
        27,
        "exempt_identities",
    );
    assert!(e.contains("no [[identity]] is named \"nobody\""), "{e}");
    let e = error_at(
        &rule("mask = \"null\"\nexempt_groups = [\"dbas\"]"),
        27,
        "exempt_groups",
    );
    assert!(e.contains("no [[identity]] is in group \"dbas\""), "{e}");
    // The policy rules' subject syntax, not a list with prefixes.
    error_at(
        &rule("mask = \"null\"\nexempt = [\"dba-tools\"]"),
        27,
        "exempt",
    );
}

#[test]
fn column_pattern_errors_name_line_and_field() {
    let rule =
        |columns: &str| format!("[[mask]]\nname = \"m\"\ncolumns = {columns}\nmask = \"null\"\n");
    let e = error_at(&rule("[\"email\", \"a.b.c.d\"]"), 25, "columns");
    assert!(e.contains("\"a.b.c.d\" has 4 parts"), "{e}");
    let e = error_at(&rule("[\"public..email\"]"), 25, "columns");
    assert!(e.contains("empty part"), "{e}");
    let e = error_at(&rule("[]"), 25, "columns");
    assert!(e.contains("names no columns"), "{e}");
}

#[test]
fn detect_rule_errors_name_line_and_field() {
    let rule = |body: &str| format!("[[detect]]\nname = \"d\"\n{body}\n");
    let e = error_at(
        &rule("identities = [\"*\"]\nkinds = [\"email\", \"passport\"]"),
        26,
        "kinds",
    );
    assert!(
        e.contains("unknown kind \"passport\"") && e.contains("private-key"),
        "{e}"
    );
    let e = error_at(&rule("identities = [\"*\"]\nkinds = []"), 26, "kinds");
    assert!(e.contains("detects nothing"), "{e}");
    let e = error_at(&rule("kinds = [\"all\"]"), 24, "identities");
    assert!(e.contains("applies to nobody"), "{e}");
    let e = error_at(
        &rule("identities = [\"nobody\"]\nkinds = [\"all\"]"),
        25,
        "identities",
    );
    assert!(e.contains("\"nobody\""), "{e}");
    let e = error_at(
        &rule("groups = [\"nobody\"]\nkinds = [\"all\"]"),
        25,
        "groups",
    );
    assert!(e.contains("\"nobody\""), "{e}");
}

#[test]
fn names_are_required_and_unique() {
    let e = error_at(
        "[[mask]]\nname = \"pii\"\ncolumns = [\"email\"]\nmask = \"null\"\n\n[[detect]]\nname = \"pii\"\nidentities = [\"*\"]\nkinds = [\"all\"]\n",
        29,
        "name",
    );
    assert!(e.contains("rule \"pii\" is defined twice"), "{e}");
    let e = error_at(
        "[[mask]]\nname = \" \"\ncolumns = [\"email\"]\nmask = \"null\"\n",
        24,
        "name",
    );
    assert!(e.contains("needs a name"), "{e}");
    let e = parse("[[mask]]\ncolumns = [\"email\"]\nmask = \"null\"\n")
        .expect_err("a rule without a name")
        .to_string();
    assert!(
        e.contains(":23:") && e.contains("missing field `name`"),
        "{e}"
    );
}

#[test]
fn hash_key_file_problems_are_config_errors() {
    let rule = "[[mask]]\nname = \"h\"\ncolumns = [\"email\"]\nmask = \"hash\"\n";
    let open = KeyFile::new("open", 32, 0o644);
    let e = error_at(&format!("{}{rule}", open.table()), 24, "hash_key_file");
    assert!(e.contains("chmod 600"), "{e}");
    let short = KeyFile::new("short", 16, 0o600);
    let e = error_at(&format!("{}{rule}", short.table()), 24, "hash_key_file");
    assert!(e.contains("16 bytes") && e.contains("at least 32"), "{e}");
    let e = error_at(
        "[masking]\nhash_key_file = \"/nonexistent/cordon/mask.key\"\n",
        24,
        "hash_key_file",
    );
    assert!(e.contains("cannot read"), "{e}");
    let good = KeyFile::new("good", 64, 0o400);
    parse(&format!("{}{rule}", good.table())).expect("a private key of 64 bytes");
}
