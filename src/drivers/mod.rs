//! Drivers: the apps under test. Each runs a cell's feature and hands back the spans.

pub mod retry;
