//! The units in `systemd/` pass `systemd-analyze verify` without errors or warnings.
//! `ExecStart=/usr/local/bin/cordon` is pointed at the freshly built binary (verify
//! insists the program exists), and a drop-in for another unit is checked against a
//! stub of that unit. Needs no root.

use std::{fs, path::Path, process::Command, time::Duration};

use cordon_e2e::{cordon_bin, process::run, tempdir::TempDir, workspace_dir};

const UNIT_SUFFIXES: [&str; 6] = [
    ".service", ".slice", ".socket", ".target", ".timer", ".scope",
];

fn copy_tree(from: &Path, to: &Path, binary: &str) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read systemd/").flatten() {
        let path = entry.path();
        let dest = to.join(entry.file_name());
        if path.is_dir() {
            copy_tree(&path, &dest, binary);
        } else {
            let text = fs::read_to_string(&path).expect("unit files are text");
            fs::write(&dest, text.replace("/usr/local/bin/cordon", binary)).expect("write");
        }
    }
}

#[test]
fn units_pass_systemd_analyze_verify() {
    let source = workspace_dir().join("systemd");
    let dir = TempDir::new("cordon-units");
    let binary = cordon_bin().display().to_string();
    copy_tree(&source, dir.path(), &binary);

    let mut units = Vec::new();
    for entry in fs::read_dir(dir.path()).expect("read units").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(unit) = name.strip_suffix(".d") {
            // A drop-in for a unit shipped elsewhere: verify it against a stub unit.
            let stub = dir.path().join(unit);
            if !stub.exists() {
                fs::write(
                    &stub,
                    "[Unit]\nDescription=stub for a drop-in\n\n[Service]\nExecStart=/bin/true\n",
                )
                .expect("write stub");
                units.push(stub);
            }
        } else if UNIT_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            units.push(entry.path());
        }
    }
    assert!(
        units.iter().any(|u| u.ends_with("cordon.service")),
        "systemd/cordon.service is missing (found {units:?})"
    );
    units.sort();
    units.dedup();
    for unit in &units {
        let mut cmd = Command::new("systemd-analyze");
        cmd.args(["verify", "--man=no"])
            .arg(unit)
            .current_dir(dir.path());
        let out = run(&mut cmd, Duration::from_secs(60));
        let name = unit
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        out.expect_success(&format!("systemd-analyze verify {name}"));
        let ours: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.contains(&*dir.path().to_string_lossy()) || l.starts_with(&name))
            .collect();
        assert!(
            ours.is_empty(),
            "systemd-analyze verify {name} warned:\n{}",
            ours.join("\n")
        );
    }
}
