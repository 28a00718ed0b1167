//! The live target's settings: which resource, which credential and which deployment
//! names, read from the environment (and a `.env` file) before any call is made.
//!
//! Every missing variable is reported at once, with what it is for, so a nightly job
//! is fixed in one edit rather than one variable per failed run.

use crate::cassette::RecordedTarget;
pub use crate::drivers::Credential;
use crate::matrix::{Cell, Matrix};
use crate::vocab::Provider;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The endpoint of the Azure OpenAI resource, e.g. `https://contoso.openai.azure.com/`.
pub(crate) const ENDPOINT: &str = "AZURE_OPENAI_ENDPOINT";
/// An API key of the resource.
pub(crate) const API_KEY: &str = "AZURE_OPENAI_API_KEY";
/// A Microsoft Entra ID access token for the resource (instead of a key).
pub(crate) const AD_TOKEN: &str = "AZURE_OPENAI_AD_TOKEN";
/// A shell command that prints an Entra ID token (managed identity, `az` CLI…).
pub(crate) const AD_TOKEN_COMMAND: &str = "AZURE_OPENAI_AD_TOKEN_COMMAND";
/// The dated api-version for deployment URLs; defaults to the matrix's.
pub(crate) const API_VERSION: &str = "AZURE_OPENAI_API_VERSION";

/// The longest a token command may take.
const TOKEN_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Where variables are looked up: the process environment first, then a `.env` file.
#[derive(Clone, Default)]
pub struct EnvSource {
    process: BTreeMap<String, String>,
    file: BTreeMap<String, String>,
    file_path: Option<PathBuf>,
}

impl fmt::Debug for EnvSource {
    // Values are credentials; only names are ever shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvSource")
            .field("process", &self.process.keys().collect::<Vec<_>>())
            .field("file", &self.file.keys().collect::<Vec<_>>())
            .field("file_path", &self.file_path)
            .finish()
    }
}

impl EnvSource {
    /// The process environment, plus `env_file` when given (an error if it cannot be
    /// read) or `./.env` when it exists.
    pub fn load(env_file: Option<&Path>) -> Result<Self, LiveError> {
        let process = std::env::vars().collect();
        let (path, required) = match env_file {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(".env"), false),
        };
        let mut source = EnvSource {
            process,
            ..Self::default()
        };
        if required || path.is_file() {
            source.file = read_env_file(&path)?;
            source.file_path = Some(path);
        }
        Ok(source)
    }

    /// A source from explicit maps (tests, embedding).
    pub fn from_maps(process: BTreeMap<String, String>, file: BTreeMap<String, String>) -> Self {
        Self {
            process,
            file,
            file_path: None,
        }
    }

    /// The value of `name`; empty values count as unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.process
            .get(name)
            .or_else(|| self.file.get(name))
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }
}

fn read_env_file(path: &Path) -> Result<BTreeMap<String, String>, LiveError> {
    let fail = |reason: String| LiveError::EnvFile {
        path: path.to_path_buf(),
        reason,
    };
    let iter = dotenvy::from_path_iter(path).map_err(|e| fail(e.to_string()))?;
    let mut out = BTreeMap::new();
    for item in iter {
        match item {
            Ok((k, v)) => {
                out.insert(k, v);
            }
            // The offending line may hold a secret: name its number, never its text.
            Err(dotenvy::Error::LineParse(line, _)) => {
                let text = std::fs::read_to_string(path).unwrap_or_default();
                let number = text
                    .lines()
                    .position(|l| l.trim_end() == line.trim_end())
                    .map(|i| format!("line {}", i + 1))
                    .unwrap_or_else(|| "a line".to_string());
                return Err(fail(format!(
                    "{number} is not `NAME=value` (its text is not shown: it may hold a secret)"
                )));
            }
            Err(e) => return Err(fail(e.to_string())),
        }
    }
    Ok(out)
}

/// A variable the live run needs but does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingVar {
    /// The variable, or alternatives joined by " or ".
    pub name: String,
    pub purpose: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("{}", missing_message(.0))]
    Missing(Vec<MissingVar>),
    #[error("{name}: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("{}: {reason}", .path.display())]
    EnvFile { path: PathBuf, reason: String },
    #[error("{var}: {reason}")]
    InvalidDeployment { var: String, reason: String },
    #[error("{AD_TOKEN_COMMAND} failed: {0}")]
    TokenCommand(String),
    #[error("the live target supports the azure-openai and azure-openai-v1 providers, not {0}")]
    Provider(Provider),
    #[error("deployment `{deployment}` (used by {cells}) has no entry under `live.deployments` in {origin}; add `{deployment}: SOME_ENV_VAR` there")]
    Unmapped {
        deployment: String,
        cells: String,
        origin: String,
    },
}

