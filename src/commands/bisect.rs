//! `hh-compat bisect`: the first release of a package where a verdict changes.
//!
//! Given cells (a customer's `--command`, or python-driver cells of a version set), a
//! package and two of its releases, the released versions between them are listed with
//! pip's own client (as `versions check` does), and the cells are run with the package
//! pinned to each release a binary search needs; every other pin stays as given. A
//! release's outcome is its cells' statuses and the subjects of their findings; the
//! search finds the first release, walking from the older bound to the newer, whose
//! outcome is no longer the older bound's. Both bounds are run at once (their
//! environments build in parallel); each environment is cached with the python driver's.
//!
//! A release whose environment cannot be built with the other pins (or that did not
//! end up installed) is reported and skipped, not fatal; only the bounds must install.

use super::run::{collect, RunArgs};
use super::{args, CommandError, OutputArgs, SelectArgs};
use crate::console;
use crate::drivers::venv;
use crate::index::{self, Query};
use crate::pep440::{normalize_name, Version};
use crate::report::{CellResult, CellStatus, ExitStatus, FindingKind, Format, RunResults};
use crate::vocab::TargetKind;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, clap::Args)]
// What is bisected: a customer's command, or the python cells of one version set.
#[command(group(clap::ArgGroup::new("subject").args(["command", "version_sets"]).required(true).multiple(true)))]
pub struct BisectArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// The package whose releases are searched, e.g. opentelemetry-instrumentation-openai.
    #[arg(long, value_name = "NAME")]
    pub package: String,
    /// A release that behaves as it should.
    #[arg(
        long,
        value_name = "VERSION",
        requires = "bad",
        conflicts_with = "range"
    )]
    pub good: Option<String>,
    /// A release that shows the bug (older or newer than --good).
    #[arg(long, value_name = "VERSION", requires = "good")]
    pub bad: Option<String>,
    /// FROM..TO: the first release after FROM whose verdicts differ from FROM's.
    #[arg(long, value_name = "FROM..TO", required_unless_present = "good", value_parser = parse_range)]
    pub range: Option<(String, String)>,
    /// Count pre-releases between the bounds too.
    #[arg(long)]
    pub pre: bool,
    /// The program command cells run (with `sh -c`); without it, python cells of the
    /// one --version-set are run.
    #[arg(long, value_name = "COMMAND LINE")]
    pub command: Option<String>,
    /// Other packages to pin (repeatable), as `run --with`.
    #[arg(long = "with", value_name = "PKG==VER", value_parser = args::parse_requirement)]
    pub with: Vec<String>,
    /// Answer from the cassettes in DIR instead of generating answers.
    #[arg(long, value_name = "DIR")]
    pub fixtures: Option<PathBuf>,
    /// The endpoint string apps receive, as the customer writes it (see `run --help`).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Seconds one cell may take before it is an `error` (1-86400).
    #[arg(long, value_name = "SECONDS", default_value = "60", value_parser = args::seconds(86_400))]
    pub timeout: Duration,
}

fn parse_range(text: &str) -> Result<(String, String), String> {
    match text.split_once("..") {
        Some((from, to)) if !from.trim().is_empty() && !to.trim().is_empty() => {
            Ok((from.trim().to_string(), to.trim().to_string()))
        }
        _ => Err(format!(
            "`{text}` is not a range; expected FROM..TO, e.g. 0.16.0..0.17.0"
        )),
    }
}

/// Which releases to search between.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Bounds {
    /// A release known good and one known bad (in either order: a fix or a regression).
    GoodBad { good: String, bad: String },
    /// `--range FROM..TO`: the first release after FROM that behaves differently.
    Range { from: String, to: String },
}

/// How long the index may take to list the releases.
const INDEX_TIMEOUT: Duration = Duration::from_secs(60);

impl BisectArgs {
    /// Finds the first release whose verdicts differ from the older bound's.
    pub async fn exec(self) -> Result<ExitStatus, CommandError> {
        bisect(&self).await
    }

