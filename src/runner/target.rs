//! Where a run's calls go — the one type for it — and how the apps reach it: the
//! embedded replica, a live resource, a live resource through the recording proxy, or
//! the replica answering from recorded exchanges.

use super::RunOptions;
use crate::cassette::{RecordedTarget, Recorder, ReplayStore};
use crate::drivers::retry::RetryPolicy;
use crate::drivers::{Credential, DriverContext};
use crate::live::LiveSettings;
use crate::matrix::Matrix;
use crate::replica::{self, ReplicaConfig, ReplicaHandle};
use crate::vocab::TargetKind;

/// Where the cells' calls go.
#[derive(Debug, Default)]
pub enum Target {
    /// The embedded replica, reached through its proxy with the Azure host kept.
    #[default]
    Replica,
    /// A live resource, reached directly (through the environment's proxies, if any).
    /// The cells must already be aimed at it ([`Matrix::retargeted`] with [`Target::aim`]).
    Live(LiveSettings),
    /// A live resource reached through the recording proxy (`hh-compat record`): the
    /// apps keep the resource's host name over plain HTTP, the proxy speaks to the real
    /// endpoint and keeps every exchange for the cassettes written after the run.
    Record {
        live: LiveSettings,
        recorder: Recorder,
    },
    /// The replica answering from recorded exchanges only.
    Replay(ReplayStore),
}

impl Target {
    /// The name results carry.
    pub fn kind(&self) -> TargetKind {
        match self {
            Target::Replica => TargetKind::Replica,
            Target::Live(_) | Target::Record { .. } => TargetKind::Live,
            Target::Replay(_) => TargetKind::Replay,
        }
    }

    /// The live resource, when the calls reach one (they are then slower and retried).
    pub fn live(&self) -> Option<&LiveSettings> {
        match self {
            Target::Live(live) | Target::Record { live, .. } => Some(live),
            Target::Replica | Target::Replay(_) => None,
        }
    }

    /// The resource's host, API version and deployment names the matrix must be aimed at:
    /// the live resource's, or the one the replayed exchanges were recorded against.
    pub fn aim(&self) -> Option<RecordedTarget> {
        match self {
            Target::Replica => None,
            Target::Replay(store) => store.meta().target.clone(),
            Target::Live(live) | Target::Record { live, .. } => Some(live.recorded_target()),
        }
    }

    /// Starts what the apps talk to (the replica, for the offline targets) and says how
    /// they reach it.
    pub(super) async fn reach(
        &self,
        matrix: &Matrix,
        options: &RunOptions,
    ) -> Result<(Option<ReplicaHandle>, DriverContext), replica::ReplicaError> {
        Ok(match self {
            Target::Replica => {
                let replica = replica::start(ReplicaConfig {
                    deployments: matrix.deployments().to_vec(),
                    journal_capacity: 100_000,
                    shapes: matrix.target().shapes,
                    ..ReplicaConfig::with_builtin_deployments(matrix.api_key())
                })
                .await?;
                let ctx = offline_context(matrix, &replica, options, RetryPolicy::NONE);
                (Some(replica), ctx)
            }
            Target::Live(live) => (None, live_context(matrix, live, None, options)),
            Target::Record { live, recorder } => (
                None,
                live_context(matrix, live, Some(recorder.proxy_url()), options),
            ),
            Target::Replay(store) => {
                let replica = replica::start_replay(store.clone()).await?;
                // The recording holds whatever retries the live run made.
                let ctx = offline_context(matrix, &replica, options, RetryPolicy::LIVE);
                (Some(replica), ctx)
            }
        })
    }
}

/// How apps reach the embedded replica: through it as their proxy, the matrix's host kept.
fn offline_context(
    matrix: &Matrix,
    replica: &ReplicaHandle,
    options: &RunOptions,
    retries: RetryPolicy,
) -> DriverContext {
    DriverContext {
        proxy: Some(replica.base_url()),
        endpoint_origin: format!("http://{}", matrix.target().host),
        endpoint_form: matrix.target().endpoint.clone(),
        api_version_env: matrix.target().api_version_env,
        credential: Credential::ApiKey(matrix.api_key().to_string()),
        api_version: matrix.target().api_version.clone().unwrap_or_default(),
        request_timeout: options.request_timeout,
        retries,
        http: Default::default(),
    }
}

/// How apps reach a live resource: directly, or through `proxy` with the endpoint's
/// host kept over plain HTTP (the recording proxy speaks to the real endpoint).
fn live_context(
    matrix: &Matrix,
    live: &LiveSettings,
    proxy: Option<String>,
    options: &RunOptions,
) -> DriverContext {
    let endpoint_origin = match &proxy {
        None => live.endpoint_origin.clone(),
        Some(_) => format!("http://{}", live.host),
    };
    DriverContext {
        proxy,
        endpoint_origin,
        endpoint_form: matrix.target().endpoint.clone(),
        api_version_env: matrix.target().api_version_env,
        credential: live.credential.clone(),
        api_version: live.api_version.clone().unwrap_or_default(),
        request_timeout: options.request_timeout,
        retries: RetryPolicy::LIVE,
        http: Default::default(),
    }
}
