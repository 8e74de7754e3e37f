//! Mapping RGB frames to palette indices, with optional dithering that does not shimmer.
//!
//! Temporal stability: with the same palette as the previous frame, a pixel whose colour is
//! within [`crate::export::GifOptions::stability_threshold`] of the colour it had when its
//! index was last chosen keeps that index, and injects no error into its neighbours (the
//! error that reached it is dropped). So regions that did not change keep exactly the same
//! indices, whatever the dithering: the margin around a changed region is zero. Inside a
//! changed region error diffusion starts afresh at the region's border.

use crate::export::options::Dither;
use crate::export::palette::Palette;

/// 8×8 Bayer threshold matrix (values 0..64).
const BAYER8: [[u8; 8]; 8] = [
    [0, 32, 8, 40, 2, 34, 10, 42],
    [48, 16, 56, 24, 50, 18, 58, 26],
    [12, 44, 4, 36, 14, 46, 6, 38],
    [60, 28, 52, 20, 62, 30, 54, 22],
    [3, 35, 11, 43, 1, 33, 9, 41],
    [51, 19, 59, 27, 49, 17, 57, 25],
    [15, 47, 7, 39, 13, 45, 5, 37],
    [63, 31, 55, 23, 61, 29, 53, 21],
];

/// Share of the quantisation error Floyd–Steinberg passes on: slightly below 1 keeps the
/// error from piling up into streaks on colours the palette covers poorly, at equal
/// low-pass accuracy.
const DIFFUSION: f32 = 0.875;

/// Maps consecutive frames of one clip to palette indices.
#[derive(Debug)]
pub struct Quantizer {
    width: usize,
    height: usize,
    dither: Dither,
    threshold: u8,
    /// Indices of the previous frame and, per pixel, the colour its index was chosen for.
    prev: Option<(Vec<u8>, Vec<u8>)>,
}

impl Quantizer {
    /// A quantiser for `width × height` frames.
    pub fn new(width: usize, height: usize, dither: Dither, stability_threshold: u8) -> Self {
        Self { width, height, dither, threshold: stability_threshold, prev: None }
    }

    /// Palette indices of `rgb` (`width × height` RGB8). `same_palette` says whether
    /// `palette` is the one the previous frame used; only then are indices reused.
    pub fn quantize(&mut self, rgb: &[u8], palette: &mut Palette, same_palette: bool) -> Vec<u8> {
        let n = self.width * self.height;
        let (mut idx, mut reference) = match self.prev.take() {
            Some((i, r)) if same_palette && i.len() == n => (i, r),
            _ => (Vec::new(), Vec::new()),
        };
        let reuse = !idx.is_empty();
        if !reuse {
            idx = vec![0; n];
            reference = vec![0; n * 3];
        }
        let keep = |p: usize, reference: &[u8]| {
            reuse && (0..3).all(|c| rgb[p * 3 + c].abs_diff(reference[p * 3 + c]) <= self.threshold)
        };
        // With an exact palette every colour is available: dithering would only add noise.
        let dither = if palette.is_exact() { Dither::None } else { self.dither };
        match dither {
            Dither::None | Dither::Ordered => {
                let spread = if dither == Dither::Ordered { palette.spread() } else { 0.0 };
                for y in 0..self.height {
                    for x in 0..self.width {
                        let p = y * self.width + x;
                        if keep(p, &reference) {
                            continue;
                        }
                        let px = &rgb[p * 3..p * 3 + 3];
                        let c = if spread > 0.0 {
                            let t = (f32::from(BAYER8[y & 7][x & 7]) + 0.5) / 64.0 - 0.5;
                            [0, 1, 2].map(|ch| (f32::from(px[ch]) + t * spread).round().clamp(0.0, 255.0) as u8)
                        } else {
                            [px[0], px[1], px[2]]
                        };
                        idx[p] = palette.nearest(c);
                        reference[p * 3..p * 3 + 3].copy_from_slice(px);
                    }
                }
            }
            Dither::FloydSteinberg => self.floyd_steinberg(rgb, palette, &mut idx, &mut reference, &keep),
        }
        self.prev = Some((idx.clone(), reference));
        idx
    }

    /// Serpentine Floyd–Steinberg (7/16, 3/16, 5/16, 1/16, scaled by [`DIFFUSION`]); kept
    /// pixels neither receive nor spread error.
    fn floyd_steinberg(
        &self,
        rgb: &[u8],
        palette: &mut Palette,
        idx: &mut [u8],
        reference: &mut [u8],
        keep: &dyn Fn(usize, &[u8]) -> bool,
    ) {
        let w = self.width;
        // Error rows with one pixel of padding on each side: [x + 1][channel].
        let mut cur = vec![[0f32; 3]; w + 2];
        let mut next = vec![[0f32; 3]; w + 2];
        for y in 0..self.height {
            let forward = y % 2 == 0;
            for i in 0..w {
                let x = if forward { i } else { w - 1 - i };
                let p = y * w + x;
                let e = cur[x + 1];
                if keep(p, reference) {
                    continue;
                }
                let px = &rgb[p * 3..p * 3 + 3];
                let want = [0, 1, 2].map(|c| (f32::from(px[c]) + e[c]).clamp(0.0, 255.0));
                let k = palette.nearest(want.map(|v| v.round() as u8));
                idx[p] = k;
                reference[p * 3..p * 3 + 3].copy_from_slice(px);
                let got = palette.color(k);
                let err = [0, 1, 2].map(|c| (want[c] - f32::from(got[c])) * DIFFUSION);
                // Ahead in scan order, then the row below (behind, under, ahead).
                let (ahead, behind) = if forward { (x + 2, x) } else { (x, x + 2) };
                for c in 0..3 {
                    cur[ahead][c] += err[c] * (7.0 / 16.0);
                    next[behind][c] += err[c] * (3.0 / 16.0);
                    next[x + 1][c] += err[c] * (5.0 / 16.0);
                    next[ahead][c] += err[c] * (1.0 / 16.0);
                }
            }
            std::mem::swap(&mut cur, &mut next);
            next.fill([0.0; 3]);
        }
    }
}
