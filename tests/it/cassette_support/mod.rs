//! Helpers shared by the cassette integration tests.

use std::path::PathBuf;

/// A fresh, empty directory under the system temp dir, unique to this process and call.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "hh-compat-{name}-{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}
