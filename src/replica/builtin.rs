//! The deployments a replica serves when none are configured.

use super::config::{Deployment, ReplicaConfig};

/// A gpt-4o chat deployment, a second chat deployment, and an embedding deployment.
pub(super) fn builtin_deployments() -> Vec<Deployment> {
    vec![
        Deployment::new("gpt-4o", "gpt-4o-2024-08-06"),
        Deployment::new("gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
        Deployment::new("text-embedding-3-small", "text-embedding-3-small"),
    ]
}

impl ReplicaConfig {
    /// A configuration with `builtin_deployments` and default region and journal size.
    pub fn with_builtin_deployments(api_key: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            deployments: builtin_deployments(),
            region: "East US".to_string(),
            journal_capacity: 10_000,
            stream_interval_us: super::config::DEFAULT_STREAM_INTERVAL_US,
            shapes: None,
        }
    }
}
