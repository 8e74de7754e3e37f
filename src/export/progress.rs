//! Progress reporting and cancellation for [`crate::export::export_with_progress`], and
//! the [`ExportReport`] it returns.

use std::path::PathBuf;

use crate::export::clip::Format;
use crate::export::error::ExportError;

/// What the export is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportPhase {
    /// Scaling frames, building the palette.
    Preparing,
    /// Encoding frame `done` of `total`.
    Encoding,
    /// Writing the container and moving the file into place.
    Finishing,
}

/// One progress report: `done` of `total` frames in `phase`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExportProgress {
    /// Current phase.
    pub phase: ExportPhase,
    /// Frames finished.
    pub done: usize,
    /// Frames to write.
    pub total: usize,
}

impl ExportProgress {
    /// Overall fraction in `0.0..=1.0` (preparing counts as 0, finishing as 1).
    pub fn fraction(&self) -> f32 {
        match self.phase {
            ExportPhase::Preparing => 0.0,
            ExportPhase::Finishing => 1.0,
            ExportPhase::Encoding if self.total == 0 => 0.0,
            ExportPhase::Encoding => (self.done as f32 / self.total as f32).clamp(0.0, 1.0),
        }
    }
}

/// The result of a finished export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportReport {
    /// The format written.
    pub format: Format,
    /// The output file or folder.
    pub path: PathBuf,
    /// Size on disk: the file, or the sum of the folder's frames (not counting the sidecar).
    pub bytes: u64,
    /// Frames written (after range, trimming and ping-pong).
    pub frames_written: usize,
    /// Wall-clock time of the whole export, in seconds.
    pub seconds: f64,
    /// The `.json` sidecar, if one was written.
    pub sidecar: Option<PathBuf>,
}

/// The caller's callback plus the frame total; every report is a cancellation point.
pub struct Reporter<'a> {
    callback: &'a mut dyn FnMut(ExportProgress) -> bool,
    total: usize,
}

impl<'a> Reporter<'a> {
    /// Wraps `callback` for an export of `total` frames.
    pub fn new(callback: &'a mut dyn FnMut(ExportProgress) -> bool, total: usize) -> Self {
        Self { callback, total }
    }

    /// Reports `phase` with `done` frames finished.
    ///
    /// # Errors
    /// [`ExportError::Cancelled`] when the callback returns `false`.
    pub fn report(&mut self, phase: ExportPhase, done: usize) -> Result<(), ExportError> {
        if (self.callback)(ExportProgress { phase, done, total: self.total }) {
            Ok(())
        } else {
            Err(ExportError::Cancelled)
        }
    }

    /// Reports that frame `done` (1-based count) was encoded.
    ///
    /// # Errors
    /// [`ExportError::Cancelled`] when the callback returns `false`.
    pub fn frame(&mut self, done: usize) -> Result<(), ExportError> {
        self.report(ExportPhase::Encoding, done)
    }
}
