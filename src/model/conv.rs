//! 2-D convolutions, two ways: burn's `conv2d` (on the WGSL path a direct kernel, one thread
//! per output vector, no shared-memory tiling, accumulating in the storage dtype) or the same
//! sum as a tiled matmul over unfolded windows ("im2col": every output position's `in·k·k`
//! window is one row, the kernel is one `[in·k·k, out]` matrix). The matmul gets burn's tiled
//! kernels and, in f16, f32 accumulation; the direct path needs f32 working copies of f16
//! inputs and weights for that (see [`direct`]). Which is faster depends on the layer shape
//! and the adapter: [`ConvPath::Auto`] measures both once per shape and device and remembers
//! the faster ([`super::conv_choice`]).

use std::sync::atomic::{AtomicU8, Ordering};

use burn::tensor::module::{conv2d, linear};
use burn::tensor::ops::{ConvOptions, PadMode};
use burn::tensor::{DType, Device, Tensor};

use crate::model::nn::{by_pieces, piece_limit, rows_within};
use crate::weights::vars::Vars;

/// How the 2-D convolutions run (`--conv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
pub enum ConvPath {
    /// Measure both once per layer shape on this device and use the faster (remembered).
    #[default]
    Auto,
    /// burn's `conv2d` kernel (f16: on f32 copies).
    Direct,
    /// Unfolded windows times the kernel matrix, burn's tiled matmul.
    Gemm,
}

impl ConvPath {
    /// The names `--conv` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Direct => "direct",
            Self::Gemm => "gemm",
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Direct,
            2 => Self::Gemm,
            _ => Self::Auto,
        }
    }
}

/// The process's choice (one model worker per process; the CLI sets it from `--conv`).
static PATH: AtomicU8 = AtomicU8::new(0);

/// Sets how every convolution of this process runs from now on.
pub fn set_path(path: ConvPath) {
    PATH.store(path as u8, Ordering::Relaxed);
}

thread_local! {
    /// A path for this thread only ([`with_path`]).
    static THREAD_PATH: std::cell::Cell<Option<ConvPath>> = const { std::cell::Cell::new(None) };
}

/// How convolutions run now on this thread.
pub fn path() -> ConvPath {
    THREAD_PATH.get().unwrap_or_else(|| ConvPath::from_u8(PATH.load(Ordering::Relaxed)))
}

/// Runs `f` with this thread's convolutions on `path`, whatever the process's choice: for
/// comparisons that must take the same path on both sides (with `auto`, a batch of two may
/// measure faster on the other path than a batch of one, and sum in another order).
pub fn with_path<T>(path: ConvPath, f: impl FnOnce() -> T) -> T {
    let before = THREAD_PATH.replace(Some(path));
    let out = f();
    THREAD_PATH.set(before);
    out
}

/// `torch.nn.Conv2d` (square kernel).
#[derive(Debug, Clone)]
pub struct Conv2d {
    /// `[out, in, k, k]`.
    pub weight: Tensor<4>,
    pub bias: Option<Tensor<1>>,
    pub stride: usize,
    /// `(top, bottom)` and `(left, right)` padding.
    pub padding: [(usize, usize); 2],
}

impl Conv2d {
    /// Loads a convolution with symmetric padding `pad`.
    pub fn load(vars: &Vars, cin: usize, cout: usize, k: usize, stride: usize, pad: usize, bias: bool) -> Self {
        Self {
            weight: vars.tensor("weight", [cout, cin, k, k]),
            bias: bias.then(|| vars.tensor("bias", [cout])),
            stride,
            padding: [(pad, pad), (pad, pad)],
        }
    }

    /// # Shapes
    /// - x: `[n, in, h, w]` → `[n, out, h', w']`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let opts = ConvOptions::new_with_padding([self.stride; 2], self.padding, [1, 1], 1);
        conv2d_acc(x, &self.weight, self.bias.as_ref(), opts)
    }

    /// The dtype of the weights.
    pub fn dtype(&self) -> DType {
        self.weight.dtype()
    }

    /// The device of the weights.
    pub fn device(&self) -> Device {
        self.weight.device()
    }
}

