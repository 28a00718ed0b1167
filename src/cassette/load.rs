//! Reading a cassette directory into a [`ReplayStore`].

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::model::{CassetteMeta, Exchange};
use super::scope::{META_FILE, UNSCOPED_STEM};
use super::yaml::{self, MAX_CASSETTE_BYTES};
use super::CassetteError;
use crate::located::Pos;

/// One recorded exchange and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedExchange {
    /// The scope of the file it is in (`None`: `unscoped.yaml`).
    pub scope: Option<String>,
    /// The file as given to [`ReplayStore::load`] joined with its name.
    pub file: String,
    /// The line of the exchange in its file (0 when built in memory).
    pub line: u64,
    pub exchange: Exchange,
}

impl RecordedExchange {
    /// `FILE:LINE`.
    pub fn origin(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

/// A loaded cassette set: its meta (label, match options) and every exchange, files in
/// name order and exchanges in file order.
#[derive(Debug, Clone, Default)]
pub struct ReplayStore {
    dir: PathBuf,
    meta: CassetteMeta,
    exchanges: Vec<RecordedExchange>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    exchanges: Vec<Spanned<Exchange>>,
}

impl ReplayStore {
    /// Loads `dir`: `cassette.yaml` if present, and every other `*.yaml`/`*.yml` file as
    /// one scope's exchanges. Malformed or truncated files give `FILE:LINE:COL` errors.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, CassetteError> {
        let dir = dir.as_ref();
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CassetteError::Io { path, source }
        };
        let mut names: Vec<PathBuf> = Vec::new();
        for path in std::fs::read_dir(dir)
            .map_err(io(dir))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        {
            // Followed, so a dangling or looping link is an error, not a silent gap.
            match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => names.push(path),
                Ok(_) => {}
                Err(e) => {
                    return Err(CassetteError::Parse {
                        file: path.display().to_string(),
                        pos: None,
                        message: format!("cannot be read ({e}): a dangling or looping symlink?"),
                        snippet: None,
                    })
                }
            }
        }
        // The meta file first: a recorded set's manifest says which files must be whole.
        names.sort_by_key(|p| {
            (
                p.file_name().and_then(|n| n.to_str()) != Some(META_FILE),
                p.clone(),
            )
        });
        let mut store = ReplayStore {
            dir: dir.to_path_buf(),
            ..Default::default()
        };
        let mut found_meta = false;
        for path in names {
            let text = read(&path)?;
            let file = path.display().to_string();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name == META_FILE {
                store.meta = yaml::parse(&text, &file)?;
                found_meta = true;
                if !store.meta.files.is_empty() {
                    check_whole(&text, &file)?;
                }
                continue;
            }
            if store.meta.files.iter().any(|f| f == name) {
                check_whole(&text, &file)?;
            }
            let raw: RawFile = yaml::parse(&text, &file)?;
            let scope = raw.scope.or_else(|| {
                let stem = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default();
                (stem != UNSCOPED_STEM).then(|| stem.to_string())
            });
            for spanned in raw.exchanges {
                let pos = yaml::pos_of(&spanned);
                validate(&spanned.value, &file, pos, &text)?;
                store.exchanges.push(RecordedExchange {
                    scope: scope.clone(),
                    file: file.clone(),
                    line: pos.map(|p| p.line).unwrap_or(0),
                    exchange: spanned.value,
                });
            }
        }
        if store.exchanges.is_empty() && !found_meta {
            return Err(CassetteError::Parse {
                file: dir.display().to_string(),
                pos: None,
                message: "no cassette files (*.yaml) in this directory".into(),
                snippet: None,
            });
        }
        Ok(store)
    }

    /// A store built in memory (tests, or traffic that was never written).
    pub fn from_exchanges(meta: CassetteMeta, exchanges: Vec<RecordedExchange>) -> Self {
        Self {
            dir: PathBuf::new(),
            meta,
            exchanges,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn meta(&self) -> &CassetteMeta {
        &self.meta
    }

    pub fn exchanges(&self) -> &[RecordedExchange] {
        &self.exchanges
    }

    pub fn len(&self) -> usize {
        self.exchanges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.exchanges.is_empty()
    }
}

/// Reads a cassette file, refusing one over [`MAX_CASSETTE_BYTES`] before buffering it.
pub(super) fn read(path: &Path) -> Result<String, CassetteError> {
    use std::io::Read;
    let io = |source| CassetteError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    // A regular file says its size: one over the limit is refused without reading it.
    // Anything else (a pipe, a device) is read at most one byte past the limit.
    let declared = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut bytes = Vec::new();
    if declared <= MAX_CASSETTE_BYTES as u64 {
        file.take(MAX_CASSETTE_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
    }
    let file = path.display().to_string();
    if declared > MAX_CASSETTE_BYTES as u64 || bytes.len() > MAX_CASSETTE_BYTES {
        return Err(CassetteError::Parse {
            file,
            pos: None,
            message: format!("larger than {MAX_CASSETTE_BYTES} bytes"),
            snippet: None,
        });
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
        let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&valid[line_start..])
            .chars()
            .count()
            + 1;
        CassetteError::Parse {
            file,
            pos: Some(Pos {
                line: line as u64,
                column: column as u64,
            }),
            message: format!("not UTF-8 text: an invalid byte at offset {}", valid.len()),
            snippet: None,
        }
    })
}

