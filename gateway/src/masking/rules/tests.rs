use super::*;
use crate::masking::detectors::Kind;

fn subjects(identities: &[&str], groups: &[&str]) -> Subjects {
    Subjects {
        identities: identities.iter().map(|s| s.to_string()).collect(),
        groups: groups.iter().map(|s| s.to_string()).collect(),
    }
}

fn rule(name: &str, patterns: &[&str], mask: Mask, exempt: Subjects) -> MaskRule {
    MaskRule {
        name: name.into(),
        patterns: patterns
            .iter()
            .map(|p| ColumnPattern::parse(p).unwrap())
            .collect(),
        mask,
        exempt,
        allowed_uses: vec!["filter".into()],
    }
}

fn groups(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn patterns_have_one_to_three_parts() {
    let bare = ColumnPattern::parse("email").unwrap();
    assert!(bare.matches("public", "customers", "email"));
    assert!(bare.matches("app", "any_view", "email"));
    assert!(!bare.matches("public", "customers", "emails"));

    let two = ColumnPattern::parse("customers.email").unwrap();
    assert!(two.matches("public", "customers", "email"));
    assert!(two.matches("crm", "customers", "email"));
    assert!(!two.matches("public", "orders", "email"));

    let three = ColumnPattern::parse("public.customers.email").unwrap();
    assert!(three.matches("public", "customers", "email"));
    assert!(!three.matches("crm", "customers", "email"));

    let globs = ColumnPattern::parse("*.*.phone*").unwrap();
    assert!(globs.matches("x", "y", "phone_mobile"));
    assert!(!globs.matches("x", "y", "mobile_phone"));
    assert!(globs.matches_column_name("phone"));
    assert_eq!(globs.column_glob(), "phone*");
    assert_eq!(globs.to_string(), "*.*.phone*");

    // Names are compared as PostgreSQL stores them.
    assert!(!bare.matches("public", "customers", "Email"));
}

#[test]
fn bad_patterns_are_refused() {
    let e = ColumnPattern::parse("a.b.c.d").unwrap_err();
    assert!(e.contains("4 parts"), "{e}");
    for empty in ["", "public..email", ".email", "email."] {
        let e = ColumnPattern::parse(empty).unwrap_err();
        assert!(e.contains("empty part"), "{empty:?}: {e}");
    }
}

fn policy() -> MaskPolicy {
    MaskPolicy::new(
        vec![
            rule(
                "contact",
                &["public.customers.email", "*.*.phone"],
                Mask::PartialEmail,
                subjects(&["dba"], &["auditors"]),
            ),
            rule(
                "all emails",
                &["email"],
                Mask::Hash,
                subjects(&["dba"], &[]),
            ),
            rule("ssn", &["ssn"], Mask::Null, Subjects::default()),
        ],
        vec![
            DetectRule {
                name: "agents".into(),
                subjects: subjects(&[], &["agents"]),
                kinds: [Kind::Email, Kind::Card].into_iter().collect(),
            },
            DetectRule {
                name: "ci".into(),
                subjects: subjects(&["ci"], &[]),
                kinds: [Kind::Jwt].into_iter().collect(),
            },
        ],
        None,
    )
}

#[test]
fn the_first_matching_rule_in_file_order_applies() {
    let masks = policy().for_identity("ci", &groups(&["agents"]));
    let rule = masks.rule_for("public", "customers", "email").unwrap();
    assert_eq!(rule.name, "contact");
    assert_eq!(rule.mask, Mask::PartialEmail);
    assert_eq!(
        masks.rule_for("crm", "leads", "email").unwrap().name,
        "all emails"
    );
    assert_eq!(
        masks.rule_for("crm", "leads", "phone").unwrap().name,
        "contact"
    );
    assert!(masks.rule_for("public", "customers", "name").is_none());
    assert!(masks.has_column_rules() && masks.masks_anything());
}

#[test]
fn an_exemption_from_one_rule_is_none_from_another() {
    // Auditors are exempt from "contact" but not from "all emails".
    let auditor = policy().for_identity("alice", &groups(&["auditors"]));
    assert_eq!(
        auditor
            .rule_for("public", "customers", "email")
            .unwrap()
            .name,
        "all emails"
    );
    assert!(auditor.rule_for("public", "customers", "phone").is_none());
    // The DBA is exempt from both email rules, not from "ssn".
    let dba = policy().for_identity("dba", &[]);
    assert!(dba.rule_for("public", "customers", "email").is_none());
    assert_eq!(dba.rule_for("hr", "staff", "ssn").unwrap().name, "ssn");
    assert_eq!(
        dba.rules().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["ssn"]
    );
}

#[test]
fn column_name_globs_for_the_catalog() {
    let policy = policy();
    assert_eq!(policy.column_name_globs(), ["email", "phone", "ssn"]);
    let dba = policy.for_identity("dba", &[]);
    assert_eq!(dba.column_name_globs(), ["ssn"]);
    assert!(dba.may_mask_column_name("ssn"));
    assert!(!dba.may_mask_column_name("email"));
}

#[test]
fn detectors_are_the_union_of_the_rules_that_cover_the_identity() {
    let policy = policy();
    let both = policy.for_identity("ci", &groups(&["agents"]));
    let kinds: Vec<Kind> = both.detectors().kinds().iter().collect();
    assert_eq!(kinds, [Kind::Email, Kind::Card, Kind::Jwt]);
    let group_only = policy.for_identity("other", &groups(&["agents"]));
    assert_eq!(
        group_only.detectors().kinds().iter().collect::<Vec<_>>(),
        [Kind::Email, Kind::Card]
    );
    assert_eq!(
        group_only
            .detectors()
            .redact("mail ann@example.com")
            .as_deref(),
        Some("mail [redacted email]")
    );
    let none = policy.for_identity("dba", &[]);
    assert!(none.detectors().is_empty());
    assert_eq!(none.detectors().redact("ann@example.com"), None);
}

#[test]
fn an_empty_policy_masks_nothing() {
    let policy = MaskPolicy::default();
    assert!(policy.is_empty());
    let masks = policy.for_identity("ci", &[]);
    assert!(!masks.masks_anything());
    assert!(masks.rule_for("public", "customers", "email").is_none());
    assert!(masks.hash_key().is_none());
}

#[test]
fn uses_and_exemptions_of_a_rule() {
    let r = rule("r", &["email"], Mask::Null, subjects(&["*"], &[]));
    assert!(r.allows_use("filter"));
    assert!(!r.allows_use("join"));
    assert!(r.exempts("anyone", &[]));
    assert_eq!(
        allowable_uses().collect::<Vec<_>>(),
        ["filter", "join", "sort", "group", "aggregate", "expression"]
    );
}

#[test]
fn globs_become_like_patterns() {
    assert_eq!(glob_to_like("email"), "email");
    assert_eq!(glob_to_like("*phone*"), "%phone%");
    assert_eq!(glob_to_like("tax_id"), "tax\\_id");
    assert_eq!(glob_to_like("100%\\x*"), "100\\%\\\\x%");
}
