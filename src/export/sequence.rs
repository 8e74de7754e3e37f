//! The frames an export writes: the frame range, loop trimming, ping-pong and scaling
//! applied to a [`Clip`], without copying frames that need no scaling.

use std::borrow::Cow;

use crate::export::clip::Clip;
use crate::export::error::ExportError;
use crate::export::options::ExportOptions;
use crate::export::scale::upscale;

/// Largest output side after scaling, for any format.
pub const MAX_SIDE: usize = 16_384;

/// The source frame indices an export writes, in order, for a clip of `n` frames:
/// `opts.range` first, then `opts.trim_loop` (drop the last frame, kept if it is the only
/// one), then `opts.ping_pong` (`a..=b` then `b-1..=a+1`: `2m − 2` frames from `m ≥ 2`).
///
/// # Errors
/// [`ExportError::Empty`] when nothing is left, [`ExportError::InvalidOptions`] when the
/// range is reversed or runs past the clip.
pub fn frame_order(n: usize, opts: &ExportOptions) -> Result<Vec<usize>, ExportError> {
    if n == 0 {
        return Err(ExportError::Empty);
    }
    let range = opts.range.clone().unwrap_or(0..n);
    if range.start >= range.end || range.end > n {
        return Err(ExportError::InvalidOptions(format!(
            "frame range {}..{} is not within the clip's {n} frames (use start < end ≤ {n})",
            range.start, range.end
        )));
    }
    let mut order: Vec<usize> = range.collect();
    if opts.trim_loop && order.len() > 1 {
        order.pop();
    }
    if opts.ping_pong && order.len() > 2 {
        let back: Vec<usize> = order[1..order.len() - 1].iter().rev().copied().collect();
        order.extend(back);
    }
    Ok(order)
}

/// Checks that every frame of `clip` holds `width × height` RGB8 pixels.
///
/// # Errors
/// [`ExportError::Empty`] or [`ExportError::InvalidClip`] naming the first bad frame.
pub fn validate_clip(clip: &Clip) -> Result<(), ExportError> {
    if clip.frames.is_empty() {
        return Err(ExportError::Empty);
    }
    if clip.width == 0 || clip.height == 0 {
        return Err(ExportError::InvalidClip(format!("frames are {}×{} pixels", clip.width, clip.height)));
    }
    let expected = clip.width.checked_mul(clip.height).and_then(|p| p.checked_mul(3));
    let Some(expected) = expected else {
        return Err(ExportError::InvalidClip(format!("{}×{} is too large", clip.width, clip.height)));
    };
    if let Some((k, f)) = clip.frames.iter().enumerate().find(|(_, f)| f.len() != expected) {
        return Err(ExportError::InvalidClip(format!(
            "frame {k} has {} bytes, expected {expected} ({}×{} RGB, 8-bit)",
            f.len(),
            clip.width,
            clip.height
        )));
    }
    Ok(())
}

/// The prepared frames of one export.
#[derive(Debug)]
pub struct Sequence<'a> {
    /// Width after scaling.
    pub width: usize,
    /// Height after scaling.
    pub height: usize,
    /// Prepared frames by source index (`None` where not used).
    frames: Vec<Option<Cow<'a, [u8]>>>,
    /// Source index of each output frame.
    order: Vec<usize>,
}

impl<'a> Sequence<'a> {
    /// Validates `clip` and `opts` and prepares the frames (scaling each used frame once).
    ///
    /// # Errors
    /// See [`validate_clip`], [`frame_order`], [`ExportOptions::validate`]; also
    /// [`ExportError::Unsupported`] if the scaled size exceeds [`MAX_SIDE`].
    pub fn new(clip: &'a Clip, opts: &ExportOptions) -> Result<Self, ExportError> {
        opts.validate()?;
        validate_clip(clip)?;
        let order = frame_order(clip.frames.len(), opts)?;
        let f = opts.scale as usize;
        let (width, height) = (clip.width * f, clip.height * f);
        if width > MAX_SIDE || height > MAX_SIDE {
            return Err(ExportError::Unsupported(format!(
                "{width}×{height} ({}×{} at {f}×) is larger than {MAX_SIDE} pixels a side; choose a smaller scale",
                clip.width, clip.height
            )));
        }
        let mut frames: Vec<Option<Cow<'a, [u8]>>> = vec![None; clip.frames.len()];
        for &k in &order {
            if frames[k].is_none() {
                let src = clip.frames[k].as_slice();
                frames[k] = Some(if f == 1 {
                    Cow::Borrowed(src)
                } else {
                    Cow::Owned(upscale(src, clip.width, clip.height, f, opts.scale_filter))
                });
            }
        }
        Ok(Self { width, height, frames, order })
    }

    /// Number of output frames.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Always false: a sequence has at least one frame.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Output frame `k` (RGB8, `width × height`), or an empty slice past the end.
    pub fn frame(&self, k: usize) -> &[u8] {
        self.order.get(k).and_then(|&i| self.frames[i].as_deref()).unwrap_or(&[])
    }

    /// The output frames in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.len()).map(|k| self.frame(k))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn order(n: usize, f: impl FnOnce(&mut ExportOptions)) -> Vec<usize> {
        let mut o = ExportOptions::default();
        f(&mut o);
        frame_order(n, &o).unwrap()
    }

    #[test]
    fn ping_pong_and_trimming() {
        assert_eq!(order(4, |_| {}), [0, 1, 2, 3]);
        assert_eq!(order(4, |o| o.ping_pong = true), [0, 1, 2, 3, 2, 1]);
        assert_eq!(order(4, |o| o.trim_loop = true), [0, 1, 2]);
        assert_eq!(order(4, |o| (o.trim_loop, o.ping_pong) = (true, true)), [0, 1, 2, 1]);
        assert_eq!(order(2, |o| o.ping_pong = true), [0, 1]);
        assert_eq!(order(1, |o| (o.trim_loop, o.ping_pong) = (true, true)), [0]);
        assert_eq!(order(8, |o| (o.range, o.ping_pong) = (Some(2..5), true)), [2, 3, 4, 3]);
    }

    #[test]
    fn bad_ranges_are_errors() {
        let o = ExportOptions { range: Some(3..3), ..Default::default() };
        assert!(matches!(frame_order(8, &o), Err(ExportError::InvalidOptions(_))));
        let o = ExportOptions { range: Some(0..9), ..Default::default() };
        assert!(matches!(frame_order(8, &o), Err(ExportError::InvalidOptions(_))));
        assert!(matches!(frame_order(0, &ExportOptions::default()), Err(ExportError::Empty)));
    }
}
