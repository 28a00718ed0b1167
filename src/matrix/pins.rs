//! Where each version set's pins are written in a matrix file, and rewriting their
//! versions in the text itself: every other byte — comments, blank lines, quoting,
//! anchors, flow or block style — stays as it was. The YAML is never re-serialized.
//!
//! Positions come from serde-saphyr's `Spanned`. A pin reached through an alias
//! (`common: *shared`) is edited where its anchor defines it, once, so every set using
//! that anchor moves with it.

use super::error::MatrixError;
use super::versions::parse_pin;
use super::yaml::{self, OMap};
use serde_saphyr::Spanned;
use std::ops::Range;

/// One pin as written in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PinSite {
    /// The version set it belongs to.
    pub set: String,
    /// The normalized package name.
    pub package: String,
    /// The version as written.
    pub version: String,
    /// Byte range of the version in the file's text.
    pub range: Range<usize>,
    /// 1-based line of the version in the file.
    pub line: u64,
    /// True when the set reaches it through an alias (the anchor is elsewhere).
    pub via_alias: bool,
}

/// A version changed by [`rewrite`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    pub package: String,
    pub from: String,
    pub to: String,
    pub line: u64,
    pub via_alias: bool,
}

#[derive(serde::Deserialize)]
struct PinDoc {
    #[serde(default)]
    version_sets: OMap<Spanned<String>, PinSet>,
}

#[derive(serde::Deserialize)]
struct PinSet {
    #[serde(default)]
    common: Vec<Spanned<String>>,
    #[serde(default)]
    styles: OMap<String, Vec<Spanned<String>>>,
    #[serde(default)]
    setups: Option<OMap<String, Vec<Spanned<String>>>>,
}

/// The version sets the file itself defines, in file order.
pub(crate) fn set_names(text: &str, origin: &str) -> Result<Vec<String>, MatrixError> {
    Ok(parse(text, origin)?
        .version_sets
        .0
        .into_iter()
        .map(|(name, _)| name.value)
        .collect())
}

fn parse(text: &str, origin: &str) -> Result<PinDoc, MatrixError> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    serde_saphyr::from_str_with_options(body, yaml::options())
        .map_err(|e| yaml::translate(&e, origin, body))
}

/// Every pin of version set `set` in `text`, each site once (a pin an alias repeats is
/// listed at its anchor). `Ok(None)` when the file defines no such set.
pub(crate) fn sites(
    text: &str,
    origin: &str,
    set: &str,
) -> Result<Option<Vec<PinSite>>, MatrixError> {
    let doc = parse(text, origin)?;
    let bom = text.len() - text.strip_prefix('\u{feff}').unwrap_or(text).len();
    let Some((_, pins)) = doc.version_sets.0.into_iter().find(|(n, _)| n.value == set) else {
        return Ok(None);
    };
    let all = pins
        .common
        .iter()
        .chain(pins.styles.0.iter().flat_map(|(_, list)| list))
        .chain(
            pins.setups
                .iter()
                .flat_map(|m| m.0.iter().flat_map(|(_, l)| l)),
        );
    let mut out: Vec<PinSite> = Vec::new();
    for pin in all {
        let site = locate(text, bom, pin, set, origin)?;
        if !out.iter().any(|s| s.range == site.range) {
            out.push(site);
        }
    }
    Ok(Some(out))
}

/// The byte range of a pin's version in the text: found in the scalar's line, starting
/// at the position the parser gives for where the scalar is defined.
fn locate(
    text: &str,
    bom: usize,
    pin: &Spanned<String>,
    set: &str,
    origin: &str,
) -> Result<PinSite, MatrixError> {
    let pos = yaml::pos_of(pin);
    let err = |msg: String| MatrixError::new(origin, pos, msg);
    let package = parse_pin(&pin.value).map_err(err)?;
    let span = pin.defined.span();
    let start = span
        .byte_offset()
        .and_then(|o| usize::try_from(o).ok())
        .map(|o| o + bom)
        .filter(|o| *o <= text.len() && text.is_char_boundary(*o))
        .ok_or_else(|| {
            err(format!(
                "the position of pin `{}` in the file is unknown",
                pin.value
            ))
        })?;
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let found = text[start..line_end]
        .find(pin.value.as_str())
        .ok_or_else(|| {
            err(format!(
                "pin `{}` is not written on one line as plain or quoted text, so its version \
             cannot be rewritten in place; write it as `- {}`",
                pin.value, pin.value
            ))
        })?;
    let (_, version) = pin.value.split_once("==").unwrap_or_default();
    let end = start + found + pin.value.len();
    let range = end - version.len()..end;
    Ok(PinSite {
        set: set.to_string(),
        package,
        version: version.to_string(),
        line: yaml::pos_at(text.as_bytes(), range.start).line,
        range,
        via_alias: pin.referenced != pin.defined,
    })
}

