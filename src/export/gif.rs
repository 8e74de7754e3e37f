//! Animated GIF: NeuQuant palette (global or per frame), optional dithering, infinite
//! loop, delays from the frame rate, no transparency.
//!
//! After the first frame only the rectangle that changed is stored (disposal "keep"), so
//! still regions cost nothing and cannot flicker. The metadata goes into a comment
//! extension right after the header.

use std::borrow::Cow;
use std::path::Path;

use crate::export::atomic::{create_file, finish_file};
use crate::export::dither::Quantizer;
use crate::export::error::ExportError;
use crate::export::options::{ExportOptions, PaletteMode};
use crate::export::palette::Palette;
use crate::export::progress::{ExportPhase, Reporter};
use crate::export::sequence::Sequence;
use crate::export::timing::gif_delays_cs;

/// GIF delays are in hundredths of a second: the rounded delay for `fps` (12 at 8 fps).
/// [`crate::export::timing::gif_delays_cs`] distributes the rounding over frames.
pub fn delay_centis(fps: f32) -> u16 {
    if !(fps.is_finite() && fps > 0.0) {
        return 12;
    }
    (100.0 / fps).round().clamp(2.0, 65535.0) as u16
}

fn enc_err(e: impl std::fmt::Display) -> ExportError {
    ExportError::Encode(format!("GIF: {e}"))
}

/// Writes `seq` as an animated GIF to the (temporary) file `path`; returns its size.
///
/// # Errors
/// [`ExportError::Unsupported`] for frames larger than 65535 pixels a side,
/// [`ExportError::Io`] about `path`, [`ExportError::Cancelled`].
pub fn write(
    seq: &Sequence<'_>,
    path: &Path,
    opts: &ExportOptions,
    progress: &mut Reporter<'_>,
) -> Result<u64, ExportError> {
    let (Ok(w), Ok(h)) = (u16::try_from(seq.width), u16::try_from(seq.height)) else {
        return Err(ExportError::Unsupported(format!(
            "{}×{} is too large for GIF (at most 65535 pixels a side); choose a smaller scale or MP4",
            seq.width, seq.height
        )));
    };
    let g = opts.gif;
    let mut global = match g.palette {
        PaletteMode::Global => {
            let frames: Vec<&[u8]> = seq.iter().collect();
            Some(Palette::for_frames(&frames, g.sample_factor))
        }
        PaletteMode::PerFrame => None,
    };
    progress.report(ExportPhase::Preparing, 0)?;

    let file = create_file(path)?;
    let header_palette = global.as_ref().map(Palette::rgb_bytes).unwrap_or_default();
    let mut enc = ::gif::Encoder::new(file, w, h, &header_palette).map_err(|e| gif_err(e, path))?;
    enc.set_repeat(::gif::Repeat::Infinite).map_err(|e| gif_err(e, path))?;
    if let Some(text) = &opts.metadata {
        // A comment extension: sub-blocks of at most 255 bytes.
        let blocks: Vec<&[u8]> = text.as_bytes().chunks(255).collect();
        enc.write_raw_extension(::gif::Extension::Comment.into(), &blocks).map_err(|e| gif_err(e, path))?;
    }

    let delays = gif_delays_cs(seq.len(), opts.fps);
    let (wu, hu) = (seq.width, seq.height);
    let mut quantizer = Quantizer::new(wu, hu, g.dither, g.stability_threshold);
    // What a player shows after the previous frame, to find the changed rectangle.
    let mut shown: Option<Vec<[u8; 3]>> = None;
    for (k, rgb) in seq.iter().enumerate() {
        let mut local = None;
        let palette = match global.as_mut() {
            Some(p) => p,
            None => local.insert(Palette::for_frames(&[rgb], g.sample_factor)),
        };
        let idx = quantizer.quantize(rgb, palette, g.palette == PaletteMode::Global);
        let colors: Vec<[u8; 3]> = idx.iter().map(|&i| palette.color(i)).collect();
        let rect = match &shown {
            None => Some((0, 0, wu, hu)),
            Some(prev) => changed_rect(prev, &colors, wu, hu),
        };
        // An unchanged frame still needs a frame: one pixel, re-drawn.
        let (x0, y0, rw, rh) = rect.unwrap_or((0, 0, 1, 1));
        let mut buffer = Vec::with_capacity(rw * rh);
        for y in y0..y0 + rh {
            buffer.extend_from_slice(&idx[y * wu + x0..y * wu + x0 + rw]);
        }
        let frame = ::gif::Frame {
            left: x0 as u16,
            top: y0 as u16,
            width: rw as u16,
            height: rh as u16,
            delay: delays[k],
            dispose: ::gif::DisposalMethod::Keep,
            transparent: None,
            palette: local.as_ref().map(Palette::rgb_bytes),
            buffer: Cow::Owned(buffer),
            ..::gif::Frame::default()
        };
        enc.write_frame(&frame).map_err(|e| gif_err(e, path))?;
        shown = Some(colors);
        progress.frame(k + 1)?;
    }
    let file = enc.into_inner().map_err(|e| gif_err(e, path))?;
    progress.report(ExportPhase::Finishing, seq.len())?;
    finish_file(file, path)
}

/// Maps the `gif` crate's errors: I/O errors keep their kind (disk full, …).
fn gif_err(e: ::gif::EncodingError, path: &Path) -> ExportError {
    match e {
        ::gif::EncodingError::Io(source) => ExportError::io(path, source),
        other => enc_err(other),
    }
}

/// The bounding rectangle `(x, y, w, h)` of pixels that differ, or `None`.
fn changed_rect(a: &[[u8; 3]], b: &[[u8; 3]], w: usize, h: usize) -> Option<(usize, usize, usize, usize)> {
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for y in 0..h {
        let (ra, rb) = (&a[y * w..(y + 1) * w], &b[y * w..(y + 1) * w]);
        if ra == rb {
            continue;
        }
        let first = ra.iter().zip(rb).position(|(p, q)| p != q).unwrap_or(0);
        let last = w - 1 - ra.iter().rev().zip(rb.iter().rev()).position(|(p, q)| p != q).unwrap_or(0);
        (x0, x1, y0, y1) = (x0.min(first), x1.max(last), y0.min(y), y1.max(y));
    }
    (x0 != usize::MAX).then(|| (x0, y0, x1 - x0 + 1, y1 - y0 + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_rect_bounds_the_difference() {
        let a = vec![[0u8; 3]; 12];
        let mut b = a.clone();
        assert_eq!(changed_rect(&a, &b, 4, 3), None);
        b[4 + 2] = [1, 0, 0];
        b[2 * 4 + 1] = [0, 1, 0];
        assert_eq!(changed_rect(&a, &b, 4, 3), Some((1, 1, 2, 2)));
    }
}
