//! Write-to-temporary-then-rename, in the destination's own directory.
//!
//! A writer gets a temporary path next to the target (same directory, so the final
//! rename stays on one file system and is atomic). Only a complete output is moved into
//! place; on any error or cancellation the temporary file or folder is removed. Several
//! outputs (a clip and its sidecar) commit together or not at all. Without overwrite
//! consent an existing target is never replaced: files are committed with a hard link, which
//! fails if the name was taken in the meantime.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::export::error::ExportError;

/// Distinguishes temporary names of concurrent exports in one process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh hidden name next to `target`: `.<name>.<tag>-<pid>-<n>`.
fn sibling(target: &Path, tag: &str) -> PathBuf {
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "export".into());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    target.with_file_name(format!(".{name}.{tag}-{}-{n}", std::process::id()))
}

/// A temporary path next to `target` (same directory, so the rename is atomic).
pub fn temp_path(target: &Path) -> PathBuf {
    sibling(target, "partial")
}

/// Removes a file or a folder, ignoring errors (used for clean-up only).
fn remove(p: &Path) {
    let _ = if p.is_dir() { std::fs::remove_dir_all(p) } else { std::fs::remove_file(p) };
}

/// A finished output at a temporary path next to its target, not yet in place. Dropped
/// without [`commit_all`] (or after a failed one), the temporary output is removed.
#[derive(Debug)]
pub struct Staged {
    tmp: PathBuf,
    target: PathBuf,
}

impl Drop for Staged {
    fn drop(&mut self) {
        if exists(&self.tmp) {
            remove(&self.tmp);
        }
    }
}

/// Runs `write` on a temporary path next to `target` and keeps the result there for
/// [`commit_all`]. On error the temporary file or folder is removed, and errors about it are
/// reported as about `target`.
///
/// # Errors
/// [`ExportError::Exists`] if `target` exists and `overwrite` is false, or the writer's.
pub fn stage(
    target: &Path,
    overwrite: bool,
    write: impl FnOnce(&Path) -> Result<(), ExportError>,
) -> Result<Staged, ExportError> {
    if !overwrite && exists(target) {
        return Err(ExportError::Exists(target.to_path_buf()));
    }
    let tmp = temp_path(target);
    if let Err(e) = write(&tmp) {
        remove(&tmp);
        return Err(relocate(e, &tmp, target));
    }
    Ok(Staged { tmp, target: target.to_path_buf() })
}

/// Moves every staged output into place, all or none: with `overwrite`, the outputs they
/// replace are first moved aside and put back if any later move fails, so a failure leaves
/// every target as it was. A folder replaces only a folder of exported frames (see
/// [`is_frames_folder`]); a file never replaces a folder.
///
/// # Errors
/// [`ExportError::Exists`] (without `overwrite`, also if a name was taken meanwhile),
/// [`ExportError::FolderInUse`], or [`ExportError::Io`] about the target that failed.
pub fn commit_all(staged: Vec<Staged>, overwrite: bool) -> Result<(), ExportError> {
    let mut aside: Vec<(PathBuf, &Path)> = Vec::new();
    let mut placed: Vec<&Path> = Vec::new();
    let mut result = Ok(());
    for s in &staged {
        result = move_aside(s, overwrite).and_then(|backup| {
            aside.extend(backup.map(|b| (b, s.target.as_path())));
            place(&s.tmp, &s.target)
        });
        if result.is_err() {
            break;
        }
        placed.push(&s.target);
    }
    if result.is_err() {
        placed.iter().for_each(|t| remove(t));
        for (backup, target) in aside.iter().rev() {
            let _ = std::fs::rename(backup, target);
        }
    } else {
        aside.iter().for_each(|(backup, _)| remove(backup));
    }
    result
}

/// True if anything (even a dangling link) has this name.
fn exists(p: &Path) -> bool {
    p.symlink_metadata().is_ok()
}

/// Reports errors about the temporary path (or files inside it) as about `target`.
fn relocate(e: ExportError, tmp: &Path, target: &Path) -> ExportError {
    match e {
        ExportError::Io { path, source } if path.starts_with(tmp) => {
            let rest = path.strip_prefix(tmp).unwrap_or(Path::new(""));
            let path = if rest.as_os_str().is_empty() { target.to_path_buf() } else { target.join(rest) };
            ExportError::Io { path, source }
        }
        other => other,
    }
}

/// With `overwrite`, moves the output `s` replaces to a backup name (returned), after
/// checking that it may be replaced; `None` when nothing has the name.
fn move_aside(s: &Staged, overwrite: bool) -> Result<Option<PathBuf>, ExportError> {
    let target = &s.target;
    if !exists(target) {
        return Ok(None);
    }
    if !overwrite {
        return Err(ExportError::Exists(target.clone()));
    }
    let io_err = ExportError::io_at(target);
    match (s.tmp.is_dir(), target.is_dir()) {
        (false, true) => return Err(io_err(io::Error::new(io::ErrorKind::IsADirectory, "a folder has this name"))),
        (true, false) => return Err(io_err(io::Error::new(io::ErrorKind::NotADirectory, "a file has this name"))),
        (true, true) if !is_frames_folder(target) => return Err(ExportError::FolderInUse(target.clone())),
        _ => {}
    }
    let backup = sibling(target, "old");
    std::fs::rename(target, &backup).map_err(io_err)?;
    Ok(Some(backup))
}

