//! `hh-compat versions check` and `versions bump` against a package index served here,
//! on loopback, in PEP 503 "simple" form: pip's real client asks it (through
//! PIP_INDEX_URL), so no test needs PyPI.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};

/// The fake index: package → the files it offers.
const PACKAGES: &[(&str, &[&str])] = &[
    (
        "fake-sdk",
        &[
            "fake_sdk-1.9.0.tar.gz",
            "fake_sdk-1.10.0.tar.gz",
            "fake_sdk-1.11.0rc1.tar.gz",
        ],
    ),
    (
        "fake-instr",
        &[
            "fake_instr-0.66b1-py3-none-any.whl",
            "fake_instr-0.66b2-py3-none-any.whl",
        ],
    ),
    ("fake-same", &["fake_same-2.0.0.tar.gz"]),
];

/// Serves the fake index (names only: `pip index versions` never downloads) on loopback.
fn serve_index() -> String {
    crate::index_support::serve(
        PACKAGES
            .iter()
            .map(|(name, files)| {
                let files = files.iter().map(|f| (f.to_string(), Vec::new())).collect();
                (name.to_string(), files)
            })
            .collect(),
    )
}

const MATRIX: &str = "provider: openai
target: {api_key: k}
deployments:
  gpt-4o: {model: gpt-4o-2024-08-06}
styles: [traceloop]
drivers: [python]
# The pins below are bumped by the test; this comment stays.
version_sets:
  latest:
    common: &shared
      - fake-sdk==1.9.0      # the SDK

      - \"fake-instr==0.66b1\"
    styles:
      traceloop: [fake-same==2.0.0]
  older:
    common: [fake-sdk==1.10.0]
    styles:
      traceloop: [fake-same==2.0.0]
features:
  chat: {deployment: gpt-4o}
expect:
  all:
    llm: {name: openai.chat}
";

fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("hh-compat-versions-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn hh(index: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hh-compat"))
        .args(args)
        .env("PIP_INDEX_URL", index)
        .env_remove("PIP_EXTRA_INDEX_URL")
        .env_remove("PIP_FIND_LINKS")
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_RETRIES", "0")
        .env("PIP_TIMEOUT", "5")
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_lists_newer_releases_and_bump_rewrites_only_the_versions() {
    let index = serve_index();
    let dir = temp_dir("bump");
    let matrix = dir.join("m.yaml");
    std::fs::write(&matrix, MATRIX).unwrap();
    let m = matrix.to_str().unwrap();

    let out = hh(&index, &["versions", "check", "--matrix", m]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    // 1.11.0rc1 is a pre-release and the pin is not: 1.10.0 is the newest for it.
    assert_eq!(
        rows,
        [
            vec!["fake-sdk", "latest", "1.9.0", "1.10.0"],
            vec!["fake-instr", "latest", "0.66b1", "0.66b2"],
        ],
        "{stdout}"
    );
    assert!(stderr.contains("2 of 5 pins"), "{stderr}");

    let out = hh(
        &index,
        &["versions", "check", "--matrix", m, "--version-set", "older"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");

    let out = hh(
        &index,
        &["versions", "bump", "--matrix", m, "--set", "latets"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("did you mean `latest`?"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&matrix).unwrap(), MATRIX);

    let out = hh(
        &index,
        &["versions", "bump", "--matrix", m, "--set", "latest"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let bumped = std::fs::read_to_string(&matrix).unwrap();
    assert_eq!(
        bumped,
        MATRIX
            .replace("fake-sdk==1.9.0", "fake-sdk==1.10.0")
            .replace("fake-instr==0.66b1", "fake-instr==0.66b2")
    );
    assert!(
        text(&out.stdout).contains("fake-sdk"),
        "{}",
        text(&out.stdout)
    );

    let out = hh(&index, &["versions", "check", "--matrix", m]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = hh(
        &index,
        &["versions", "bump", "--matrix", m, "--set", "latest"],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(&matrix).unwrap(),
        bumped,
        "a second bump is a no-op"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unreachable_index_is_exit_3_naming_the_package() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let index = format!("http://{}/simple/", closed.local_addr().unwrap());
    drop(closed);
    let dir = temp_dir("unreachable");
    let matrix = dir.join("m.yaml");
    std::fs::write(&matrix, MATRIX).unwrap();
    let m = matrix.to_str().unwrap();
    for args in [
        &["versions", "check", "--matrix", m][..],
        &["versions", "bump", "--matrix", m, "--set", "latest"][..],
    ] {
        let out = hh(&index, args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(stderr.contains("fake-"), "{args:?}: {stderr}");
        assert!(stderr.contains("could not be asked"), "{args:?}: {stderr}");
    }
    assert_eq!(std::fs::read_to_string(&matrix).unwrap(), MATRIX);
    let _ = std::fs::remove_dir_all(&dir);
}
