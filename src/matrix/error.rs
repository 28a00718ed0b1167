//! `MatrixError`: every problem with a matrix file, as `FILE:LINE:COL: message`.

use std::fmt;

/// A 1-based position in a matrix file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

impl Pos {
    pub const START: Pos = Pos { line: 1, column: 1 };

    pub fn from_location(loc: &serde_saphyr::Location) -> Option<Pos> {
        (loc.line() > 0).then(|| Pos {
            line: loc.line(),
            column: loc.column().max(1),
        })
    }
}

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

/// The line at `pos` with a caret; the replica key and anything the redaction pass
/// recognizes (a `.env` file's `…_KEY=value`, tokens) are never echoed, even in a snippet.
fn snippet(text: &str, pos: Pos) -> Option<String> {
    let idx = usize::try_from(pos.line.checked_sub(1)?).ok()?;
    let line = crate::redact::Redactor::default().text(text.lines().nth(idx)?);
    let line = line.as_str();
    let shown = match line.find("api_key") {
        Some(i) => format!("{}api_key: ***", &line[..i]),
        None => line.to_string(),
    };
    let shown: String = shown
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let gutter = pos.line.to_string();
    let pad = " ".repeat(gutter.len());
    let col = usize::try_from(pos.column.saturating_sub(1))
        .unwrap_or(0)
        .min(200);
    Some(format!(
        "{pad} |\n{gutter} | {shown}\n{pad} | {}^",
        " ".repeat(col)
    ))
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