    /// The bounds as given: clap requires --good with --bad, or --range.
    fn bounds(&self) -> Result<Bounds, CommandError> {
        match (&self.good, &self.bad, &self.range) {
            (Some(good), Some(bad), _) => Ok(Bounds::GoodBad {
                good: good.clone(),
                bad: bad.clone(),
            }),
            (_, _, Some((from, to))) => Ok(Bounds::Range {
                from: from.clone(),
                to: to.clone(),
            }),
            _ => Err(CommandError::Usage(
                "give --good and --bad, or --range FROM..TO".into(),
            )),
        }
    }

    /// The run each release is tried with (the package's pin is added to its `with`):
    /// its results are read, not shown, and compared, so they are stable JSON.
    fn request(&self) -> RunArgs {
        RunArgs {
            select: self.select.clone(),
            target: if self.fixtures.is_some() {
                TargetKind::Replay
            } else {
                TargetKind::Replica
            },
            env_file: None,
            command: self.command.clone(),
            with: self.with.clone(),
            endpoint: self.endpoint.clone(),
            api_version_env: false,
            fixtures: self.fixtures.clone(),
            jobs: None,
            timeout: self.timeout,
            output: OutputArgs::plain(Format::Json),
            stable: true,
            offline: false,
        }
    }
}

/// What one release's cells did: per cell id, the status and the findings' subjects.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome(BTreeMap<String, (CellStatus, BTreeSet<String>)>);

impl Outcome {
    fn of(results: &RunResults) -> Outcome {
        Outcome(
            results
                .cells
                .iter()
                .map(|c| (c.id.clone(), (c.status, subjects(c))))
                .collect(),
        )
    }

    /// `fail ×2, pass` — for the progress lines.
    fn summary(&self) -> String {
        crate::report::tally(self.0.values().map(|(status, _)| status.as_str()))
    }
}

/// The findings that make a verdict, as `check: subject` (or the message when the
/// finding has no subject), notes left out.
fn subjects(cell: &CellResult) -> BTreeSet<String> {
    cell.findings
        .iter()
        .filter(|f| !matches!(f.kind, FindingKind::Note))
        .map(|f| match (&f.check, &f.subject) {
            (Some(check), Some(subject)) => format!("{check}: {subject}"),
            _ => f.message.chars().take(160).collect(),
        })
        .collect()
}

