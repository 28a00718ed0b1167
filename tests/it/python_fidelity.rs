//! Runs the Python fidelity suites (the real `openai` SDK against `hh-compat replica
//! serve`) as part of `cargo test`, so CI cannot forget them: the replica's answers as
//! the SDK parses them (chat, embeddings, and the Responses API plain and streamed, on
//! `/openai/v1/responses` and the dated route), and every call the python driver's
//! features make.
//!
//! They need the virtual environment made by `scripts/setup-python`; without it the
//! tests fail with that instruction rather than passing silently.

use std::path::PathBuf;
use std::process::Command;

fn python() -> PathBuf {
    match std::env::var_os("HH_COMPAT_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"),
    }
}

/// Runs one pytest file of `tests/python/`; fails unless tests ran, all passed and
/// none was skipped.
fn pytest(file: &str) {
    let python = python();
    assert!(
        python.exists(),
        "{} not found: run `scripts/setup-python` first (or set HH_COMPAT_PYTHON)",
        python.display()
    );
    let output = Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(format!("tests/python/{file}"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("HH_COMPAT_BIN", env!("CARGO_BIN_EXE_hh-compat"))
        .output()
        .expect("failed to start the Python interpreter");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "pytest failed:\n{stdout}\n{stderr}"
    );
    // pytest exits 0 only when tests ran and passed; make sure some did.
    assert!(stdout.contains(" passed"), "pytest ran no test:\n{stdout}");
    assert!(
        !stdout.contains("skipped"),
        "no fidelity test may be skipped:\n{stdout}"
    );
}

#[test]
fn openai_python_sdk_against_the_replica() {
    pytest("test_replica_fidelity.py");
}

/// Tool calls (plain and streamed fragments), abandoned streams, raw responses and the
/// async client, through the SDK alone and through the driver's feature functions.
#[test]
fn openai_python_sdk_makes_every_feature_call() {
    pytest("test_feature_calls.py");
}
