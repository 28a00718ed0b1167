//! `hh-compat replica serve`: the replica as a standalone process, and its flag parsers.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;

use super::config::{Deployment, DeploymentKind, Fault, FaultKind, ReplicaConfig};
use super::{start_on, ReplicaError};

/// Options of `replica serve`, already parsed (see [`parse_deployment_flag`], [`parse_fault_flag`]).
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub addr: SocketAddr,
    pub api_key: String,
    /// Empty means the built-in set.
    pub deployments: Vec<Deployment>,
    /// (deployment name, fault) pairs, applied in order.
    pub faults: Vec<(String, Fault)>,
    /// Answer from the cassettes in this directory instead of generating (deployments,
    /// faults and the key are then unused).
    pub fixtures: Option<std::path::PathBuf>,
    /// Microseconds between two chunks of a streamed answer.
    pub stream_interval_us: u64,
    /// The month whose shapes the replica answers in; `None`: the newest.
    pub shapes: Option<super::Shapes>,
}

impl ServeOptions {
    pub fn new(api_key: impl Into<String>) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_key: api_key.into(),
            deployments: Vec::new(),
            faults: Vec::new(),
            fixtures: None,
            stream_interval_us: super::config::DEFAULT_STREAM_INTERVAL_US,
            shapes: None,
        }
    }

    /// The replica configuration these options describe.
    pub fn to_config(&self) -> Result<ReplicaConfig, ReplicaError> {
        let mut config = ReplicaConfig::with_builtin_deployments(self.api_key.clone());
        config.stream_interval_us = self.stream_interval_us;
        config.shapes = self.shapes;
        if !self.deployments.is_empty() {
            config.deployments = self.deployments.clone();
        }
        for (name, fault) in &self.faults {
            let known: Vec<String> = config.deployments.iter().map(|d| d.name.clone()).collect();
            let Some(dep) = config.deployments.iter_mut().find(|d| &d.name == name) else {
                let hint = crate::vocab::did_you_mean(name, known.iter().map(String::as_str))
                    .map(|s| format!(" (did you mean {s:?}?)"))
                    .unwrap_or_default();
                return Err(ReplicaError::Flag {
                    flag: "--fault",
                    value: name.clone(),
                    reason: format!(
                        "no deployment named {name:?}{hint}; deployments: {}",
                        known.join(", ")
                    ),
                });
            };
            dep.faults.push(fault.clone());
        }
        Ok(config)
    }
}

