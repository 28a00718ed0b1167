//! Atomic file writes: every file the tool writes goes to a temporary file in the same
//! directory, is flushed to disk, and is renamed over the target, so a full disk or a
//! crash leaves either the old file or the new one, never a truncated mix.
//!
//! What the path names is respected: a symlink is written through (the file it points
//! to is replaced, atomically, and the link stays), and a path that is not a file at all
//! (`/dev/stdout`, a named pipe) is written to directly, as there is nothing to replace.
//! A replaced file keeps its permissions.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Prefix of the temporary files (hidden, and named for the tool, so a leftover from a
/// killed process is recognizable).
const TEMP_PREFIX: &str = ".hh-compat-tmp-";

/// How many symlinks are followed before the path is called a loop.
const MAX_LINKS: usize = 16;

/// Writes `contents` to `path` atomically, creating the parent directories. On any error
/// the temporary file is removed and `path` is untouched.
pub(crate) fn write(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut path = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return replace(&path, contents, None)
            }
            Err(e) => return Err(e),
        };
        let kind = meta.file_type();
        if kind.is_symlink() {
            let target = std::fs::read_link(&path)?;
            path = match path.parent() {
                Some(parent) if target.is_relative() => parent.join(target),
                _ => target,
            };
            continue;
        }
        if kind.is_file() || kind.is_dir() {
            // A directory fails at the rename, leaving it as it was.
            return replace(&path, contents, Some(meta.permissions()));
        }
        // A device, a pipe, a socket: nothing to replace, so write to it.
        return std::fs::write(&path, contents);
    }
    Err(std::io::Error::other(format!(
        "{}: more than {MAX_LINKS} symlinks (a loop?)",
        path.display()
    )))
}

/// The atomic replacement of the regular file (or nothing) at `path`.
fn replace(
    path: &Path,
    contents: &[u8],
    permissions: Option<std::fs::Permissions>,
) -> std::io::Result<()> {
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
        if let Some(permissions) = permissions {
            file.set_permissions(permissions)?;
        }
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
    fn symlinks_are_written_through_and_devices_written_to() {
        use std::os::unix::fs::PermissionsExt;
        let d = dir("links");
        std::fs::create_dir_all(&d).expect("dir");
        let real = d.join("real.json");
        write(&real, b"old").expect("first");
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        std::os::unix::fs::symlink("real.json", d.join("link.json")).expect("link");
        write(&d.join("link.json"), b"new").expect("through the link");
        assert!(std::fs::symlink_metadata(d.join("link.json"))
            .expect("link")
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&real).expect("read"), b"new");
        let mode = std::fs::metadata(&real).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        std::os::unix::fs::symlink("loop.json", d.join("loop.json")).expect("loop");
        assert!(write(&d.join("loop.json"), b"x").is_err());
        write(Path::new("/dev/null"), b"discarded").expect("a device is written to");
        use std::os::unix::fs::FileTypeExt;
        let null = std::fs::symlink_metadata("/dev/null").expect("null");
        assert!(
            null.file_type().is_char_device(),
            "/dev/null is still a device"
        );
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
