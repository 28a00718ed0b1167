//! `hh-compat bisect` against a package index served here: a fake instrumentor whose
//! releases from 1.3.0 on record the deployment, one release that cannot be installed,
//! and a customer's script that exports what the installed release records. pip lists
//! the releases and uv (or pip) installs them from loopback, so no test needs PyPI.

use crate::index_support::{self, File};
use crate::live_support::{temp_dir, text};
use std::path::Path;
use std::process::{Command, Output};

const PACKAGE: &str = "hhc-fake-instr";

/// A wheel of the fake package, built with the standard library's zipfile: `FIXED`
/// says whether the release records the deployment; `requires` adds a dependency.
fn wheel(dir: &Path, version: &str, fixed: bool, requires: Option<&str>) -> File {
    let name = format!("hhc_fake_instr-{version}-py3-none-any.whl");
    let path = dir.join(&name);
    let script = r#"
import base64, hashlib, sys, zipfile
path, version, fixed, requires = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
info = f"hhc_fake_instr-{version}.dist-info"
meta = f"Metadata-Version: 2.1\nName: hhc-fake-instr\nVersion: {version}\n"
if requires:
    meta += f"Requires-Dist: {requires}\n"
files = {
    "hhc_fake_instr/__init__.py": f"FIXED = {fixed}\n",
    f"{info}/METADATA": meta,
    f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: hh-compat-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
def digest(text):
    raw = hashlib.sha256(text.encode()).digest()
    return "sha256=" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
record = "".join(f"{n},{digest(t)},{len(t.encode())}\n" for n, t in files.items())
files[f"{info}/RECORD"] = record + f"{info}/RECORD,,\n"
with zipfile.ZipFile(path, "w") as z:
    for n, t in files.items():
        z.writestr(n, t)
"#;
    let status = Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .arg(version)
        .arg(if fixed { "1" } else { "0" })
        .arg(requires.unwrap_or(""))
        .status()
        .expect("python3 runs");
    assert!(status.success(), "building {name}");
    (name, std::fs::read(&path).expect("wheel"))
}

/// The customer's script: one chat span over OTLP/JSON, with the request model only
/// when the installed release records it.
const SCRIPT: &str = r#"
import json, os, urllib.request
import hhc_fake_instr
attrs = [{"key": "gen_ai.system", "value": {"stringValue": "openai"}}]
if hhc_fake_instr.FIXED:
    attrs.append({"key": "gen_ai.request.model",
                  "value": {"stringValue": os.environ["AZURE_OPENAI_DEPLOYMENT_NAME"]}})
span = {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331",
        "name": "openai.chat", "kind": 3, "startTimeUnixNano": "1",
        "endTimeUnixNano": "2", "attributes": attrs}
body = {"resourceSpans": [{"resource": {"attributes": [
    {"key": "hh_compat.cell", "value": {"stringValue": os.environ["HH_COMPAT_CELL"]}}]},
    "scopeSpans": [{"spans": [span]}]}]}
request = urllib.request.Request(os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] + "/v1/traces",
                                 data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
urllib.request.urlopen(request, timeout=10)
"#;

const MATRIX: &str = r#"provider: azure-openai
target: {resource: contoso, api_version: "2024-10-21", api_key: k}
deployments:
  gpt-4o: {model: gpt-4o-2024-08-06}
styles: [traceloop]
features:
  chat: {deployment: gpt-4o}
expect:
  all:
    llm:
      name: openai.chat
      attributes:
        gen_ai.request.model: "{deployment}"
"#;

/// Runs `hh-compat bisect` in `dir` with the index as the only source of packages.
fn bisect(dir: &Path, index: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "bisect",
        "--matrix",
        "m.yaml",
        "--package",
        PACKAGE,
        "--command",
        "python app.py",
        "--style",
        "traceloop",
        "--feature",
        "chat",
    ];
    args.extend(extra);
    with_index(Command::new(env!("CARGO_BIN_EXE_hh-compat")), dir, index)
        .args(&args)
        .output()
        .expect("the binary runs")
}

