//! Integer upscaling of RGB frames: nearest (pixel replication) or Lanczos3.

use crate::export::options::ScaleFilter;

/// Upscales an RGB8 frame of `w × h` by `factor` (1 returns a copy).
///
/// `rgb.len()` must be `w * h * 3` (checked by the caller); the result is
/// `(w·factor) × (h·factor)` RGB8.
pub fn upscale(rgb: &[u8], w: usize, h: usize, factor: usize, filter: ScaleFilter) -> Vec<u8> {
    if factor <= 1 {
        return rgb.to_vec();
    }
    match filter {
        ScaleFilter::Nearest => nearest(rgb, w, h, factor),
        ScaleFilter::Lanczos3 => lanczos3(rgb, w, h, factor).unwrap_or_else(|| nearest(rgb, w, h, factor)),
    }
}

fn nearest(rgb: &[u8], w: usize, h: usize, f: usize) -> Vec<u8> {
    let row_out = w * f * 3;
    let mut out = Vec::with_capacity(row_out * h * f);
    for row in rgb.chunks_exact(w * 3).take(h) {
        let start = out.len();
        for px in row.chunks_exact(3) {
            for _ in 0..f {
                out.extend_from_slice(px);
            }
        }
        for _ in 1..f {
            out.extend_from_within(start..start + row_out);
        }
    }
    out
}

/// `None` if the sizes do not fit `image`'s `u32` dimensions.
fn lanczos3(rgb: &[u8], w: usize, h: usize, f: usize) -> Option<Vec<u8>> {
    let (w32, h32) = (u32::try_from(w).ok()?, u32::try_from(h).ok()?);
    let (ow, oh) = (u32::try_from(w * f).ok()?, u32::try_from(h * f).ok()?);
    let img = image::RgbImage::from_raw(w32, h32, rgb.to_vec())?;
    Some(image::imageops::resize(&img, ow, oh, image::imageops::FilterType::Lanczos3).into_raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_replicates_pixels() {
        let rgb = [1, 2, 3, 4, 5, 6];
        let out = upscale(&rgb, 2, 1, 2, ScaleFilter::Nearest);
        assert_eq!(out, [1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6, 1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6]);
    }

    #[test]
    fn lanczos_keeps_flat_colours() {
        let rgb = [9u8, 99, 199].repeat(6);
        let out = upscale(&rgb, 3, 2, 2, ScaleFilter::Lanczos3);
        assert_eq!(out.len(), 6 * 4 * 3);
        assert!(out.chunks(3).all(|p| p == [9, 99, 199]));
    }
}
