//! Hostile and unlucky inputs, end to end through the binary, one module per area.
//! Each test was written to fail before the fix it guards.

#[path = "../live_support/mod.rs"]
mod live_support;

mod children;
mod generated;
mod inputs;
mod outputs;
mod servers;
