//! Python package versions, ordered the way pip orders them (PEP 440, without the
//! parts the matrix never pins: local versions are compared as text after the rest).
//!
//! `1.10 > 1.9`, `1.0 == 1.0.0`, `0.66b2 < 0.66`, `1.0.dev1 < 1.0a1 < 1.0b1 < 1.0rc1
//! < 1.0 < 1.0.post1`, and an epoch (`1!0.1`) outranks any release without one.
//!
//! [`Specifiers`] are version ranges as pip writes them (`<0.40`, `>=0.1.60,<0.2`,
//! `==0.47.*`, `~=1.4`, `*`), used to say which releases a known issue concerns. An
//! installed version is tested as it is: a pre-release inside the range matches.

use std::cmp::Ordering;

/// A parsed version. Equality and order are PEP 440's (`1.0 == 1.0.0`).
#[derive(Debug, Clone)]
pub struct Version {
    epoch: u64,
    release: Vec<u64>,
    /// `a`/`b`/`rc` as 0/1/2, with its number.
    pre: Option<(u8, u64)>,
    post: Option<u64>,
    dev: Option<u64>,
    local: String,
}

impl Version {
    /// Parses the normalized and the usual alternative spellings (`1.0-rc.1`, `1.0alpha2`,
    /// `v1.0`, `1.0-1` for a post release). `None` for text that is not a version.
    pub fn parse(text: &str) -> Option<Version> {
        let lower = text.trim().to_ascii_lowercase();
        let s = lower.strip_prefix('v').unwrap_or(&lower);
        let (s, local) = match s.split_once('+') {
            Some((v, l)) if !l.is_empty() => (v, l.to_string()),
            Some(_) => return None,
            None => (s, String::new()),
        };
        let (epoch, mut rest) = match s.split_once('!') {
            Some((e, r)) => (e.parse().ok()?, r),
            None => (0, s),
        };
        let mut release = Vec::new();
        loop {
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if digits == 0 {
                return None;
            }
            release.push(rest[..digits].parse().ok()?);
            rest = &rest[digits..];
            match rest.strip_prefix('.') {
                Some(r) if r.starts_with(|c: char| c.is_ascii_digit()) => rest = r,
                _ => break,
            }
        }
        let mut version = Version {
            epoch,
            release,
            pre: None,
            post: None,
            dev: None,
            local,
        };
        let sep = |r: &str| r.trim_start_matches(['.', '-', '_']).to_string();
        let mut rest = rest.to_string();
        // Pre-release.
        let stripped = sep(&rest);
        for (spelling, kind) in [
            ("alpha", 0),
            ("beta", 1),
            ("preview", 2),
            ("pre", 2),
            ("rc", 2),
            ("a", 0),
            ("b", 1),
            ("c", 2),
        ] {
            if let Some(r) = stripped.strip_prefix(spelling) {
                let (n, r) = number(sep_if_digit(r));
                version.pre = Some((kind, n.unwrap_or(0)));
                rest = r.to_string();
                break;
            }
        }
        // Post release: `.post1`, `-1`.
        let stripped = sep(&rest);
        if let Some(r) = stripped
            .strip_prefix("post")
            .or_else(|| stripped.strip_prefix("rev"))
            .or_else(|| stripped.strip_prefix('r'))
        {
            let (n, r) = number(sep_if_digit(r));
            version.post = Some(n.unwrap_or(0));
            rest = r.to_string();
        } else if let Some(r) = rest.strip_prefix('-') {
            let (n, r) = number(r);
            version.post = Some(n?);
            rest = r.to_string();
        }
        // Development release.
        let stripped = sep(&rest);
        if let Some(r) = stripped.strip_prefix("dev") {
            let (n, r) = number(sep_if_digit(r));
            version.dev = Some(n.unwrap_or(0));
            rest = r.to_string();
        }
        rest.is_empty().then_some(version)
    }

    /// A pre-release or a development release (pip leaves these out unless asked).
    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some() || self.dev.is_some()
    }

    /// The release numbers without trailing zeros (`1.0.0` → `[1]`), for comparing.
    fn trimmed(&self) -> &[u64] {
        let end = self
            .release
            .iter()
            .rposition(|n| *n != 0)
            .map_or(0, |i| i + 1);
        &self.release[..end]
    }

    /// The order key of the pre/post/dev part: a bare `.devN` sorts before any pre-release
    /// of the same release; a final release after all its pre-releases.
    fn suffix_key(&self) -> (i8, u64, i8, u64, i8, u64) {
        let (pre_kind, pre_n) = match (self.pre, self.post, self.dev) {
            (Some((k, n)), _, _) => (k as i8, n),
            (None, None, Some(_)) => (-1, 0),
            (None, _, _) => (3, 0),
        };
        let (post_kind, post_n) = match self.post {
            Some(n) => (1, n),
            None => (0, 0),
        };
        let (dev_kind, dev_n) = match self.dev {
            Some(n) => (0, n),
            None => (1, 0),
        };
        (pre_kind, pre_n, post_kind, post_n, dev_kind, dev_n)
    }
}

