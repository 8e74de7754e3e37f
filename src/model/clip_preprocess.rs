//! The CLIP image encoder's own preprocessing (`FrozenOpenCLIPImageEmbedderV2.preprocess`):
//! kornia 0.7.0 `resize(x, (224, 224), interpolation='bicubic', align_corners=True,
//! antialias=True)`, then `(x + 1)/2`, then `(x − mean)/std` per channel.
//!
//! Everything is computed in f32 in the same operation order as PyTorch, so results agree
//! with the reference to about 1e-7 relative L2.

use crate::imaging::PreprocessError;

use crate::imaging::tensor::ImageTensor;

/// Side of the square CLIP input.
pub const CLIP_IMAGE_SIZE: usize = 224;
/// OpenAI CLIP normalisation mean (RGB).
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// OpenAI CLIP normalisation standard deviation (RGB).
#[allow(clippy::excessive_precision)] // the reference's literal digits, rounded to f32
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

/// Cubic convolution parameter used by PyTorch's bicubic interpolation.
const CUBIC_A: f32 = -0.75;

/// The image encoder's preprocessing of one frame.
///
/// # Shapes
/// `img`: `[3, H, W]`, values in [-1, 1] (any H, W ≥ 1). Returns `[3, 224, 224]`, CLIP
/// normalised. The aspect ratio is **not** kept (the reference squashes to 224×224).
///
/// # Errors
/// [`PreprocessError::BadTensor`] if `img` does not have 3 channels or its data length
/// does not match its shape.
pub fn clip_preprocess(img: &ImageTensor) -> Result<ImageTensor, PreprocessError> {
    check_tensor(img)?;
    if img.channels != 3 {
        return Err(PreprocessError::BadTensor(format!("CLIP preprocessing needs 3 channels, got {}", img.channels)));
    }
    let mut out = kornia_resize(img, CLIP_IMAGE_SIZE, CLIP_IMAGE_SIZE)?;
    let n = out.height * out.width;
    for (c, plane) in out.data.chunks_exact_mut(n).enumerate() {
        for v in plane {
            let x = (*v + 1.0) / 2.0;
            *v = (x - CLIP_MEAN[c]) / CLIP_STD[c];
        }
    }
    Ok(out)
}

fn check_tensor(img: &ImageTensor) -> Result<(), PreprocessError> {
    if !img.is_consistent() {
        return Err(PreprocessError::BadTensor(format!(
            "shape {:?} needs {} values, data has {}",
            img.shape(),
            img.channels * img.height * img.width,
            img.data.len()
        )));
    }
    if img.height == 0 || img.width == 0 {
        return Err(PreprocessError::BadTensor(format!("empty image {:?}", img.shape())));
    }
    Ok(())
}

/// kornia 0.7.0 `resize(..., interpolation='bicubic', align_corners=True, antialias=True)`.
///
/// Same size: returned unchanged. Otherwise, when any axis is downscaled, a separable
/// Gaussian blur first (σᵢ = max((fᵢ − 1)/2, 0.001) with fᵢ = inᵢ/outᵢ, kernel
/// `int(max(4σᵢ, 3))` made odd, border `reflect`), then PyTorch bicubic with
/// `align_corners=True`.
///
/// # Shapes
/// `[C, H, W]` → `[C, out_h, out_w]`.
///
/// # Errors
/// [`PreprocessError::BadTensor`] for an inconsistent or empty tensor or a zero output size.
pub fn kornia_resize(img: &ImageTensor, out_h: usize, out_w: usize) -> Result<ImageTensor, PreprocessError> {
    check_tensor(img)?;
    if out_h == 0 || out_w == 0 {
        return Err(PreprocessError::BadTensor(format!("output size {out_h}x{out_w} is empty")));
    }
    if img.height == out_h && img.width == out_w {
        return Ok(img.clone());
    }
    let fh = img.height as f64 / out_h as f64;
    let fw = img.width as f64 / out_w as f64;
    let src = if fh.max(fw) > 1.0 {
        let (kh, sh) = antialias_kernel_params(fh);
        let (kw, sw) = antialias_kernel_params(fw);
        let kx = gaussian_kernel1d(kw, sw);
        let ky = gaussian_kernel1d(kh, sh);
        gaussian_blur2d_separable(img, &kx, &ky)
    } else {
        img.clone()
    };
    Ok(bicubic_align_corners(&src, out_h, out_w))
}

/// kornia's anti-aliasing kernel size and σ for a down-scaling factor `f` (computed in
/// Python floats, σ then stored as f32).
pub fn antialias_kernel_params(f: f64) -> (usize, f32) {
    let sigma = ((f - 1.0) / 2.0).max(0.001);
    let mut k = (2.0 * 2.0 * sigma).max(3.0) as usize;
    if k.is_multiple_of(2) {
        k += 1;
    }
    (k, sigma as f32)
}