/// `command` run in `dir`, with pip and uv asking only `index`.
fn with_index(mut command: Command, dir: &Path, index: &str) -> Command {
    command
        .current_dir(dir)
        .env("PIP_INDEX_URL", index)
        .env("UV_DEFAULT_INDEX", index)
        .env_remove("UV_INDEX_URL")
        .env_remove("PIP_EXTRA_INDEX_URL")
        .env_remove("PIP_FIND_LINKS")
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_RETRIES", "0")
        .env("PIP_TIMEOUT", "5")
        .env("HH_COMPAT_CACHE_DIR", dir.join("cache"));
    command
}

/// Builds the fake package's `releases` (version, records the deployment, a dependency),
/// serves them, and writes the matrix and the customer's script into `dir`; returns
/// the index URL.
fn serve_releases(dir: &Path, releases: &[(&str, bool, Option<&str>)]) -> String {
    let wheels = dir.join("wheels");
    std::fs::create_dir_all(&wheels).unwrap();
    let files = (releases.iter())
        .map(|(version, fixed, requires)| wheel(&wheels, version, *fixed, *requires))
        .collect();
    std::fs::write(dir.join("m.yaml"), MATRIX).unwrap();
    std::fs::write(dir.join("app.py"), SCRIPT).unwrap();
    index_support::serve(vec![(PACKAGE.to_string(), files)])
}