/// A 2-D convolution (no dilation, one group) the way [`path`] says, over as many samples or
/// image rows at a time as the device can bind (see [`piece_limit`]); f16 sums accumulate in
/// f32 either way.
///
/// # Shapes
/// - x: `[n, in, h, w]`, weight `[out, in, k, k]` → `[n, out, h', w']`
pub fn conv2d_acc(x: Tensor<4>, weight: &Tensor<4>, bias: Option<&Tensor<1>>, opts: ConvOptions<2>) -> Tensor<4> {
    let [n, cin, h, w] = x.dims();
    let [cout, _, kh, kw] = weight.dims();
    let (ho, wo) = out_size([h, w], [kh, kw], &opts);
    super::flops::matmul(n * ho * wo, cin * kh * kw, cout);
    let limit = piece_limit(&x.device());
    let chosen = match path() {
        ConvPath::Auto => {
            super::conv_choice::choose(&x, weight, &opts, |p| run(p, x.clone(), weight, bias, &opts, limit))
        }
        p => p,
    };
    run(chosen, x, weight, bias, &opts, limit)
}

/// The output's `[h', w']` for an input of `[h, w]` and a kernel of `[kh, kw]`.
fn out_size([h, w]: [usize; 2], [kh, kw]: [usize; 2], opts: &ConvOptions<2>) -> (usize, usize) {
    let [(pt, pb), (pl, pr)] = opts.padding;
    ((h + pt + pb - kh) / opts.stride[0] + 1, (w + pl + pr - kw) / opts.stride[1] + 1)
}

/// Runs one path (`Auto` counts as `Direct`).
fn run(
    path: ConvPath,
    x: Tensor<4>,
    weight: &Tensor<4>,
    bias: Option<&Tensor<1>>,
    opts: &ConvOptions<2>,
    limit: Option<usize>,
) -> Tensor<4> {
    match path {
        ConvPath::Gemm => gemm(x, weight, bias, opts, Some(limit.map_or(GEMM_PIECE, |l| l.min(GEMM_PIECE)))),
        ConvPath::Direct | ConvPath::Auto => direct(x, weight, bias, opts.clone(), limit),
    }
}

/// The most elements of unfolded windows the matmul path holds at once (64 Mi: 128 MB in f16),
/// on every backend and below the binding limit: the windows are `k·k` times the input they
/// come from.
const GEMM_PIECE: usize = 1 << 26;

/// burn's `conv2d` over pieces of whole samples whose input and output each hold at most
/// `limit` elements (the output size assumes stride 1, the largest).
///
/// burn's direct kernel on the WGSL path accumulates in the input dtype: measured on
/// lavapipe, an f16 3×3 conv over 64 channels (576 terms) is off by 3.5e-3 from the same f16
/// values accumulated in f32 (f16 matmul: 2e-4), and the UNet's deepest convs sum 11,520
/// terms. So f16 convs run here on f32 copies of their input and weights (resident weights
/// stay f16; the copies live for one call) and return f16.
///
/// # Shapes
/// - as [`conv2d_acc`]
pub fn direct(
    x: Tensor<4>,
    weight: &Tensor<4>,
    bias: Option<&Tensor<1>>,
    opts: ConvOptions<2>,
    limit: Option<usize>,
) -> Tensor<4> {
    let [_, cin, h, w] = x.dims();
    let cout = weight.dims()[0];
    let rows = rows_within(limit, cin.max(cout) * h * w);
    by_pieces(x, 0, rows.map(|r| r.max(1)), |x| {
        let dtype = x.dtype();
        let acc = if dtype == DType::F16 { DType::F32 } else { dtype };
        let y = conv2d(x.cast(acc), weight.clone().cast(acc), bias.map(|b| b.clone().cast(acc)), opts.clone());
        y.cast(dtype)
    })
}