/// kornia `get_gaussian_kernel1d(k, σ)`: `exp(−x²/(2σ²))` at `x = arange(k) − k//2`
/// (+0.5 for even k), normalised to sum 1, in f32.
pub fn gaussian_kernel1d(k: usize, sigma: f32) -> Vec<f32> {
    let half = (k / 2) as f32;
    let even = if k.is_multiple_of(2) { 0.5 } else { 0.0 };
    let denom = 2.0 * (sigma * sigma);
    let g: Vec<f32> = (0..k)
        .map(|i| {
            let x = i as f32 - half + even;
            (-(x * x) / denom).exp()
        })
        .collect();
    let sum: f32 = g.iter().sum();
    g.into_iter().map(|v| v / sum).collect()
}

/// PyTorch `F.pad(mode='reflect')` index: mirror without repeating the edge
/// (…, 2, 1, [0, 1, …, n−1], n−2, …). Wraps again for offsets beyond one period.
pub fn reflect_index(i: isize, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let m = i.rem_euclid(period);
    if m < n as isize { m as usize } else { (period - m) as usize }
}

/// kornia `filter2d_separable` with border `reflect`: horizontal kernel first, then
/// vertical; cross-correlation, "same" output size.
///
/// # Shapes
/// `[C, H, W]` → `[C, H, W]`; `kx`, `ky` have odd lengths.
pub fn gaussian_blur2d_separable(img: &ImageTensor, kx: &[f32], ky: &[f32]) -> ImageTensor {
    let (c, h, w) = (img.channels, img.height, img.width);
    let px = (kx.len() / 2) as isize;
    let py = (ky.len() / 2) as isize;
    let mut tmp = vec![0f32; c * h * w];
    for ch in 0..c {
        for y in 0..h {
            let row = &img.data[(ch * h + y) * w..(ch * h + y + 1) * w];
            let out_row = &mut tmp[(ch * h + y) * w..(ch * h + y + 1) * w];
            for (x, o) in out_row.iter_mut().enumerate() {
                let mut acc = 0f32;
                for (k, &kv) in kx.iter().enumerate() {
                    let sx = reflect_index(x as isize + k as isize - px, w);
                    acc = kv.mul_add(row[sx], acc);
                }
                *o = acc;
            }
        }
    }
    let mut out = vec![0f32; c * h * w];
    for ch in 0..c {
        let plane = &tmp[ch * h * w..(ch + 1) * h * w];
        for y in 0..h {
            for x in 0..w {
                let mut acc = 0f32;
                for (k, &kv) in ky.iter().enumerate() {
                    let sy = reflect_index(y as isize + k as isize - py, h);
                    acc = kv.mul_add(plane[sy * w + x], acc);
                }
                out[(ch * h + y) * w + x] = acc;
            }
        }
    }
    ImageTensor { channels: c, height: h, width: w, data: out }
}

/// PyTorch `get_cubic_upsample_coefficients(t)` with A = −0.75, in f32.
///
/// PyTorch's CPU kernels are compiled with FMA contraction (AVX2/AVX-512 builds), so the
/// polynomials are evaluated with fused multiply-adds, which matches the reference
/// outputs bit for bit far more often than separate multiplies and adds.
pub fn cubic_coefficients(t: f32) -> [f32; 4] {
    let a = CUBIC_A;
    let conv1 = |x: f32| ((a + 2.0).mul_add(x, -(a + 3.0)) * x).mul_add(x, 1.0);
    let conv2 = |x: f32| a.mul_add(x, -5.0 * a).mul_add(x, 8.0 * a).mul_add(x, -4.0 * a);
    let x2 = 1.0 - t;
    [conv2(t + 1.0), conv1(t), conv1(x2), conv2(x2 + 1.0)]
}

/// Source taps (clamped indices) and weights of one output axis for
/// `align_corners=True` bicubic.
fn bicubic_axis(in_size: usize, out_size: usize) -> Vec<([usize; 4], [f32; 4])> {
    let scale = if out_size > 1 { (in_size as f32 - 1.0) / (out_size as f32 - 1.0) } else { 0.0 };
    (0..out_size)
        .map(|i| {
            let real = scale * i as f32;
            let idx = (real.floor() as i64).min(in_size as i64 - 1);
            let t = (real - idx as f32).clamp(0.0, 1.0);
            let taps = [0i64, 1, 2, 3].map(|j| (idx - 1 + j).clamp(0, in_size as i64 - 1) as usize);
            (taps, cubic_coefficients(t))
        })
        .collect()
}