/// Moves the finished temporary `tmp` to the free name `target`. Files are committed with a
/// hard link, which fails if the name was taken meanwhile, so nothing is replaced unasked.
fn place(tmp: &Path, target: &Path) -> Result<(), ExportError> {
    let io_err = ExportError::io_at(target);
    if tmp.is_dir() {
        if exists(target) {
            return Err(ExportError::Exists(target.to_path_buf()));
        }
        return std::fs::rename(tmp, target).map_err(io_err);
    }
    match std::fs::hard_link(tmp, target) {
        Ok(()) => {
            remove(tmp);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(ExportError::Exists(target.to_path_buf())),
        // File systems without hard links (FAT, some network shares): check, then rename.
        Err(_) if exists(target) => Err(ExportError::Exists(target.to_path_buf())),
        Err(_) => std::fs::rename(tmp, target).map_err(io_err),
    }
}

/// True if `dir` holds only files named like exported frames (`frame_0001.png`, …) or is
/// empty: only such a folder is replaced when overwriting.
pub fn is_frames_folder(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.into_iter().all(|e| {
        e.ok().is_some_and(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            let digits = name.strip_prefix("frame_").and_then(|s| s.strip_suffix(".png"));
            e.file_type().is_ok_and(|t| t.is_file())
                && digits.is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        })
    })
}

/// Creates the file `path` (which must not exist) for writing.
///
/// # Errors
/// [`ExportError::Io`] about `path`.
pub fn create_file(path: &Path) -> Result<io::BufWriter<std::fs::File>, ExportError> {
    let file = std::fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(ExportError::io_at(path))?;
    Ok(io::BufWriter::with_capacity(1 << 16, file))
}

/// Flushes `w` and syncs the file to disk, so that a later rename publishes complete data.
///
/// # Errors
/// [`ExportError::Io`] about `path` (e.g. the disk filled up while flushing).
pub fn finish_file(mut w: io::BufWriter<std::fs::File>, path: &Path) -> Result<u64, ExportError> {
    w.flush().map_err(ExportError::io_at(path))?;
    let file = w.into_inner().map_err(|e| ExportError::io(path, e.into_error()))?;
    file.sync_all().map_err(ExportError::io_at(path))?;
    Ok(file.metadata().map(|m| m.len()).unwrap_or(0))
}

/// Stages `bytes` for `target` (see [`stage`]).
///
/// # Errors
/// As [`stage`].
pub fn stage_bytes(target: &Path, overwrite: bool, bytes: &[u8]) -> Result<Staged, ExportError> {
    stage(target, overwrite, |tmp| {
        let mut w = create_file(tmp)?;
        w.write_all(bytes).map_err(ExportError::io_at(tmp))?;
        finish_file(w, tmp).map(|_| ())
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn temp_paths_are_unique_hidden_siblings() {
        let a = temp_path(Path::new("/x/clip.gif"));
        let b = temp_path(Path::new("/x/clip.gif"));
        assert_ne!(a, b);
        assert_eq!(a.parent(), Some(Path::new("/x")));
        assert!(a.file_name().unwrap().to_string_lossy().starts_with(".clip.gif.partial-"));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod commit_tests {
    use super::*;

    fn staged_file(target: &Path, text: &str) -> Staged {
        stage_bytes(target, true, text.as_bytes()).unwrap()
    }

    /// The second output cannot go in place (a folder of other things has its name): the first
    /// target keeps its old content, nothing temporary is left behind.
    #[test]
    fn a_failed_commit_leaves_every_target_as_it_was() {
        let d = tempfile::tempdir().unwrap();
        let (clip, side) = (d.path().join("clip.gif"), d.path().join("clip.gif.json"));
        std::fs::write(&clip, "old clip").unwrap();
        std::fs::create_dir(&side).unwrap();
        std::fs::write(side.join("notes.txt"), "mine").unwrap();
        let staged = vec![staged_file(&clip, "new clip"), staged_file(&side, "{}")];
        assert!(commit_all(staged, true).is_err());
        assert_eq!(std::fs::read_to_string(&clip).unwrap(), "old clip");
        assert_eq!(std::fs::read_to_string(side.join("notes.txt")).unwrap(), "mine");
        let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "left behind: {names:?}");
    }

    #[test]
    fn a_commit_replaces_every_target_when_allowed() {
        let d = tempfile::tempdir().unwrap();
        let (clip, side) = (d.path().join("clip.gif"), d.path().join("clip.gif.json"));
        std::fs::write(&clip, "old clip").unwrap();
        std::fs::write(&side, "old json").unwrap();
        commit_all(vec![staged_file(&clip, "new clip"), staged_file(&side, "{}")], true).unwrap();
        assert_eq!(std::fs::read_to_string(&clip).unwrap(), "new clip");
        assert_eq!(std::fs::read_to_string(&side).unwrap(), "{}");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 2);
    }

    #[test]
    fn without_consent_nothing_is_replaced() {
        let d = tempfile::tempdir().unwrap();
        let (clip, side) = (d.path().join("clip.gif"), d.path().join("clip.gif.json"));
        let staged = vec![staged_file(&clip, "new clip"), staged_file(&side, "{}")];
        std::fs::write(&side, "appeared meanwhile").unwrap();
        assert!(matches!(commit_all(staged, false), Err(ExportError::Exists(p)) if p == side));
        assert!(!clip.exists(), "the first output was taken back");
        assert_eq!(std::fs::read_to_string(&side).unwrap(), "appeared meanwhile");
    }
}
