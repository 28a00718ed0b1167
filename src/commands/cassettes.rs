//! `hh-compat cassettes`: working with cassette sets. `cassettes import --from vcrpy
//! FILE… DIR` converts the Azure OpenAI interactions of other projects' vcrpy cassettes
//! into a cassette set that `run --fixtures DIR` replays, with the same ownership rules
//! as `record` (see [`crate::cassette::claim`]) and credentials stripped by the one
//! redaction pass. The clap arguments live here, beside the logic, so the binary only
//! dispatches.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};

use super::CommandError;
use crate::cassette::vcrpy;
use crate::cassette::{MatchOptions, RecordedTarget, WriteOptions};
use crate::console;
use crate::redact::Redactor;
use crate::replica::ReplicaError;
use crate::report::ExitStatus;

/// How many input files one import reads at most.
const MAX_INPUT_FILES: usize = 1000;

#[derive(Debug, Subcommand)]
pub enum CassettesCommand {
    /// Convert other projects' recordings (vcrpy cassettes) into a cassette set that
    /// `run --fixtures DIR` replays.
    #[command(after_help = "Examples:\n  \
        hh-compat cassettes import --from vcrpy tests/cassettes/test_azure/*.yaml fixtures/peer\n  \
        hh-compat cassettes import --from vcrpy test_chat.yaml fixtures/peer \\\n      \
        --deployment gpt-4o=openllmetry-testing --label \"openllmetry test_azure\"\n  \
        hh-compat run --fixtures fixtures/peer --feature chat\n\n\
        Only Azure OpenAI interactions (hosts *.openai.azure.com, *.cognitiveservices.azure.com, \
        *.services.ai.azure.com; paths under /openai/) are imported; others are listed and skipped. \
        Credentials (api-key, Authorization, cookies, credential query parameters) are never \
        written, and their values are scrubbed everywhere else. Replay matches requests by \
        method, path and JSON body: run the requests the recording made (e.g. the peer's \
        script with --command), or loosen the match with --ignore-field.")]
    Import(ImportArgs),
}

/// The recording formats `cassettes import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportFormat {
    /// vcrpy's YAML cassettes (`interactions:`, `version: 1`), as the instrumentors'
    /// test suites record them.
    Vcrpy,
}

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The format of the input files.
    #[arg(long = "from", value_enum)]
    pub from: ImportFormat,
    /// The vcrpy cassettes to read.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The cassette directory to write (last).
    #[arg(required = true, value_name = "DIR")]
    pub dir: PathBuf,
    /// What the set is, written to its cassette.yaml [default: "imported from vcrpy
    /// cassettes: FILE, …"].
    #[arg(long)]
    pub label: Option<String>,
    /// Aim the matrix's deployment MATRIX_NAME at the recorded deployment RECORDED_NAME
    /// on replay (repeatable), e.g. `gpt-4o=openllmetry-testing`.
    #[arg(long = "deployment", value_name = "MATRIX_NAME=RECORDED_NAME")]
    pub deployments: Vec<String>,
    /// A request body field left out of replay matching (repeatable; `user` always is),
    /// e.g. `messages` to answer any prompt with the recorded response.
    #[arg(long = "ignore-field", value_name = "FIELD")]
    pub ignore_fields: Vec<String>,
    /// Write into DIR even though it is neither empty nor a set hh-compat wrote: files
    /// of the same names are replaced, nothing is removed.
    #[arg(long)]
    pub force: bool,
}

impl CassettesCommand {
    /// Runs a `cassettes` subcommand.
    pub fn exec(self) -> Result<ExitStatus, CommandError> {
        match self {
            CassettesCommand::Import(args) => import(&args),
        }
    }
}

/// `cassettes import`: reads every file, converts, and writes the set; returns what was
/// written. Nothing is written when any input is malformed or nothing could be imported.
fn import(args: &ImportArgs) -> Result<ExitStatus, CommandError> {
    let (dir, files) = (&args.dir, args.files.as_slice());
    if files.len() > MAX_INPUT_FILES {
        return Err(CommandError::Usage(format!(
            "cassettes import reads at most {MAX_INPUT_FILES} files at once ({} given)",
            files.len()
        )));
    }
    if dir.is_file() {
        return Err(CommandError::Usage(format!(
            "the last argument is the directory to write, but {} is a file \
             (usage: cassettes import --from vcrpy FILE… DIR)",
            dir.display()
        )));
    }
    let deployments = parse_deployments(&args.deployments)?;
    let matching = match_options(&args.ignore_fields)?;
    // Decided before anything is read: a refused directory costs nothing.
    let claim = crate::cassette::claim(dir, args.force).map_err(ReplicaError::from)?;

    let mut exchanges = Vec::new();
    let mut secrets = Vec::new();
    let mut first: Option<(String, Option<String>)> = None;
    let mut skipped = 0usize;
    for file in files {
        let imported = vcrpy::import_file(file).map_err(ReplicaError::from)?;
        let scope = format!("vcrpy-{}", stem(file));
        for s in &imported.skipped {
            console::err(&format!("skipped {}: {}", s.origin, s.reason));
        }
        skipped += imported.skipped.len();
        if first.is_none() {
            first = imported
                .host
                .clone()
                .map(|h| (h, imported.api_version.clone()));
        }
        secrets.extend(imported.secrets);
        exchanges.extend(
            imported
                .exchanges
                .into_iter()
                .map(|e| (Some(scope.clone()), e)),
        );
    }
    let Some((host, api_version)) = first else {
        return Err(CommandError::Usage(format!(
            "no Azure OpenAI interaction in {} ({skipped} skipped); nothing was written",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    let options = WriteOptions {
        label: Some(args.label.clone().unwrap_or_else(|| default_label(files))),
        anonymize_host: None,
        matching: Some(matching),
        claim: Some(claim),
        target: Some(RecordedTarget {
            host,
            api_version,
            deployments,
        }),
    };
    let written = crate::cassette::write_cassettes(
        dir,
        &exchanges,
        &secrets,
        &Redactor::from_env(),
        &options,
    )
    .map_err(ReplicaError::from)?;
    console::err(&format!(
        "imported {} exchange(s) from {} file(s) into {} ({} file(s) written, {skipped} \
         interaction(s) skipped)",
        exchanges.len(),
        files.len(),
        dir.display(),
        written.len()
    ));
    Ok(ExitStatus::Ok)
}

/// `gpt-4o=openllmetry-testing` pairs → matrix name → recorded name.
fn parse_deployments(given: &[String]) -> Result<BTreeMap<String, String>, CommandError> {
    let mut out = BTreeMap::new();
    for pair in given {
        let (matrix, recorded) = pair
            .split_once('=')
            .map(|(a, b)| (a.trim(), b.trim()))
            .filter(|(a, b)| !a.is_empty() && !b.is_empty())
            .ok_or_else(|| {
                CommandError::Usage(format!(
                    "--deployment {pair:?}: expected MATRIX_NAME=RECORDED_NAME, e.g. \
                     gpt-4o=openllmetry-testing"
                ))
            })?;
        out.insert(matrix.to_string(), recorded.to_string());
    }
    Ok(out)
}

/// The default ignored fields plus the ones given.
fn match_options(extra: &[String]) -> Result<MatchOptions, CommandError> {
    let mut options = MatchOptions::default();
    for field in extra {
        let field = field.trim();
        if field.is_empty() || field.split('.').any(str::is_empty) {
            return Err(CommandError::Usage(format!(
                "--ignore-field {field:?}: expected a body field such as `messages` or \
                 `stream_options.include_usage`"
            )));
        }
        if !options.ignore_fields.iter().any(|f| f == field) {
            options.ignore_fields.push(field.to_string());
        }
    }
    Ok(options)
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "cassette".into())
}

fn default_label(files: &[PathBuf]) -> String {
    let mut names: Vec<String> = files
        .iter()
        .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let more = names.len().saturating_sub(5);
    names.truncate(5);
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!(
        "imported from vcrpy cassettes: {}{tail} (other projects' recordings)",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_pairs_and_ignore_fields_are_checked() {
        let d = parse_deployments(&["gpt-4o = peer".into()]).expect("pair");
        assert_eq!(d["gpt-4o"], "peer");
        for bad in ["gpt-4o", "=x", "x="] {
            assert!(parse_deployments(&[bad.into()]).is_err(), "{bad}");
        }
        let m = match_options(&["messages".into(), "user".into()]).expect("fields");
        assert_eq!(m.ignore_fields, vec!["user", "messages"]);
        assert!(match_options(&["a..b".into()]).is_err());
    }

    #[test]
    fn the_default_label_names_the_files() {
        let files: Vec<PathBuf> = (0..7)
            .map(|i| PathBuf::from(format!("d/t{i}.yaml")))
            .collect();
        let label = default_label(&files);
        assert!(
            label.contains("t0.yaml, t1.yaml") && label.contains("and 2 more"),
            "{label}"
        );
    }
}
