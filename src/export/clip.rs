//! What an export writes (a clip's frames) and in which format (from the output name).

use std::path::Path;

use crate::export::error::ExportError;

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
    /// Animated GIF (`.gif`).
    Gif,
    /// A folder of numbered PNGs.
    PngFrames,
    /// H.264 in MP4 (`.mp4`, `.m4v`).
    Mp4,
    /// Animated PNG (`.png`, `.apng`).
    Apng,
}

impl Format {
    /// From the output path: `.gif`, `.mp4`/`.m4v`, `.png`/`.apng` (animated PNG), or a
    /// folder (no extension, or a trailing slash) for PNG frames.
    ///
    /// # Errors
    /// [`ExportError::UnknownFormat`] for any other extension.
    pub fn from_path(path: &Path) -> Result<Self, ExportError> {
        let s = path.to_string_lossy();
        if s.ends_with('/') || s.ends_with(std::path::MAIN_SEPARATOR) {
            return Ok(Self::PngFrames);
        }
        match path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).as_deref() {
            None => Ok(Self::PngFrames),
            Some("gif") => Ok(Self::Gif),
            Some("mp4" | "m4v") => Ok(Self::Mp4),
            Some("png" | "apng") => Ok(Self::Apng),
            Some(other) => Err(ExportError::UnknownFormat(other.to_owned())),
        }
    }

    /// Short lower-case name (`gif`, `mp4`, `apng`, `png-frames`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Gif => "gif",
            Self::PngFrames => "png-frames",
            Self::Mp4 => "mp4",
            Self::Apng => "apng",
        }
    }
}
