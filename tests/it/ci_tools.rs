//! The checks `.ci/run` makes besides the tests: `scripts/check-msrv` against the real
//! lock file and a mutated one, and actionlint (from `.venv`) on the shipped workflow and
//! a broken copy of it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hh-compat-ci-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn metadata() -> serde_json::Value {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--locked", "--format-version", "1"])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn check_msrv(metadata: &serde_json::Value, dir: &Path) -> std::process::Output {
    let file = dir.join("metadata.json");
    std::fs::write(&file, metadata.to_string()).unwrap();
    Command::new(root().join("scripts/check-msrv"))
        .arg("--metadata")
        .arg(&file)
        .output()
        .expect("python3 runs the script")
}

#[test]
fn check_msrv_passes_on_the_lock_file_and_names_a_crate_that_needs_newer() {
    let dir = temp_dir("msrv");
    let mut meta = metadata();
    let ok = check_msrv(&meta, &dir);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(stdout.starts_with("rust-version 1.89: "), "{stdout}");
    // One dependency (not the crate itself) now declares a newer toolchain.
    let members: Vec<String> = serde_json::from_value(meta["workspace_members"].clone()).unwrap();
    let dep = meta["packages"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| {
            p["name"] == "serde-saphyr" && !members.contains(&p["id"].as_str().unwrap().to_string())
        })
        .expect("serde-saphyr is locked");
    dep["rust_version"] = "1.90".into();
    let bad = check_msrv(&meta, &dir);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("serde-saphyr 2.2.0: rust-version 1.90"),
        "{stderr}"
    );
}

#[test]
fn actionlint_passes_the_shipped_workflow_and_fails_a_broken_one() {
    let actionlint = root().join(".venv/bin/actionlint");
    assert!(
        actionlint.exists(),
        "{} is missing; run scripts/setup-python first",
        actionlint.display()
    );
    let workflow = root().join(".github/workflows/nightly.yml");
    let ok = Command::new(&actionlint).arg(&workflow).output().unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let dir = temp_dir("actionlint");
    let text = std::fs::read_to_string(&workflow).unwrap();
    assert!(text.contains("runs-on:"));
    let broken = dir.join("nightly.yml");
    std::fs::write(&broken, text.replacen("runs-on:", "runs_on:", 1)).unwrap();
    let bad = Command::new(&actionlint).arg(&broken).output().unwrap();
    let stdout = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("\"runs-on\" section is missing"),
        "{stdout}"
    );
}
