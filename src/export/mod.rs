//! Writing clips to disk: GIF and PNG frame sequences.
//!
//! Every writer goes through [`atomic`]: it writes into a temporary file (or folder) in
//! the target directory and renames it when complete, so a failure never leaves a broken
//! file, and an existing file is never overwritten unless asked.

pub mod atomic;
pub mod frames;
pub mod gif;

use std::path::{Path, PathBuf};

/// Frames of one clip: `frames[k]` is `width × height` RGB, 8-bit, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    pub width: usize,
    pub height: usize,
    pub frames: Vec<Vec<u8>>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Gif,
    /// A folder of numbered PNGs.
    PngFrames,
}

impl Format {
    /// From the output path: `.gif`, or a folder (no extension or a trailing slash).
    pub fn from_path(path: &Path) -> Result<Self, ExportError> {
        let s = path.to_string_lossy();
        if s.ends_with('/') || s.ends_with(std::path::MAIN_SEPARATOR) || path.extension().is_none() {
            return Ok(Self::PngFrames);
        }
        match path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).as_deref() {
            Some("gif") => Ok(Self::Gif),
            Some(other) => Err(ExportError::UnknownFormat(other.to_owned())),
            None => Ok(Self::PngFrames),
        }
    }
}

/// Options shared by every format.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportOptions {
    /// Playback speed (the reference writes 8 fps).
    pub fps: f32,
    /// Replace an existing file or folder.
    pub overwrite: bool,
    /// Text stored in the file where the format allows it (the generation settings).
    pub comment: Option<String>,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self { fps: 8.0, overwrite: false, comment: None }
    }
}

/// Export failures; the clip stays where it was.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0} already exists; choose another name or allow overwriting")]
    Exists(PathBuf),
    #[error("cannot write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("encoding failed: {0}")]
    Encode(String),
    #[error("unknown output format `.{0}` (use .gif or a folder for PNG frames)")]
    UnknownFormat(String),
    #[error("the clip has no frames")]
    Empty,
}

/// Writes `clip` to `path` in the format its name asks for.
pub fn export(clip: &Clip, path: &Path, opts: &ExportOptions) -> Result<Format, ExportError> {
    if clip.frames.is_empty() {
        return Err(ExportError::Empty);
    }
    let format = Format::from_path(path)?;
    match format {
        Format::Gif => gif::write(clip, path, opts)?,
        Format::PngFrames => frames::write(clip, path, opts)?,
    }
    Ok(format)
}
