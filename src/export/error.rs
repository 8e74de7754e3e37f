//! [`ExportError`]: every way an export can fail, with the path involved and what to do.

use std::io;
use std::path::{Path, PathBuf};

/// Export failures. The clip itself is never touched, and no partial output is left behind.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The output (or its `.json` sidecar) exists and overwriting was not allowed.
    #[error("{0} already exists; choose another name or allow overwriting")]
    Exists(PathBuf),
    /// Overwriting would replace a folder that holds more than exported frames.
    #[error(
        "{0} holds files other than exported frames; choose a new or empty folder (only a folder of frames is ever replaced)"
    )]
    FolderInUse(PathBuf),
    /// A file-system operation failed; the message says what to do about it.
    #[error("cannot write {path}: {source}. {hint}", hint = io_hint(source))]
    Io { path: PathBuf, source: io::Error },
    /// An encoder failed (the message names the format).
    #[error("encoding failed: {0}")]
    Encode(String),
    /// The output name has an extension no writer handles.
    #[error("unknown output format `.{0}`: use .gif, .mp4, .png/.apng (animated PNG) or a folder name for PNG frames")]
    UnknownFormat(String),
    /// The clip (after the frame range) has no frames.
    #[error("the clip has no frames")]
    Empty,
    /// The clip's frames do not match its size.
    #[error("invalid clip: {0}")]
    InvalidClip(String),
    /// An option is out of range (fps, frame range, scale, …).
    #[error("invalid export option: {0}")]
    InvalidOptions(String),
    /// The chosen format cannot hold this clip (too large for GIF or H.264, …).
    #[error("{0}")]
    Unsupported(String),
    /// The progress callback asked to stop; nothing was written.
    #[error("export cancelled; no file was written")]
    Cancelled,
}

impl ExportError {
    /// An [`ExportError::Io`] about `path`.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    /// A closure for `map_err` that wraps an I/O error with `path`.
    pub fn io_at(path: &Path) -> impl FnOnce(io::Error) -> Self + '_ {
        move |source| Self::io(path, source)
    }
}

/// What the user can do about an I/O error, by kind.
pub fn io_hint(e: &io::Error) -> &'static str {
    use io::ErrorKind as K;
    match e.kind() {
        K::PermissionDenied => {
            "You may not write there: choose a folder you own (e.g. your Videos or Pictures folder) or change its permissions"
        }
        K::ReadOnlyFilesystem => "The drive is read-only: choose a folder on a writable drive",
        K::StorageFull | K::QuotaExceeded | K::FileTooLarge => {
            "The disk is full: free some space or choose another drive"
        }
        K::NotFound => "The folder does not exist: create it first or choose another folder",
        K::NotADirectory => "Part of the path is a file, not a folder: choose another location",
        K::IsADirectory => "A folder with that name exists: choose another file name",
        K::AlreadyExists => "Something with that name exists: choose another name",
        K::InvalidFilename => "The name is not valid on this system: choose a shorter or simpler name",
        K::CrossesDevices => "The temporary file is on another drive: choose another folder",
        _ => "Check that the folder exists, is writable and has free space, then try again",
    }
}
