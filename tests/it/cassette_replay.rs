//! Replay from cassettes: the shipped Azure quirk through the real async-openai stream
//! client, misses that name the closest exchange, and file:line:column errors for
//! malformed or truncated cassette files.

use crate::cassette_support::temp_dir;

use std::path::Path;

use async_openai::config::AzureConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::ReqwestService;
use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestUserMessage, CreateChatCompletionRequest,
    CreateChatCompletionRequestArgs,
};
use async_openai::Client;
use futures::StreamExt;
use hh_compat::cassette::{CassetteError, ReplayStore, MISS_CODE};
use hh_compat::replica::{self, ReplicaHandle, MISSES_PATH, SCOPE_HEADER};
use serde_json::Value;

const QUIRKS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/azure-quirks");

fn client(h: &ReplicaHandle, scope: &str) -> Client<AzureConfig> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(SCOPE_HEADER, scope.parse().expect("header"));
    let http = reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(h.base_url()).expect("proxy"))
        .default_headers(headers)
        .build()
        .expect("client");
    let cfg = AzureConfig::new()
        .with_api_base("http://contoso.openai.azure.com")
        .with_api_key("any-key")
        .with_deployment_id("gpt-4o")
        .with_api_version("2024-10-21");
    Client::with_config(cfg).with_http_service(ReqwestService::new(http))
}

/// The request the rust driver's `streaming` feature sends for the shipped matrix.
fn streaming_request(prompt: &str) -> CreateChatCompletionRequest {
    let mut r = CreateChatCompletionRequestArgs::default()
        .model("gpt-4o")
        .messages(vec![ChatCompletionRequestMessage::User(
            ChatCompletionRequestUserMessage::from(prompt),
        )])
        .build()
        .expect("request");
    r.stream = Some(true);
    r
}

#[tokio::test]
async fn azure_quirk_stream_replays_to_the_real_async_openai_client() {
    let store = ReplayStore::load(QUIRKS).expect("shipped cassette loads");
    assert!(store
        .meta()
        .label
        .as_deref()
        .is_some_and(|l| l.contains("hand-written")));
    let h = replica::start_replay(store).await.expect("replay");
    let mut stream = client(&h, "openinference--streaming--rust")
        .chat()
        .create_stream(streaming_request("Count to 3"))
        .await
        .expect("stream starts");
    let (mut text, mut models, mut errors) = (String::new(), Vec::new(), Vec::new());
    while let Some(item) = stream.next().await {
        match item {
            Ok(chunk) => {
                models.push(chunk.model.clone());
                for c in &chunk.choices {
                    text.push_str(c.delta.content.as_deref().unwrap_or_default());
                }
            }
            Err(e) => errors.push(e),
        }
    }
    // async-openai 0.43 requires `delta` in every choice: each delta-less annotation
    // chunk surfaces as a deserialization error item, and the stream goes on after it.
    // An app that stops at the first error (`chunk?`) loses ", 3" and the finish chunk.
    assert_eq!(text, "1, 2, 3");
    assert_eq!(errors.len(), 2, "{errors:?}");
    for e in &errors {
        assert!(
            matches!(e, OpenAIError::JSONDeserialize(..)) && e.to_string().contains("delta"),
            "{e}"
        );
    }
    // The first chunk (`choices: []`, empty model) parses; the model only appears later.
    assert_eq!(
        models,
        vec![
            "",
            "gpt-4o-2024-08-06",
            "gpt-4o-2024-08-06",
            "gpt-4o-2024-08-06",
            "gpt-4o-2024-08-06"
        ]
    );
    let j = h.journal().for_scope("openinference--streaming--rust");
    assert_eq!((j.len(), j[0].status, j[0].stream), (1, 200, true));
    assert!(h.replay_misses().is_empty());
}

