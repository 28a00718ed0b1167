//! Child processes: `--timeout` holds for command cells, an orphan holding stdout does
//! not hold the cell, output is kept bounded, and SIGTERM leaves no process behind.

use crate::live_support::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn command_run(dir: &Path, command: &str, timeout: &str, exit: i32) -> serde_json::Value {
    let args = [
        "run",
        "--command",
        command,
        "--style",
        "traceloop",
        "--feature",
        "chat",
        "--timeout",
        timeout,
    ];
    let (_, results) = run_json(dir, &BTreeMap::new(), &args, exit);
    results["cells"][0].clone()
}

#[test]
fn timeout_applies_to_command_cells_and_is_called_a_timeout() {
    let dir = temp_dir("cmd-timeout");
    let cell = command_run(&dir, "sleep 120", "2", 3);
    assert_eq!(cell["status"], "error", "{cell:#}");
    let findings = findings(&cell).join("\n");
    assert!(findings.contains("within 2s (--timeout)"), "{findings}");
    assert!(!findings.contains("unavailable"), "{findings}");
}

#[test]
fn an_orphan_holding_stdout_does_not_hold_the_cell() {
    let dir = temp_dir("cmd-orphan");
    // The program exits at once; its background child keeps stdout open for 100 s.
    let cell = command_run(&dir, "sleep 100 & echo started", "60", 1);
    // Judged on its (missing) spans, not timed out and not blamed on the service.
    assert_eq!(cell["status"], "fail", "{cell:#}");
    let findings = findings(&cell).join("\n");
    assert!(!findings.contains("timed out"), "{findings}");
}

#[test]
fn a_flood_of_output_is_kept_as_head_and_tail() {
    let dir = temp_dir("cmd-flood");
    let command =
        "echo FIRST >&2; head -c 50000000 /dev/zero | tr '\\0' y >&2; echo LAST >&2; exit 1";
    let cell = command_run(&dir, command, "60", 1);
    let findings = findings(&cell).join("\n");
    assert!(findings.contains("FIRST"), "{findings}");
    assert!(findings.contains("LAST"), "{findings}");
    assert!(findings.contains("bytes not kept"), "{findings}");
    assert!(
        findings.len() < 10_000,
        "{} bytes of findings",
        findings.len()
    );
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

#[test]
fn sigterm_stops_the_command_and_everything_it_started() {
    let dir = temp_dir("cmd-sigterm");
    let pids = dir.join("pids");
    // The shell, a background child and a grandchild each write their pid, then wait.
    let command = format!(
        "echo $$ >> {p}; (sh -c 'echo $$ >> {p}; sleep 300' & sleep 300) & sleep 300",
        p = pids.display()
    );
    let m = matrix();
    let child = Command::new(BIN)
        .args([
            "run",
            "--matrix",
            &m,
            "--command",
            &command,
            "--style",
            "traceloop",
        ])
        .args(["--feature", "chat", "--timeout", "600"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut started = Vec::new();
    for _ in 0..300 {
        started = std::fs::read_to_string(&pids)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse::<i32>().ok())
            .collect();
        if started.len() >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(started.len() >= 2, "the command did not start: {started:?}");
    // SAFETY: sends SIGTERM to the child we spawned.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = child.wait_with_output().expect("wait");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let mut survivors = started.clone();
    for _ in 0..50 {
        survivors.retain(|p| alive(*p));
        if survivors.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        survivors.is_empty(),
        "still running after SIGTERM: {survivors:?}"
    );
}
