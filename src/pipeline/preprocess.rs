//! Fitting an input image to the model's size: the reference CLI's `Resize(min(H, W))` →
//! `CenterCrop((H, W))` → `ToTensor` → `Normalize(0.5, 0.5)` chain, bit-exact with
//! torchvision 0.19 on PIL images ([`FitMode::Reference`]), and the user-facing fits
//! [`FitMode::Cover`], [`FitMode::Contain`] and [`FitMode::Stretch`]. Loading the file is
//! [`crate::imaging::load`]'s.

use image::RgbImage;

use crate::imaging::resize::{pil_resize_bilinear, py_round};
use crate::imaging::tensor::{ImageTensor, rgb_to_tensor};

/// How an image is fitted to the model's H×W.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum FitMode {
    /// Exactly the reference CLI: resize the shorter side to `min(H, W)` (longer side
    /// `floor(min(H, W)·long/short)`), then `CenterCrop((H, W))`, which **zero-pads (black)**
    /// where the resized image is smaller than H×W (e.g. a 4:3 photo at 320×512 gets black
    /// side bars). `pad_color` is ignored: the reference always pads with black.
    #[default]
    Reference,
    /// Scale so the image covers H×W completely, then centre-crop the overflow.
    Cover,
    /// Scale so the whole image fits inside H×W, centre it and pad with `pad_color`.
    Contain,
    /// Resize to exactly H×W, ignoring the aspect ratio.
    Stretch,
}

/// Resize, crop/pad and normalise one input image for the model.
///
/// `pad_color` is used by [`FitMode::Contain`] only.
///
/// # Shapes
/// Returns `[3, height, width]` with values in [-1, 1]: `((v/255) − 0.5)/0.5` computed in
/// f32, like torchvision's `ToTensor` + `Normalize(0.5, 0.5)`.
pub fn prepare_frame(img: &RgbImage, height: usize, width: usize, fit: FitMode, pad_color: [u8; 3]) -> ImageTensor {
    let fitted = fit_image(img, height, width, fit, pad_color);
    rgb_to_tensor(&fitted)
}

/// The 8-bit image that [`prepare_frame`] normalises (useful for previews).
pub fn fit_image(img: &RgbImage, height: usize, width: usize, fit: FitMode, pad_color: [u8; 3]) -> RgbImage {
    let (th, tw) = (height, width);
    let (w, h) = (img.width() as usize, img.height() as usize);
    let black = [0u8; 3];
    if w == 0 || h == 0 || th == 0 || tw == 0 {
        let fill = if fit == FitMode::Contain { pad_color } else { black };
        return solid(tw, th, fill);
    }
    match fit {
        FitMode::Reference => {
            let s = th.min(tw);
            let (short, long) = if w <= h { (w, h) } else { (h, w) };
            // torchvision: int(size * long / short), a float division then truncation.
            let new_long = ((s * long) as f64 / short as f64) as usize;
            let (nw, nh) = if w <= h { (s, new_long) } else { (new_long, s) };
            let resized = pil_resize_bilinear(img, nw, nh);
            center_crop_pad(&resized, th, tw, black)
        }
        FitMode::Cover => {
            // wider than the target (w/h >= tw/th): match heights, else widths
            let (nw, nh) = if w * th >= h * tw {
                let nw = ((w * th) as f64 / h as f64).round() as usize;
                (nw.max(tw), th)
            } else {
                let nh = ((h * tw) as f64 / w as f64).round() as usize;
                (tw, nh.max(th))
            };
            let resized = pil_resize_bilinear(img, nw, nh);
            center_crop_pad(&resized, th, tw, black)
        }
        FitMode::Contain => {
            let (nw, nh) = if w * th >= h * tw {
                let nh = ((h * tw) as f64 / w as f64).round() as usize;
                (tw, nh.clamp(1, th))
            } else {
                let nw = ((w * th) as f64 / h as f64).round() as usize;
                (nw.clamp(1, tw), th)
            };
            let resized = pil_resize_bilinear(img, nw, nh);
            center_crop_pad(&resized, th, tw, pad_color)
        }
        FitMode::Stretch => pil_resize_bilinear(img, tw, th),
    }
}

fn solid(w: usize, h: usize, color: [u8; 3]) -> RgbImage {
    RgbImage::from_pixel(w as u32, h as u32, image::Rgb(color))
}

/// Offsets of torchvision `center_crop`: `(pad_before, pad_after, crop_start)` for one axis
/// of length `n` cropped/padded to `target`.
pub fn center_crop_offsets(n: usize, target: usize) -> (usize, usize, usize) {
    if target > n {
        let pad_before = (target - n) / 2;
        let pad_after = (target - n).div_ceil(2);
        (pad_before, pad_after, 0)
    } else {
        let start = py_round((n - target) as f64 / 2.0);
        (0, 0, start.max(0) as usize)
    }
}

