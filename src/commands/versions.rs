//! `hh-compat versions check` and `hh-compat versions bump`: the matrix's pins against
//! what the package index has released since, asked through pip.

use super::*;
use crate::index::{IndexClient, IndexError, Query};
use crate::matrix::{pins, VersionSet};
use crate::pep440::Version;
use std::collections::BTreeMap;

#[derive(Debug, clap::Subcommand)]
pub enum VersionsCommand {
    /// List the pins of the matrix's version sets that have newer releases.
    #[command(
        long_about = "List the pins of the matrix's version sets that have newer releases.\n\n\
            Every package is looked up with pip's own client (`python3 -m pip index versions`, \
            the interpreter from $HH_COMPAT_PYTHON3 or PATH), so PIP_INDEX_URL, \
            PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS and pip.conf apply. Pre-releases count only \
            for pins that are themselves pre-releases (0.66b2 is compared with 0.67b0, \
            1.45.2 only with final releases).",
        after_help = "Exit codes: 0 every pin is the newest release · 1 some pins have newer \
            releases · 2 usage or matrix error · 3 the index could not be asked (the package \
            is named).\n\n\
            Examples:\n  hh-compat versions check\n  \
            hh-compat versions check --version-set latest\n  \
            hh-compat versions check --matrix my-matrix.yaml --timeout 30 --jobs 8\n  \
            PIP_INDEX_URL=https://mirror.example/simple hh-compat versions check --provider openai"
    )]
    Check(VersionsCheckArgs),
    /// Rewrite one version set's pins in the matrix file to the newest releases.
    #[command(
        long_about = "Rewrite one version set's pins in the matrix file to the newest releases.\n\n\
            Only the version strings change: comments, blank lines, quoting and anchors stay \
            byte for byte. A pin reached through a YAML alias is changed at its anchor (every \
            set using the anchor moves with it; the output marks these). The file is written \
            atomically and validated again; the changes are printed.",
        after_help = "Exit codes: 0 bumped, or already the newest · 2 usage or matrix error \
            (an unknown set) · 3 the index could not be asked; the file is then unchanged.\n\n\
            Examples:\n  hh-compat versions bump --set latest\n  \
            hh-compat versions bump --set latest --dry-run\n  \
            hh-compat versions bump --set latest --matrix matrix/openai.yaml && \
            hh-compat drivers setup --version-set latest"
    )]
    Bump(VersionsBumpArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct VersionsCheckArgs {
    #[command(flatten)]
    pub source: MatrixArgs,
    /// Only these version sets (repeatable; default: all of the matrix's).
    #[arg(long = "version-set", value_name = "NAME")]
    pub version_sets: Vec<String>,
    #[command(flatten)]
    pub index: IndexArgs,
}

#[derive(Debug, Clone, clap::Args)]
pub struct VersionsBumpArgs {
    #[command(flatten)]
    pub source: MatrixArgs,
    /// The version set whose pins to bump.
    #[arg(long, value_name = "NAME")]
    pub set: String,
    /// Print what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub index: IndexArgs,
}

impl VersionsCommand {
    pub async fn exec(self) -> Result<ExitStatus, CommandError> {
        match self {
            VersionsCommand::Check(args) => versions_check(&args).await,
            VersionsCommand::Bump(args) => versions_bump(&args).await,
        }
    }
}

/// One pin of a version set.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pin {
    set: String,
    package: String,
    pinned: String,
}

impl Pin {
    fn query(&self) -> Query {
        Query {
            package: self.package.clone(),
            pre: is_prerelease(&self.pinned),
        }
    }
}

/// Whether a pinned version is a pre-release (its package's newest is then looked up
/// among pre-releases too).
fn is_prerelease(version: &str) -> bool {
    Version::parse(version).is_some_and(|v| v.is_prerelease())
}

/// The version of a `package==version` pin.
pub(super) fn pinned_version(pin: &str) -> &str {
    pin.split_once("==").map_or("", |(_, v)| v)
}

/// True when `candidate` is a newer release than `pinned`.
fn is_newer(candidate: &str, pinned: &str) -> bool {
    match (Version::parse(candidate), Version::parse(pinned)) {
        (Some(c), Some(p)) => c > p,
        _ => false,
    }
}

fn client(index: &IndexArgs) -> Result<IndexClient, CommandError> {
    let python = venv::find_python3().map_err(|e| IndexError::NoPython(e.to_string()))?;
    Ok(IndexClient {
        python,
        timeout: index.timeout,
        concurrency: index.jobs,
    })
}

/// The newest release of every distinct query the pins make, asked a few at a time.
pub(super) async fn newest_of(
    pins: impl IntoIterator<Item = Query>,
    index: &IndexArgs,
) -> Result<BTreeMap<Query, String>, CommandError> {
    let queries: Vec<Query> = pins
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let answers = client(index)?.newest(&queries).await?;
    Ok(answers.into_iter().collect())
}

