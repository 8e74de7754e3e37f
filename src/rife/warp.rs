//! The backward warp of RIFE, bilinear resizing by a factor, and padding to the network's
//! multiple.

use burn::tensor::module::interpolate;
use burn::tensor::ops::{GridSampleOptions, GridSamplePaddingMode, InterpolateMode, InterpolateOptions};
use burn::tensor::{DType, Tensor, TensorData};

/// `warp(x, flow)` of Practical-RIFE's `warplayer.py`: samples `x` at `(px + fx, py + fy)`,
/// bilinear, coordinates clamped to the image (`grid_sample`, border padding,
/// `align_corners=True`). Runs in f32 whatever the dtype (in f16 the normalised grid
/// would be off by up to a quarter pixel at 512 px), and returns `x`'s dtype.
///
/// # Shapes
/// - x: `[n, c, h, w]`, flow: `[n, 2, h, w]` (x then y displacement, pixels) → `[n, c, h, w]`
pub fn warp(x: Tensor<4>, flow: Tensor<4>) -> Tensor<4> {
    let [n, _, h, w] = x.dims();
    let dtype = x.dtype();
    let device = x.device();
    let flow = flow.cast(DType::F32);
    let step = |len: usize| if len > 1 { 2.0 / (len as f64 - 1.0) } else { 0.0 };
    let xs = Tensor::<1>::from_data(TensorData::new(linspace(w), [w]), &device);
    let ys = Tensor::<1>::from_data(TensorData::new(linspace(h), [h]), &device);
    let gx =
        xs.reshape([1, 1, w]).expand([n, h, w]) + flow.clone().narrow(1, 0, 1).reshape([n, h, w]).mul_scalar(step(w));
    let gy = ys.reshape([1, h, 1]).expand([n, h, w]) + flow.narrow(1, 1, 1).reshape([n, h, w]).mul_scalar(step(h));
    let grid = Tensor::stack::<4>(vec![gx, gy], 3);
    let opts = GridSampleOptions::new(InterpolateMode::Bilinear)
        .with_padding_mode(GridSamplePaddingMode::Border)
        .with_align_corners(true);
    x.cast(DType::F32).grid_sample_2d(grid, opts).cast(dtype)
}

/// `torch.linspace(-1, 1, n)` in f32, computed as torch does (from both ends).
fn linspace(n: usize) -> Vec<f32> {
    if n == 1 {
        return vec![-1.0];
    }
    let step = 2.0f32 / (n as f32 - 1.0);
    let half = n / 2;
    (0..n).map(|i| if i < half { -1.0 + step * i as f32 } else { 1.0 - step * (n - 1 - i) as f32 }).collect()
}

/// `F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)`: output
/// size `floor(size·factor)`; the identity at `factor == 1`.
///
/// # Shapes
/// - x: `[n, c, h, w]` → `[n, c, ⌊h·factor⌋, ⌊w·factor⌋]`
pub fn resize(x: Tensor<4>, factor: f64) -> Tensor<4> {
    if factor == 1.0 {
        return x;
    }
    let [_, _, h, w] = x.dims();
    let size = [(h as f64 * factor).floor() as usize, (w as f64 * factor).floor() as usize];
    let opts = InterpolateOptions::new(InterpolateMode::Bilinear).with_align_corners(false).with_output_size(size);
    interpolate(x, opts)
}

/// The multiple the input is padded to at flow scale `scale`: 64 as the reference pads for
/// every scale it can run (≥ 0.5); at 0.25 the coarsest level is `1/32` and two stride-2
/// convolutions follow, so 128 (where the reference itself fails on shape).
pub fn pad_multiple(scale: f32) -> usize {
    let needed = (32.0 / f64::from(scale)).ceil() as usize;
    needed.max(64)
}

/// Pads right and bottom with zeros up to multiples of `multiple`.
///
/// # Shapes
/// - x: `[n, c, h, w]` → `[n, c, ⌈h/m⌉·m, ⌈w/m⌉·m]`
pub fn pad_to(x: Tensor<4>, multiple: usize) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let (ph, pw) = (h.div_ceil(multiple) * multiple, w.div_ceil(multiple) * multiple);
    if (ph, pw) == (h, w) {
        return x;
    }
    x.pad([(0, ph - h), (0, pw - w)], burn::tensor::ops::PadMode::Constant(0.0))
}
