//! Child processes the tool starts — apps under test, python drivers, installers — and
//! the contract they all share:
//!
//! - each child leads its own process group, so a timeout, the end of its run, or a
//!   SIGINT/SIGTERM to hh-compat kills the program *and everything it started* (shells'
//!   children, interpreters, daemons), never just the shell;
//! - its output is kept bounded: the first and last bytes of each stream, with the count
//!   of what was dropped, however much it prints;
//! - the wait is bounded: the timeout covers the whole run, and once the program itself
//!   has exited, an orphan that still holds its stdout open gets a short grace and is
//!   then killed with the group, instead of holding the cell;
//! - temporary directories registered here are removed when the tool is interrupted.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// How long readers may go on after the program exited, before the rest of its process
/// group (orphans holding the pipes) is killed.
const DRAIN_GRACE: Duration = Duration::from_millis(750);

/// Process groups alive now, by leader pid.
static GROUPS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());
/// Temporary directories to remove if the tool is interrupted.
static TEMP_DIRS: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How long a child may run and how much of its output is kept.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub timeout: Duration,
    /// Bytes of stdout kept (half from the start, half from the end).
    pub stdout: usize,
    /// Bytes of stderr kept (half from the start, half from the end).
    pub stderr: usize,
}

/// One output stream, bounded: its first and last bytes and how many there were.
#[derive(Debug, Clone, Default)]
pub(crate) struct Captured {
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    total: u64,
    keep: usize,
}

impl Captured {
    fn new(keep: usize) -> Self {
        Self {
            keep,
            ..Self::default()
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        self.total += bytes.len() as u64;
        let head_room = (self.keep / 2).saturating_sub(self.head.len());
        let (to_head, rest) = bytes.split_at(head_room.min(bytes.len()));
        self.head.extend_from_slice(to_head);
        let tail_keep = self.keep - self.keep / 2;
        let rest = &rest[rest.len().saturating_sub(tail_keep)..];
        self.tail.extend(rest);
        let excess = self.tail.len().saturating_sub(tail_keep);
        self.tail.drain(..excess);
    }

    /// True when nothing was dropped.
    pub(crate) fn is_complete(&self) -> bool {
        self.total == (self.head.len() + self.tail.len()) as u64
    }

    /// The kept bytes as text; a dropped middle is marked with how much was dropped.
    pub(crate) fn text(&self) -> String {
        let (a, b) = self.tail.as_slices();
        let tail = [a, b].concat();
        if self.is_complete() {
            return String::from_utf8_lossy(&[self.head.as_slice(), &tail].concat()).into_owned();
        }
        let dropped = self.total - (self.head.len() + tail.len()) as u64;
        format!(
            "{}\n… [{dropped} bytes not kept] …\n{}",
            String::from_utf8_lossy(&self.head),
            String::from_utf8_lossy(&tail)
        )
    }
}

/// How a child ended.
#[derive(Debug)]
pub(crate) struct Finished {
    /// `None` when it was killed for running past the timeout.
    pub status: Option<ExitStatus>,
    pub stdout: Captured,
    pub stderr: Captured,
}

/// Kills the group when dropped (the run ended, timed out, or its task was cancelled).
struct Group(i32);

impl Drop for Group {
    fn drop(&mut self) {
        kill_group(self.0);
        lock(&GROUPS).remove(&self.0);
    }
}

/// Sends SIGKILL to a process group (a no-op for one that is gone).
pub(crate) fn kill_group(pgid: i32) {
    if pgid > 1 {
        // SAFETY: killpg only sends a signal; a group that is gone gives ESRCH.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
    }
}

/// Runs `cmd` in its own process group with `stdin` written to it, within `limits`.
/// Stdio is set here; the caller sets program, arguments and environment.
pub(crate) async fn run(
    mut cmd: tokio::process::Command,
    stdin: Option<Vec<u8>>,
    limits: Limits,
) -> std::io::Result<Finished> {
    cmd.process_group(0)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let group = child
        .id()
        .and_then(|pid| i32::try_from(pid).ok())
        .map(|pgid| {
            lock(&GROUPS).insert(pgid);
            Group(pgid)
        });
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        tokio::spawn(async move {
            // A program that exits without reading shows up in its status and stderr.
            let _ = pipe.write_all(&bytes).await;
        });
    }
    let stdout = Shared::default();
    let stderr = Shared::default();
    let readers = [
        tokio::spawn(capture(child.stdout.take(), limits.stdout, stdout.clone())),
        tokio::spawn(capture(child.stderr.take(), limits.stderr, stderr.clone())),
    ];
    let status = match tokio::time::timeout(limits.timeout, child.wait()).await {
        Ok(status) => Some(status?),
        Err(_) => {
            if let Some(g) = &group {
                kill_group(g.0);
            }
            let _ = child.kill().await;
            None
        }
    };
    // The program is done; whatever it left running gets a moment to finish writing.
    let deadline = tokio::time::Instant::now() + DRAIN_GRACE;
    while !readers.iter().all(|r| r.is_finished()) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(group);
    // A descendant that left the group (setsid) may hold the pipes forever: what was
    // read so far is the evidence, and the readers stop here.
    for reader in &readers {
        reader.abort();
    }
    Ok(Finished {
        status,
        stdout: take(&stdout, limits.stdout),
        stderr: take(&stderr, limits.stderr),
    })
}

/// A stream's capture, filled by its reader task and read when the run ends.
type Shared = std::sync::Arc<Mutex<Option<Captured>>>;

