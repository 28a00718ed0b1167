//! (placeholder: being built)