/// The same convolution as unfolded windows times the kernel matrix, in the input's dtype
/// (burn's matmul accumulates f16 in f32), over pieces of samples and output rows whose
/// windows hold at most `limit` elements (each piece reads its rows plus the `k - stride`
/// rows of overlap below them).
///
/// # Shapes
/// - as [`conv2d_acc`]
pub fn gemm(
    x: Tensor<4>,
    weight: &Tensor<4>,
    bias: Option<&Tensor<1>>,
    opts: &ConvOptions<2>,
    limit: Option<usize>,
) -> Tensor<4> {
    assert!(opts.dilation == [1, 1] && opts.groups == 1, "the matmul path has no dilation or groups");
    let [cout, cin, kh, kw] = weight.dims();
    let [s_h, s_w] = opts.stride;
    let [(pt, pb), (pl, pr)] = opts.padding;
    let [n, _, h, w] = x.dims();
    let (ho, wo) = out_size([h, w], [kh, kw], opts);
    let x = if pt + pb + pl + pr > 0 { x.pad([(pt, pb), (pl, pr)], PadMode::Constant(0.0)) } else { x };
    let window = cin * kh * kw;
    // `[out, in, kh, kw]` → `[in·kh·kw, out]`, rows in the windows' `(in, kh, kw)` order.
    let kernel = weight.clone().reshape([cout, window]).swap_dims(0, 1);
    let per_row = wo * window.max(cout);
    let samples = rows_within(limit, ho * per_row).map(|r| r.max(1));
    let out_rows = match rows_within(limit, per_row) {
        Some(r) if r < ho => r.max(1),
        _ => ho,
    };
    by_pieces(x, 0, samples, |x| {
        let n = x.dims()[0];
        let pieces: Vec<Tensor<4>> = (0..ho)
            .step_by(out_rows)
            .map(|r0| {
                let rows = out_rows.min(ho - r0);
                let input = x.clone().narrow(2, r0 * s_h, (rows - 1) * s_h + kh); // [n, in, rows', wp]
                let windows = input.unfold::<5, _>(2, kh, s_h).unfold::<6, _>(3, kw, s_w); // [n, in, rows, wo, kh, kw]
                let windows = windows.permute([0, 2, 3, 1, 4, 5]).reshape([n * rows * wo, window]);
                let y = linear(windows, kernel.clone(), bias.cloned()); // [(n rows wo), out]
                y.reshape([n, rows, wo, cout]).permute([0, 3, 1, 2])
            })
            .collect();
        if pieces.len() == 1 { pieces.into_iter().next().expect("one piece") } else { Tensor::cat(pieces, 2) }
    })
    .reshape([n, cout, ho, wo])
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor};

    use super::*;

    fn rel(a: Tensor<4>, b: Tensor<4>) -> f32 {
        let d = (a - b.clone()).powf_scalar(2.0).sum().sqrt().into_scalar::<f32>();
        d / b.powf_scalar(2.0).sum().sqrt().into_scalar::<f32>()
    }

    /// The matmul path equals burn's `conv2d` within 1e-6 (f32) for every convolution shape
    /// of the model (3×3 stride 1 padding 1, the UNet's stride-2 downsample, the VAE's
    /// stride-2 downsample without padding after its own asymmetric pad, 1×1, CLIP's 14×14
    /// patches), whole and in pieces of samples and of rows.
    #[test]
    fn the_matmul_path_equals_conv2d() {
        let device = Device::flex();
        let x = Tensor::<4>::random([3, 16, 13, 11], Distribution::Normal(0.5, 2.0), &device);
        let cases: [(usize, usize, [(usize, usize); 2]); 5] = [
            (3, 1, [(1, 1), (1, 1)]),
            (3, 2, [(1, 1), (1, 1)]),
            (3, 2, [(0, 1), (0, 1)]),
            (1, 1, [(0, 0), (0, 0)]),
            (4, 4, [(0, 0), (0, 0)]),
        ];
        for (k, stride, padding) in cases {
            let w = Tensor::<4>::random([24, 16, k, k], Distribution::Normal(0.0, 0.1), &device);
            let b = Tensor::<1>::random([24], Distribution::Normal(0.0, 0.1), &device);
            let opts = ConvOptions::new_with_padding([stride; 2], padding, [1, 1], 1);
            let reference = conv2d(x.clone(), w.clone(), Some(b.clone()), opts.clone());
            let per_row = reference.dims()[3] * (16 * k * k).max(24);
            for limit in [None, Some(per_row * reference.dims()[2] * 2), Some(per_row * 2), Some(1)] {
                let y = gemm(x.clone(), &w, Some(&b), &opts, limit);
                assert_eq!(y.dims(), reference.dims(), "k {k} stride {stride} {padding:?}");
                let e = rel(y, reference.clone());
                assert!(e <= 1e-6, "k {k} stride {stride} {padding:?} limit {limit:?}: rel_l2 {e:e}");
            }
        }
    }

    /// The direct path in pieces of samples equals one piece.
    #[test]
    fn the_direct_path_in_pieces_equals_one_piece() {
        let device = Device::flex();
        let x = Tensor::<4>::random([6, 64, 5, 7], Distribution::Normal(0.5, 2.0), &device);
        let w = Tensor::<4>::random([48, 64, 3, 3], Distribution::Normal(0.0, 0.1), &device);
        let b = Tensor::<1>::random([48], Distribution::Normal(0.0, 0.1), &device);
        let opts = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        let whole = direct(x.clone(), &w, Some(&b), opts.clone(), None);
        let per_sample = 64 * 35;
        for limit in [per_sample, 3 * per_sample] {
            let e = rel(direct(x.clone(), &w, Some(&b), opts.clone(), Some(limit)), whole.clone());
            assert!(e <= 1e-6, "conv2d in pieces of {limit}: rel_l2 {e:e}");
        }
    }
}
