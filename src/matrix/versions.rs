//! Version sets: named sets of pinned Python packages, one virtual environment per
//! (style, set). The matrix is the single source of truth for what a python cell runs
//! under; the pins become the requirements the environment cache hashes.

use super::error::MatrixError;
use super::raw::RawVersionSet;
use super::yaml::{pos_of, OMap};
use crate::vocab::{did_you_mean, Setup, Style};
use serde_saphyr::Spanned;

/// A validated version set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionSet {
    pub name: String,
    pub description: Option<String>,
    /// Per style (file order): the requirement lines, `common` first, then the style's.
    pub styles: Vec<(Style, Vec<String>)>,
    /// The setups this set runs and the pins each adds; `None` = `instrumentor` only.
    pub setups: Option<Vec<(Setup, Vec<String>)>>,
    /// `newest: true`: a run moves every pin to the package's newest release on the
    /// index before building environments; the written pins are what runs offline.
    pub newest: bool,
}

impl VersionSet {
    /// The requirement lines of `style` in this set (None when the set does not cover it).
    pub fn requirements(&self, style: Style) -> Option<&[String]> {
        self.styles
            .iter()
            .find(|(s, _)| *s == style)
            .map(|(_, r)| r.as_slice())
    }

    /// The requirement lines of `style` under `setup` (None when this set does not run
    /// that pair): the style's, with the setup's pins added; a setup pin replaces the
    /// same package's pin (a vendor SDK may need other OpenTelemetry releases).
    pub fn requirements_for(&self, style: Style, setup: Setup) -> Option<Vec<String>> {
        let base = self.requirements(style)?;
        let extra: &[String] = match &self.setups {
            None if setup == Setup::Instrumentor => &[],
            None => return None,
            Some(list) => list
                .iter()
                .find(|(s, _)| *s == setup)
                .map(|(_, p)| p.as_slice())?,
        };
        let replaced: Vec<String> = extra.iter().filter_map(|l| parse_pin(l).ok()).collect();
        let mut out: Vec<String> = base
            .iter()
            .filter(|l| parse_pin(l).map_or(true, |p| !replaced.contains(&p)))
            .cloned()
            .collect();
        out.extend(extra.iter().cloned());
        Some(out)
    }

    /// Pins `requirement` (`package==version`) for every style and setup of this set:
    /// it replaces the pin of the same package wherever the set has one, and is added to
    /// each style's pins where it has none.
    pub fn pin(&mut self, requirement: &str) -> Result<(), String> {
        let package = parse_pin(requirement)?;
        let same = |line: &String| parse_pin(line).is_ok_and(|p| p == package);
        for (_, pins) in &mut self.styles {
            pins.retain(|l| !same(l));
            pins.push(requirement.to_string());
        }
        for (_, pins) in self.setups.iter_mut().flatten() {
            for line in pins.iter_mut().filter(|l| same(l)) {
                *line = requirement.to_string();
            }
        }
        Ok(())
    }

    /// Moves every pin of `package` (normalized) in the set to `version`, where the set
    /// pins it; adds it nowhere else.
    pub fn move_pin(&mut self, package: &str, version: &str) {
        let lines = (self.styles.iter_mut().flat_map(|(_, r)| r.iter_mut())).chain(
            self.setups
                .iter_mut()
                .flatten()
                .flat_map(|(_, p)| p.iter_mut()),
        );
        for line in lines {
            if parse_pin(line).is_ok_and(|p| p == package) {
                let name = line.split_once("==").map_or(line.as_str(), |(n, _)| n);
                *line = format!("{name}=={version}");
            }
        }
    }

    /// Every requirement line of the set: each style's, then each setup's.
    pub fn lines(&self) -> impl Iterator<Item = &String> {
        (self.styles.iter().flat_map(|(_, r)| r))
            .chain(self.setups.iter().flatten().flat_map(|(_, p)| p))
    }

    /// Whether this set runs `setup` for any style.
    pub fn runs(&self, setup: Setup) -> bool {
        match &self.setups {
            None => setup == Setup::Instrumentor,
            Some(list) => list.iter().any(|(s, _)| *s == setup),
        }
    }
}

