//! Hostile files: matrices and cassettes that must be refused at load with exit 2 and a
//! `FILE:LINE:COL`, never loaded and then blamed on every cell, never read without bound.

use crate::live_support::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// `hh-compat ARGS` in `dir`, asserting exit 2 and returning stderr.
fn usage_error(dir: &Path, args: &[&str]) -> String {
    let out = hh(dir, &BTreeMap::new(), args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn deployment_names_a_url_cannot_carry_are_refused_at_load() {
    let dir = temp_dir("bad-deployments");
    let shipped = std::fs::read_to_string(matrix()).expect("matrix");
    for (i, bad) in [
        "gpt/4o",
        "\"gpt 4o\"",
        "\"gpt?4o\"",
        "\"gpt#4o\"",
        "\"gpt\\r\\n4o\"",
    ]
    .iter()
    .enumerate()
    {
        let text = shipped.replacen("\n  gpt-4o-mini:\n", &format!("\n  {bad}:\n"), 1);
        assert_ne!(text, shipped);
        let file = format!("m{i}.yaml");
        std::fs::write(dir.join(&file), text).expect("write");
        let stderr = usage_error(&dir, &["list", "--matrix", &file]);
        assert!(stderr.contains(&format!("{file}:23:")), "{bad}: {stderr}");
        assert!(stderr.contains("deployment name"), "{bad}: {stderr}");
    }
}

#[test]
fn an_api_version_the_replica_does_not_serve_is_refused_at_load() {
    let dir = temp_dir("bad-api-version");
    let text = std::fs::read_to_string(matrix()).expect("matrix").replacen(
        "\"2024-10-21\"",
        "\"2099-01-01\"",
        1,
    );
    std::fs::write(dir.join("m.yaml"), text).expect("write");
    let stderr = usage_error(&dir, &["run", "--matrix", "m.yaml"]);
    assert!(stderr.contains("m.yaml:"), "{stderr}");
    assert!(stderr.contains("2099-01-01"), "{stderr}");
}

#[test]
fn extends_is_found_however_it_is_written_and_read_with_a_bound() {
    let dir = temp_dir("extends");
    std::fs::copy(matrix(), dir.join("azure-openai.yaml")).expect("parent");
    let overlay = std::fs::read_to_string(repo("matrix/azure-openai-v1.yaml")).expect("overlay");
    let expected = hh(
        &dir,
        &BTreeMap::new(),
        &[
            "list",
            "--matrix",
            &repo("matrix/azure-openai-v1.yaml").display().to_string(),
        ],
    );
    assert!(expected.status.success());
    for (name, content) in [
        ("bom.yaml", format!("\u{feff}{overlay}")),
        ("quoted.yaml", overlay.replace("extends: ", "\"extends\": ")),
    ] {
        std::fs::write(dir.join(name), content).expect("write");
        let out = hh(&dir, &BTreeMap::new(), &["list", "--matrix", name]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        assert_eq!(out.stdout, expected.stdout, "{name}");
    }
    std::fs::write(
        dir.join("zero.yaml"),
        "extends: /dev/zero\nprovider: azure-openai-v1\n",
    )
    .expect("write");
    let stderr = usage_error(&dir, &["list", "--matrix", "zero.yaml"]);
    assert!(stderr.contains("zero.yaml:1:"), "{stderr}");
    assert!(stderr.contains("larger than"), "{stderr}");
}

/// A copy of the shipped recorded set to break.
fn recorded_copy(name: &str) -> (PathBuf, PathBuf) {
    let dir = temp_dir(name);
    let set = dir.join("set");
    std::fs::create_dir_all(&set).expect("mkdir");
    for entry in std::fs::read_dir(repo("fixtures/replica-as-live"))
        .expect("set")
        .flatten()
    {
        std::fs::copy(entry.path(), set.join(entry.file_name())).expect("copy");
    }
    (dir, set)
}

const CHAT: &str = "azure-openai_traceloop_chat_rust.yaml";

fn replay_error(dir: &Path) -> String {
    usage_error(
        dir,
        &[
            "run",
            "--fixtures",
            "set",
            "--matrix",
            &matrix(),
            "--feature",
            "chat",
        ],
    )
}

#[test]
fn a_recorded_cassette_cut_at_a_line_boundary_is_a_usage_error() {
    let (dir, set) = recorded_copy("cut-cassette");
    let text = std::fs::read_to_string(set.join(CHAT)).expect("read");
    let lines: Vec<&str> = text.lines().collect();
    let cut = lines[..lines.len() - 6].join("\n") + "\n";
    std::fs::write(set.join(CHAT), cut).expect("write");
    let stderr = replay_error(&dir);
    assert!(stderr.contains(CHAT), "{stderr}");
    assert!(stderr.contains("cut short"), "{stderr}");
}

#[test]
fn a_header_http_cannot_carry_is_located() {
    let (dir, set) = recorded_copy("bad-header");
    let text = std::fs::read_to_string(set.join(CHAT)).expect("read");
    let (before, after) = text.split_once("apim-request-id: ").expect("header");
    let broken = format!("{before}apim-request-id: \"a\\nb\"\n      x-bad-value: {after}");
    std::fs::write(set.join(CHAT), broken).expect("write");
    let stderr = replay_error(&dir);
    assert!(stderr.contains(&format!("{CHAT}:")), "{stderr}");
    assert!(stderr.contains("header"), "{stderr}");
}

#[test]
fn invalid_utf8_is_located_by_line_and_column() {
    let (dir, set) = recorded_copy("bad-utf8");
    let mut bytes = std::fs::read(set.join(CHAT)).expect("read");
    let at = bytes.iter().position(|b| *b == b'\n').expect("a line") + 3;
    bytes.insert(at, 0xff);
    std::fs::write(set.join(CHAT), bytes).expect("write");
    let stderr = replay_error(&dir);
    assert!(stderr.contains(&format!("{CHAT}:2:3")), "{stderr}");
}

#[test]
fn dangling_and_looping_symlinks_are_errors_not_gaps() {
    for (name, target) in [("dangling", "nowhere.yaml"), ("loop", "loop.yaml")] {
        let (dir, set) = recorded_copy(&format!("symlink-{name}"));
        std::os::unix::fs::symlink(set.join(target), set.join(format!("{name}.yaml")))
            .expect("symlink");
        let stderr = replay_error(&dir);
        assert!(stderr.contains(&format!("{name}.yaml")), "{stderr}");
        assert!(stderr.contains("symlink"), "{stderr}");
    }
}
