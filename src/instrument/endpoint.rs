//! Where a call goes: the API base, host and port that spans record, and whether the
//! host is an Azure OpenAI one (the instrumentors decide "Azure" from the host alone).

use reqwest::Url;

use crate::vocab::Provider;

/// The endpoint an instrumented client talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub provider: Provider,
    /// The client's base URL as the Python SDK reports it, e.g.
    /// `http://contoso.openai.azure.com/openai/` (always ends with `/`).
    pub api_base: String,
    pub host: String,
    pub port: u16,
    pub api_version: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EndpointError {
    #[error("endpoint `{url}` is not a valid URL: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("endpoint `{url}` has no host")]
    NoHost { url: String },
    #[error("endpoint `{url}` uses scheme `{scheme}`; expected http or https")]
    UnsupportedScheme { url: String, scheme: String },
}

/// Host suffixes of Azure OpenAI resources (classic and AI Services / Foundry).
const AZURE_HOST_SUFFIXES: &[&str] = &[".openai.azure.com", ".cognitiveservices.azure.com"];

impl Endpoint {
    /// Builds the endpoint from the URL given to the client (`azure_endpoint` for
    /// Azure, the base URL for OpenAI). For `azure-openai` the base gains `openai/`, for
    /// `azure-openai-v1` it gains `openai/v1/`, unless the URL already has that path.
    pub fn from_url(
        provider: Provider,
        url: &str,
        api_version: Option<&str>,
    ) -> Result<Self, EndpointError> {
        let parsed = Url::parse(url).map_err(|e| EndpointError::InvalidUrl {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        let scheme = parsed.scheme();
        if scheme != "http" && scheme != "https" {
            return Err(EndpointError::UnsupportedScheme {
                url: url.to_string(),
                scheme: scheme.to_string(),
            });
        }
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| EndpointError::NoHost {
                url: url.to_string(),
            })?
            .to_ascii_lowercase();
        let port = parsed
            .port_or_known_default()
            .unwrap_or(if scheme == "https" { 443 } else { 80 });

        let mut path = parsed.path().trim_end_matches('/').to_string();
        let suffix = match provider {
            Provider::AzureOpenAi => "/openai",
            Provider::AzureOpenAiV1 => "/openai/v1",
            Provider::OpenAi => "",
        };
        if !suffix.is_empty() && !path.ends_with(suffix) {
            path.push_str(suffix);
        }
        let authority = match parsed.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let api_base = format!("{scheme}://{authority}{path}/");
        Ok(Endpoint {
            provider,
            api_base,
            host,
            port,
            api_version: api_version.map(str::to_string),
        })
    }

    /// True when the host is an Azure OpenAI resource. Deliberately from the host only,
    /// as the real instrumentors do: a client pointed at `127.0.0.1` is not "Azure".
    pub fn is_azure(&self) -> bool {
        AZURE_HOST_SUFFIXES.iter().any(|s| self.host.ends_with(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_deployment_endpoint_gets_openai_base() {
        let e = Endpoint::from_url(
            Provider::AzureOpenAi,
            "http://MyRes.openai.azure.com/",
            Some("2024-10-21"),
        )
        .expect("valid");
        assert_eq!(e.api_base, "http://myres.openai.azure.com/openai/");
        assert_eq!(e.host, "myres.openai.azure.com");
        assert_eq!(e.port, 80);
        assert_eq!(e.api_version.as_deref(), Some("2024-10-21"));
        assert!(e.is_azure());
    }

    #[test]
    fn azure_v1_and_existing_paths() {
        let e = Endpoint::from_url(Provider::AzureOpenAiV1, "https://r.openai.azure.com", None)
            .expect("valid");
        assert_eq!(e.api_base, "https://r.openai.azure.com/openai/v1/");
        assert_eq!(e.port, 443);
        let e = Endpoint::from_url(
            Provider::AzureOpenAi,
            "https://r.openai.azure.com/openai/",
            None,
        )
        .expect("valid");
        assert_eq!(e.api_base, "https://r.openai.azure.com/openai/");
    }

    #[test]
    fn non_azure_hosts_and_ports() {
        let e =
            Endpoint::from_url(Provider::OpenAi, "https://api.openai.com/v1", None).expect("valid");
        assert_eq!(e.api_base, "https://api.openai.com/v1/");
        assert!(!e.is_azure());
        let e = Endpoint::from_url(Provider::AzureOpenAi, "http://127.0.0.1:8080/", None)
            .expect("valid");
        assert_eq!(e.port, 8080);
        assert_eq!(e.api_base, "http://127.0.0.1:8080/openai/");
        assert!(
            !e.is_azure(),
            "Azure is decided from the host, not the provider"
        );
        let e = Endpoint::from_url(
            Provider::AzureOpenAi,
            "https://x.cognitiveservices.azure.com/",
            None,
        )
        .expect("valid");
        assert!(e.is_azure());
        let e = Endpoint::from_url(
            Provider::OpenAi,
            "https://evilopenai.azure.com.example/",
            None,
        )
        .expect("valid");
        assert!(!e.is_azure());
    }

    #[test]
    fn bad_urls_are_errors_not_panics() {
        assert!(matches!(
            Endpoint::from_url(Provider::OpenAi, "not a url", None),
            Err(EndpointError::InvalidUrl { .. })
        ));
        assert!(matches!(
            Endpoint::from_url(Provider::OpenAi, "ftp://host/", None),
            Err(EndpointError::UnsupportedScheme { .. })
        ));
        assert!(Endpoint::from_url(Provider::OpenAi, "", None).is_err());
    }
}