/// PyTorch `F.interpolate(mode='bicubic', align_corners=True)` (CPU kernel order:
/// for each of the 4 rows, Σ over 4 columns; then Σ over rows, all in f32 with fused
/// multiply-adds like the FMA-contracted PyTorch build).
///
/// # Shapes
/// `[C, H, W]` → `[C, out_h, out_w]`.
pub fn bicubic_align_corners(img: &ImageTensor, out_h: usize, out_w: usize) -> ImageTensor {
    let (c, h, w) = (img.channels, img.height, img.width);
    let ax = bicubic_axis(w, out_w);
    let ay = bicubic_axis(h, out_h);
    let mut out = vec![0f32; c * out_h * out_w];
    for ch in 0..c {
        let plane = &img.data[ch * h * w..(ch + 1) * h * w];
        for (oy, (ty, wy)) in ay.iter().enumerate() {
            for (ox, (tx, wx)) in ax.iter().enumerate() {
                let row_val = |r: usize| {
                    let row = &plane[ty[r] * w..(ty[r] + 1) * w];
                    let mut t = row[tx[0]] * wx[0];
                    for j in 1..4 {
                        t = row[tx[j]].mul_add(wx[j], t);
                    }
                    t
                };
                let mut acc = row_val(0) * wy[0];
                for (r, &w) in wy.iter().enumerate().skip(1) {
                    acc = row_val(r).mul_add(w, acc);
                }
                out[(ch * out_h + oy) * out_w + ox] = acc;
            }
        }
    }
    ImageTensor { channels: c, height: out_h, width: out_w, data: out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_padding() {
        let idx: Vec<usize> = (-3..7).map(|i| reflect_index(i, 4)).collect();
        assert_eq!(idx, vec![3, 2, 1, 0, 1, 2, 3, 2, 1, 0]);
        assert_eq!(reflect_index(-1, 1), 0);
        assert_eq!(reflect_index(5, 2), 1);
    }

    #[test]
    fn bicubic_weights() {
        let w = cubic_coefficients(0.0);
        assert_eq!(w, [0.0, 1.0, 0.0, 0.0]);
        let w = cubic_coefficients(0.5);
        assert!((w[0] - -0.09375).abs() < 1e-7 && (w[1] - 0.59375).abs() < 1e-7);
        assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        for t in [0.1f32, 0.25, 0.7, 0.99] {
            assert!((cubic_coefficients(t).iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
    }

    #[test]
    fn kernel_params_match_spec() {
        // 320x512 -> 224: k = (3, 3), sigma = (0.214, 0.643)
        let (k, s) = antialias_kernel_params(320.0 / 224.0);
        assert_eq!(k, 3);
        assert!((s - 0.2142857).abs() < 1e-6);
        let (k, s) = antialias_kernel_params(512.0 / 224.0);
        assert_eq!(k, 3);
        assert!((s - 0.6428571).abs() < 1e-6);
        // 576x1024: k = (3, 7)
        assert_eq!(antialias_kernel_params(576.0 / 224.0).0, 3);
        assert_eq!(antialias_kernel_params(1024.0 / 224.0).0, 7);
        // upscaled axis: sigma 0.001, k 3
        let (k, s) = antialias_kernel_params(64.0 / 224.0);
        assert_eq!((k, s), (3, 0.001));
        let g = gaussian_kernel1d(3, 0.001);
        assert_eq!(g, vec![0.0, 1.0, 0.0]);
    }

    #[test]
    fn identity_and_constant() {
        let img = ImageTensor::filled(3, 224, 224, 0.25);
        assert_eq!(kornia_resize(&img, 224, 224).ok(), Some(img.clone()));
        // a constant image stays constant through blur + bicubic
        let img = ImageTensor::filled(3, 300, 97, 0.5);
        let out = kornia_resize(&img, 224, 224).ok();
        let out = out.as_ref().map(|o| o.data.iter().all(|&v| (v - 0.5).abs() < 1e-6));
        assert_eq!(out, Some(true));
        let p = clip_preprocess(&ImageTensor::filled(3, 1, 1, -1.0));
        assert!(p.is_ok_and(|p| p.shape() == [3, 224, 224]
            && (p.data[0] - (0.0 - CLIP_MEAN[0]) / CLIP_STD[0]).abs() < 1e-6));
    }

    #[test]
    fn bad_tensors_are_rejected() {
        let mut img = ImageTensor::filled(3, 4, 4, 0.0);
        img.data.pop();
        assert!(clip_preprocess(&img).is_err());
        assert!(clip_preprocess(&ImageTensor::filled(1, 4, 4, 0.0)).is_err());
        assert!(clip_preprocess(&ImageTensor::filled(3, 0, 4, 0.0)).is_err());
    }
}