/// `hh-compat versions check`: every pin with a newer release on the index, as a table.
/// Exit 1 when there is any, 0 when none, 3 when the index could not be asked.
async fn versions_check(command: &VersionsCheckArgs) -> Result<ExitStatus, CommandError> {
    let (matrix, label) = load(&command.source)?;
    check_version_sets(&matrix, &command.version_sets)?;
    let mut pins: Vec<Pin> = Vec::new();
    for set in matrix.version_sets() {
        if !command.version_sets.is_empty() && !command.version_sets.contains(&set.name) {
            continue;
        }
        for line in set.lines() {
            let pin = Pin {
                set: set.name.clone(),
                package: matrix::parse_pin(line).map_err(CommandError::Usage)?,
                pinned: pinned_version(line).to_string(),
            };
            if !pins.contains(&pin) {
                pins.push(pin);
            }
        }
    }
    if pins.is_empty() {
        console::err(&format!("versions check: {label} pins no packages"));
        return Ok(ExitStatus::Ok);
    }
    let newest = newest_of(pins.iter().map(Pin::query), &command.index).await?;
    let outdated: Vec<(&Pin, &str)> = pins
        .iter()
        .filter_map(|p| {
            let n = newest.get(&p.query())?;
            is_newer(n, &p.pinned).then_some((p, n.as_str()))
        })
        .collect();
    if !outdated.is_empty() {
        let rows: Vec<[&str; 4]> = outdated
            .iter()
            .map(|(p, n)| [p.package.as_str(), p.set.as_str(), p.pinned.as_str(), n])
            .collect();
        console::out(&table(["package", "set", "pinned", "newest"], &rows));
    }
    console::err(&format!(
        "versions check: {} of {} pins in {label} have newer releases ({} packages asked)",
        outdated.len(),
        pins.len(),
        newest.len()
    ));
    Ok(if outdated.is_empty() {
        ExitStatus::Ok
    } else {
        ExitStatus::Incompatible
    })
}

/// `hh-compat versions bump --set NAME`: rewrites the set's pins in the matrix file to
/// the newest releases, changing nothing but the version strings; the file is written
/// atomically and validated again. Exit 2 for a set the file does not define.
async fn versions_bump(command: &VersionsBumpArgs) -> Result<ExitStatus, CommandError> {
    let source = &command.source;
    let path = match &source.matrix {
        Some(p) => p.clone(),
        None => matrix::default_matrix_path(source.provider.unwrap_or(Provider::AzureOpenAi)),
    };
    let origin = display_path(&path);
    // The file must be valid before it is touched.
    let (loaded, _) = load(&MatrixArgs {
        provider: source.provider,
        matrix: Some(path.clone()),
    })?;
    let text = matrix::read_limited(&path).map_err(|source| CommandError::Io {
        path: path.clone(),
        source,
    })?;
    let Some(sites) = pins::sites(&text, &origin, &command.set)? else {
        let own = pins::set_names(&text, &origin)?;
        if own.is_empty() && loaded.version_set(&command.set).is_ok() {
            return Err(CommandError::Usage(format!(
                "--set {}: {origin} defines no version sets of its own (it extends another \
                 matrix); bump the file that defines them",
                command.set
            )));
        }
        let hint = crate::vocab::did_you_mean(&command.set, own.iter().map(String::as_str))
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        return Err(CommandError::Usage(format!(
            "--set: unknown version set `{}`{hint}; {origin} defines: {}",
            command.set,
            if own.is_empty() {
                "none".to_string()
            } else {
                own.join(", ")
            }
        )));
    };
    let pins: Vec<Pin> = sites
        .iter()
        .map(|s| Pin {
            set: s.set.clone(),
            package: s.package.clone(),
            pinned: s.version.clone(),
        })
        .collect();
    let newest = newest_of(pins.iter().map(Pin::query), &command.index).await?;
    let rewritten = pins::rewrite(&text, &origin, &command.set, |package, pinned| {
        let pin = Pin {
            set: command.set.clone(),
            package: package.to_string(),
            pinned: pinned.to_string(),
        };
        newest
            .get(&pin.query())
            .filter(|n| is_newer(n, pinned))
            .cloned()
    })?;
    let Some((new_text, changes)) = rewritten else {
        return Err(CommandError::Usage(format!(
            "--set {}: the set vanished from {origin} while it was read",
            command.set
        )));
    };
    if changes.is_empty() {
        console::err(&format!(
            "versions bump: every pin of `{}` in {origin} is the newest release ({} pins)",
            command.set,
            pins.len()
        ));
        return Ok(ExitStatus::Ok);
    }
    let shared = changes.iter().any(|c| c.via_alias);
    let rows: Vec<[String; 4]> = changes
        .iter()
        .map(|c| {
            [
                c.package.clone(),
                c.from.clone(),
                c.to.clone(),
                format!(
                    "{origin}:{}{}",
                    c.line,
                    if c.via_alias { " (anchor)" } else { "" }
                ),
            ]
        })
        .collect();
    let rows: Vec<[&str; 4]> = rows
        .iter()
        .map(|r| [r[0].as_str(), r[1].as_str(), r[2].as_str(), r[3].as_str()])
        .collect();
    console::out(&table(["package", "pinned", "newest", "at"], &rows));
    if shared {
        console::err(
            "versions bump: pins marked (anchor) are written once and reused through a YAML \
             alias; every set that uses the anchor moves with them",
        );
    }
    // The new text is checked before it replaces the file, and the file after.
    matrix::parse_str(&new_text, &origin)?;
    if command.dry_run {
        console::err(&format!(
            "versions bump: {} of {} pins of `{}` would change; --dry-run, {origin} not written",
            changes.len(),
            pins.len(),
            command.set
        ));
        return Ok(ExitStatus::Ok);
    }
    crate::atomic::write(&path, new_text.as_bytes()).map_err(|source| CommandError::Io {
        path: path.clone(),
        source,
    })?;
    matrix::load_file(&path)?;
    console::err(&format!(
        "versions bump: {} of {} pins of `{}` changed in {origin}; run `hh-compat drivers \
         setup --version-set {}` and the set's cells before committing",
        changes.len(),
        pins.len(),
        command.set,
        command.set
    ));
    Ok(ExitStatus::Ok)
}