/// `text` with the versions of `set`'s pins replaced by `newest(package, version)` where
/// that gives another version, and what changed (in file order). Nothing but the version
/// strings changes; rewriting to the same versions again changes nothing.
pub(crate) fn rewrite(
    text: &str,
    origin: &str,
    set: &str,
    mut newest: impl FnMut(&str, &str) -> Option<String>,
) -> Result<Option<(String, Vec<Change>)>, MatrixError> {
    let Some(mut sites) = sites(text, origin, set)? else {
        return Ok(None);
    };
    sites.sort_by_key(|s| s.range.start);
    let mut out = String::with_capacity(text.len());
    let mut changes = Vec::new();
    let mut copied = 0;
    for site in sites {
        let Some(to) = newest(&site.package, &site.version).filter(|v| *v != site.version) else {
            continue;
        };
        out.push_str(&text[copied..site.range.start]);
        out.push_str(&to);
        copied = site.range.end;
        changes.push(Change {
            package: site.package,
            from: site.version,
            to,
            line: site.line,
            via_alias: site.via_alias,
        });
    }
    out.push_str(&text[copied..]);
    Ok(Some((out, changes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MATRIX: &str = "\u{feff}# top comment
version_sets:
  latest:
    description: newest   # openai==0.0.1 in a comment stays
    common: &base
      - openai==1.9.0      # the SDK
      - \"opentelemetry-api==1.45.2\"

      - 'opentelemetry-instrumentation==0.66b1'
    styles:
      traceloop: [opentelemetry-instrumentation-openai==0.62.4, x_y.Z==2.0]
    setups:
      honeyhive: [honeyhive==1.7.0]
  older:
    common: *base
    styles:
      traceloop:
        - opentelemetry-instrumentation-openai==0.47.5 # held back
";

    fn newest(package: &str, _: &str) -> Option<String> {
        Some(
            match package {
                "openai" => "1.10.0",
                "opentelemetry-api" => "1.46.0",
                "opentelemetry-instrumentation" => "0.67b0",
                "opentelemetry-instrumentation-openai" => "0.63.0",
                "x-y-z" => "2.0",
                "honeyhive" => "1.8.0",
                _ => return None,
            }
            .to_string(),
        )
    }

    #[test]
    fn only_the_versions_change() {
        let (out, changes) = rewrite(MATRIX, "m.yaml", "latest", newest)
            .unwrap()
            .unwrap();
        let expected = MATRIX
            .replace("openai==1.9.0", "openai==1.10.0")
            .replace("api==1.45.2", "api==1.46.0")
            .replace("instrumentation==0.66b1", "instrumentation==0.67b0")
            .replace("openai==0.62.4", "openai==0.63.0")
            .replace("honeyhive==1.7.0", "honeyhive==1.8.0");
        assert_eq!(out, expected);
        let moved: Vec<(&str, &str, &str, u64)> = changes
            .iter()
            .map(|c| (c.package.as_str(), c.from.as_str(), c.to.as_str(), c.line))
            .collect();
        assert_eq!(
            moved,
            [
                ("openai", "1.9.0", "1.10.0", 6),
                ("opentelemetry-api", "1.45.2", "1.46.0", 7),
                ("opentelemetry-instrumentation", "0.66b1", "0.67b0", 9),
                (
                    "opentelemetry-instrumentation-openai",
                    "0.62.4",
                    "0.63.0",
                    11
                ),
                ("honeyhive", "1.7.0", "1.8.0", 13),
            ]
        );
        // The comment that looks like a pin, the other set's own pin: untouched.
        assert!(out.contains("# openai==0.0.1 in a comment stays"));
        assert!(out.contains("openai==0.47.5 # held back"));
        assert!(changes.iter().all(|c| !c.via_alias));
    }

    #[test]
    fn a_second_rewrite_changes_nothing() {
        let (once, _) = rewrite(MATRIX, "m.yaml", "latest", newest)
            .unwrap()
            .unwrap();
        let (twice, changes) = rewrite(&once, "m.yaml", "latest", newest).unwrap().unwrap();
        assert_eq!(twice, once);
        assert!(changes.is_empty());
    }

    #[test]
    fn an_alias_is_edited_at_its_anchor() {
        let (out, changes) = rewrite(MATRIX, "m.yaml", "older", newest).unwrap().unwrap();
        assert!(out.contains("common: &base\n      - openai==1.10.0      # the SDK"));
        assert!(out.contains("common: *base\n"));
        assert!(out.contains("openai==0.63.0 # held back"));
        let aliased: Vec<&str> = changes
            .iter()
            .filter(|c| c.via_alias)
            .map(|c| c.package.as_str())
            .collect();
        assert_eq!(
            aliased,
            [
                "openai",
                "opentelemetry-api",
                "opentelemetry-instrumentation"
            ]
        );
        assert_eq!(out.len(), MATRIX.len() + 1);
    }

    #[test]
    fn unknown_sets_and_names() {
        assert_eq!(rewrite(MATRIX, "m.yaml", "nope", newest).unwrap(), None);
        assert_eq!(set_names(MATRIX, "m.yaml").unwrap(), ["latest", "older"]);
        assert!(set_names("provider: x\n", "m.yaml").unwrap().is_empty());
    }

    #[test]
    fn a_folded_pin_is_edited_on_its_line() {
        let folded = "version_sets:\n  a:\n    common:\n      - >-\n        openai==1.0\n";
        let (out, _) = rewrite(folded, "m.yaml", "a", newest).unwrap().unwrap();
        assert_eq!(out, folded.replace("1.0", "1.10.0"));
    }

    #[test]
    fn a_pin_that_cannot_be_edited_in_place_is_refused() {
        let escaped = "version_sets:\n  a:\n    common: [\"openai\\u003d=1.0\"]\n";
        let e = rewrite(escaped, "m.yaml", "a", newest).unwrap_err();
        assert!(
            e.to_string().contains("cannot be rewritten in place"),
            "{e}"
        );
    }
}
