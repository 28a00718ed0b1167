//! Record through the proxy with the real async-openai 0.43 client against the replica as
//! upstream, write, reload, and replay through the replica: same statuses and bodies, in
//! the same order; re-recording is byte-identical; credentials never reach a file.

use crate::cassette_support::temp_dir;

use std::path::{Path, PathBuf};

use async_openai::config::AzureConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::ReqwestService;
use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestUserMessage, CreateChatCompletionRequest,
    CreateChatCompletionRequestArgs,
};
use async_openai::types::embeddings::CreateEmbeddingRequestArgs;
use async_openai::Client;
use futures::StreamExt;
use hh_compat::cassette::{Recorder, RecorderConfig, ReplayStore, WriteOptions};
use hh_compat::replica::{self, Deployment, Fault, FaultKind, ReplicaConfig, SCOPE_HEADER};
use serde_json::{json, Value};

const CANARY_KEY: &str = "canary-key-5f1d2c3b4a";
const CANARY_TOKEN: &str = "eyJhbGciOiJub25lIn0.eyJjYW5hcnkiOiJ0b2tlbi03Nzc3In0.Y2FuYXJ5LXNpZw";
const SECRET_USER: &str = "customer-secret-user-9931";
const GA: &str = "2024-10-21";
const HOST: &str = "http://contoso.openai.azure.com";

fn http(proxy: &str, scope: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(SCOPE_HEADER, scope.parse().expect("header"));
    reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(proxy).expect("proxy"))
        .default_headers(headers)
        .build()
        .expect("client")
}

/// An app keeping the Azure host, through `proxy`, without async-openai's retries.
fn azure(proxy: &str, scope: &str, deployment: &str) -> Client<AzureConfig> {
    let cfg = AzureConfig::new()
        .with_api_base(HOST)
        .with_api_key(CANARY_KEY)
        .with_deployment_id(deployment)
        .with_api_version(GA);
    Client::with_config(cfg).with_http_service(ReqwestService::new(http(proxy, scope)))
}

fn chat_request(text: &str, user: Option<&str>) -> CreateChatCompletionRequest {
    let mut args = CreateChatCompletionRequestArgs::default();
    args.model("gpt-4o")
        .messages(vec![ChatCompletionRequestMessage::User(
            ChatCompletionRequestUserMessage::from(text),
        )]);
    if let Some(u) = user {
        #[allow(deprecated)] // still sent by apps; the cassette ignores it when matching
        args.user(u);
    }
    args.build().expect("request")
}

/// (status, body) of one call, comparable across record and replay.
type Outcome = (u16, Value);

fn outcome<T: serde::Serialize>(r: Result<T, OpenAIError>) -> Outcome {
    match r {
        Ok(v) => (200, serde_json::to_value(v).expect("serializable")),
        Err(OpenAIError::ApiError(e)) => (
            e.status_code.as_u16(),
            json!({"code": e.api_error.code, "message": e.api_error.message}),
        ),
        Err(other) => panic!("unexpected client error {other}"),
    }
}

/// The traffic of one "cell": chat, stream, embeddings, a 429 then a 200, a bearer call.
async fn session(proxy: &str) -> Vec<Outcome> {
    let mut out = Vec::new();
    let chat = azure(proxy, "cell-a", "gpt-4o");
    out.push(outcome(
        chat.chat()
            .create(chat_request("Say hello", Some(SECRET_USER)))
            .await,
    ));

    let mut req = chat_request("Count to 3", None);
    req.stream = Some(true);
    let mut stream = chat.chat().create_stream(req).await.expect("stream");
    let mut chunks = Vec::new();
    while let Some(item) = stream.next().await {
        chunks.push(serde_json::to_value(item.expect("chunk")).expect("json"));
    }
    assert!(chunks.len() > 3, "{chunks:?}");
    out.push((200, Value::Array(chunks)));

    let emb = azure(proxy, "cell-a", "text-embedding-3-small");
    let request = CreateEmbeddingRequestArgs::default()
        .model("text-embedding-3-small")
        .input(vec!["a", "b"])
        .build()
        .expect("embedding request");
    out.push(outcome(emb.embeddings().create(request).await));

    let flaky = azure(proxy, "cell-a", "flaky");
    for _ in 0..2 {
        out.push(outcome(
            flaky.chat().create(chat_request("Say hello", None)).await,
        ));
    }

    let resp = http(proxy, "cell-b")
        .post(format!(
            "{HOST}/openai/deployments/gpt-4o-mini/chat/completions?api-version={GA}"
        ))
        .bearer_auth(CANARY_TOKEN)
        .json(&json!({"messages": [{"role": "user", "content": "Hi"}]}))
        .send()
        .await
        .expect("bearer call");
    let status = resp.status().as_u16();
    out.push((status, resp.json().await.expect("json")));
    out
}

