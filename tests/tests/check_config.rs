//! `cordon check-config`: a valid file passes; a broken one is reported as
//! `FILE:LINE:COLUMN: field ...` and exits 78 (EX_CONFIG). Needs no root.

use std::{path::Path, process::Command, time::Duration};

use cordon_e2e::{cordon_bin, process::run, process::Output, tempdir::TempDir, workspace_dir};

const VALID: &str = r#"[gateway]
listen_port = 15999

[[endpoint]]
name = "main"
addresses = ["127.0.0.1:5432", "[::1]:5432"]

[[credential]]
role = "cordon_ci"
password = "secret"

[[identity]]
name = "ci"
role = "cordon_ci"

[[bind]]
cgroup = "/ci.slice/job-1"
identity = "ci"
"#;

fn check(path: &Path) -> Output {
    let mut cmd = Command::new(cordon_bin());
    cmd.arg("check-config").arg(path);
    run(&mut cmd, Duration::from_secs(30))
}

/// Writes `VALID` with line `line` (1-based) replaced by `replacement`.
fn broken(dir: &TempDir, name: &str, line: usize, replacement: &str) -> std::path::PathBuf {
    let mut lines: Vec<&str> = VALID.lines().collect();
    lines[line - 1] = replacement;
    let path = dir.path().join(name);
    std::fs::write(&path, lines.join("\n") + "\n").expect("writing a test config");
    path
}

#[test]
fn a_valid_file_passes() {
    let dir = TempDir::new("cordon-check");
    let path = dir.path().join("ok.toml");
    std::fs::write(&path, VALID).expect("writing a test config");
    let out = check(&path);
    out.expect_success("check-config on a valid file");
}

#[test]
fn broken_files_name_file_line_and_field_and_exit_78() {
    let dir = TempDir::new("cordon-check");
    let cases = [
        (
            "unknown-field.toml",
            2,
            "listen_prot = 15999",
            "listen_prot",
        ),
        ("bad-type.toml", 2, "listen_port = \"fast\"", "listen_port"),
        (
            "unknown-field-in-array.toml",
            6,
            "adresses = [\"127.0.0.1:5432\"]",
            "adresses",
        ),
        (
            "bad-address.toml",
            6,
            "addresses = [\"db.internal\"]",
            "addresses",
        ),
        (
            "unknown-identity.toml",
            18,
            "identity = \"nobody\"",
            "identity",
        ),
    ];
    for (name, line, replacement, field) in cases {
        let path = broken(&dir, name, line, replacement);
        let out = check(&path);
        let said = format!("{}{}", out.stdout, out.stderr);
        assert_eq!(out.code, Some(78), "{name}: exit code: {out}");
        let location = format!("{}:{line}:", path.display());
        assert!(
            said.contains(&location),
            "{name}: should name {location}: {out}"
        );
        assert!(
            said.contains(field),
            "{name}: should name the field `{field}`: {out}"
        );
    }
}

#[test]
fn masking_errors_name_file_line_and_field_and_exit_78() {
    let dir = TempDir::new("cordon-check");
    let cases = [
        ("unknown-mask.toml", "mask = \"scramble\"", "mask"),
        ("hash-without-key.toml", "mask = \"hash\"", "mask"),
    ];
    // VALID has 18 lines; the rule's `mask` is on line 23.
    for (name, mask_line, field) in cases {
        let path = dir.path().join(name);
        let text = format!("{VALID}\n[[mask]]\nname = \"m\"\ncolumns = [\"email\"]\n{mask_line}\n");
        std::fs::write(&path, text).expect("writing a test config");
        let out = check(&path);
        let said = format!("{}{}", out.stdout, out.stderr);
        assert_eq!(out.code, Some(78), "{name}: exit code: {out}");
        let location = format!("{}:23:", path.display());
        assert!(
            said.contains(&location),
            "{name}: should name {location}: {out}"
        );
        assert!(
            said.contains(&format!("field `{field}`")),
            "{name}: should name the field `{field}`: {out}"
        );
    }
}

#[test]
fn the_example_configuration_passes() {
    let example = workspace_dir().join("config/cordon.example.toml");
    assert!(example.is_file(), "{} is missing", example.display());
    check(&example).expect_success("check-config on config/cordon.example.toml");
}
