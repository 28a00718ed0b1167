//! `hh-compat cassettes import --from vcrpy`: other projects' recordings (vcrpy cassettes
//! written for these tests in that format, tests/vcrpy/) become a cassette set whose
//! answers `run --fixtures` replays to every style, with the planted credentials nowhere
//! in what is written, and with the ownership rules of `record`.

use crate::cassette_support::temp_dir;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PLANTED: &[&str] = &[
    "planted-vcrpy-key-5f3a9c1e77",
    "planted-bearer-token-8d2b7e41a9c0",
    "peer-session-cookie-value",
    "sk-plainopenai",
];

fn hh(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hh-compat"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run hh-compat")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn vcrpy(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vcrpy")
        .join(name)
        .display()
        .to_string()
}

/// `cassettes import --from vcrpy FILES… DIR EXTRA…`.
fn import_files(files: &[&str], dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["cassettes", "import", "--from", "vcrpy"];
    args.extend(files);
    args.push(dir.to_str().expect("utf-8 path"));
    args.extend(extra);
    hh(&args)
}

/// The tests' two vcrpy cassettes into `dir`, aimed at their deployments.
fn import(dir: &Path, extra: &[&str]) -> Output {
    let (chat, emb) = (
        vcrpy("test_azure_chat.yaml"),
        vcrpy("test_azure_embeddings.yaml"),
    );
    let mut args = vec![
        "--deployment",
        "gpt-4o=peer-gpt-4o",
        "--deployment",
        "text-embedding-3-small=peer-embedding",
    ];
    args.extend(extra);
    import_files(&[&chat, &emb], dir, &args)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .collect();
    out.sort();
    out
}

#[test]
fn an_imported_peer_recording_replays_to_every_style_with_no_credential_written() {
    let tmp = temp_dir("vcrpy-import");
    let dir = tmp.join("peer");
    let out = import(&dir, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("skipped") && stderr.contains("api.openai.com"),
        "the non-Azure interaction is reported: {stderr}"
    );
    assert!(stderr.contains("imported 3 exchange(s)"), "{stderr}");
    let names: Vec<String> = files(&dir)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "cassette.yaml",
            "vcrpy-test_azure_chat.yaml",
            "vcrpy-test_azure_embeddings.yaml"
        ]
    );
    // The canary: no planted credential in any written file (nor in what was printed).
    for path in files(&dir) {
        let written = std::fs::read_to_string(&path).expect("read");
        for planted in PLANTED {
            assert!(
                !written.contains(planted),
                "{planted} in {}",
                path.display()
            );
        }
        assert!(
            written.ends_with("# end of cassette\n"),
            "{}",
            path.display()
        );
    }
    for planted in PLANTED {
        assert!(!stderr.contains(planted), "{planted} printed");
    }
    let meta = std::fs::read_to_string(dir.join("cassette.yaml")).expect("meta");
    assert!(
        meta.contains("host: peer-resource.openai.azure.com"),
        "{meta}"
    );
    assert!(meta.contains("gpt-4o: peer-gpt-4o"), "{meta}");
    let emb = std::fs::read_to_string(dir.join("vcrpy-test_azure_embeddings.yaml")).expect("emb");
    assert!(
        emb.contains("api-key: '[REDACTED]'") || emb.contains("api-key: \"[REDACTED]\""),
        "{emb}"
    );

    // Replayed: every style's rust chat, streaming and embeddings cell gets the peer's
    // recorded answers (no replay miss) and is judged on the spans they produced.
    let results = tmp.join("results.json");
    let out = hh(&[
        "run",
        "--fixtures",
        dir.to_str().unwrap(),
        "--driver",
        "rust",
        "--feature",
        "chat",
        "--feature",
        "streaming",
        "--feature",
        "embeddings",
        "--format",
        "json",
        "--out",
        results.to_str().unwrap(),
    ]);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&results).expect("results")).expect("json");
    let cells = json["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 9, "{}", text(&out.stdout));
    for cell in cells {
        assert_eq!(cell["status"], "pass", "{cell:#}");
        assert!(
            !cell["spans"].as_array().expect("spans").is_empty(),
            "{}",
            cell["id"]
        );
        let statuses: Vec<u64> = cell["requests"]
            .as_array()
            .expect("requests")
            .iter()
            .map(|r| r["status"].as_u64().unwrap())
            .collect();
        assert_eq!(statuses, vec![200], "{}", cell["id"]);
    }
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let chat = cells
        .iter()
        .find(|c| c["id"] == "azure-openai/traceloop/chat/rust")
        .expect("traceloop chat");
    let attributes = &chat["spans"][0]["attributes"];
    assert_eq!(
        attributes["server.address"],
        "peer-resource.openai.azure.com"
    );
    assert_eq!(attributes["gen_ai.response.id"], "chatcmpl-peerChat0001");

    // A second import into the set it wrote replaces its own files only.
    std::fs::write(dir.join("NOTES.md"), "mine").expect("user file");
    let out = import(&dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(dir.join("NOTES.md")).expect("kept"),
        "mine"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn bad_input_is_one_located_error_and_nothing_is_written() {
    let tmp = temp_dir("vcrpy-bad");
    let bad = tmp.join("broken.yaml");
    std::fs::write(
        &bad,
        "interactions:\n- request:\n    body: null\n    uri: [unclosed\nversion: 1\n",
    )
    .expect("write");
    let dir = tmp.join("out");
    let out = import_files(&[bad.to_str().unwrap()], &dir, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("error: {}:", bad.display())),
        "{stderr}"
    );
    assert!(stderr.contains('^'), "a caret under the place: {stderr}");
    assert!(!dir.exists(), "nothing written");

    // Only non-Azure traffic: reported, then a usage error.
    let other = tmp.join("openai-only.yaml");
    std::fs::write(
        &other,
        "interactions:\n- request:\n    body: null\n    headers: {}\n    method: GET\n    uri: https://api.openai.com/v1/models\n  response:\n    body: {string: ''}\n    headers: {}\n    status: {code: 200, message: OK}\nversion: 1\n",
    )
    .expect("write");
    let out = import_files(&[other.to_str().unwrap()], &dir, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no Azure OpenAI interaction"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.exists(), "nothing written");

    // A directory the tool does not own is refused before anything is read.
    let foreign = tmp.join("foreign");
    std::fs::create_dir_all(&foreign).expect("mkdir");
    std::fs::write(foreign.join("compose.yaml"), "services: {}").expect("user file");
    let out = import(&foreign, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--force"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(files(&foreign).len(), 1);

    // A malformed --deployment and a missing DIR are usage errors too.
    let out = import(&tmp.join("x"), &["--deployment", "gpt-4o"]);
    assert_eq!(out.status.code(), Some(2));
    let out = hh(&[
        "cassettes",
        "import",
        "--from",
        "vcrpy",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&tmp);
}
