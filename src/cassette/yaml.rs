//! serde-saphyr plumbing for cassette files: budgets, and errors as `FILE:LINE:COL`.

use serde::de::DeserializeOwned;

use super::CassetteError;
use crate::located::Pos;

/// Recorded embeddings make large files; anything far bigger is not a cassette.
pub(super) const MAX_CASSETTE_BYTES: usize = 64 << 20;

fn options(binary_as_text: bool) -> serde_saphyr::Options {
    serde_saphyr::options! {
        with_snippet: false,
        ignore_binary_tag_for_string: binary_as_text,
        budget: serde_saphyr::budget! {
            max_events: 20_000_000,
            max_aliases: 10_000,
            max_anchors: 10_000,
            max_nodes: 10_000_000,
            max_depth: 64,
            max_documents: 1,
            max_total_scalar_bytes: MAX_CASSETTE_BYTES * 2,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 100_000,
            max_replay_stack_depth: 16,
        },
    }
}

/// Parses `text` (the contents of `file`) as `T`.
pub(super) fn parse<T: DeserializeOwned>(text: &str, file: &str) -> Result<T, CassetteError> {
    parse_with(text, file, false)
}

/// Like [`parse`], but a `!!binary` scalar read as a string keeps its base64 text (the
/// caller decodes it; with [`serde_saphyr::Tagged`] it also sees the tag), so binary
/// bodies that are not UTF-8 (gzip) can be read.
pub(super) fn parse_binary_as_text<T: DeserializeOwned>(
    text: &str,
    file: &str,
) -> Result<T, CassetteError> {
    parse_with(text, file, true)
}

fn parse_with<T: DeserializeOwned>(
    text: &str,
    file: &str,
    binary_as_text: bool,
) -> Result<T, CassetteError> {
    if text.trim().is_empty() {
        return Err(CassetteError::Parse {
            file: file.to_string(),
            pos: Some(Pos::START),
            message: "the file is empty (truncated?)".into(),
            snippet: None,
        });
    }
    serde_saphyr::from_str_with_options(text, options(binary_as_text))
        .map_err(|e| translate(&e, file, text))
}

fn translate(err: &serde_saphyr::Error, file: &str, text: &str) -> CassetteError {
    let inner = err.without_snippet();
    let pos = inner.location().as_ref().and_then(Pos::from_location);
    let mut message = inner.to_string();
    // The crate appends " at line L, column C"; ours is in front.
    if let Some(i) = message.find(" at line ") {
        message.truncate(i);
    }
    CassetteError::Parse {
        file: file.to_string(),
        pos,
        message,
        snippet: pos.and_then(|p| crate::located::snippet(text, p)),
    }
}

/// A position for a spanned value, when the parser knew it.
pub(super) fn pos_of<T>(s: &serde_saphyr::Spanned<T>) -> Option<Pos> {
    Pos::from_location(&s.referenced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Small {
        status: u16,
    }

    #[test]
    fn errors_are_located_with_the_line_and_a_caret() {
        let e = parse::<Small>("# a cassette\nstatus: twohundred\n", "c.yaml")
            .expect_err("not a number");
        let text = e.to_string();
        assert!(text.starts_with("c.yaml:2:"), "{text}");
        assert!(
            text.contains("\n2 | status: twohundred\n") && text.ends_with('^'),
            "{text}"
        );
    }
}
