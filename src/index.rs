//! What the package index has released, asked through pip's own client
//! (`python3 -m pip index versions PKG`), so whatever pip is configured with — the
//! `PIP_INDEX_URL`/`PIP_EXTRA_INDEX_URL`/`PIP_FIND_LINKS` variables, `pip.conf`, a
//! private mirror's credentials — is what is asked, exactly as when the environments
//! are built. Each query is bounded by a timeout, and only a few run at a time.

use crate::pep440;
use futures::stream::{self, StreamExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Bytes of pip's output kept per query (the version list of a busy package is a few KiB).
const MAX_OUTPUT: usize = 256 * 1024;

/// One package to look up: its name, and whether pre-releases count.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Query {
    pub package: String,
    pub pre: bool,
}

/// Why the package index could not say which releases a package has.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// No interpreter whose pip could ask.
    #[error("{0}")]
    NoPython(String),
    /// pip's process could not be started.
    #[error("{package}: `{command}` could not be started: {source}")]
    Start {
        package: String,
        command: String,
        source: std::io::Error,
    },
    /// The query ran out of time (`--timeout`).
    #[error("{package}: the package index did not answer within {}s", .timeout.as_secs())]
    Timeout { package: String, timeout: Duration },
    /// pip ran and failed: the index is unreachable, or does not have the package.
    #[error("{package}: the package index could not be asked ({detail})")]
    Failed { package: String, detail: String },
    /// The index has the package but no release of the kind asked for.
    #[error("{package}: pip listed no {} versions", if *.pre { "" } else { "final (non-pre-release)" })]
    NoVersions { package: String, pre: bool },
}

/// How the index is asked.
#[derive(Debug, Clone)]
pub(crate) struct IndexClient {
    /// The interpreter whose pip asks.
    pub python: PathBuf,
    /// Per query.
    pub timeout: Duration,
    /// Queries at once.
    pub concurrency: usize,
}

impl IndexClient {
    /// The newest release of each query (pre-releases only where the query allows them),
    /// in the order asked; the first failure (in that order) when any query fails.
    pub(crate) async fn newest(
        &self,
        queries: &[Query],
    ) -> Result<Vec<(Query, String)>, IndexError> {
        let results: Vec<Result<(Query, String), IndexError>> = stream::iter(queries.to_vec())
            .map(|q| async move {
                let listed = released(&self.python, &q, self.timeout).await?;
                let newest = pep440::newest(listed.iter().map(String::as_str), q.pre)
                    .map(str::to_string)
                    .ok_or_else(|| IndexError::NoVersions {
                        package: q.package.clone(),
                        pre: q.pre,
                    })?;
                Ok((q, newest))
            })
            .buffered(self.concurrency.max(1))
            .collect()
            .await;
        results.into_iter().collect()
    }
}

/// Every version pip lists for the query's package.
pub(crate) async fn released(
    python: &Path,
    query: &Query,
    timeout: Duration,
) -> Result<Vec<String>, IndexError> {
    let mut cmd = tokio::process::Command::new(python);
    cmd.args([
        "-m",
        "pip",
        "index",
        "versions",
        "--disable-pip-version-check",
        "--no-input",
        "--no-color",
    ]);
    if query.pre {
        cmd.arg("--pre");
    }
    cmd.arg(&query.package);
    let limits = crate::process::Limits {
        timeout,
        stdout: MAX_OUTPUT,
        stderr: 16 * 1024,
    };
    let package = query.package.clone();
    let finished = crate::process::run(cmd, None, limits)
        .await
        .map_err(|source| IndexError::Start {
            package: package.clone(),
            command: format!("{} -m pip index versions", python.display()),
            source,
        })?;
    let Some(status) = finished.status else {
        return Err(IndexError::Timeout { package, timeout });
    };
    let stdout = finished.stdout.text();
    if !status.success() {
        let stderr = finished.stderr.text();
        let detail = stderr
            .lines()
            .chain(stdout.lines())
            .map(str::trim)
            .rfind(|l| !l.is_empty() && !l.contains("experimental command"))
            .unwrap_or("no output")
            .to_string();
        return Err(IndexError::Failed {
            package,
            detail: format!("pip {status}: {detail}"),
        });
    }
    parse_listing(&stdout).ok_or_else(|| IndexError::Failed {
        package,
        detail: "pip's answer has no `Available versions:` line".to_string(),
    })
}

/// The versions of `pip index versions` output: its `Available versions: a, b, c` line.
pub(crate) fn parse_listing(stdout: &str) -> Option<Vec<String>> {
    let line = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Available versions:"))?;
    Some(
        line.split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listing_line_is_read() {
        let out = "fakepkg (1.10.0)\nAvailable versions: 1.10.0, 1.9.0, 1.2\n  INSTALLED: 1.9.0\n";
        assert_eq!(
            parse_listing(out),
            Some(vec!["1.10.0".into(), "1.9.0".into(), "1.2".into()])
        );
        assert_eq!(parse_listing("fakepkg (1.0)\n"), None);
    }
}