#[test]
fn bisect_finds_the_release_that_fixed_the_bug_and_skips_one_that_cannot_install() {
    let dir = temp_dir("bisect");
    let index = serve_releases(
        &dir,
        &[
            ("1.0.0", false, None),
            ("1.1.0", false, None),
            // Depends on a package the index does not have: cannot be installed.
            ("1.2.0", false, Some("hhc-missing-dependency")),
            ("1.3.0", true, None),
            ("1.4.0", true, None),
            ("1.5.0", true, None),
        ],
    );

    let out = bisect(&dir, &index, &["--good", "1.5.0", "--bad", "1.0.0"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stderr.contains("6 releases from 1.0.0 (bad) to 1.5.0 (good)"),
        "{stderr}"
    );
    assert!(
        stdout.contains("no longer behaves like 1.0.0 (bad): 1.3.0"),
        "{stdout}"
    );
    // The release between could not be installed, so the answer says so.
    assert!(stdout.contains("or one of 1.2.0"), "{stdout}");
    assert!(stderr.contains("1.2.0 skipped"), "{stderr}");
    assert!(
        stdout.contains("only in 1.1.0: llm: attribute `gen_ai.request.model`"),
        "{stdout}"
    );

    // The same verdicts at both ends: nothing to find, exit 1.
    let out = bisect(&dir, &index, &["--range", "1.3.0..1.5.0"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("give the same verdicts"));
}

#[test]
fn bisect_refuses_bad_bounds_and_unknown_releases_in_one_line() {
    let dir = temp_dir("bisect-usage");
    let index = index_support::serve(vec![(
        PACKAGE.to_string(),
        vec![("hhc_fake_instr-1.0.0-py3-none-any.whl".into(), Vec::new())],
    )]);
    std::fs::write(dir.join("m.yaml"), MATRIX).unwrap();
    for (args, says) in [
        (
            &["--good", "1.0.0", "--bad", "1.0"][..],
            "are the same release",
        ),
        (
            &["--good", "one", "--bad", "1.0.0"],
            "`one` is not a version",
        ),
        (&["--range", "1.0.0"], "not a range"),
        (&["--range", "2.0..1.0"], "must be older"),
        (
            &["--good", "1.0.0", "--bad", "0.9.0"],
            "0.9.0 is not a release",
        ),
    ] {
        let out = bisect(&dir, &index, args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        let first = stderr.lines().next().unwrap_or_default();
        assert!(first.contains(says), "{args:?}: {stderr}");
    }
}

/// `run --with` builds the command's environment before any cell: a package or version
/// the index does not have is a one-line usage error (exit 2), a dependency it cannot
/// install an install failure (exit 3), and a version that does not parse is refused
/// before anything is asked.
#[test]
fn run_with_refuses_what_the_index_does_not_have_in_one_line() {
    let dir = temp_dir("run-with");
    let index = serve_releases(
        &dir,
        &[
            ("1.2.0", false, Some("hhc-missing-dependency")),
            ("1.3.0", true, None),
        ],
    );
    let run = |with: &str| {
        let mut args = vec![
            "run",
            "--matrix",
            "m.yaml",
            "--command",
            "python app.py",
            "--style",
            "traceloop",
            "--feature",
            "chat",
            "--with",
        ];
        args.push(with);
        let out = with_index(Command::new(env!("CARGO_BIN_EXE_hh-compat")), &dir, &index)
            .args(&args)
            .output()
            .expect("the binary runs");
        (out.status.code(), text(&out.stderr))
    };
    for (with, code, says) in [
        (
            "hhc-not-there==1.0",
            2,
            "the package index has no such package or version",
        ),
        (
            "hhc-fake-instr==9.9.9",
            2,
            "the package index has no such package or version",
        ),
        (
            "hhc-fake-instr==one",
            2,
            "`one` in `==one` is not a version",
        ),
        (
            "hhc-fake-instr==1.2.0",
            3,
            "installing the command's packages",
        ),
    ] {
        let (status, stderr) = run(with);
        assert_eq!(status, Some(code), "{with}: {stderr}");
        let said: Vec<&str> = stderr.lines().filter(|l| l.contains(says)).collect();
        assert_eq!(said.len(), 1, "{with}: one line saying `{says}`:\n{stderr}");
    }
    // The release that installs runs, and its cell records what ran.
    let (status, stderr) = run("hhc-fake-instr==1.3.0");
    assert_eq!(status, Some(0), "{stderr}");
}

/// A version set with `newest: true` runs the newest release the index has, not its
/// written pin, and the cell records the release that ran; `--offline` resolves
/// nothing and says so.
#[test]
fn a_newest_set_runs_the_newest_release_on_the_index() {
    let dir = temp_dir("newest");
    let index = serve_releases(
        &dir,
        &[
            ("1.0.0", false, None),
            ("1.3.0", true, None),
            ("1.4.0", true, None),
        ],
    );
    let matrix = MATRIX.replace(
        "features:",
        "version_sets:\n  nightly:\n    newest: true\n    styles: {traceloop: [hhc-fake-instr==1.0.0]}\nfeatures:",
    );
    std::fs::write(dir.join("m.yaml"), matrix).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--matrix",
            "m.yaml",
            "--command",
            "python app.py",
            "--style",
            "traceloop",
            "--version-set",
            "nightly",
            "--format",
            "json",
        ];
        args.extend(extra);
        let out = with_index(Command::new(env!("CARGO_BIN_EXE_hh-compat")), &dir, &index)
            .args(&args)
            .output()
            .expect("the binary runs");
        let stderr = text(&out.stderr);
        let json: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
        (out.status.code(), json["cells"][0].clone(), stderr)
    };
    let (status, cell, stderr) = run(&[]);
    assert_eq!(status, Some(0), "{stderr}");
    assert!(
        stderr.contains("version set `nightly` resolved to the newest releases on the index: hhc-fake-instr 1.0.0 → 1.4.0"),
        "{stderr}"
    );
    assert_eq!(cell["versions"][PACKAGE], "1.4.0", "{cell:#}");
    assert_eq!(cell["status"], "pass", "{cell:#}");

    // Offline: the written pin, whose environment was never built: skipped, and said.
    let (status, cell, stderr) = run(&["--offline"]);
    assert_eq!(status, Some(0), "{stderr}");
    assert!(
        stderr.contains("--offline runs its written pins"),
        "{stderr}"
    );
    assert_eq!(cell["status"], "skip", "{cell:#}");
}
