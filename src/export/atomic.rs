//! Write-to-temporary-then-rename, in the destination's own directory.
//!
//! A writer gets a temporary path next to the target (same directory, so the final
//! rename stays on one file system and is atomic). Only a complete output is moved into
//! place; on any error or cancellation the temporary file or folder is removed. Without
//! overwrite consent an existing target is never replaced: files are committed with a hard
//! link, which fails if the name was taken in the meantime.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::export::ExportError;

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

/// Runs `write` on a temporary path, then moves the result to `target`. On any error the
/// temporary file or folder is removed, and errors about it are reported as about `target`.
///
/// `write` creates either a file or a folder at the path it is given. A folder replaces
/// an existing one only with `overwrite` and only if that folder holds nothing but PNG
/// frames (see [`is_frames_folder`]); a file never replaces a folder.
///
/// # Errors
/// [`ExportError::Exists`] if `target` exists and `overwrite` is false (checked before and
/// after writing), [`ExportError::FolderInUse`], the writer's errors, or
/// [`ExportError::Io`] if the final move fails.
pub fn write_atomically(
    target: &Path,
    overwrite: bool,
    write: impl FnOnce(&Path) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    if !overwrite && exists(target) {
        return Err(ExportError::Exists(target.to_path_buf()));
    }
    let tmp = temp_path(target);
    let result = write(&tmp).and_then(|()| commit(&tmp, target, overwrite));
    if let Err(e) = result {
        remove(&tmp);
        return Err(relocate(e, &tmp, target));
    }
    Ok(())
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

/// Moves the finished temporary `tmp` to `target`.
fn commit(tmp: &Path, target: &Path, overwrite: bool) -> Result<(), ExportError> {
    let io_err = ExportError::io_at(target);
    if tmp.is_dir() {
        return commit_folder(tmp, target, overwrite);
    }
    if overwrite {
        if target.is_dir() {
            return Err(io_err(io::Error::new(io::ErrorKind::IsADirectory, "a folder has this name")));
        }
        // Atomically replaces an existing file.
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

fn commit_folder(tmp: &Path, target: &Path, overwrite: bool) -> Result<(), ExportError> {
    let io_err = ExportError::io_at(target);
    if !exists(target) {
        return std::fs::rename(tmp, target).map_err(io_err);
    }
    if !overwrite {
        return Err(ExportError::Exists(target.to_path_buf()));
    }
    if !target.is_dir() {
        return Err(io_err(io::Error::new(io::ErrorKind::NotADirectory, "a file has this name")));
    }
    if !is_frames_folder(target) {
        return Err(ExportError::FolderInUse(target.to_path_buf()));
    }
    // Swap: old → backup, new → target, then drop the backup (restored on failure).
    let backup = sibling(target, "old");
    std::fs::rename(target, &backup).map_err(ExportError::io_at(target))?;
    if let Err(e) = std::fs::rename(tmp, target) {
        let _ = std::fs::rename(&backup, target);
        return Err(io_err(e));
    }
    remove(&backup);
    Ok(())
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

/// Writes `bytes` to `target` atomically (see [`write_atomically`]).
///
/// # Errors
/// As [`write_atomically`].
pub fn write_bytes_atomically(target: &Path, overwrite: bool, bytes: &[u8]) -> Result<(), ExportError> {
    write_atomically(target, overwrite, |tmp| {
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
