//! JUnit reports against `docs/junit.xsd`, with a real XSD validator (xmlschema, from
//! `.venv`): a run with passing, known-issue, skipped and failing cells validates; the
//! same report with a duplicated test name, an attribute no CI reads, or a timestamp
//! that is not a date does not, so the check can fail.

use crate::live_support::{temp_dir, text};
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The validator's verdict on `xml`: `Ok` or the first reason.
fn validate(dir: &Path, name: &str, xml: &str) -> Result<(), String> {
    let file = dir.join(name);
    std::fs::write(&file, xml).unwrap();
    let script = "import sys, xmlschema\n\
                  schema = xmlschema.XMLSchema(sys.argv[1])\n\
                  errors = list(schema.iter_errors(sys.argv[2]))\n\
                  print(errors[0].reason if errors else 'valid')\n\
                  sys.exit(1 if errors else 0)\n";
    let out = Command::new(root().join(".venv/bin/python"))
        .args(["-c", script])
        .arg(root().join("docs/junit.xsd"))
        .arg(&file)
        .output()
        .expect(".venv/bin/python runs (scripts/setup-python creates it)");
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    match out.status.code() {
        Some(0) => Ok(()),
        Some(1) => Err(said),
        _ => panic!("the validator did not run: {said}"),
    }
}

#[test]
fn junit_reports_are_valid_against_the_strict_schema_and_the_schema_bites() {
    let dir = temp_dir("junit-xsd");
    let xml_path = dir.join("run.xml");
    // Rust cells (pass, xfail, skip) and command cells whose program exports nothing
    // (fail), in one report with the run's timestamp.
    let out = Command::new(env!("CARGO_BIN_EXE_hh-compat"))
        .args([
            "run",
            "--driver",
            "rust",
            "--driver",
            "command",
            "--command",
            "exit 3",
            "--style",
            "traceloop",
            "--feature",
            "chat",
            "--feature",
            "streaming-async-filter",
            "--feature",
            "raw-response",
            "--format",
            "junit",
            "--out",
        ])
        .arg(&xml_path)
        .current_dir(root())
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let xml = std::fs::read_to_string(&xml_path).unwrap();
    for element in ["<skipped", "<failure", "timestamp=\""] {
        assert!(xml.contains(element), "{element} missing:\n{xml}");
    }
    assert_eq!(validate(&dir, "real.xml", &xml), Ok(()));

    // A second case named like the first in its suite: a CI would merge them.
    let first = xml.find("<testcase name=\"").unwrap() + "<testcase name=\"".len();
    let name = &xml[first..first + xml[first..].find('"').unwrap()];
    let second = first + xml[first..].find("<testcase name=\"").unwrap();
    let end = second + "<testcase name=\"".len();
    let close = end + xml[end..].find('"').unwrap();
    let duplicated = format!("{}{name}{}", &xml[..end], &xml[close..]);
    let why = validate(&dir, "dup.xml", &duplicated).unwrap_err();
    assert!(why.contains("duplicated value"), "{why}");

    let extra = xml.replacen("<testcase ", "<testcase flaky=\"true\" ", 1);
    let why = validate(&dir, "extra.xml", &extra).unwrap_err();
    assert!(why.contains("flaky"), "{why}");

    let start = xml.find("timestamp=\"").unwrap() + "timestamp=\"".len();
    let stamp = &xml[start..start + xml[start..].find('"').unwrap()];
    let why = validate(&dir, "time.xml", &xml.replace(stamp, "yesterday")).unwrap_err();
    assert!(
        why.contains("yesterday") || why.contains("dateTime"),
        "{why}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
