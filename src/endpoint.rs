//! The endpoint string an app is given, in the form a customer writes it.
//!
//! Apps receive their endpoint as one string (`AZURE_OPENAI_ENDPOINT`, a client's
//! `azure_endpoint`/`base_url`), and SDK releases differ in what they do with its
//! details: openai-python before 1.58 appends `/openai` without trimming a trailing
//! slash, so `https://contoso.openai.azure.com/` becomes `//openai/deployments/…`, a
//! route Azure answers with 404. The form is therefore part of what a cell tests.
//!
//! An [`EndpointForm`] keeps what follows the origin exactly as written (`""`, `"/"`,
//! `"/openai/v1/"`, …); the origin itself (scheme, host, port) stays the run's, so the
//! same form applies offline, where the replica is reached over plain HTTP with the
//! host kept, and against a live resource.

use crate::vocab::Provider;

/// What follows the origin in the endpoint an app receives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointForm {
    /// `None`: the provider's default form ([`EndpointForm::url`]).
    suffix: Option<String>,
}

impl EndpointForm {
    /// Reads `raw` (`scheme://host[:port][path]`), which must name `host`: the form
    /// changes how the app writes its URLs, not where the calls go.
    pub fn parse(raw: &str, host: &str) -> Result<Self, String> {
        let (scheme, rest) = raw
            .split_once("://")
            .ok_or_else(|| format!("`{raw}` is not a URL (expected https://{host}/…)"))?;
        if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
            return Err(format!(
                "`{raw}`: scheme `{scheme}`; expected http or https"
            ));
        }
        let (authority, suffix) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if suffix.contains(['?', '#']) || authority.contains(['?', '#', '@']) {
            return Err(format!(
                "`{raw}`: an endpoint has no query, fragment or user part"
            ));
        }
        let named = authority
            .rsplit_once(':')
            .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
            .map_or(authority, |(h, _)| h);
        if !named.eq_ignore_ascii_case(host) {
            return Err(format!(
                "`{raw}` names host `{named}`, but the target's host is `{host}` (the form \
                 may change the path and trailing slash, not where the calls go)"
            ));
        }
        if suffix.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("`{raw}`: the path holds whitespace"));
        }
        Ok(Self {
            suffix: Some(suffix.to_string()),
        })
    }

    /// True when the endpoint is the provider's default form.
    pub fn is_default(&self) -> bool {
        self.suffix.is_none()
    }

    /// The endpoint a client for `provider` is given at `origin` (`http://host[:port]`).
    /// The defaults work for every openai SDK release from 1.0 on: the Azure resource
    /// origin without a trailing slash (the SDK appends `/openai`), and the full base URL
    /// for the v1 API and OpenAI.
    pub fn url(&self, origin: &str, provider: Provider) -> String {
        let origin = origin.trim_end_matches('/');
        let suffix = match (&self.suffix, provider) {
            (Some(s), _) => s.as_str(),
            (None, Provider::AzureOpenAi) => "",
            (None, Provider::AzureOpenAiV1) => "/openai/v1/",
            (None, Provider::OpenAi) => "/v1/",
        };
        format!("{origin}{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "contoso.openai.azure.com";

    #[test]
    fn defaults_have_no_trailing_slash_on_the_azure_origin() {
        let d = EndpointForm::default();
        assert_eq!(
            d.url("http://contoso.openai.azure.com/", Provider::AzureOpenAi),
            "http://contoso.openai.azure.com"
        );
        assert_eq!(
            d.url("http://h", Provider::AzureOpenAiV1),
            "http://h/openai/v1/"
        );
        assert_eq!(d.url("http://h", Provider::OpenAi), "http://h/v1/");
    }

    #[test]
    fn a_form_keeps_its_path_exactly_and_takes_the_runs_origin() {
        let slash = EndpointForm::parse("https://contoso.openai.azure.com/", HOST).unwrap();
        assert_eq!(
            slash.url("http://contoso.openai.azure.com", Provider::AzureOpenAi),
            "http://contoso.openai.azure.com/"
        );
        let bare = EndpointForm::parse("https://CONTOSO.openai.azure.com:443", HOST).unwrap();
        assert_eq!(bare.url("http://x", Provider::AzureOpenAi), "http://x");
        assert!(!bare.is_default());
        let v1 = EndpointForm::parse("https://contoso.openai.azure.com/openai/v1", HOST).unwrap();
        assert_eq!(
            v1.url("http://x", Provider::AzureOpenAiV1),
            "http://x/openai/v1"
        );
    }

    #[test]
    fn forms_that_change_where_calls_go_are_refused() {
        for (raw, says) in [
            ("contoso.openai.azure.com", "not a URL"),
            ("ftp://contoso.openai.azure.com/", "scheme `ftp`"),
            ("https://fabrikam.openai.azure.com/", "host `fabrikam"),
            ("https://contoso.openai.azure.com/?x=1", "no query"),
            ("https://user@contoso.openai.azure.com/", "no query"),
            ("https://contoso.openai.azure.com/a b", "whitespace"),
        ] {
            let e = EndpointForm::parse(raw, HOST).unwrap_err();
            assert!(e.contains(says), "{raw}: {e}");
        }
    }
}
