//! The Azure OpenAI replica (being built). See `config` for what it serves.

mod config;

pub use config::{Deployment, DeploymentKind, Fault, FaultKind, ReplicaConfig};
