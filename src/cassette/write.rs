//! Writing a cassette directory: one file per scope, redacted, byte-for-byte deterministic,
//! each file written atomically. A directory is written only when [`claim`] allows it:
//! empty, or a set this tool recorded (its `cassette.yaml` lists the files it wrote), or
//! forced. Nothing is ever removed: a re-recording of some cells replaces their files and
//! keeps every other cell's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::model::{CassetteFile, CassetteMeta, Exchange, MatchOptions, RecordedTarget};
use super::scope::{self, META_FILE};
use super::CassetteError;
use crate::redact::Redactor;

/// What `record` found in its output directory before the run, and so what it may do there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The directory is missing or empty: everything in it will be the recording's.
    Fresh,
    /// A set this tool recorded: these are the files its `cassette.yaml` lists (the meta
    /// file included); they may be replaced, and they stay listed. Any other file is left
    /// alone, and never overwritten.
    Recorded(Vec<String>),
    /// A directory the tool does not own, written into because the user said `--force`:
    /// files of the same names are replaced, nothing is removed.
    Forced,
}

/// Decides whether `record` may write into `dir`, before anything runs. A non-empty
/// directory that is not a recorded set is refused unless `force`.
pub fn claim(dir: &Path, force: bool) -> Result<Claim, CassetteError> {
    let io = |source| CassetteError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Claim::Fresh),
        Err(e) => return Err(io(e)),
    };
    let names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if names.is_empty() {
        return Ok(Claim::Fresh);
    }
    if let Some(files) = recorded_files(dir) {
        return Ok(Claim::Recorded(files));
    }
    if force {
        return Ok(Claim::Forced);
    }
    let mut shown: Vec<&str> = names.iter().map(String::as_str).collect();
    shown.sort_unstable();
    let more = shown.len().saturating_sub(5);
    shown.truncate(5);
    Err(CassetteError::Refused {
        dir: dir.to_path_buf(),
        reason: format!(
            "it is not empty and is not a cassette set `hh-compat record` wrote (it holds {}{}); \
             record into a new directory, or pass --force to write into it anyway \
             (files of the same names are replaced, nothing is removed)",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ),
    })
}

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
    /// What the directory held before, from [`claim`]: decides which existing files may
    /// be replaced, and the manifest written to `cassette.yaml`. `None`: anything may be
    /// replaced and no manifest is written (hand-made sets, tests).
    pub claim: Option<Claim>,
    /// The resource recorded from, written to `cassette.yaml` (host anonymized too).
    pub target: Option<RecordedTarget>,
}

/// The last line of every file `record` writes: a file that lacks it was cut short.
pub(super) const END_MARKER: &str = "# end of cassette\n";

const HEADER: &str = "# hh-compat cassette (format: docs/cassettes.md). Credentials are never \
written; secrets are [REDACTED].\n";

/// Writes `exchanges` (scope, exchange; in request order) under `dir`, one file per scope
/// plus `cassette.yaml`, after redacting with `run_redactor`, `secrets` and
/// `options.anonymize_host`.
/// Returns the files written, meta file first then by name.
pub fn write_cassettes(
    dir: &Path,
    exchanges: &[(Option<String>, Exchange)],
    secrets: &[String],
    run_redactor: &Redactor,
    options: &WriteOptions,
) -> Result<Vec<PathBuf>, CassetteError> {
    let mut redactor = run_redactor.clone();
    redactor.add(secrets.iter().map(String::as_str));
    redactor.anonymize(options.anonymize_host.as_deref());
    let mut by_scope: BTreeMap<Option<String>, CassetteFile> = BTreeMap::new();
    for (scope, exchange) in exchanges {
        // Keyed by the redacted scope: file names are derived from it too.
        let scope = scope.as_ref().map(|s| redactor.text(s));
        let file = by_scope
            .entry(scope.clone())
            .or_insert_with(|| CassetteFile {
                scope,
                exchanges: Vec::new(),
            });
        file.exchanges
            .push(super::redact::exchange(&redactor, exchange));
    }
    let names = scope::file_names(by_scope.keys().map(Option::as_deref));
    std::fs::create_dir_all(dir).map_err(|source| CassetteError::Io {
        path: dir.to_path_buf(),
        source,
    })?;

    let mut scope_files: Vec<String> = names.values().cloned().collect();
    scope_files.sort();
    check_overwrites(dir, &scope_files, options.claim.as_ref())?;
    let meta = CassetteMeta {
        files: manifest(&scope_files, options.claim.as_ref()),
        label: options.label.as_ref().map(|l| redactor.text(l)),
        matching: options.matching.clone().unwrap_or_default(),
        target: options.target.as_ref().map(|t| {
            let new = RecordedTarget {
                host: redactor.text(&t.host),
                api_version: t.api_version.clone(),
                deployments: t.deployments.clone(),
            };
            merged_target(dir, options.claim.as_ref(), new)
        }),
    };
    let mut written = Vec::with_capacity(by_scope.len() + 1);
    for (scope, file) in &by_scope {
        let Some(name) = names.get(scope) else {
            continue;
        };
        let note = match &file.scope {
            Some(s) => format!("# Requests of the cell scope `{s}`, in request order.\n"),
            None => "# Requests without a scope header, in request order.\n".to_string(),
        };
        written.push(write_yaml(dir, name, file, &note)?);
    }
    // The manifest last: if a scope file could not be written, the previous manifest
    // (or none) still describes what is there.
    written.insert(0, write_yaml(dir, META_FILE, &meta, "")?);
    Ok(written)
}