fn missing_message(missing: &[MissingVar]) -> String {
    let mut out = format!(
        "the live target needs {} more environment variable{} (set them, or put them in .env; see env.example):",
        missing.len(),
        if missing.len() == 1 { "" } else { "s" }
    );
    for m in missing {
        out.push_str(&format!("\n  {}\n      {}", m.name, m.purpose));
    }
    out
}

/// How to reach the live resource. `Debug` never shows the credential.
#[derive(Debug, Clone)]
pub struct LiveSettings {
    /// `https://contoso.openai.azure.com` (scheme, host and port only).
    pub endpoint_origin: String,
    /// The host the spans should name.
    pub host: String,
    pub api_version: Option<String>,
    pub credential: Credential,
    /// Matrix deployment name → live deployment name.
    pub deployments: BTreeMap<String, String>,
}

impl LiveSettings {
    /// The resource's host, API version and deployment names, as the cassettes record
    /// them and the matrix is aimed at.
    pub fn recorded_target(&self) -> RecordedTarget {
        RecordedTarget {
            host: self.host.clone(),
            api_version: self.api_version.clone(),
            deployments: self.deployments.clone(),
        }
    }

    /// Reads everything `cells` of `matrix` need from `env`; every missing variable is
    /// named at once. Runs the token command when that is how the token comes.
    pub fn resolve(matrix: &Matrix, cells: &[Cell], env: &EnvSource) -> Result<Self, LiveError> {
        let provider = matrix.provider();
        if provider == Provider::OpenAi {
            return Err(LiveError::Provider(provider));
        }
        let mut missing = Vec::new();
        let endpoint = env.get(ENDPOINT);
        if endpoint.is_none() {
            missing.push(MissingVar {
                name: ENDPOINT.into(),
                purpose: "the resource's endpoint, e.g. https://contoso.openai.azure.com/".into(),
            });
        }
        let has_auth = [API_KEY, AD_TOKEN, AD_TOKEN_COMMAND]
            .iter()
            .any(|v| env.get(v).is_some());
        if !has_auth {
            missing.push(MissingVar {
                name: format!("{API_KEY} or {AD_TOKEN} or {AD_TOKEN_COMMAND}"),
                purpose: "how to authenticate: a key, an Entra ID token, or a command printing one"
                    .into(),
            });
        }
        let mut deployments = BTreeMap::new();
        let mut wanted: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for cell in cells {
            for d in cell.plan.deployments() {
                wanted.entry(d.name.as_str()).or_default().push(&cell.id);
            }
        }
        let mut asked: BTreeSet<&str> = BTreeSet::new();
        for (deployment, users) in &wanted {
            let Some(var) = matrix.live().variable_for(deployment) else {
                return Err(LiveError::Unmapped {
                    deployment: deployment.to_string(),
                    cells: summarize(users),
                    origin: matrix.origin().to_string(),
                });
            };
            match env.get(var) {
                Some(live) => {
                    crate::matrix::check_deployment_name(live).map_err(|reason| {
                        LiveError::InvalidDeployment {
                            var: var.to_string(),
                            reason,
                        }
                    })?;
                    deployments.insert(deployment.to_string(), live.to_string());
                }
                None if asked.insert(var) => missing.push(MissingVar {
                    name: var.to_string(),
                    purpose: format!(
                        "the live name of the matrix's deployment `{deployment}` ({})",
                        matrix
                            .deployments()
                            .iter()
                            .find(|d| d.name == *deployment)
                            .map(|d| format!("a {} deployment", d.model))
                            .unwrap_or_default()
                    ),
                }),
                None => {}
            }
        }
        if !missing.is_empty() {
            return Err(LiveError::Missing(missing));
        }
        let (endpoint_origin, host) = parse_endpoint(endpoint.unwrap_or_default())?;
        let credential = if let Some(key) = env.get(API_KEY) {
            Credential::ApiKey(key.to_string())
        } else if let Some(token) = env.get(AD_TOKEN) {
            Credential::EntraToken(token.to_string())
        } else {
            Credential::EntraToken(run_token_command(
                env.get(AD_TOKEN_COMMAND).unwrap_or_default(),
            )?)
        };
        let api_version = match provider {
            Provider::AzureOpenAi => env
                .get(API_VERSION)
                .map(str::to_string)
                .or_else(|| matrix.target().api_version.clone()),
            _ => None,
        };
        Ok(LiveSettings {
            endpoint_origin,
            host,
            api_version,
            credential,
            deployments,
        })
    }
}