/// Runs the bisection, printing progress and the answer. Exit 0 when a change was
/// found, 1 when the bounds behave the same, 2 for bad input, 3 when a bound cannot run.
async fn bisect(command: &BisectArgs) -> Result<ExitStatus, CommandError> {
    let package = normalize_name(&command.package);
    let run = command.request();
    let (from, to, labels) = match &command.bounds()? {
        Bounds::GoodBad { good, bad } => {
            let (g, b) = (parse_version(good)?, parse_version(bad)?);
            if g == b {
                return Err(CommandError::Usage(format!(
                    "--good and --bad are the same release ({good}); give two different ones"
                )));
            }
            if g < b {
                (good.clone(), bad.clone(), ("good", "bad"))
            } else {
                (bad.clone(), good.clone(), ("bad", "good"))
            }
        }
        Bounds::Range { from, to } => {
            let (f, t) = (parse_version(from)?, parse_version(to)?);
            if f >= t {
                return Err(CommandError::Usage(format!(
                    "--range {from}..{to}: the first release must be older than the second"
                )));
            }
            (from.clone(), to.clone(), ("first", "last"))
        }
    };
    let releases = releases_between(command, &package, &from, &to).await?;
    console::err(&format!(
        "bisect: {package}: {} releases from {from} ({}) to {to} ({})",
        releases.len(),
        labels.0,
        labels.1
    ));

    let (older, newer) = futures::join!(
        try_release(&run, &package, &from),
        try_release(&run, &package, &to)
    );
    let older = bound(older?, &from)?;
    let newer = bound(newer?, &to)?;
    console::err(&format!("bisect: {from} → {}", older.summary()));
    console::err(&format!("bisect: {to} → {}", newer.summary()));
    if older == newer {
        console::out(&format!(
            "{package} {from} and {to} give the same verdicts ({}); nothing changes between them\n",
            older.summary()
        ));
        return Ok(ExitStatus::Incompatible);
    }

    // Invariant: releases[lo] behaves like `from`, releases[hi] does not.
    let (mut lo, mut hi) = (0, releases.len() - 1);
    let mut outcomes: BTreeMap<usize, Outcome> = BTreeMap::from([(lo, older), (hi, newer)]);
    let mut untestable: BTreeSet<usize> = BTreeSet::new();
    while let Some(mid) = next_probe(lo, hi, &untestable) {
        let steps = ((hi - lo - untestable.range(lo..hi).count()) as f64)
            .log2()
            .ceil();
        match try_release(&run, &package, &releases[mid]).await? {
            Tried::Ran(outcome) => {
                console::err(&format!(
                    "bisect: {} → {} (about {steps} step(s) left)",
                    releases[mid],
                    outcome.summary()
                ));
                if outcome == outcomes[&0] {
                    lo = mid;
                } else {
                    hi = mid;
                }
                outcomes.insert(mid, outcome);
            }
            Tried::NotInstalled(why) => {
                console::err(&format!("bisect: {} skipped: {why}", releases[mid]));
                untestable.insert(mid);
            }
        }
    }
    let skipped: Vec<&str> = (lo + 1..hi).map(|i| releases[i].as_str()).collect();
    let mut answer = format!(
        "first release of {package} that no longer behaves like {from} ({}): {}",
        labels.0, releases[hi]
    );
    if skipped.is_empty() {
        answer.push_str(&format!(" (the release before it is {})", releases[lo]));
    } else {
        answer.push_str(&format!(
            " or one of {} (they could not be installed with the other pins; the last that \
             behaves like {from} is {})",
            skipped.join(", "),
            releases[lo]
        ));
    }
    answer.push('\n');
    console::out(&answer);
    console::out(&differences(
        &releases[lo],
        &outcomes[&lo],
        &releases[hi],
        &outcomes[&hi],
    ));
    Ok(ExitStatus::Ok)
}

/// The next index to try between `lo` and `hi`: the middle one, or the nearest to it
/// that is not known to be untestable. `None` when nothing is left between them.
fn next_probe(lo: usize, hi: usize, untestable: &BTreeSet<usize>) -> Option<usize> {
    let mid = lo + (hi - lo) / 2;
    (0..hi - lo)
        .flat_map(|d| [mid.checked_sub(d), Some(mid + d)])
        .flatten()
        .find(|i| *i > lo && *i < hi && !untestable.contains(i))
}

fn parse_version(text: &str) -> Result<Version, CommandError> {
    Version::parse(text)
        .ok_or_else(|| CommandError::Usage(format!("`{text}` is not a version (e.g. 0.16.7)")))
}