fn flag_err(flag: &'static str, value: &str, reason: impl Into<String>) -> ReplicaError {
    ReplicaError::Flag {
        flag,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Parses `NAME=MODEL[,kind=chat|embedding]` (e.g. `chat=gpt-4o-2024-08-06`, or
/// `vectors=my-custom-model,kind=embedding` for a model whose name does not say its kind).
pub fn parse_deployment_flag(value: &str) -> Result<Deployment, ReplicaError> {
    let (name, rest) = value.split_once('=').ok_or_else(|| {
        flag_err(
            "--deployment",
            value,
            "expected NAME=MODEL[,kind=chat|embedding], e.g. gpt-4o=gpt-4o-2024-08-06",
        )
    })?;
    let mut parts = rest.split(',');
    let model = parts.next().unwrap_or_default();
    let mut kind = None;
    for option in parts {
        kind = Some(match option.trim().split_once('=') {
            Some(("kind", "chat")) => DeploymentKind::Chat,
            Some(("kind", "embedding")) => DeploymentKind::Embedding,
            _ => {
                return Err(flag_err(
                    "--deployment",
                    value,
                    format!("option {option:?} is not kind=chat or kind=embedding"),
                ))
            }
        });
    }
    let (name, model) = (name.trim(), model.trim());
    if name.is_empty() || model.is_empty() {
        return Err(flag_err(
            "--deployment",
            value,
            "both NAME and MODEL must be non-empty",
        ));
    }
    if name.contains('/') {
        return Err(flag_err(
            "--deployment",
            value,
            "a deployment NAME cannot contain '/'",
        ));
    }
    let mut deployment = Deployment::new(name, model);
    deployment.kind = kind;
    Ok(deployment)
}

const FAULT_NAMES: &[&str] = &[
    "rate_limit",
    "server_error",
    "service_unavailable",
    "timeout",
    "prompt_filter",
    "output_filter",
    "async_filter",
    "truncated_stream",
    "malformed_chunk",
    "latency",
];

fn fault_kind(value: &str, kind: &str) -> Result<FaultKind, ReplicaError> {
    let normalized = kind.trim().replace('-', "_");
    serde_json::from_value::<FaultKind>(serde_json::Value::String(normalized.clone())).map_err(
        |_| {
            let hint = crate::vocab::did_you_mean(&normalized, FAULT_NAMES.iter().copied())
                .map(|s| format!("did you mean {s:?}? "))
                .unwrap_or_default();
            flag_err(
                "--fault",
                value,
                format!(
                    "unknown fault kind {kind:?}; {hint}expected one of {}",
                    FAULT_NAMES.join(", ")
                ),
            )
        },
    )
}

/// Parses `NAME=KIND[,times=N][,retry_after_ms=M][,ms=M]`.
pub fn parse_fault_flag(value: &str) -> Result<(String, Fault), ReplicaError> {
    let (name, rest) = value.split_once('=').ok_or_else(|| {
        flag_err("--fault", value, "expected NAME=KIND[,times=N][,retry_after_ms=M][,ms=M], e.g. gpt-4o=rate_limit,times=2")
    })?;
    let name = name.trim();
    if name.is_empty() {
        return Err(flag_err("--fault", value, "the deployment NAME is empty"));
    }
    let mut parts = rest.split(',');
    let kind = fault_kind(value, parts.next().unwrap_or_default())?;
    let mut fault = Fault::new(kind);
    for option in parts {
        let (key, raw) = option.split_once('=').ok_or_else(|| {
            flag_err(
                "--fault",
                value,
                format!("option {option:?} is not KEY=NUMBER"),
            )
        })?;
        let number = |max: u64| -> Result<u64, ReplicaError> {
            raw.trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| {
                    flag_err(
                        "--fault",
                        value,
                        format!("{key} must be a whole number up to {max}, got {raw:?}"),
                    )
                })
        };
        match key.trim() {
            "times" => {
                fault.times = Some(u32::try_from(number(u64::from(u32::MAX))?).unwrap_or(u32::MAX))
            }
            "retry_after_ms" => fault.retry_after_ms = Some(number(86_400_000)?),
            "ms" => fault.ms = Some(number(86_400_000)?),
            other => {
                return Err(flag_err(
                    "--fault",
                    value,
                    format!("unknown option {other:?}; expected times, retry_after_ms or ms"),
                ))
            }
        }
    }
    Ok((name.to_string(), fault))
}

/// Describes one deployment for the start-up listing (never mentions the key).
fn describe(d: &Deployment) -> String {
    let kind = match d.kind() {
        DeploymentKind::Chat => "chat",
        DeploymentKind::Embedding => "embedding",
    };
    let mut s = format!("deployment {} -> {} ({kind})", d.name, d.model);
    for f in &d.faults {
        let kind = serde_json::to_value(f.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        s.push_str(&format!(" fault={kind}"));
        if let Some(t) = f.times {
            s.push_str(&format!(",times={t}"));
        }
    }
    s
}

/// Serves until `shutdown` resolves, writing the base URL (first line) and deployments to `out`.
pub(super) async fn serve_until(
    options: ServeOptions,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()>,
) -> Result<(), ReplicaError> {
    let handle = match &options.fixtures {
        Some(dir) => {
            let store = crate::cassette::ReplayStore::load(dir)?;
            let note = format!(
                "replaying {} recorded exchanges from {}{}",
                store.len(),
                dir.display(),
                store
                    .meta()
                    .label
                    .as_ref()
                    .map(|l| format!(" ({l})"))
                    .unwrap_or_default()
            );
            let handle = super::start_replay_on(store, options.addr).await?;
            writeln!(out, "{}", handle.base_url())?;
            writeln!(out, "{note}")?;
            handle
        }
        None => {
            let handle = start_on(options.to_config()?, options.addr).await?;
            writeln!(out, "{}", handle.base_url())?;
            handle
        }
    };
    for d in &handle.config().deployments {
        writeln!(out, "{}", describe(d))?;
    }
    out.flush()?;
    shutdown.await;
    drop(handle);
    Ok(())
}

/// Serves on stdout until Ctrl-C or SIGTERM, then returns `Ok(())`.
pub async fn serve(options: ServeOptions) -> Result<(), ReplicaError> {
    let mut stdout = std::io::stdout();
    serve_until(options, &mut stdout, shutdown_signal()).await
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_flags() {
        let d = parse_deployment_flag("chat=gpt-4o-2024-08-06").expect("valid");
        assert_eq!(
            (d.name.as_str(), d.model.as_str()),
            ("chat", "gpt-4o-2024-08-06")
        );
        assert_eq!(d.kind, None);
        let d = parse_deployment_flag("vectors=my-model,kind=embedding").expect("valid");
        assert_eq!(
            (d.model.as_str(), d.kind()),
            ("my-model", DeploymentKind::Embedding)
        );
        let d = parse_deployment_flag("c=text-embedding-look-alike,kind=chat").expect("valid");
        assert_eq!(d.kind(), DeploymentKind::Chat);
        for bad in [
            "chat",
            "=m",
            "n=",
            "a/b=m",
            "n=m,kind=image",
            "n=m,size=2",
            "n=,kind=chat",
        ] {
            let e = parse_deployment_flag(bad).expect_err(bad).to_string();
            assert!(e.contains("--deployment"), "{e}");
        }
    }

    #[test]
    fn fault_flags() {
        let (n, f) =
            parse_fault_flag("gpt-4o=rate_limit,times=2,retry_after_ms=50").expect("valid");
        assert_eq!(n, "gpt-4o");
        assert_eq!(f.kind, FaultKind::RateLimit);
        assert_eq!((f.times, f.retry_after_ms), (Some(2), Some(50)));
        let (_, f) = parse_fault_flag("x=latency,ms=10").expect("valid");
        assert_eq!(
            (f.kind, f.ms, f.times),
            (FaultKind::Latency, Some(10), None)
        );
        assert_eq!(
            parse_fault_flag("x=truncated-stream")
                .expect("kebab")
                .1
                .kind,
            FaultKind::TruncatedStream
        );
        let e = parse_fault_flag("x=rate_limt")
            .expect_err("typo")
            .to_string();
        assert!(e.contains("did you mean \"rate_limit\""), "{e}");
        for bad in [
            "x",
            "=rate_limit",
            "x=rate_limit,times",
            "x=rate_limit,times=-1",
            "x=rate_limit,foo=1",
        ] {
            assert!(parse_fault_flag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn faults_need_a_known_deployment() {
        let mut o = ServeOptions::new("k");
        o.faults
            .push(parse_fault_flag("gpt4o=timeout").expect("valid"));
        let e = o.to_config().expect_err("unknown").to_string();
        assert!(e.contains("did you mean \"gpt-4o\""), "{e}");
        o.faults = vec![parse_fault_flag("gpt-4o=timeout,times=1").expect("valid")];
        let c = o.to_config().expect("known");
        assert_eq!(c.deployments[0].faults.len(), 1);
    }

    #[tokio::test]
    async fn prints_url_first_and_never_the_key() {
        let mut out: Vec<u8> = Vec::new();
        serve_until(ServeOptions::new("very-secret-key"), &mut out, async {})
            .await
            .expect("serve");
        let text = String::from_utf8_lossy(&out);
        let first = text.lines().next().unwrap_or_default();
        assert!(first.starts_with("http://127.0.0.1:"), "{text}");
        assert!(text.contains("deployment gpt-4o -> gpt-4o-2024-08-06 (chat)"));
        assert!(!text.contains("very-secret-key"));
    }
}
