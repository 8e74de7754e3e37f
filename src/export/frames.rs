//! A folder of numbered PNG frames (`frame_0001.png`, …), each with the metadata.

use std::path::Path;

use crate::export::atomic::{create_file, finish_file};
use crate::export::error::ExportError;
use crate::export::options::ExportOptions;
use crate::export::png_file::{encoder, png_err};
use crate::export::progress::{ExportPhase, Reporter};
use crate::export::sequence::Sequence;

/// Zero-padded file name of frame `k` (1-based in the name) among `n`: at least four
/// digits, more when `n` needs them.
pub fn frame_name(k: usize, n: usize) -> String {
    let digits = n.to_string().len().max(4);
    format!("frame_{:0digits$}.png", k + 1)
}

/// Creates the (temporary) folder `dir` and writes every frame into it; returns the total
/// size of the frames.
///
/// # Errors
/// [`ExportError::Io`] about the folder or a frame, [`ExportError::Cancelled`].
pub fn write(
    seq: &Sequence<'_>,
    dir: &Path,
    opts: &ExportOptions,
    progress: &mut Reporter<'_>,
) -> Result<u64, ExportError> {
    std::fs::create_dir(dir).map_err(ExportError::io_at(dir))?;
    progress.report(ExportPhase::Preparing, 0)?;
    let mut bytes = 0;
    for (k, rgb) in seq.iter().enumerate() {
        let p = dir.join(frame_name(k, seq.len()));
        let mut file = create_file(&p)?;
        let mut w = encoder(&mut file, seq.width, seq.height, opts.metadata.as_deref(), &p)?
            .write_header()
            .map_err(|e| png_err(e, &p))?;
        w.write_image_data(rgb).map_err(|e| png_err(e, &p))?;
        w.finish().map_err(|e| png_err(e, &p))?;
        bytes += finish_file(file, &p)?;
        progress.frame(k + 1)?;
    }
    progress.report(ExportPhase::Finishing, seq.len())?;
    Ok(bytes)
}
