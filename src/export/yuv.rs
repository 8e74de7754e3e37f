//! RGB8 → YCbCr 4:2:0 (I420), limited range, BT.601 or BT.709, with even dimensions.

use crate::export::options::{ColorMatrix, OddSize};

/// The even size H.264 4:2:0 is coded at for a `w × h` frame.
///
/// [`OddSize::Pad`] adds a row/column, [`OddSize::Crop`] drops one (a dimension of 1 is
/// padded to 2 either way).
pub fn even_size(w: usize, h: usize, odd: OddSize) -> (usize, usize) {
    let fix = |n: usize| match (n % 2, odd) {
        (0, _) => n,
        (_, OddSize::Crop) if n > 1 => n - 1,
        _ => n + 1,
    };
    (fix(w), fix(h))
}

/// `(Kr, Kb)` luma weights of a matrix.
pub fn luma_weights(m: ColorMatrix) -> (f32, f32) {
    match m {
        ColorMatrix::Bt601 => (0.299, 0.114),
        ColorMatrix::Bt709 => (0.2126, 0.0722),
    }
}

/// Converts a `w × h` RGB8 frame into an I420 buffer (Y plane, then Cb, then Cr) of
/// `cw × ch` (both even). Pixels past the source edge repeat the last row/column
/// (padding); pixels past `cw`/`ch` are dropped (cropping).
///
/// Limited range: Y in 16..=235, Cb/Cr in 16..=240. Chroma is filtered at H.264's default
/// chroma location (left-aligned horizontally, centred vertically).
pub fn rgb_to_i420(rgb: &[u8], w: usize, h: usize, cw: usize, ch: usize, m: ColorMatrix) -> Vec<u8> {
    let (kr, kb) = luma_weights(m);
    let kg = 1.0 - kr - kb;
    let px = |x: usize, y: usize| {
        let i = (y.min(h - 1) * w + x.min(w - 1)) * 3;
        [f32::from(rgb[i]), f32::from(rgb[i + 1]), f32::from(rgb[i + 2])]
    };
    let (cw2, ch2) = (cw / 2, ch / 2);
    let mut out = vec![0u8; cw * ch + 2 * cw2 * ch2];
    let (y_plane, chroma) = out.split_at_mut(cw * ch);
    let (u_plane, v_plane) = chroma.split_at_mut(cw2 * ch2);
    for y in 0..ch {
        for x in 0..cw {
            let [r, g, b] = px(x, y);
            let luma = kr * r + kg * g + kb * b;
            y_plane[y * cw + x] = to_u8(16.0 + luma * (219.0 / 255.0));
        }
    }
    // Chroma siting as H.264 assumes by default (chroma_sample_loc_type 0, what players
    // upsample for): horizontally on the even luma columns ([1, 2, 1] / 4 filter),
    // vertically between the two rows (average).
    for y in 0..ch2 {
        for x in 0..cw2 {
            let mut s = [0f32; 3];
            for (dx, wx) in [(-1isize, 0.25f32), (0, 0.5), (1, 0.25)] {
                let sx = (2 * x).saturating_add_signed(dx).min(cw - 1);
                for dy in 0..2 {
                    let p = px(sx, 2 * y + dy);
                    for c in 0..3 {
                        s[c] += p[c] * wx * 0.5;
                    }
                }
            }
            let luma = kr * s[0] + kg * s[1] + kb * s[2];
            u_plane[y * cw2 + x] = to_u8(128.0 + (s[2] - luma) * (224.0 / 255.0) / (2.0 * (1.0 - kb)));
            v_plane[y * cw2 + x] = to_u8(128.0 + (s[0] - luma) * (224.0 / 255.0) / (2.0 * (1.0 - kr)));
        }
    }
    out
}

fn to_u8(v: f32) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_sizes() {
        assert_eq!(even_size(320, 512, OddSize::Pad), (320, 512));
        assert_eq!(even_size(5, 7, OddSize::Pad), (6, 8));
        assert_eq!(even_size(5, 7, OddSize::Crop), (4, 6));
        assert_eq!(even_size(1, 1, OddSize::Crop), (2, 2));
    }

    #[test]
    fn reference_colours_bt709() {
        // White, black, pure red (BT.709 limited: Y 63, Cb 102, Cr 240).
        let rgb = [255, 255, 255, 0, 0, 0, 255, 0, 0];
        for (i, want) in [[235, 128, 128], [16, 128, 128], [63, 102, 240]].into_iter().enumerate() {
            let px = rgb[i * 3..i * 3 + 3].repeat(4);
            let yuv = rgb_to_i420(&px, 2, 2, 2, 2, ColorMatrix::Bt709);
            assert_eq!([yuv[0], yuv[4], yuv[5]], want, "colour {i}");
        }
        // BT.601 red: Y 81, Cb 90, Cr 240.
        let yuv = rgb_to_i420(&[255, 0, 0].repeat(4), 2, 2, 2, 2, ColorMatrix::Bt601);
        assert_eq!([yuv[0], yuv[4], yuv[5]], [81, 90, 240]);
    }
}