/// A version set as a cell carries it: its name and the requirements of the cell's style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellVersionSet {
    pub name: String,
    pub requirements: Vec<String>,
}

/// Names end up in cell ids and directory names: keep them to a safe alphabet.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | '_'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
}

/// `name==version` → the normalized package name (PEP 503: lowercase, runs of `-_.`
/// become `-`), or why the text is not an exact pin.
pub fn parse_pin(pin: &str) -> Result<String, String> {
    let expected = "expected an exact pin `package==version`, e.g. `openai==1.109.1`";
    let Some((name, version)) = pin.split_once("==") else {
        return Err(format!("`{pin}` is not an exact pin; {expected}"));
    };
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let version_ok = !version.is_empty()
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '!' | '-' | '_'));
    if !name_ok || !version_ok {
        return Err(format!(
            "`{pin}` is not an exact pin (no spaces, ranges, extras or markers); {expected}"
        ));
    }
    let mut normal = String::with_capacity(name.len());
    for c in name.chars() {
        let c = if matches!(c, '_' | '.') { '-' } else { c };
        if !(c == '-' && normal.ends_with('-')) {
            normal.push(c.to_ascii_lowercase());
        }
    }
    Ok(normal)
}

/// Validates `version_sets:` against the matrix's styles.
pub(super) fn build(
    origin: &str,
    raw: OMap<Spanned<String>, Spanned<RawVersionSet>>,
    styles: &[Style],
) -> Result<Vec<VersionSet>, MatrixError> {
    let err = |pos, msg: String| MatrixError::new(origin, pos, msg);
    let mut out: Vec<VersionSet> = Vec::new();
    for (name, set) in raw.0 {
        if !valid_name(&name.value) {
            return Err(err(
                pos_of(&name),
                format!(
                    "version set name `{}` must be lowercase letters, digits, `-`, `.` or `_` \
                     (it becomes part of cell ids and directory names), e.g. `openai-v1`",
                    name.value
                ),
            ));
        }
        let set_pos = pos_of(&set);
        let set = set.value;
        if set.styles.0.is_empty() {
            return Err(err(
                set_pos,
                format!(
                    "version set `{}` lists no styles; add `styles: {{<style>: [<instrumentor>==<version>]}}`",
                    name.value
                ),
            ));
        }
        let mut common: Vec<(String, String)> = Vec::new();
        for pin in &set.common {
            let package = parse_pin(&pin.value).map_err(|m| err(pos_of(pin), m))?;
            if common.iter().any(|(p, _)| *p == package) {
                return Err(err(
                    pos_of(pin),
                    format!("`{package}` is pinned twice in `common`"),
                ));
            }
            common.push((package, pin.value.clone()));
        }
        let mut per_style: Vec<(Style, Vec<String>)> = Vec::new();
        for (style, pins) in set.styles.0 {
            let s = style.value.0;
            if !styles.contains(&s) {
                let names: Vec<&str> = styles.iter().map(|s| s.as_str()).collect();
                return Err(err(
                    pos_of(&style),
                    format!(
                        "version set `{}` pins style `{s}`, which is not in `styles` ({})",
                        name.value,
                        names.join(", ")
                    ),
                ));
            }
            let mut lines: Vec<(String, String)> = common.clone();
            for pin in &pins {
                let package = parse_pin(&pin.value).map_err(|m| err(pos_of(pin), m))?;
                if lines.iter().any(|(p, _)| *p == package) {
                    return Err(err(
                        pos_of(pin),
                        format!(
                            "`{package}` is pinned twice for style `{s}` in version set `{}` (in `common` and/or the style's list)",
                            name.value
                        ),
                    ));
                }
                lines.push((package, pin.value.clone()));
            }
            per_style.push((s, lines.into_iter().map(|(_, l)| l).collect()));
        }
        let setups = match set.setups {
            None => None,
            Some(raw) => {
                let mut list: Vec<(Setup, Vec<String>)> = Vec::new();
                for (setup, pins) in raw.0 {
                    let mut seen: Vec<String> = Vec::new();
                    for pin in &pins {
                        let package = parse_pin(&pin.value).map_err(|m| err(pos_of(pin), m))?;
                        if seen.contains(&package) {
                            return Err(err(
                                pos_of(pin),
                                format!(
                                    "`{package}` is pinned twice for setup `{}` in version set `{}`",
                                    setup.value.0, name.value
                                ),
                            ));
                        }
                        seen.push(package);
                    }
                    list.push((setup.value.0, pins.into_iter().map(|p| p.value).collect()));
                }
                Some(list)
            }
        };
        out.push(VersionSet {
            name: name.value,
            description: set.description,
            styles: per_style,
            setups,
            newest: set.newest,
        });
    }
    Ok(out)
}