#[tokio::test]
async fn an_unmatched_request_gets_a_400_naming_the_closest_exchange() {
    let store = ReplayStore::load(QUIRKS).expect("load");
    let h = replica::start_replay(store).await.expect("replay");
    let err = client(&h, "cell-x")
        .chat()
        .create_stream(streaming_request("Count to 4"))
        .await
        .err()
        .expect("a miss is an error");
    let OpenAIError::ApiError(api) = err else {
        panic!("expected an API error, got {err}");
    };
    assert_eq!(api.status_code.as_u16(), 400);
    assert_eq!(api.api_error.code.as_deref(), Some(MISS_CODE));
    let m = &api.api_error.message;
    assert!(m.contains("async-filter-stream.yaml:11"), "{m}");
    assert!(
        m.contains(r#"body.messages[0].content: recorded "Count to 3", got "Count to 4""#),
        "{m}"
    );

    let misses = h.replay_misses_for("cell-x");
    assert_eq!(misses.len(), 1);
    let closest = misses[0].closest.as_ref().expect("closest");
    assert!(closest.origin.ends_with("async-filter-stream.yaml:11"));
    assert!(h.replay_misses_for("other").is_empty());
    let j = h.journal().for_scope("cell-x");
    assert_eq!(j[0].status, 400);

    let listing: Value = reqwest::Client::new()
        .get(format!("{}{MISSES_PATH}?scope=cell-x", h.base_url()))
        .send()
        .await
        .expect("misses")
        .json()
        .await
        .expect("json");
    assert_eq!(listing.as_array().map(Vec::len), Some(1));
    assert_eq!(listing[0]["scope"], "cell-x");
}

fn load_error(dir: &Path) -> CassetteError {
    ReplayStore::load(dir).expect_err("must not load")
}

#[test]
fn malformed_and_truncated_files_name_file_line_and_column() {
    let dir = temp_dir("cassette-bad");
    let file = dir.join("broken.yaml");
    let shipped = std::fs::read_to_string(Path::new(QUIRKS).join("async-filter-stream.yaml"))
        .expect("shipped");

    // Truncated in the middle of a flow mapping.
    let cut = shipped.find("end_offset: 4}").expect("marker") + "end_offset: 4".len();
    std::fs::write(&file, &shipped[..cut]).expect("write");
    let e = load_error(&dir);
    let loc = e.location().expect("a position");
    assert!(loc.starts_with(&format!("{}:", file.display())), "{e}");
    let parts: Vec<&str> = loc.rsplitn(3, ':').collect();
    assert!(parts[0].parse::<u64>().is_ok_and(|c| c > 0), "{e}");
    assert!(parts[1].parse::<u64>().is_ok_and(|l| l > 20), "{e}");
    assert!(e.is_usage());

    // Truncated at a line boundary: an exchange without its response.
    let cut = shipped.find("  response:").expect("response");
    std::fs::write(&file, &shipped[..cut]).expect("write");
    let e = load_error(&dir).to_string();
    assert!(e.contains("broken.yaml:11:"), "{e}");
    assert!(e.contains("response"), "{e}");

    // Malformed YAML, an unknown field, a bad body form, an empty file.
    for (text, want) in [
        ("exchanges:\n  - request: {path: /x\n", "broken.yaml:"),
        (
            "exchanges:\n- request: {path: /x}\n  response: {stauts: 200}\n",
            "broken.yaml:3:",
        ),
        (
            "exchanges:\n- request: {path: /x}\n  response: {body: {}, text: x}\n",
            "broken.yaml:2:",
        ),
        ("", "broken.yaml:1:1"),
    ] {
        std::fs::write(&file, text).expect("write");
        let e = load_error(&dir).to_string();
        assert!(e.contains(want), "{text:?} → {e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn replica_serve_with_broken_fixtures_exits_2_with_the_position() {
    let dir = temp_dir("cassette-cli");
    std::fs::write(
        dir.join("x.yaml"),
        "exchanges:\n- request: {path: /x}\n  response: {status: [}\n",
    )
    .expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hh-compat"))
        .args(["replica", "serve", "--fixtures"])
        .arg(&dir)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("x.yaml:3:"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
