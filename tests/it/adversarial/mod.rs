//! Hostile and unlucky inputs, end to end through the binary, one module per area.
//! Each test was written to fail before the fix it guards.

mod children;
mod generated;
mod inputs;
mod outputs;
mod servers;