/// torchvision `CenterCrop((th, tw))`: pad with `fill` where the image is smaller
/// (left = (tw − w)//2, right = (tw − w + 1)//2), then crop at
/// `round((h − th)/2)`, `round((w − tw)/2)` (half to even).
pub fn center_crop_pad(img: &RgbImage, th: usize, tw: usize, fill: [u8; 3]) -> RgbImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (pad_l, _, crop_x) = center_crop_offsets(w, tw);
    let (pad_t, _, crop_y) = center_crop_offsets(h, th);
    let mut out = solid(tw, th, fill);
    for oy in 0..th {
        // source row in the padded image is oy + crop_y; minus the top padding
        let py = oy + crop_y;
        if py < pad_t || py - pad_t >= h {
            continue;
        }
        let sy = (py - pad_t) as u32;
        for ox in 0..tw {
            let px = ox + crop_x;
            if px < pad_l || px - pad_l >= w {
                continue;
            }
            let sx = (px - pad_l) as u32;
            out.put_pixel(ox as u32, oy as u32, *img.get_pixel(sx, sy));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::imaging::gradient;
    use image::Rgb;

    #[test]
    fn crop_offsets() {
        // 85 -> 64: round(10.5) = 10 (half to even)
        assert_eq!(center_crop_offsets(85, 64), (0, 0, 10));
        assert_eq!(center_crop_offsets(87, 64), (0, 0, 12));
        assert_eq!(center_crop_offsets(64, 64), (0, 0, 0));
        // padding: left = (t - n) // 2, right = (t - n + 1) // 2
        assert_eq!(center_crop_offsets(426, 512), (43, 43, 0));
        assert_eq!(center_crop_offsets(5, 8), (1, 2, 0));
    }

    #[test]
    fn reference_fit_landscape_and_portrait() {
        // 120x90 -> 85x64 -> crop columns 10..74 (the fixture case)
        let land = gradient(120, 90);
        let resized = pil_resize_bilinear(&land, 85, 64);
        let fitted = fit_image(&land, 64, 64, FitMode::Reference, [9, 9, 9]);
        assert_eq!(fitted.dimensions(), (64, 64));
        assert_eq!(fitted.get_pixel(0, 0), resized.get_pixel(10, 0));
        assert_eq!(fitted.get_pixel(63, 63), resized.get_pixel(73, 63));
        let port = gradient(90, 120);
        let resized = pil_resize_bilinear(&port, 64, 85);
        let fitted = fit_image(&port, 64, 64, FitMode::Reference, [9, 9, 9]);
        assert_eq!(fitted.get_pixel(5, 0), resized.get_pixel(5, 10));
        // 4:3 at 320x512: 426x320, 43 black columns each side (pad colour ignored)
        let fitted = fit_image(&land, 320, 512, FitMode::Reference, [9, 9, 9]);
        assert_eq!(fitted.dimensions(), (512, 320));
        assert_eq!(fitted.get_pixel(42, 100), &Rgb([0, 0, 0]));
        assert_eq!(fitted.get_pixel(469, 100), &Rgb([0, 0, 0]));
        let t = prepare_frame(&land, 320, 512, FitMode::Reference, [9, 9, 9]);
        assert_eq!(t.shape(), [3, 320, 512]);
        assert_eq!(t.data[0], -1.0);
    }

    #[test]
    fn tiny_images() {
        let one = RgbImage::from_pixel(1, 1, Rgb([10, 20, 30]));
        for fit in [FitMode::Reference, FitMode::Cover, FitMode::Contain, FitMode::Stretch] {
            let f = fit_image(&one, 64, 48, fit, [1, 2, 3]);
            assert_eq!(f.dimensions(), (48, 64), "{fit:?}");
            match fit {
                FitMode::Cover | FitMode::Stretch => {
                    assert!(f.pixels().all(|p| *p == Rgb([10, 20, 30])), "{fit:?}");
                }
                // shorter side to min(64, 48) = 48, then 8 black rows above and below
                FitMode::Reference => {
                    assert_eq!(f.get_pixel(0, 7), &Rgb([0, 0, 0]));
                    assert_eq!(f.get_pixel(0, 8), &Rgb([10, 20, 30]));
                    assert_eq!(f.get_pixel(47, 56), &Rgb([0, 0, 0]));
                }
                FitMode::Contain => {
                    assert_eq!(f.get_pixel(0, 7), &Rgb([1, 2, 3]));
                    assert_eq!(f.get_pixel(0, 8), &Rgb([10, 20, 30]));
                }
            }
        }
        let column = gradient(1, 7);
        let row = gradient(9, 1);
        for fit in [FitMode::Reference, FitMode::Cover, FitMode::Contain, FitMode::Stretch] {
            assert_eq!(prepare_frame(&column, 64, 64, fit, [0; 3]).shape(), [3, 64, 64]);
            assert_eq!(prepare_frame(&row, 40, 64, fit, [0; 3]).shape(), [3, 40, 64]);
        }
        let empty = RgbImage::new(0, 0);
        let t = prepare_frame(&empty, 8, 8, FitMode::Reference, [0; 3]);
        assert!(t.data.iter().all(|&v| v == -1.0));
    }

    #[test]
    fn other_fit_modes() {
        let land = gradient(200, 100);
        // contain: 64x32 image centred in 64x64, pad rows with the colour
        let c = fit_image(&land, 64, 64, FitMode::Contain, [255, 0, 0]);
        assert_eq!(c.get_pixel(10, 5), &Rgb([255, 0, 0]));
        assert_ne!(c.get_pixel(10, 32), &Rgb([255, 0, 0]));
        // cover: 128x64 then centre crop 64x64
        let cov = fit_image(&land, 64, 64, FitMode::Cover, [255, 0, 0]);
        let r = pil_resize_bilinear(&land, 128, 64);
        assert_eq!(cov.get_pixel(0, 0), r.get_pixel(32, 0));
        let s = fit_image(&land, 30, 50, FitMode::Stretch, [0; 3]);
        assert_eq!(s.dimensions(), (50, 30));
    }
}
