//! Animated PNG (APNG): lossless RGB frames, delays of exactly 1/fps, infinite loop.
//!
//! The first frame is the default image (what non-animating viewers show) and part of the
//! animation. The metadata is an `iTXt` chunk (see [`crate::export::png_file`]).

use std::path::Path;

use crate::export::atomic::{create_file, finish_file};
use crate::export::error::ExportError;
use crate::export::options::ExportOptions;
use crate::export::png_file::{encoder, png_err};
use crate::export::progress::{ExportPhase, Reporter};
use crate::export::sequence::Sequence;
use crate::export::timing::apng_delay;

/// Writes `seq` as an APNG to the (temporary) file `path`; returns its size.
///
/// # Errors
/// [`ExportError::Io`] about `path`, [`ExportError::Cancelled`], [`ExportError::Encode`].
pub fn write(
    seq: &Sequence<'_>,
    path: &Path,
    opts: &ExportOptions,
    progress: &mut Reporter<'_>,
) -> Result<u64, ExportError> {
    let mut file = create_file(path)?;
    let mut enc = encoder(&mut file, seq.width, seq.height, opts.metadata.as_deref(), path)?;
    let frames = u32::try_from(seq.len()).map_err(|_| ExportError::Unsupported("too many frames for APNG".into()))?;
    enc.set_animated(frames, 0).map_err(|e| png_err(e, path))?;
    let (num, den) = apng_delay(opts.fps);
    enc.set_frame_delay(num, den).map_err(|e| png_err(e, path))?;
    let mut writer = enc.write_header().map_err(|e| png_err(e, path))?;
    progress.report(ExportPhase::Preparing, 0)?;
    for (k, rgb) in seq.iter().enumerate() {
        writer.write_image_data(rgb).map_err(|e| png_err(e, path))?;
        progress.frame(k + 1)?;
    }
    writer.finish().map_err(|e| png_err(e, path))?;
    progress.report(ExportPhase::Finishing, seq.len())?;
    finish_file(file, path)
}