fn take(shared: &Shared, keep: usize) -> Captured {
    lock(shared).take().unwrap_or_else(|| Captured::new(keep))
}

async fn capture(pipe: Option<impl AsyncRead + Unpin>, keep: usize, into: Shared) {
    *lock(&into) = Some(Captured::new(keep));
    let Some(mut pipe) = pipe else {
        return;
    };
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = pipe.read(&mut buf).await {
        if n == 0 {
            break;
        }
        if let Some(c) = lock(&into).as_mut() {
            c.push(&buf[..n]);
        }
    }
}

/// True when a process with this pid exists.
pub(crate) fn is_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// Removes `dir` if the tool is interrupted before [`forget_temp_dir`] is called.
pub(crate) fn remove_on_interrupt(dir: &Path) {
    lock(&TEMP_DIRS).insert(dir.to_path_buf());
}

/// `dir` was moved into place or removed: an interrupt no longer concerns it.
pub(crate) fn forget_temp_dir(dir: &Path) {
    lock(&TEMP_DIRS).remove(dir);
}

/// What an interrupt does before the process exits: every child's group is killed and
/// every registered temporary directory removed. Returns how many groups were killed.
pub fn clean_up() -> usize {
    let groups: Vec<i32> = std::mem::take(&mut *lock(&GROUPS)).into_iter().collect();
    for pgid in &groups {
        kill_group(*pgid);
    }
    for dir in std::mem::take(&mut *lock(&TEMP_DIRS)) {
        let _ = std::fs::remove_dir_all(dir);
    }
    groups.len()
}

/// Resolves when SIGINT, SIGTERM, SIGHUP or SIGQUIT arrives, with the exit code that
/// reports it (128 + the signal's number, as shells do: 130, 143, 129, 131). Children
/// lead their own process groups, so a terminal's hangup reaches them only this way.
pub async fn interrupted() -> u8 {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term), Ok(mut hup), Ok(mut quit)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
        signal(SignalKind::quit()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => 130,
        _ = term.recv() => 143,
        _ = hup.recv() => 129,
        _ = quit.recv() => 131,
    }
}

/// Registers a process group started elsewhere (with `process_group(0)`), so an
/// interrupt kills it too; [`forget_group`] when it has ended.
pub(crate) fn track_group(pgid: i32) {
    lock(&GROUPS).insert(pgid);
}

/// See [`track_group`].
pub(crate) fn forget_group(pgid: i32) {
    lock(&GROUPS).remove(&pgid);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(secs: u64) -> Limits {
        Limits {
            timeout: Duration::from_secs(secs),
            stdout: 64,
            stderr: 64,
        }
    }

    fn sh(script: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("sh");
        cmd.args(["-c", script]);
        cmd
    }

    #[test]
    fn captured_keeps_head_and_tail_and_counts_the_rest() {
        let mut c = Captured::new(8);
        for chunk in [&b"abc"[..], b"defghij", b"klmnop"] {
            c.push(chunk);
        }
        assert_eq!(c.total, 16);
        assert!(!c.is_complete());
        assert_eq!(c.text(), "abcd\n… [8 bytes not kept] …\nmnop");
        let mut small = Captured::new(8);
        small.push(b"hi");
        assert_eq!(small.text(), "hi");
    }

    #[tokio::test]
    async fn output_is_bounded_and_stdin_is_delivered() {
        let out = run(
            sh("cat; head -c 1000000 /dev/zero | tr '\\0' x; echo oops >&2"),
            Some(b"hello".to_vec()),
            limits(30),
        )
        .await
        .expect("runs");
        assert!(out.status.expect("exited").success());
        assert_eq!(out.stdout.total, 1_000_005);
        assert!(out.stdout.text().starts_with("helloxxx"));
        assert_eq!(out.stderr.text(), "oops\n");
    }

    #[tokio::test]
    async fn output_already_read_survives_a_descendant_that_left_the_group() {
        // `setsid` puts the sleeper in a new session: the group kill cannot reach it, and
        // it holds stderr open. What the program printed before must still be there.
        let out = run(
            sh("echo VISIBLE >&2; setsid sleep 5 & exit 3"),
            None,
            limits(60),
        )
        .await
        .expect("runs");
        assert_eq!(out.status.and_then(|s| s.code()), Some(3));
        assert_eq!(out.stderr.text(), "VISIBLE\n");
    }

    #[tokio::test]
    async fn a_timeout_kills_the_whole_group() {
        let dir = std::env::temp_dir().join(format!("hh-compat-process-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let marker = dir.join("survivor");
        // The grandchild would write the marker after 2 s if it survived the kill.
        let script = format!("(sleep 2; touch {}) & sleep 30", marker.display());
        let out = run(sh(&script), None, limits(1)).await.expect("runs");
        assert!(out.status.is_none());
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(!marker.exists(), "a grandchild outlived the timeout");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn an_orphan_holding_stdout_does_not_hold_the_run_nor_outlive_it() {
        let dir = std::env::temp_dir().join(format!("hh-compat-orphan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let marker = dir.join("orphan-finished");
        // The orphan keeps stdout open for 4 s, then leaves a marker.
        let script = format!("(sleep 4; touch {}) & echo done", marker.display());
        let out = run(sh(&script), None, limits(120)).await.expect("runs");
        assert!(out.status.expect("exited").success());
        assert_eq!(out.stdout.text(), "done\n");
        assert!(!marker.exists(), "the run waited for the orphan");
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!marker.exists(), "the orphan outlived the run");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
