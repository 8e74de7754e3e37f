//! Writing clips to disk: animated GIF, MP4 (H.264), animated PNG and PNG frame folders.
//!
//! [`export_with_progress`] is the entry point (run it off the UI thread; the callback
//! reports progress and cancels by returning `false`); [`export`] is the same without
//! progress. The format comes from the output name ([`Format::from_path`]); every option
//! is in [`ExportOptions`].
//!
//! Every writer goes through [`atomic`]: it writes into a temporary file (or folder) in
//! the target directory and renames it when complete, so a failure or a cancellation never
//! leaves a broken file (nor the temporary one), and an existing file is never overwritten
//! unless [`ExportOptions::overwrite`] allows it.
//!
//! Module map: [`sequence`] (range, loop trimming, ping-pong, [`scale`]), [`timing`]
//! (delays per container), [`palette`] + [`dither`] (GIF colours), [`gif`], [`yuv`] +
//! [`mp4`] + [`mux`] (H.264 in MP4), [`apng`], [`frames`], [`png_file`], [`sidecar`].

pub mod apng;
pub mod atomic;
pub mod clip;
pub mod dither;
pub mod error;
pub mod frames;
pub mod gif;
pub mod mp4;
pub mod mux;
pub mod options;
pub mod palette;
pub mod png_file;
pub mod progress;
pub mod scale;
pub mod sequence;
pub mod sidecar;
pub mod timing;
pub mod yuv;

use std::path::Path;
use std::time::Instant;

pub use crate::export::clip::{Clip, Format};
pub use crate::export::error::ExportError;
pub use crate::export::options::{
    ColorMatrix, DEFAULT_MP4_QUALITY, Dither, ExportOptions, GifOptions, MAX_FPS, MAX_SCALE, MIN_FPS, Mp4Options,
    Mp4Quality, OddSize, PaletteMode, ScaleFilter,
};
pub use crate::export::png_file::METADATA_KEYWORD;
pub use crate::export::progress::{ExportPhase, ExportProgress, ExportReport};
pub use crate::export::sequence::frame_order;
pub use crate::export::sidecar::sidecar_path;

use crate::export::atomic::{commit_all, stage, stage_bytes};
use crate::export::progress::Reporter;
use crate::export::sequence::Sequence;

/// Writes `clip` to `path` in the format its name asks for.
///
/// # Errors
/// As [`export_with_progress`].
pub fn export(clip: &Clip, path: &Path, opts: &ExportOptions) -> Result<Format, ExportError> {
    export_with_progress(clip, path, opts, &mut |_| true).map(|r| r.format)
}

/// Writes `clip` to `path` in the format its name asks for, reporting progress.
///
/// `progress` is called before encoding, after every frame and before the file is moved
/// into place; returning `false` cancels: the temporary output is removed and
/// [`ExportError::Cancelled`] returned. With [`ExportOptions::sidecar`], `<path>.json` is
/// written too (see [`sidecar_path`]); the two are committed together or not at all (a
/// failure leaves what was there before, also when overwriting).
///
/// # Errors
/// [`ExportError::UnknownFormat`], [`ExportError::InvalidOptions`],
/// [`ExportError::InvalidClip`], [`ExportError::Empty`] before anything is written;
/// [`ExportError::Exists`] if the output or its sidecar exists and `overwrite` is off;
/// [`ExportError::Io`] (with the path and what to do), [`ExportError::Encode`],
/// [`ExportError::Unsupported`], [`ExportError::Cancelled`].
pub fn export_with_progress(
    clip: &Clip,
    path: &Path,
    opts: &ExportOptions,
    progress: &mut dyn FnMut(ExportProgress) -> bool,
) -> Result<ExportReport, ExportError> {
    let start = Instant::now();
    let format = Format::from_path(path)?;
    if path.file_name().is_none() {
        return Err(ExportError::InvalidOptions(format!("{} has no file name; choose a name", path.display())));
    }
    let seq = Sequence::new(clip, opts)?;
    let sidecar = opts.sidecar.then(|| sidecar_path(path));
    if !opts.overwrite {
        for p in std::iter::once(path).chain(sidecar.as_deref()) {
            if p.symlink_metadata().is_ok() {
                return Err(ExportError::Exists(p.to_path_buf()));
            }
        }
    }
    let mut progress = Reporter::new(progress, seq.len());
    progress.report(ExportPhase::Preparing, 0)?;
    let mut bytes = 0;
    let mut staged = vec![stage(path, opts.overwrite, |tmp| {
        bytes = match format {
            Format::Gif => gif::write(&seq, tmp, opts, &mut progress)?,
            Format::PngFrames => frames::write(&seq, tmp, opts, &mut progress)?,
            Format::Mp4 => mp4::write(&seq, tmp, opts, &mut progress)?,
            Format::Apng => apng::write(&seq, tmp, opts, &mut progress)?,
        };
        Ok(())
    })?];
    if let Some(sc) = &sidecar {
        let json = sidecar::sidecar_json(format, &seq, opts);
        staged.push(stage_bytes(sc, opts.overwrite, json.as_bytes())?);
    }
    commit_all(staged, opts.overwrite)?;
    Ok(ExportReport {
        format,
        path: path.to_path_buf(),
        bytes,
        frames_written: seq.len(),
        seconds: start.elapsed().as_secs_f64(),
        sidecar,
    })
}
