//! The shipped matrices, built into the binary so a copied or `cargo install`ed
//! `hh-compat` works outside the checkout. A file at the same relative path
//! (`matrix/<provider>.yaml` under the working directory) wins over the built-in copy,
//! so editing the checkout's matrix needs no rebuild.

use crate::vocab::Provider;

/// `(file name, text)` of every shipped matrix.
const SHIPPED: &[(&str, &str)] = &[
    (
        "azure-openai.yaml",
        include_str!("../../matrix/azure-openai.yaml"),
    ),
    (
        "azure-openai-v1.yaml",
        include_str!("../../matrix/azure-openai-v1.yaml"),
    ),
    ("openai.yaml", include_str!("../../matrix/openai.yaml")),
];

/// The built-in text of the matrix file called `name` (`azure-openai.yaml`).
pub(super) fn by_file_name(name: &str) -> Option<&'static str> {
    SHIPPED.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// The built-in text of `provider`'s default matrix.
pub(super) fn of(provider: Provider) -> &'static str {
    by_file_name(&format!("{provider}.yaml")).expect("every provider ships a matrix")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_has_a_built_in_matrix_that_loads() {
        for &provider in Provider::ALL {
            let m = crate::matrix::load_default(provider).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(m.0.provider(), provider);
        }
        assert!(by_file_name("nope.yaml").is_none());
    }
}
