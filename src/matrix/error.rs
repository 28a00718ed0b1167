//! `MatrixError`: every problem with a matrix file, as `FILE:LINE:COL: message`.

use std::fmt;

use crate::located::snippet;
pub use crate::located::Pos;

/// A matrix that cannot be used. `Display` is `FILE:LINE:COL: message` (or
/// `FILE: message` when there is no position, e.g. a missing file), followed by the
/// offending line with a caret under the column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixError {
    pub origin: String,
    pub pos: Option<Pos>,
    pub message: String,
    /// The offending source line and a caret; `api_key` values are masked.
    pub snippet: Option<String>,
}

impl std::error::Error for MatrixError {}

impl MatrixError {
    pub fn new(origin: &str, pos: Option<Pos>, message: impl Into<String>) -> Self {
        Self {
            origin: origin.to_string(),
            pos,
            message: message.into(),
            snippet: None,
        }
    }

    /// `FILE:LINE:COL` (or `FILE`).
    pub fn location(&self) -> String {
        match self.pos {
            Some(p) => format!("{}:{}:{}", self.origin, p.line, p.column),
            None => self.origin.clone(),
        }
    }

    pub(crate) fn with_snippet_from(mut self, text: &str) -> Self {
        if let Some(p) = self.pos {
            self.snippet = snippet(text, p);
        }
        self
    }
}

impl fmt::Display for MatrixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location(), self.message)?;
        if let Some(s) = &self.snippet {
            write!(f, "\n{s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_file_line_col_then_caret() {
        let e = MatrixError::new("m.yaml", Some(Pos { line: 2, column: 3 }), "bad")
            .with_snippet_from("a: 1\nb: 2\n");
        assert_eq!(e.to_string(), "m.yaml:2:3: bad\n  |\n2 | b: 2\n  |   ^");
    }

    #[test]
    fn snippets_mask_the_api_key() {
        let e = MatrixError::new(
            "m.yaml",
            Some(Pos {
                line: 1,
                column: 12,
            }),
            "bad",
        )
        .with_snippet_from("  api_key: s3cr3t-value\n");
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
    }

    #[test]
    fn snippets_of_a_dotenv_file_mask_its_secrets() {
        let e = MatrixError::new("m.yaml", Some(Pos { line: 2, column: 1 }), "bad")
            .with_snippet_from("AZURE_OPENAI_ENDPOINT=x\nAZURE_OPENAI_API_KEY=canary-0123456789\n");
        assert!(!e.to_string().contains("canary"), "{e}");
        assert!(
            e.to_string().contains("AZURE_OPENAI_API_KEY=[REDACTED]"),
            "{e}"
        );
    }
}