/// A file `hh-compat record` wrote must still end with the line it wrote last: without
/// it the file was cut (a partial copy, a full disk), and what it lacks would otherwise
/// replay as a short stream or a missing exchange — an incompatibility that is not one.
fn check_whole(text: &str, file: &str) -> Result<(), CassetteError> {
    if text.ends_with(super::write::END_MARKER) {
        return Ok(());
    }
    let lines = text.lines().count().max(1) as u64;
    Err(CassetteError::Parse {
        file: file.to_string(),
        pos: Some(Pos {
            line: lines,
            column: 1,
        }),
        message: format!(
            "the file ends before its last line `{}`: it was cut short (a partial copy or a \
             full disk?); record it again",
            super::write::END_MARKER.trim_end()
        ),
        snippet: crate::located::snippet(
            text,
            Pos {
                line: lines,
                column: 1,
            },
        ),
    })
}

/// What the parser cannot check: one body form per message, a path that is a path.
fn validate(e: &Exchange, file: &str, pos: Option<Pos>, text: &str) -> Result<(), CassetteError> {
    let err = |message: &str| {
        Err(CassetteError::Parse {
            file: file.to_string(),
            pos,
            message: message.to_string(),
            snippet: pos.and_then(|p| crate::located::snippet(text, p)),
        })
    };
    if !e.request.path.starts_with('/') {
        return err("request.path must start with `/` (the query goes in request.query)");
    }
    if e.request.path.contains('?') {
        return err("request.path contains `?`: put the query in request.query");
    }
    if e.request.body.is_some() && e.request.text.is_some() {
        return err("a request has either `body` (JSON) or `text`, not both");
    }
    let r = &e.response;
    let forms = [r.body.is_some(), r.events.is_some(), r.text.is_some()];
    if forms.iter().filter(|f| **f).count() > 1 {
        return err("a response has one of `body` (JSON), `events` (a stream) or `text`");
    }
    if !(100..=599).contains(&r.status) {
        return err("response.status must be an HTTP status (100-599)");
    }
    for (name, value) in &r.headers {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return err(&format!(
                "response header name {name:?} is not a valid HTTP header name"
            ));
        }
        if http::HeaderValue::from_str(value).is_err() {
            return err(&format!(
                "response header `{name}` has a value HTTP cannot carry (a line break or a \
                 control character): {value:?}"
            ));
        }
    }
    Ok(())
}