/// Every released version from `from` to `to` (both included), oldest first.
async fn releases_between(
    command: &BisectArgs,
    package: &str,
    from: &str,
    to: &str,
) -> Result<Vec<String>, CommandError> {
    let python = venv::find_python3().map_err(|e| CommandError::Usage(e.to_string()))?;
    let (f, t) = (parse_version(from)?, parse_version(to)?);
    let query = Query {
        package: package.to_string(),
        pre: command.pre || f.is_prerelease() || t.is_prerelease(),
    };
    let listed = index::released(&python, &query, INDEX_TIMEOUT)
        .await
        .map_err(|e| match &e {
            // pip says so when the index has no such project.
            index::IndexError::Failed { detail, .. }
                if detail.contains("No matching distribution") =>
            {
                CommandError::Usage(format!("{package}: the package index has no such package"))
            }
            _ => CommandError::Index(e),
        })?;
    let mut releases: Vec<(Version, String)> = listed
        .into_iter()
        .filter_map(|text| Version::parse(&text).map(|v| (v, text)))
        .filter(|(v, _)| (query.pre || !v.is_prerelease()) && *v >= f && *v <= t)
        .collect();
    releases.sort_by(|a, b| a.0.cmp(&b.0));
    releases.dedup_by(|a, b| a.0 == b.0);
    for (bound, v) in [(from, &f), (to, &t)] {
        if !releases.iter().any(|(r, _)| r == v) {
            return Err(CommandError::Usage(format!(
                "{package} {bound} is not a release the package index lists"
            )));
        }
    }
    Ok(releases.into_iter().map(|(_, text)| text).collect())
}

enum Tried {
    Ran(Outcome),
    NotInstalled(String),
}

/// Runs the cells with `package` pinned to `version`.
async fn try_release(
    request: &RunArgs,
    package: &str,
    version: &str,
) -> Result<Tried, CommandError> {
    let mut run = request.clone();
    run.with
        .retain(|r| crate::pep440::requirement_name(r) != package);
    run.with.push(format!("{package}=={version}"));
    let ran = match collect(run, None).await {
        Ok(ran) => ran,
        // The environment is built before any cell: a release that cannot be installed
        // with the other pins stops the run there.
        Err(CommandError::Install(why) | CommandError::NotOnIndex(why)) => {
            return Ok(Tried::NotInstalled(why))
        }
        Err(e) => return Err(e),
    };
    let wanted = Version::parse(version);
    // The release must be what ran: a failed install leaves it out (or another in).
    let missing = ran.results.cells.iter().find(|c| {
        c.status != CellStatus::Skip
            && crate::expect::installed(&c.versions, package).and_then(Version::parse) != wanted
    });
    if let Some(cell) = missing {
        let why = cell
            .findings
            .iter()
            .find(|f| matches!(f.kind, FindingKind::Failure | FindingKind::Error))
            .map(|f| f.message.lines().next().unwrap_or_default().to_string())
            .unwrap_or_else(|| "the release was not installed".to_string());
        return Ok(Tried::NotInstalled(why));
    }
    Ok(Tried::Ran(Outcome::of(&ran.results)))
}

/// A bound must run: without it there is nothing to compare with.
fn bound(tried: Tried, version: &str) -> Result<Outcome, CommandError> {
    match tried {
        Tried::Ran(outcome) => Ok(outcome),
        Tried::NotInstalled(why) => Err(CommandError::Install(format!(
            "bisect: {version} could not be installed with the other pins: {why}"
        ))),
    }
}

/// The cells whose status or findings differ between the two releases.
fn differences(a: &str, before: &Outcome, b: &str, after: &Outcome) -> String {
    let mut out = String::from("what differs:");
    for (id, (status, subjects)) in &after.0 {
        let Some((was, had)) = before.0.get(id) else {
            continue;
        };
        if was == status && had == subjects {
            continue;
        }
        out.push_str(&format!(
            "\n  {id}: {a} {} → {b} {}",
            was.as_str(),
            status.as_str()
        ));
        for s in had.difference(subjects) {
            out.push_str(&format!("\n    only in {a}: {s}"));
        }
        for s in subjects.difference(had) {
            out.push_str(&format!("\n    only in {b}: {s}"));
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_go_to_the_middle_and_step_around_untestable_releases() {
        let none = BTreeSet::new();
        assert_eq!(next_probe(0, 8, &none), Some(4));
        assert_eq!(next_probe(3, 4, &none), None);
        assert_eq!(next_probe(0, 2, &BTreeSet::from([1])), None);
        let around = BTreeSet::from([4]);
        assert!(matches!(next_probe(0, 8, &around), Some(3 | 5)));
    }
}