/// A plain, aligned text table (CI logs and terminals alike), each line ended.
fn table<const N: usize>(header: [&str; N], rows: &[[&str; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str; N]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let mut l = padded.join("  ").trim_end().to_string();
        l.push('\n');
        l
    };
    let mut out = line(&header);
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

/// The `newest: true` sets a run uses, and how to resolve them.
pub(super) struct Newest<'a> {
    /// The sets the run uses.
    pub sets: &'a [String],
    /// Packages pinned on the command line (`--with`): left as given.
    pub keep: &'a [String],
    /// Resolve nothing: the written pins run.
    pub offline: bool,
    pub index: &'a IndexArgs,
}

impl Newest<'_> {
    /// Moves the pins of every `newest: true` set the run uses to the newest releases
    /// on the index (pre-releases only for a package some pin holds at a pre-release),
    /// printing every move; `offline`, or no python3 to ask the index with, resolves
    /// nothing and says so (the cells then run the written pins, or are skipped with
    /// the reason). An index that cannot be asked is an error: a nightly that asked for
    /// the newest releases must not quietly test older ones.
    pub(super) async fn resolve(&self, mut matrix: Matrix) -> Result<Matrix, CommandError> {
        let wanted: Vec<VersionSet> = (matrix.version_sets().iter())
            .filter(|s| s.newest && self.sets.contains(&s.name))
            .cloned()
            .collect();
        for set in wanted {
            if self.offline {
                console::err(&format!(
                    "run: version set `{}` asks for the newest releases; --offline runs its written pins",
                    set.name
                ));
                continue;
            }
            // Package → every version the set pins it at (a setup may hold one back).
            let mut pins: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for line in set.lines() {
                let package = matrix::parse_pin(line).map_err(CommandError::Usage)?;
                if self.keep.contains(&package) {
                    continue;
                }
                let olds = pins.entry(package).or_default();
                let old = pinned_version(line).to_string();
                if !olds.contains(&old) {
                    olds.push(old);
                }
            }
            let query = |package: &String, olds: &[String]| Query {
                package: package.clone(),
                pre: olds.iter().any(|v| is_prerelease(v)),
            };
            let queries = pins.iter().map(|(p, olds)| query(p, olds));
            let newest = match newest_of(queries, self.index).await {
                Ok(newest) => newest,
                Err(CommandError::Index(IndexError::NoPython(why))) => {
                    console::err(&format!(
                        "run: version set `{}` asks for the newest releases, but there is no \
                         python3 to ask the index with ({why})",
                        set.name
                    ));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut versions = BTreeMap::new();
            let mut moved = Vec::new();
            for (package, olds) in &pins {
                let Some(release) = newest.get(&query(package, olds)) else {
                    continue;
                };
                for old in olds.iter().filter(|old| *old != release) {
                    moved.push(format!("{package} {old} → {release}"));
                }
                versions.insert(package.clone(), release.clone());
            }
            console::err(&format!(
                "run: version set `{}` resolved to the newest releases on the index: {}",
                set.name,
                if moved.is_empty() {
                    "every pin already is".to_string()
                } else {
                    moved.join(", ")
                }
            ));
            matrix = matrix.with_versions(&set.name, &versions);
        }
        Ok(matrix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_is_by_version_order_not_text() {
        assert!(is_newer("1.10.0", "1.9.0"));
        assert!(is_newer("0.66", "0.66b2"));
        assert!(!is_newer("0.66b2", "0.66"));
        assert!(!is_newer("1.0.0", "1.0"));
        assert!(!is_newer("junk", "1.0"));
    }

    #[test]
    fn pre_releases_are_asked_for_only_for_pre_release_pins() {
        let pin = |v: &str| Pin {
            set: "s".into(),
            package: "p".into(),
            pinned: v.into(),
        };
        assert!(pin("0.66b2").query().pre);
        assert!(pin("1.0.dev1").query().pre);
        assert!(!pin("1.45.2").query().pre);
        assert!(!pin("1.0.post1").query().pre);
    }

    #[test]
    fn the_table_is_aligned() {
        let t = table(["a", "bb"], &[["xxx", "y"], ["z", "w"]]);
        assert_eq!(t, "a    bb\nxxx  y\nz    w\n");
    }
}
