//! The dated `api-version` values the replica accepts, and what each allows.

/// GA and preview data-plane inference versions Azure OpenAI has published.
pub const SUPPORTED_API_VERSIONS: &[&str] = &[
    "2022-12-01",
    "2023-03-15-preview",
    "2023-05-15",
    "2023-06-01-preview",
    "2023-07-01-preview",
    "2023-08-01-preview",
    "2023-09-01-preview",
    "2023-12-01-preview",
    "2024-02-01",
    "2024-02-15-preview",
    "2024-03-01-preview",
    "2024-04-01-preview",
    "2024-05-01-preview",
    "2024-06-01",
    "2024-07-01-preview",
    "2024-08-01-preview",
    "2024-09-01-preview",
    "2024-10-01-preview",
    "2024-10-21",
    "2024-12-01-preview",
    "2025-01-01-preview",
    "2025-02-01-preview",
    "2025-03-01-preview",
    "2025-04-01-preview",
];

/// Values Azure's `/openai/v1/` API takes in place of a date (the parameter is optional there).
pub const V1_API_VERSIONS: &[&str] = &["v1", "preview", "latest"];

pub(super) fn is_supported_api_version(version: &str) -> bool {
    SUPPORTED_API_VERSIONS.contains(&version)
}

/// `stream_options` is accepted from `2024-08-01-preview` on (Azure answered it with a
/// usage chunk on that version in November 2024); every later date has it.
pub(super) fn supports_stream_options(version: &str) -> bool {
    match version.get(..10) {
        Some(date) if version.as_bytes().get(4) == Some(&b'-') => date >= "2024-08-01",
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_options_cutoff() {
        assert!(!supports_stream_options("2024-06-01"));
        assert!(!supports_stream_options("2024-07-01-preview"));
        assert!(supports_stream_options("2024-08-01-preview"));
        assert!(supports_stream_options("2024-09-01-preview"));
        assert!(supports_stream_options("2024-10-21"));
        assert!(supports_stream_options("preview"));
    }

    #[test]
    fn known_versions() {
        assert!(is_supported_api_version("2024-10-21"));
        assert!(!is_supported_api_version("2024-10-22"));
        assert!(!is_supported_api_version(""));
    }
}