fn summarize(cells: &[&str]) -> String {
    match cells {
        [one] => one.to_string(),
        [first, rest @ ..] => format!("{first} and {} more cell(s)", rest.len()),
        [] => String::new(),
    }
}

/// `https://contoso.openai.azure.com/openai/` → (`https://contoso.openai.azure.com`, host).
fn parse_endpoint(raw: &str) -> Result<(String, String), LiveError> {
    let invalid = |reason: String| LiveError::Invalid {
        name: ENDPOINT,
        reason,
    };
    let url = reqwest::Url::parse(raw).map_err(|e| invalid(format!("not a URL ({e})")))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(invalid(format!(
            "scheme `{}`; expected https://RESOURCE.openai.azure.com/",
            url.scheme()
        )));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid("the URL has no host".to_string()))?
        .to_ascii_lowercase();
    let origin = match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    };
    Ok((origin, host))
}

/// Runs the token command through the shell and returns what it printed, trimmed.
fn run_token_command(command: &str) -> Result<String, LiveError> {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    use std::sync::mpsc;
    let child = Command::new("sh")
        .args(["-c", command])
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| LiveError::TokenCommand(format!("could not start `sh`: {e}")))?;
    let group = i32::try_from(child.id()).unwrap_or(0);
    crate::process::track_group(group);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = rx
        .recv_timeout(TOKEN_COMMAND_TIMEOUT)
        .map_err(|_| {
            // The command and whatever it started (an `az` CLI, a browser login).
            crate::process::kill_group(group);
            crate::process::forget_group(group);
            LiveError::TokenCommand(format!(
                "it did not finish within {}s",
                TOKEN_COMMAND_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| LiveError::TokenCommand(e.to_string()))?;
    crate::process::forget_group(group);
    let token = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if !output.status.success() {
        // Whatever it printed on stdout may be the token: never echo it with stderr.
        let redactor = crate::redact::Redactor::new(token.lines(), None);
        let stderr = redactor.text(&String::from_utf8_lossy(&output.stderr));
        let tail = crate::drivers::venv::tail(stderr.trim(), 400);
        return Err(LiveError::TokenCommand(format!(
            "{} ({tail})",
            output.status
        )));
    }
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(LiveError::TokenCommand(
            "it must print exactly one token on stdout".to_string(),
        ));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::parse_str;

    const MATRIX: &str = r#"
provider: azure-openai
target: {resource: contoso, api_version: "2024-10-21"}
deployments:
  gpt-4o: {model: gpt-4o-2024-08-06}
  emb: {model: text-embedding-3-small}
styles: [openinference]
features:
  chat: {deployment: gpt-4o}
  embeddings: {deployment: emb}
expect:
  all:
    llm: {attributes: {server.address: "{host}"}}
live:
  deployments:
    gpt-4o: AZURE_OPENAI_DEPLOYMENT_NAME
    emb: AZURE_OPENAI_EMBEDDING_DEPLOYMENT
"#;

    fn env(pairs: &[(&str, &str)]) -> EnvSource {
        EnvSource::from_maps(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            BTreeMap::new(),
        )
    }

    #[test]
    fn every_missing_variable_is_named_at_once() {
        let m = parse_str(MATRIX, "m.yaml").expect("valid");
        let err = LiveSettings::resolve(&m, &m.cells(), &env(&[])).expect_err("missing");
        let LiveError::Missing(missing) = &err else {
            panic!("{err}")
        };
        let names: Vec<&str> = missing.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                ENDPOINT,
                "AZURE_OPENAI_API_KEY or AZURE_OPENAI_AD_TOKEN or AZURE_OPENAI_AD_TOKEN_COMMAND",
                "AZURE_OPENAI_EMBEDDING_DEPLOYMENT",
                "AZURE_OPENAI_DEPLOYMENT_NAME",
            ]
        );
        assert!(err.to_string().contains("text-embedding-3-small"), "{err}");
    }

    #[test]
    fn only_the_selected_cells_deployments_are_needed() {
        let m = parse_str(MATRIX, "m.yaml").expect("valid");
        let chat: Vec<Cell> = m
            .cells()
            .into_iter()
            .filter(|c| c.id.contains("/chat/"))
            .collect();
        let e = env(&[
            (ENDPOINT, "https://Fabrikam.openai.azure.com/openai/"),
            (API_KEY, "k"),
            ("AZURE_OPENAI_DEPLOYMENT_NAME", "prod-4o"),
        ]);
        let s = LiveSettings::resolve(&m, &chat, &e).expect("complete");
        assert_eq!(s.endpoint_origin, "https://fabrikam.openai.azure.com");
        assert_eq!(s.host, "fabrikam.openai.azure.com");
        assert_eq!(s.api_version.as_deref(), Some("2024-10-21"));
        assert_eq!(s.deployments["gpt-4o"], "prod-4o");
        assert_eq!(s.credential, Credential::ApiKey("k".into()));
        assert!(!format!("{s:?}").contains("\"k\""));
    }

    #[test]
    fn the_process_environment_wins_over_the_env_file() {
        let e = EnvSource::from_maps(
            BTreeMap::from([("A".to_string(), "process".to_string())]),
            BTreeMap::from([
                ("A".to_string(), "file".to_string()),
                ("B".to_string(), "file".to_string()),
                ("C".to_string(), "  ".to_string()),
            ]),
        );
        assert_eq!(e.get("A"), Some("process"));
        assert_eq!(e.get("B"), Some("file"));
        assert_eq!(e.get("C"), None);
    }

    #[test]
    fn a_token_comes_from_the_token_command() {
        let m = parse_str(MATRIX, "m.yaml").expect("valid");
        let chat: Vec<Cell> = m
            .cells()
            .into_iter()
            .filter(|c| c.id.contains("/chat/"))
            .collect();
        let mut pairs = vec![
            (ENDPOINT, "http://127.0.0.1:9/"),
            ("AZURE_OPENAI_DEPLOYMENT_NAME", "x"),
            (AD_TOKEN_COMMAND, "printf 'eyJ.token.sig\\n'"),
        ];
        let s = LiveSettings::resolve(&m, &chat, &env(&pairs)).expect("token");
        assert_eq!(s.credential, Credential::EntraToken("eyJ.token.sig".into()));
        pairs[2] = (AD_TOKEN_COMMAND, "echo nope >&2; exit 3");
        let e = LiveSettings::resolve(&m, &chat, &env(&pairs)).expect_err("fails");
        assert!(e.to_string().contains("nope"), "{e}");
        // A command that printed its token and then failed: the token is not echoed.
        pairs[2] = (
            AD_TOKEN_COMMAND,
            "t=canary-token-0123456789; echo $t; echo \"refresh failed for $t\" >&2; exit 1",
        );
        let e = LiveSettings::resolve(&m, &chat, &env(&pairs)).expect_err("fails");
        assert!(e.to_string().contains("refresh failed for"), "{e}");
        assert!(!e.to_string().contains("canary-token"), "{e}");
    }

    #[test]
    fn unmapped_deployments_and_bad_endpoints_are_explained() {
        let m = parse_str(
            &MATRIX.replace("    emb: AZURE_OPENAI_EMBEDDING_DEPLOYMENT\n", ""),
            "m.yaml",
        )
        .expect("valid");
        let e = LiveSettings::resolve(&m, &m.cells(), &env(&[])).expect_err("unmapped");
        assert!(e.to_string().contains("`emb`"), "{e}");
        assert!(matches!(
            parse_endpoint("ftp://x"),
            Err(LiveError::Invalid { .. })
        ));
        assert!(matches!(
            parse_endpoint("not a url"),
            Err(LiveError::Invalid { .. })
        ));
    }

    #[test]
    fn a_broken_env_file_names_the_line_but_not_its_text() {
        let dir = std::env::temp_dir().join(format!("hh-compat-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join(".env");
        std::fs::write(&path, "A=1\nsecret-value-xyz\n").expect("write");
        let e = EnvSource::load(Some(&path)).expect_err("bad line");
        let text = e.to_string();
        assert!(text.contains("line 2"), "{text}");
        assert!(!text.contains("secret-value-xyz"), "{text}");
        std::fs::write(&path, "A=1\n# comment\nB=\"two\"\n").expect("write");
        let ok = EnvSource::load(Some(&path)).expect("parses");
        assert_eq!(ok.get("B"), Some("two"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