/// `.1`, `-1`, `_1` or `1` after a pre/post/dev marker: the separator goes.
fn sep_if_digit(r: &str) -> &str {
    let t = r.trim_start_matches(['.', '-', '_']);
    if t.starts_with(|c: char| c.is_ascii_digit()) {
        t
    } else {
        r
    }
}

/// The leading number of `s`, if any, and what follows it.
fn number(s: &str) -> (Option<u64>, &str) {
    let digits = s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return (None, s);
    }
    (s[..digits].parse().ok(), &s[digits..])
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| self.trimmed().cmp(other.trimmed()))
            .then_with(|| self.suffix_key().cmp(&other.suffix_key()))
            .then_with(|| self.local.cmp(&other.local))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

/// A comparison of one clause of a version range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    /// `==X.*`: the release starts with X's numbers.
    Prefix,
    /// `!=X.*`.
    NotPrefix,
    /// `~=X.Y`: at least X.Y, and the same release up to its last number.
    Compatible,
}

/// A version range: clauses that must all hold (`>=0.1,<0.2`); `*` holds for any version.
#[derive(Debug, Clone)]
pub struct Specifiers {
    text: String,
    clauses: Vec<(Op, Version)>,
}

impl Specifiers {
    /// Parses a comma-separated list of clauses; the error names the clause it rejects.
    pub fn parse(text: &str) -> Result<Specifiers, String> {
        let trimmed = text.trim();
        let mut clauses = Vec::new();
        if trimmed != "*" {
            for clause in trimmed.split(',') {
                clauses.push(parse_clause(clause.trim())?);
            }
        }
        Ok(Specifiers {
            text: trimmed.to_string(),
            clauses,
        })
    }

    /// True when `version` satisfies every clause.
    pub fn contains(&self, version: &Version) -> bool {
        self.clauses.iter().all(|(op, bound)| match op {
            Op::Lt => version < bound,
            Op::Le => version <= bound,
            Op::Gt => version > bound,
            Op::Ge => version >= bound,
            Op::Eq => version == bound,
            Op::Ne => version != bound,
            Op::Prefix => starts_with(version, bound),
            Op::NotPrefix => !starts_with(version, bound),
            Op::Compatible => {
                let mut prefix = bound.clone();
                prefix.release.pop();
                prefix.pre = None;
                prefix.post = None;
                prefix.dev = None;
                version >= bound && starts_with(version, &prefix)
            }
        })
    }
}

