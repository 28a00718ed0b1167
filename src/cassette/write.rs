//! Writing a cassette directory: one file per scope, redacted, byte-for-byte deterministic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::model::{CassetteFile, CassetteMeta, Exchange, MatchOptions};
use super::redact::Redactor;
use super::scope::{self, META_FILE};
use super::CassetteError;

/// How [`write_cassettes`] writes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteOptions {
    /// Where the traffic came from, written to `cassette.yaml`, e.g. "recorded from the
    /// replica posing as live".
    pub label: Option<String>,
    /// A resource host (`contoso.openai.azure.com`) replaced by a placeholder everywhere.
    pub anonymize_host: Option<String>,
    /// Match options written to `cassette.yaml` (default: [`MatchOptions::default`]).
    pub matching: Option<MatchOptions>,
    /// Remove `*.yaml` files in the directory that this write does not produce, so a
    /// re-recording leaves no stale scope behind.
    pub prune: bool,
}

const HEADER: &str = "# hh-compat cassette (format: docs/cassettes.md). Credentials are never \
written; secrets are [REDACTED].\n";

/// Writes `exchanges` (scope, exchange; in request order) under `dir`, one file per scope
/// plus `cassette.yaml`, after redacting with `secrets` and `options.anonymize_host`.
/// Returns the files written, meta file first then by name.
pub fn write_cassettes(
    dir: &Path,
    exchanges: &[(Option<String>, Exchange)],
    secrets: &[String],
    options: &WriteOptions,
) -> Result<Vec<PathBuf>, CassetteError> {
    let redactor = Redactor::new(
        secrets.iter().map(String::as_str),
        options.anonymize_host.as_deref(),
    );
    let mut by_scope: BTreeMap<Option<String>, CassetteFile> = BTreeMap::new();
    for (scope, exchange) in exchanges {
        let file = by_scope
            .entry(scope.clone())
            .or_insert_with(|| CassetteFile {
                scope: scope.as_ref().map(|s| redactor.text(s)),
                exchanges: Vec::new(),
            });
        file.exchanges.push(redactor.exchange(exchange));
    }
    let names = scope::file_names(by_scope.keys().map(Option::as_deref));
    std::fs::create_dir_all(dir).map_err(|source| CassetteError::Io {
        path: dir.to_path_buf(),
        source,
    })?;

    let meta = CassetteMeta {
        label: options.label.as_ref().map(|l| redactor.text(l)),
        matching: options.matching.clone().unwrap_or_default(),
    };
    let mut written = vec![write_yaml(dir, META_FILE, &meta, &redactor, "")?];
    for (scope, file) in &by_scope {
        let Some(name) = names.get(scope) else {
            continue;
        };
        let note = match &file.scope {
            Some(s) => format!("# Requests of the cell scope `{s}`, in request order.\n"),
            None => "# Requests without a scope header, in request order.\n".to_string(),
        };
        written.push(write_yaml(dir, name, file, &redactor, &note)?);
    }
    if options.prune {
        prune(dir, &written)?;
    }
    Ok(written)
}

/// YAML text for one file: the header comments, then the serialized value. The text is
/// scrubbed once more as a whole, so nothing the value-level pass missed gets out.
pub fn to_yaml<T: serde::Serialize>(
    value: &T,
    redactor: &Redactor,
    note: &str,
) -> Result<String, CassetteError> {
    let body =
        serde_saphyr::to_string(value).map_err(|e| CassetteError::Serialize(e.to_string()))?;
    Ok(redactor.text(&format!("{HEADER}{note}{body}")))
}

fn write_yaml<T: serde::Serialize>(
    dir: &Path,
    name: &str,
    value: &T,
    redactor: &Redactor,
    note: &str,
) -> Result<PathBuf, CassetteError> {
    let text = to_yaml(value, redactor, note)?;
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|source| CassetteError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

fn prune(dir: &Path, keep: &[PathBuf]) -> Result<(), CassetteError> {
    let entries = std::fs::read_dir(dir).map_err(|source| CassetteError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for path in entries.filter_map(Result::ok).map(|e| e.path()) {
        let yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        if yaml && path.is_file() && !keep.contains(&path) {
            std::fs::remove_file(&path).map_err(|source| CassetteError::Io {
                path: path.clone(),
                source,
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::model::{RecordedRequest, RecordedResponse, SseEvent};
    use crate::cassette::ReplayStore;
    use serde_json::json;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "hh-compat-cassette-{name}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn tricky() -> Exchange {
        Exchange {
            request: RecordedRequest {
                method: "POST".into(),
                path: "/openai/deployments/gpt-4o/chat/completions".into(),
                query: [("api-version".to_string(), "2024-10-21".to_string())].into(),
                body: Some(
                    json!({"messages": [{"content": "  two  spaces \n line\ttab ", "role": "user"}], "temperature": 0.2, "n": 1, "flag": "yes", "num": "123", "nul": null, "long": "word ".repeat(40)}),
                ),
                text: None,
            },
            response: RecordedResponse {
                status: 200,
                headers: [(
                    "content-type".to_string(),
                    "text/event-stream; charset=utf-8".to_string(),
                )]
                .into(),
                body: None,
                events: Some(vec![
                    SseEvent {
                        event: None,
                        data: json!({"choices": [], "model": "", "embedding": [0.1, -1.5e-7, 1.0, 3.0e10], "x": "[DONE]"}),
                    },
                    SseEvent {
                        event: None,
                        data: json!("{\"broken\":"),
                    },
                    SseEvent {
                        event: None,
                        data: json!("[DONE]"),
                    },
                ]),
                text: None,
            },
        }
    }

    #[test]
    fn round_trips_and_is_deterministic() {
        let dir = temp_dir("roundtrip");
        let traffic = vec![(Some("a/b c".to_string()), tricky()), (None, tricky())];
        let opts = WriteOptions {
            label: Some("unit test".into()),
            ..Default::default()
        };
        let files = write_cassettes(&dir, &traffic, &[], &opts).expect("write");
        let names: Vec<_> = files
            .iter()
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect();
        assert_eq!(names, vec!["cassette.yaml", "unscoped.yaml", "a_b_c.yaml"]);
        let first: Vec<String> = files
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("read"))
            .collect();
        write_cassettes(&dir, &traffic, &[], &opts).expect("again");
        let second: Vec<String> = files
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("read"))
            .collect();
        assert_eq!(first, second);

        let store = ReplayStore::load(&dir).expect("load");
        assert_eq!(store.meta().label.as_deref(), Some("unit test"));
        assert_eq!(store.len(), 2);
        for r in store.exchanges() {
            assert_eq!(r.exchange, tricky(), "{}", r.origin());
            assert!(r.line > 0);
        }
        assert_eq!(store.exchanges()[0].scope.as_deref(), Some("a/b c"));
        assert_eq!(store.exchanges()[1].scope, None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn prune_removes_stale_scopes() {
        let dir = temp_dir("prune");
        write_cassettes(
            &dir,
            &[(Some("old".into()), tricky())],
            &[],
            &WriteOptions::default(),
        )
        .expect("write");
        let opts = WriteOptions {
            prune: true,
            ..Default::default()
        };
        write_cassettes(&dir, &[(Some("new".into()), tricky())], &[], &opts).expect("write");
        assert!(!dir.join("old.yaml").exists());
        assert!(dir.join("new.yaml").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
