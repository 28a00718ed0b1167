//! hh-compat: proves, cell by cell, which LLM tracing instrumentors work with which LLM
//! providers.
//!
//! The binary is [`commands::Cli`]: each subcommand's clap arguments and its `exec`.
//! One run goes request → plan → runner: the matrix ([`matrix`]) is loaded and its cells
//! picked; a [`runner::Target`] says where the calls go (the offline [`replica`] of Azure
//! OpenAI, a [`live`] resource, recorded [`cassette`]s); each cell's app makes its calls
//! through an [`instrument`]ation style; [`capture`] normalizes the spans it exports;
//! [`expect`] checks them against the matrix and its known issues; [`report`] renders
//! the results. [`vocab`] names everything a matrix, a cell id or a flag can say;
//! [`pep440`] reads the package versions and ranges known issues and eras are scoped by.
//! Every type a public item shows can be named from here (`unnameable_types`).
//!
//! Run the reference emitters of the shipped Azure OpenAI matrix against the replica, as
//! `hh-compat run --driver rust` does:
//!
//! ```
//! use hh_compat::matrix::{self, CellFilter};
//! use hh_compat::report::ExitStatus;
//! use hh_compat::runner::{self, RunOptions};
//! use hh_compat::vocab::{DriverKind, Feature, Provider};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let (matrix, label) = matrix::load_default(Provider::AzureOpenAi)?;
//! let cells = CellFilter {
//!     drivers: vec![DriverKind::Rust],
//!     features: vec![Feature::Chat, Feature::Streaming],
//!     ..CellFilter::default()
//! }
//! .apply(matrix.cells());
//! let results = runner::run(&matrix, &label, cells, &RunOptions::default(), |_| {}).await?;
//! assert_eq!(results.cells.len(), 6); // three styles × two features
//! assert_eq!(results.exit_status(), ExitStatus::Ok);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
#![warn(unreachable_pub, unnameable_types)]

mod accept;
mod atomic;
pub mod capture;
pub mod cassette;
pub mod commands;
mod console;
mod drivers;
mod endpoint;
pub mod expect;
mod hash;
mod index;
pub mod instrument;
pub mod live;
mod located;
pub mod matrix;
pub mod pep440;
mod process;
mod redact;
pub mod replica;
pub mod report;
pub mod runner;
mod sse;
pub mod vocab;
mod wire;

pub use accept::ServerTimeouts;
pub use process::{clean_up, interrupted};
pub use redact::Redactor;