impl PartialEq for Specifiers {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl serde::Serialize for Specifiers {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// A package name as the index compares names (PEP 503: lower case, each run of `-`,
/// `_` and `.` one `-`).
pub(crate) fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// A requirement's package name (`Pkg_Name[extra]>=1` → `pkg-name`), normalized.
pub(crate) fn requirement_name(requirement: &str) -> String {
    let name = requirement
        .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .next()
        .unwrap_or_default();
    normalize_name(name)
}

impl std::fmt::Display for Specifiers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// `version`'s release begins with `prefix`'s numbers (missing numbers count as 0), in
/// the same epoch.
fn starts_with(version: &Version, prefix: &Version) -> bool {
    version.epoch == prefix.epoch
        && prefix
            .release
            .iter()
            .enumerate()
            .all(|(i, n)| version.release.get(i).copied().unwrap_or(0) == *n)
}

fn parse_clause(clause: &str) -> Result<(Op, Version), String> {
    let (op, rest) = [
        ("~=", Op::Compatible),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("<", Op::Lt),
        (">", Op::Gt),
    ]
    .into_iter()
    .find_map(|(token, op)| clause.strip_prefix(token).map(|rest| (op, rest.trim())))
    .ok_or_else(|| {
        format!("`{clause}` is not a version clause (e.g. `<0.40`, `>=1.2,<2`, `==0.47.*`)")
    })?;
    let (op, rest) = match (op, rest.strip_suffix(".*")) {
        (Op::Eq, Some(r)) => (Op::Prefix, r),
        (Op::Ne, Some(r)) => (Op::NotPrefix, r),
        (_, Some(_)) => return Err(format!("`{clause}`: `.*` goes only with `==` or `!=`")),
        (_, None) => (op, rest),
    };
    let version =
        Version::parse(rest).ok_or_else(|| format!("`{rest}` in `{clause}` is not a version"))?;
    if op == Op::Compatible && version.release.len() < 2 {
        return Err(format!(
            "`{clause}`: `~=` needs at least two numbers (`~=1.4`)"
        ));
    }
    Ok((op, version))
}

/// The newest of `versions` that parse, leaving pre-releases out unless `pre`.
pub(crate) fn newest<'a>(
    versions: impl IntoIterator<Item = &'a str>,
    pre: bool,
) -> Option<&'a str> {
    versions
        .into_iter()
        .filter_map(|text| Version::parse(text).map(|v| (v, text)))
        .filter(|(v, _)| pre || !v.is_prerelease())
        .max_by(|(a, _), (b, _)| a.cmp(b))
        .map(|(_, text)| text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_hold_the_versions_pip_would_pick() {
        let holds = |spec: &str, version: &str| {
            Specifiers::parse(spec)
                .unwrap_or_else(|e| panic!("{e}"))
                .contains(&v(version))
        };
        assert!(holds("<0.40", "0.39.9"));
        assert!(!holds("<0.40", "0.40.0"));
        assert!(holds(">=0.1.60, <0.2", "0.1.66"));
        assert!(!holds(">=0.1.60,<0.2", "0.2.0"));
        assert!(holds("==0.47.*", "0.47.5"));
        assert!(!holds("==0.47.*", "0.48.0"));
        assert!(holds("!=1.0.*", "1.1"));
        assert!(holds("~=1.4.2", "1.4.9"));
        assert!(!holds("~=1.4.2", "1.5.0"));
        assert!(holds("~=1.4", "1.9"));
        assert!(holds("==1.0", "1.0.0"));
        assert!(holds("*", "0.0.1"));
        assert!(holds("<1.0", "1.0rc1"));
        assert_eq!(Specifiers::parse(" <0.40 ").unwrap().to_string(), "<0.40");
    }

    #[test]
    fn malformed_ranges_say_which_clause() {
        for (spec, says) in [
            ("0.40", "not a version clause"),
            ("<zero", "`zero` in `<zero` is not a version"),
            (">=1.*", "`.*` goes only with"),
            ("~=1", "at least two numbers"),
            (">=1,", "`` is not a version clause"),
        ] {
            let e = Specifiers::parse(spec).unwrap_err();
            assert!(e.contains(says), "{spec}: {e}");
        }
    }

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap_or_else(|| panic!("{s} did not parse"))
    }

    #[test]
    fn release_numbers_compare_as_numbers() {
        assert!(v("1.10") > v("1.9"));
        assert!(v("1.10.0") > v("1.9.9"));
        assert!(v("3.57.0") > v("3.6.0"));
        assert!(v("0.1.66") > v("0.1.7"));
        assert_eq!(v("1.0"), v("1.0.0"));
        assert_eq!(v("1"), v("1.0"));
        assert!(v("2") > v("1.99.99"));
    }

    #[test]
    fn pre_releases_come_before_their_release() {
        assert!(v("0.66b2") < v("0.66"));
        assert!(v("0.66b2") < v("0.66.0"));
        assert!(v("0.66b1") < v("0.66b2"));
        assert!(v("0.66b2") > v("0.65"));
        assert!(v("1.0.dev1") < v("1.0a1"));
        assert!(v("1.0a1") < v("1.0a2"));
        assert!(v("1.0a9") < v("1.0b1"));
        assert!(v("1.0b1") < v("1.0rc1"));
        assert!(v("1.0rc1") < v("1.0"));
        assert!(v("1.0") < v("1.0.post1"));
        assert!(v("1.0a1.dev1") < v("1.0a1"));
        assert!(v("1.0.post1.dev1") < v("1.0.post1"));
        assert!(v("1.3b0") > v("1.0b0"));
        assert!(v("1!0.1") > v("99.0"));
        assert_eq!(v("1.0-rc.1"), v("1.0rc1"));
        assert_eq!(v("1.0alpha2"), v("1.0a2"));
        assert_eq!(v("1.0-1"), v("1.0.post1"));
        assert!(v("1.0b0").is_prerelease());
        assert!(v("1.0.dev3").is_prerelease());
        assert!(!v("1.0.post2").is_prerelease());
    }

    #[test]
    fn junk_is_not_a_version() {
        for bad in ["", "abc", "1..2", "1.0-", "1.0+", "1.0 beta", "1.0x"] {
            assert!(Version::parse(bad).is_none(), "{bad:?} parsed");
        }
    }

    #[test]
    fn newest_leaves_out_pre_releases_unless_asked() {
        let listed = ["1.9.0", "1.10.0", "1.11.0rc1", "1.2.0", "not-a-version"];
        assert_eq!(newest(listed, false), Some("1.10.0"));
        assert_eq!(newest(listed, true), Some("1.11.0rc1"));
        assert_eq!(newest(["0.66b1", "0.66b2", "0.65b0"], true), Some("0.66b2"));
        assert_eq!(newest(["0.66b1"], false), None);
        assert_eq!(newest(["0.66b1", "0.66"], true), Some("0.66"));
    }
}