/// YAML text for one file: the header comments, then the serialized value. Every string
/// in the value (keys included) was redacted before; the YAML text itself is never
/// rewritten, since replacing inside serialized text can break its quoting.
pub(super) fn to_yaml<T: serde::Serialize>(value: &T, note: &str) -> Result<String, CassetteError> {
    let body =
        serde_saphyr::to_string(value).map_err(|e| CassetteError::Serialize(e.to_string()))?;
    Ok(format!("{HEADER}{note}{body}{END_MARKER}"))
}

fn write_yaml<T: serde::Serialize>(
    dir: &Path,
    name: &str,
    value: &T,
    note: &str,
) -> Result<PathBuf, CassetteError> {
    let text = to_yaml(value, note)?;
    let path = dir.join(name);
    crate::atomic::write(&path, text.as_bytes()).map_err(|source| CassetteError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// The meta file a previous recording wrote in `dir`, if it lists its files.
fn recorded_meta(dir: &Path) -> Option<CassetteMeta> {
    let path = dir.join(META_FILE);
    let text = super::load::read(&path).ok()?;
    let meta: CassetteMeta = super::yaml::parse(&text, &path.display().to_string()).ok()?;
    (!meta.files.is_empty()).then_some(meta)
}

/// The files a previous recording listed in `dir/cassette.yaml`, meta file included;
/// `None` when the directory holds no such manifest.
fn recorded_files(dir: &Path) -> Option<Vec<String>> {
    let mut files = recorded_meta(dir)?.files;
    files.push(META_FILE.to_string());
    // Only plain names in this directory: a hand-edited manifest cannot reach elsewhere.
    files.retain(|f| {
        Path::new(f)
            .file_name()
            .map(|n| n == f.as_str())
            .unwrap_or(false)
    });
    Some(files)
}

/// The target written after a re-recording of some cells: the deployments the earlier
/// recording aimed the other cells at are kept when it was the same resource.
fn merged_target(dir: &Path, claim: Option<&Claim>, new: RecordedTarget) -> RecordedTarget {
    let Some(Claim::Recorded(_)) = claim else {
        return new;
    };
    match recorded_meta(dir).and_then(|m| m.target) {
        Some(old) if old.host == new.host && old.api_version == new.api_version => {
            let mut deployments = old.deployments;
            deployments.extend(new.deployments);
            RecordedTarget { deployments, ..new }
        }
        _ => new,
    }
}

/// Refuses to replace a file the directory held that the previous recording did not write.
fn check_overwrites(
    dir: &Path,
    scope_files: &[String],
    claim: Option<&Claim>,
) -> Result<(), CassetteError> {
    // A directory that was empty when claimed may have been filled since (a second
    // recording into it): nothing in it may be replaced either.
    let previous: &[String] = match claim {
        Some(Claim::Recorded(previous)) => previous,
        Some(Claim::Fresh) => &[],
        Some(Claim::Forced) | None => return Ok(()),
    };
    for name in scope_files.iter().map(String::as_str).chain([META_FILE]) {
        // Not followed: a symlink there (even a dangling one) is someone's file.
        let present = std::fs::symlink_metadata(dir.join(name)).is_ok();
        if present && !previous.iter().any(|p| p == name) {
            return Err(CassetteError::Refused {
                dir: dir.to_path_buf(),
                reason: format!(
                    "the recording would replace {name}, which the previous recording did not \
                     write; move it away or record into a new directory"
                ),
            });
        }
    }
    Ok(())
}

/// The scope files `cassette.yaml` lists after this write: the ones written now, plus
/// those an earlier recording listed that are still there (other cells' cassettes).
fn manifest(scope_files: &[String], claim: Option<&Claim>) -> Vec<String> {
    let mut files = scope_files.to_vec();
    if let Some(Claim::Recorded(previous)) = claim {
        files.extend(previous.iter().filter(|f| f.as_str() != META_FILE).cloned());
    }
    files.sort();
    files.dedup();
    files
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
        let files =
            write_cassettes(&dir, &traffic, &[], &Redactor::default(), &opts).expect("write");
        let names: Vec<_> = files
            .iter()
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect();
        assert_eq!(names, vec!["cassette.yaml", "unscoped.yaml", "a_b_c.yaml"]);
        let first: Vec<String> = files
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("read"))
            .collect();
        write_cassettes(&dir, &traffic, &[], &Redactor::default(), &opts).expect("again");
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

    fn recorded(dir: &Path, scope: &str) -> Vec<PathBuf> {
        let claim = claim(dir, false).expect("claim");
        let opts = WriteOptions {
            claim: Some(claim),
            ..Default::default()
        };
        write_cassettes(
            dir,
            &[(Some(scope.into()), tricky())],
            &[],
            &Redactor::default(),
            &opts,
        )
        .expect("write")
    }

    #[test]
    fn a_re_recording_keeps_other_cells_and_the_users_files() {
        let dir = temp_dir("rerecord");
        recorded(&dir, "old");
        std::fs::write(dir.join("notes.yaml"), "mine").expect("user file");
        std::fs::write(dir.join("README.md"), "mine").expect("user file");
        recorded(&dir, "new");
        recorded(&dir, "new");
        assert!(
            dir.join("old.yaml").exists(),
            "another cell's cassette kept"
        );
        assert!(dir.join("new.yaml").exists());
        assert_eq!(
            claim(&dir, false).expect("claim"),
            Claim::Recorded(vec!["new.yaml".into(), "old.yaml".into(), META_FILE.into()])
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("notes.yaml")).expect("kept"),
            "mine"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("README.md")).expect("kept"),
            "mine"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_directory_it_does_not_own_is_refused_unless_forced() {
        let dir = temp_dir("foreign");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("docker-compose.yaml"), "services: {}").expect("user file");
        let err = claim(&dir, false).expect_err("refused");
        assert!(err.to_string().contains("docker-compose.yaml"), "{err}");
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(claim(&dir, true).expect("forced"), Claim::Forced);
        let opts = WriteOptions {
            claim: Some(Claim::Forced),
            ..Default::default()
        };
        write_cassettes(
            &dir,
            &[(Some("a".into()), tricky())],
            &[],
            &Redactor::default(),
            &opts,
        )
        .expect("write");
        assert!(dir.join("docker-compose.yaml").exists(), "nothing removed");
        // Once written, the set is the recorder's: no --force needed to re-record.
        assert!(matches!(claim(&dir, false), Ok(Claim::Recorded(_))));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_user_file_the_recording_would_replace_is_refused() {
        let dir = temp_dir("collide");
        recorded(&dir, "old");
        std::fs::write(dir.join("new.yaml"), "mine").expect("user file");
        let opts = WriteOptions {
            claim: Some(claim(&dir, false).expect("claim")),
            ..Default::default()
        };
        let err = write_cassettes(
            &dir,
            &[(Some("new".into()), tricky())],
            &[],
            &Redactor::default(),
            &opts,
        )
        .expect_err("refused");
        assert!(err.to_string().contains("new.yaml"), "{err}");
        assert_eq!(
            std::fs::read_to_string(dir.join("new.yaml")).expect("kept"),
            "mine"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_and_empty_directories_are_fresh() {
        let dir = temp_dir("fresh");
        assert_eq!(claim(&dir, false).expect("missing"), Claim::Fresh);
        std::fs::create_dir_all(&dir).expect("mkdir");
        assert_eq!(claim(&dir, false).expect("empty"), Claim::Fresh);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn redacted_values_still_load() {
        let dir = temp_dir("redacted-loads");
        let mut e = tricky();
        e.request.body = Some(serde_json::json!({
            "messages": [{"role": "user", "content": "A_TOKEN=abcdefghij\"tail\u{7} and canary-secret-123"}]
        }));
        let files = write_cassettes(
            &dir,
            &[(Some("s".into()), e)],
            &["canary-secret-123".to_string()],
            &Redactor::default(),
            &WriteOptions::default(),
        )
        .expect("write");
        let text = std::fs::read_to_string(&files[1]).expect("read");
        assert!(
            !text.contains("canary-secret") && !text.contains("abcdefghij"),
            "{text}"
        );
        let store = ReplayStore::load(&dir).expect("the written set loads");
        let body = store.exchanges()[0]
            .exchange
            .request
            .body
            .clone()
            .expect("body");
        assert_eq!(
            body["messages"][0]["content"],
            "A_TOKEN=[REDACTED]\"tail\u{7} and [REDACTED]"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
