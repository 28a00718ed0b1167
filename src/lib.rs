//! hh-compat: a compatibility-matrix harness for LLM tracing.
//!
//! The data flow of one run: [`matrix`] loads and expands cells; [`replica`] serves an
//! offline Azure OpenAI; [`drivers`] run each cell's calls through an instrumentation
//! [`instrument`] style; [`capture`] normalizes the spans; [`expect`] checks them; and
//! [`report`] renders the results. [`runner`] ties one run together.

mod accept;
mod atomic;
pub mod capture;
pub mod cassette;
pub mod commands;
mod console;
pub mod drivers;
pub mod endpoint;
pub mod expect;
mod hash;
pub mod index;
pub mod instrument;
pub mod live;
mod located;
pub mod matrix;
pub mod pep440;
pub mod process;
pub mod redact;
pub mod replica;
pub mod report;
pub mod runner;
mod sse;
pub mod vocab;
mod wire;

pub use accept::ServerTimeouts;