/// Records `session` against a fresh replica and writes it to `dir`.
async fn record(dir: &Path) -> (Vec<Outcome>, Vec<PathBuf>) {
    let mut config = ReplicaConfig::with_builtin_deployments(CANARY_KEY);
    config.deployments.push(
        Deployment::new("flaky", "gpt-4o-2024-08-06")
            .with_fault(Fault::new(FaultKind::RateLimit).times(1)),
    );
    let upstream = replica::start(config).await.expect("replica");
    let mut rc = RecorderConfig::new(upstream.base_url());
    rc.secrets.push(SECRET_USER.to_string());
    let recorder = Recorder::start(rc).await.expect("recorder");
    let outcomes = session(&recorder.proxy_url()).await;
    assert_eq!(recorder.len(), 6);
    let options = WriteOptions {
        label: Some("recorded from the replica posing as live".into()),
        ..Default::default()
    };
    let files = recorder
        .write(dir, &options, &hh_compat::Redactor::default())
        .expect("write");
    recorder.shutdown().await;
    (outcomes, files)
}

#[tokio::test]
async fn record_write_reload_replay_gives_the_same_answers_in_order() {
    let dir = temp_dir("cassette-rr");
    let (recorded, files) = record(&dir).await;
    let statuses: Vec<u16> = recorded.iter().map(|o| o.0).collect();
    assert_eq!(statuses, vec![200, 200, 200, 429, 200, 200]);
    let names: Vec<String> = files
        .iter()
        .filter_map(|p| Some(p.file_name()?.to_str()?.to_string()))
        .collect();
    assert_eq!(names, vec!["cassette.yaml", "cell-a.yaml", "cell-b.yaml"]);

    let store = ReplayStore::load(&dir).expect("load");
    assert_eq!(store.len(), 6);
    let replay = replica::start_replay(store).await.expect("replay");
    assert!(replay.is_replay());
    let replayed = session(&replay.base_url()).await;
    assert_eq!(replayed, recorded);
    assert!(
        replay.replay_misses().is_empty(),
        "{:?}",
        replay.replay_misses()
    );

    // After the recorded 429 and 200, the last answer repeats.
    let again = azure(&replay.base_url(), "cell-a", "flaky")
        .chat()
        .create(chat_request("Say hello", None))
        .await;
    assert_eq!(outcome(again), recorded[4]);

    let journal = replay.journal().for_scope("cell-a");
    let statuses: Vec<u16> = journal.iter().map(|e| e.status).collect();
    assert_eq!(statuses, vec![200, 200, 200, 429, 200, 200]);
    assert_eq!(journal[0].host.as_deref(), Some("contoso.openai.azure.com"));
    assert!(journal[1].stream);
    assert_eq!(journal[3].deployment.as_deref(), Some("flaky"));
    let deployments: Vec<(String, String)> = replay
        .config()
        .deployments
        .iter()
        .map(|d| (d.name.clone(), d.model.clone()))
        .collect();
    assert!(deployments.contains(&("gpt-4o".into(), "gpt-4o-2024-08-06".into())));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn re_recording_is_byte_identical_and_credentials_never_reach_a_file() {
    let (a, b) = (temp_dir("cassette-det-a"), temp_dir("cassette-det-b"));
    let (_, files_a) = record(&a).await;
    let (_, files_b) = record(&b).await;
    assert_eq!(files_a.len(), files_b.len());
    for (fa, fb) in files_a.iter().zip(&files_b) {
        assert_eq!(fa.file_name(), fb.file_name());
        let (ta, tb) = (
            std::fs::read_to_string(fa).expect("a"),
            std::fs::read_to_string(fb).expect("b"),
        );
        assert_eq!(ta, tb, "{} differs between recordings", fa.display());
        for secret in [CANARY_KEY, CANARY_TOKEN, SECRET_USER] {
            assert!(!ta.contains(secret), "{} leaks {secret}", fa.display());
        }
        assert!(!ta.to_ascii_lowercase().contains("api-key:"));
        assert!(!ta.to_ascii_lowercase().contains("authorization"));
    }
    let cell_a = std::fs::read_to_string(a.join("cell-a.yaml")).expect("cell-a");
    assert!(
        cell_a.contains("user: '[REDACTED]'") || cell_a.contains("user: \"[REDACTED]\""),
        "{cell_a}"
    );
    assert!(cell_a.contains("data: '[DONE]'") || cell_a.contains("data: \"[DONE]\""));
    assert!(cell_a.contains("retry-after-ms:"));
    if std::env::var_os("KEEP_CASSETTES").is_none() {
        let _ = std::fs::remove_dir_all(&a);
    } else {
        eprintln!("kept {}", a.display());
    }
    let _ = std::fs::remove_dir_all(&b);
}
