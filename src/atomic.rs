//! Atomic file writes: every file the tool writes goes to a temporary file in the same
//! directory, is flushed to disk, and is renamed over the target, so a full disk or a
//! crash leaves either the old file or the new one, never a truncated mix.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Prefix of the temporary files (hidden, and named for the tool, so a leftover from a
/// killed process is recognizable).
const TEMP_PREFIX: &str = ".hh-compat-tmp-";

/// Writes `contents` to `path` atomically, creating the parent directories. On any error
/// the temporary file is removed and `path` is untouched.
pub fn write(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let parent = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(p) => p.to_path_buf(),
        None => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)?;
    let temp = temp_path(&parent, path);
    let outcome = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, path)
    })();
    if outcome.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    outcome
}

/// A fresh temporary path beside `target`: unique per process and call.
fn temp_path(dir: &Path, target: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join(format!(
        "{TEMP_PREFIX}{}-{}-{name}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("hh-compat-atomic-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let d = dir("replace");
        let path = d.join("nested/out.json");
        write(&path, b"first").expect("first");
        write(&path, b"second").expect("second");
        assert_eq!(std::fs::read(&path).expect("read"), b"second");
        let names: Vec<_> = std::fs::read_dir(path.parent().expect("parent"))
            .expect("list")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.json")]);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let d = dir("fail");
        let path = d.join("out.json");
        write(&path, b"old results").expect("first");
        // A directory where the file should be renamed to: the rename fails.
        let blocked = d.join("blocked");
        std::fs::create_dir_all(blocked.join("inner")).expect("mkdir");
        assert!(write(&blocked, b"new").is_err());
        assert_eq!(std::fs::read(&path).expect("read"), b"old results");
        assert_eq!(std::fs::read_dir(&d).expect("list").count(), 2);
        let _ = std::fs::remove_dir_all(&d);
    }
}
