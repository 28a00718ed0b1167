//! The matrix pointed at a live resource: its deployments go by the names the
//! environment gives, and `{host}` is the live endpoint's host.

use super::cell::{DeploymentRef, FeaturePlan};
use super::Matrix;
use std::collections::BTreeMap;

/// How the matrix's deployments are found on a live resource (the `live:` section).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveSpec {
    /// (matrix deployment, environment variable holding its live name), in file order.
    pub deployments: Vec<(String, String)>,
}

impl LiveSpec {
    /// The environment variable naming `deployment` on the live resource.
    pub fn variable_for(&self, deployment: &str) -> Option<&str> {
        self.deployments
            .iter()
            .find(|(d, _)| d == deployment)
            .map(|(_, v)| v.as_str())
    }
}

impl FeaturePlan {
    /// The deployments this feature calls, as the matrix names them (a deliberately
    /// missing deployment of `errors` is not one: it must not exist anywhere).
    pub fn deployments(&self) -> Vec<&DeploymentRef> {
        match self {
            FeaturePlan::Chat { deployment, .. }
            | FeaturePlan::Streaming { deployment, .. }
            | FeaturePlan::Embeddings { deployment, .. }
            | FeaturePlan::Enrichment { deployment, .. }
            | FeaturePlan::Tools { deployment, .. }
            | FeaturePlan::StructuredOutput { deployment, .. }
            | FeaturePlan::Responses { deployment, .. }
            | FeaturePlan::StreamAbandoned { deployment, .. } => vec![deployment],
            FeaturePlan::RawResponse {
                deployment,
                embedding_deployment,
                ..
            }
            | FeaturePlan::Async {
                deployment,
                embedding_deployment,
                ..
            } => vec![deployment, embedding_deployment],
            FeaturePlan::MultiDeployment { deployments, .. } => deployments.iter().collect(),
            FeaturePlan::Errors { flaky, .. } => vec![flaky],
        }
    }

    fn deployments_mut(&mut self) -> Vec<&mut DeploymentRef> {
        match self {
            FeaturePlan::Chat { deployment, .. }
            | FeaturePlan::Streaming { deployment, .. }
            | FeaturePlan::Embeddings { deployment, .. }
            | FeaturePlan::Enrichment { deployment, .. }
            | FeaturePlan::Tools { deployment, .. }
            | FeaturePlan::StructuredOutput { deployment, .. }
            | FeaturePlan::Responses { deployment, .. }
            | FeaturePlan::StreamAbandoned { deployment, .. } => vec![deployment],
            FeaturePlan::RawResponse {
                deployment,
                embedding_deployment,
                ..
            }
            | FeaturePlan::Async {
                deployment,
                embedding_deployment,
                ..
            } => vec![deployment, embedding_deployment],
            FeaturePlan::MultiDeployment { deployments, .. } => deployments.iter_mut().collect(),
            FeaturePlan::Errors { flaky, .. } => vec![flaky],
        }
    }
}

impl Matrix {
    /// This matrix aimed at a live resource: `host` (and the resource name, for an
    /// Azure host) replace the file's target, the api-version is the live one, and
    /// deployments are renamed per `names` (matrix name → live name). The model
    /// snapshots stay what the matrix declares: the live deployments are expected to
    /// serve them.
    pub fn retargeted(
        &self,
        host: &str,
        api_version: Option<&str>,
        names: &BTreeMap<String, String>,
    ) -> Matrix {
        let mut out = self.clone();
        let host = host.to_ascii_lowercase();
        out.target.resource = host
            .strip_suffix(".openai.azure.com")
            .or_else(|| host.strip_suffix(".cognitiveservices.azure.com"))
            .map(str::to_string);
        out.target.host = host;
        if let Some(v) = api_version {
            out.target.api_version = Some(v.to_string());
        }
        for (_, plan) in &mut out.features {
            for d in plan.deployments_mut() {
                if let Some(live) = names.get(&d.name) {
                    d.name = live.clone();
                }
            }
        }
        for d in &mut out.deployments {
            if let Some(live) = names.get(&d.name) {
                d.name = live.clone();
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::parse_str;
    use crate::vocab::Feature;

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
    llm: {attributes: {server.address: "{host}", llm.model_name: "{model}"}}
live:
  deployments:
    gpt-4o: AZURE_OPENAI_DEPLOYMENT_NAME
"#;

    #[test]
    fn the_live_section_is_read_in_order() {
        let m = parse_str(MATRIX, "m.yaml").expect("valid");
        assert_eq!(
            m.live().variable_for("gpt-4o"),
            Some("AZURE_OPENAI_DEPLOYMENT_NAME")
        );
        assert_eq!(m.live().variable_for("emb"), None);
    }

    #[test]
    fn retargeting_renames_deployments_and_moves_the_host() {
        let m = parse_str(MATRIX, "m.yaml").expect("valid");
        let names = BTreeMap::from([("gpt-4o".to_string(), "prod-4o".to_string())]);
        let live = m.retargeted("Fabrikam.openai.azure.com", Some("2025-01-01"), &names);
        assert_eq!(live.target().host, "fabrikam.openai.azure.com");
        assert_eq!(live.target().resource.as_deref(), Some("fabrikam"));
        let chat = live
            .cells()
            .into_iter()
            .find(|c| c.feature == Feature::Chat)
            .expect("chat cell");
        let names: Vec<&str> = chat
            .plan
            .deployments()
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(names, ["prod-4o"]);
        assert_eq!(chat.plan.deployments()[0].model, "gpt-4o-2024-08-06");
    }

    #[test]
    fn unknown_deployments_and_bad_variable_names_are_located() {
        let bad = MATRIX.replace("    gpt-4o: AZURE", "    gpt-4:  AZURE");
        let e = parse_str(&bad, "m.yaml").expect_err("unknown deployment");
        assert!(e.to_string().contains("did you mean `gpt-4o`"), "{e}");
        assert!(e.location().starts_with("m.yaml:16:5"), "{}", e.location());
        let bad = MATRIX.replace("AZURE_OPENAI_DEPLOYMENT_NAME", "azure-name");
        let e = parse_str(&bad, "m.yaml").expect_err("bad variable");
        assert!(
            e.to_string().contains("not an environment variable name"),
            "{e}"
        );
    }
}