/// Checks that `name` is a defined set; the error suggests the closest one.
pub(super) fn lookup<'a>(sets: &'a [VersionSet], name: &str) -> Result<&'a VersionSet, String> {
    sets.iter().find(|s| s.name == name).ok_or_else(|| {
        let hint = did_you_mean(name, sets.iter().map(|s| s.name.as_str()))
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        let defined: Vec<&str> = sets.iter().map(|s| s.name.as_str()).collect();
        if defined.is_empty() {
            format!("unknown version set `{name}`: the matrix defines none")
        } else {
            format!(
                "unknown version set `{name}`{hint}; defined: {}",
                defined.join(", ")
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_replaces_the_same_package_everywhere_in_the_set() {
        let mut set = VersionSet {
            name: "latest".into(),
            description: None,
            styles: vec![(
                Style::Traceloop,
                vec![
                    "openai==1.0.0".into(),
                    "Opentelemetry_Instrumentation_OpenAI==0.62.4".into(),
                ],
            )],
            setups: Some(vec![(Setup::TraceloopSdk, vec!["openai==1.1.0".into()])]),
            newest: false,
        };
        set.pin("opentelemetry-instrumentation-openai==0.40.0")
            .unwrap();
        set.pin("openai==1.40.0").unwrap();
        assert_eq!(
            set.requirements_for(Style::Traceloop, Setup::TraceloopSdk)
                .unwrap(),
            [
                "opentelemetry-instrumentation-openai==0.40.0",
                "openai==1.40.0"
            ]
        );
        assert!(set.pin("openai>=1").is_err());
    }

    #[test]
    fn moving_a_pin_changes_it_where_it_is_and_adds_it_nowhere() {
        let mut set = VersionSet {
            name: "nightly".into(),
            description: None,
            styles: vec![
                (
                    Style::Traceloop,
                    vec![
                        "openai==1.0.0".into(),
                        "Opentelemetry_Instrumentation_OpenAI==0.62.4".into(),
                    ],
                ),
                (Style::OpenInference, vec!["openai==1.0.0".into()]),
            ],
            setups: Some(vec![(Setup::TraceloopSdk, vec!["openai==1.1.0".into()])]),
            newest: true,
        };
        set.move_pin("opentelemetry-instrumentation-openai", "0.63.0");
        set.move_pin("openai", "3.58.0");
        let lines: Vec<&str> = set.lines().map(String::as_str).collect();
        assert_eq!(
            lines,
            [
                "openai==3.58.0",
                "Opentelemetry_Instrumentation_OpenAI==0.63.0",
                "openai==3.58.0",
                "openai==3.58.0"
            ]
        );
    }

    #[test]
    fn pins_are_exact_and_names_normalized() {
        assert_eq!(parse_pin("openai==1.109.1").as_deref(), Ok("openai"));
        assert_eq!(
            parse_pin("Typing_Extensions==4.16.0").as_deref(),
            Ok("typing-extensions")
        );
        assert_eq!(
            parse_pin("opentelemetry-instrumentation-genai-openai==1.0b0").as_deref(),
            Ok("opentelemetry-instrumentation-genai-openai")
        );
        for bad in [
            "openai>=1.0",
            "openai",
            "openai==",
            "==1.0",
            "openai == 1.0",
            "openai[extra]==1.0",
            "openai==1.0; python_version<'3.12'",
        ] {
            assert!(parse_pin(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn set_names_are_id_safe() {
        assert!(valid_name("latest"));
        assert!(valid_name("openai-v1"));
        assert!(valid_name("2025.09"));
        assert!(!valid_name(""));
        assert!(!valid_name("Latest"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a b"));
    }
}
