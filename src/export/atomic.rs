//! Write-to-temporary-then-rename, in the destination's own directory.

use std::path::{Path, PathBuf};

use super::ExportError;

/// A temporary path next to `target` (same directory, so the rename is atomic).
pub fn temp_path(target: &Path) -> PathBuf {
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "export".into());
    target.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

/// Runs `write` on a temporary path, then renames it to `target`. On any error the
/// temporary file or folder is removed.
pub fn write_atomically(
    target: &Path,
    overwrite: bool,
    write: impl FnOnce(&Path) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    if target.exists() && !overwrite {
        return Err(ExportError::Exists(target.to_path_buf()));
    }
    let tmp = temp_path(target);
    let cleanup = |p: &Path| {
        let _ = if p.is_dir() { std::fs::remove_dir_all(p) } else { std::fs::remove_file(p) };
    };
    if let Err(e) = write(&tmp) {
        cleanup(&tmp);
        return Err(e);
    }
    if overwrite && target.exists() {
        cleanup(target);
    }
    std::fs::rename(&tmp, target).map_err(|source| {
        cleanup(&tmp);
        ExportError::Io { path: target.to_path_buf(), source }
    })
}
