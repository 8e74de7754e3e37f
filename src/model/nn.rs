//! The small layers every component shares, loaded by checkpoint name.
//!
//! Each layer holds plain tensors in burn's layout (linear weights `[in, out]`), is built
//! from a [`Vars`] path, and documents its shapes on `forward`.
//!
//! Mixed precision: a layer computes in the dtype of its weights (f16 or f32). The
//! statistics f16 cannot hold (LayerNorm and GroupNorm mean and variance over thousands of
//! values) are computed in f32 and the normalised values cast back; softmax accumulation
//! happens in f32 inside burn's attention kernels.

use burn::tensor::activation;
use burn::tensor::module::{attention, linear};
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{DType, Device, Tensor};

use crate::weights::vars::Vars;

/// `torch.nn.Linear`.
#[derive(Debug, Clone)]
pub struct Linear {
    /// `[in, out]` (transposed from the checkpoint's `[out, in]`).
    pub weight: Tensor<2>,
    pub bias: Option<Tensor<1>>,
}

impl Linear {
    /// Loads `weight` `[out, in]` and, if `bias`, `bias` `[out]`.
    pub fn load(vars: &Vars, in_features: usize, out_features: usize, bias: bool) -> Self {
        Self::load_named(vars, "weight", bias.then_some("bias"), in_features, out_features)
    }

    /// Loads a linear layer stored under other names (e.g. `in_proj_weight`).
    pub fn load_named(vars: &Vars, weight: &str, bias: Option<&str>, in_features: usize, out_features: usize) -> Self {
        Self {
            weight: vars.linear_weight(weight, out_features, in_features),
            bias: bias.map(|b| vars.tensor(b, [out_features])),
        }
    }

    /// # Shapes
    /// - x: `[..., in]` → `[..., out]`
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let [k, n] = self.weight.dims();
        super::flops::matmul(x.shape().num_elements() / k.max(1), k, n);
        linear(x, self.weight.clone(), self.bias.clone())
    }
}

/// `torch.nn.LayerNorm` over the last dimension.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    pub weight: Tensor<1>,
    pub bias: Tensor<1>,
    pub eps: f64,
}

impl LayerNorm {
    /// Loads `weight` and `bias` of width `dim`.
    pub fn load(vars: &Vars, dim: usize, eps: f64) -> Self {
        Self { weight: vars.tensor("weight", [dim]), bias: vars.tensor("bias", [dim]), eps }
    }

    /// # Shapes
    /// - x: `[..., dim]` → `[..., dim]`
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let dtype = x.dtype();
        let x = x.cast(DType::F32);
        let (var, mean) = x.clone().var_mean_bias(D - 1);
        let x = ((x - mean) / (var + self.eps).sqrt()).cast(dtype);
        x * self.weight.clone().unsqueeze::<D>() + self.bias.clone().unsqueeze::<D>()
    }
}

/// `torch.nn.GroupNorm` with 32 groups (every GroupNorm of the model uses 32).
#[derive(Debug, Clone)]
pub struct GroupNorm {
    pub weight: Tensor<1>,
    pub bias: Tensor<1>,
    pub groups: usize,
    pub eps: f64,
}

impl GroupNorm {
    /// Loads `weight` and `bias` of `channels`.
    pub fn load(vars: &Vars, channels: usize, groups: usize, eps: f64) -> Self {
        Self { weight: vars.tensor("weight", [channels]), bias: vars.tensor("bias", [channels]), groups, eps }
    }

    /// Normalises each group over its channels and every trailing position.
    ///
    /// # Shapes
    /// - x: `[n, c, ...]` (any rank ≥ 3) → same shape. Statistics are per `n` and group,
    ///   over all trailing axes: pass `[b, c, t, h, w]` to pool over frames as the
    ///   temporal blocks do, `[(b t), c, h, w]` for per-frame statistics.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let limit = piece_limit(&x.device());
        self.forward_within(x, limit)
    }

    /// [`Self::forward`] with the f32 working copy in pieces of at most `limit` elements
    /// (whole samples, else whole groups: each group's statistics are computed as one
    /// reduction either way, so the result is the same).
    ///
    /// # Shapes
    /// - as [`Self::forward`]
    pub fn forward_within<const D: usize>(&self, x: Tensor<D>, limit: Option<usize>) -> Tensor<D> {
        let dims = x.dims();
        let (n, c) = (dims[0], dims[1]);
        let rest: usize = dims[2..].iter().product();
        let g = self.groups;
        let dtype = x.dtype();
        let eps = self.eps;
        let normalise = |grouped: Tensor<3>| {
            let grouped = grouped.cast(DType::F32); // [n', g', c/g · rest]
            let (var, mean) = grouped.clone().var_mean_bias(2);
            ((grouped - mean) / (var + eps).sqrt()).cast(dtype)
        };
        let grouped = x.reshape([n, g, (c / g) * rest]); // [n, g, c/g · rest]
        let normed = match rows_within(limit, c * rest) {
            // One sample exceeds the limit: split every sample's groups.
            Some(0) => {
                let rows = rows_within(limit, (c / g) * rest).unwrap_or(g).max(1);
                by_pieces(grouped, 1, Some(rows), normalise)
            }
            samples => by_pieces(grouped, 0, samples, normalise),
        };
        let normed = normed.reshape([n, c, rest]); // [n, c, rest]
        let w = self.weight.clone().reshape([1, c, 1]);
        let b = self.bias.clone().reshape([1, c, 1]);
        (normed * w + b).reshape(dims)
    }
}

/// `Conv3d` with kernel `(k, 1, 1)` and zero padding `(k/2, 0, 0)`: a convolution over time
/// only (the UNet's `temopral_conv`), computed as one matmul of every position's time window
/// by the kernel matrix. burn's WGSL backend has no implicit-GEMM convolution without
/// cooperative matrices, so `conv3d` there is a direct kernel: on lavapipe the 512 UNet call
/// (16×8×16 latent, f32) took 118 s with it and 101 s with this matmul. On the CPU backend
/// the two agree to f32 rounding (tested). (The 3×3 spatial convs can run the same way:
/// `conv.rs`.)
#[derive(Debug, Clone)]
pub struct TemporalConv {
    /// `[in·k, out]`, rows in the checkpoint's `[in, k]` order.
    pub weight: Tensor<2>,
    pub bias: Tensor<1>,
    pub k: usize,
}

impl TemporalConv {
    /// Loads `weight` `[out, in, k, 1, 1]` and `bias` `[out]`.
    pub fn load(vars: &Vars, cin: usize, cout: usize, k: usize) -> Self {
        Self {
            weight: vars.linear_weight_stored("weight", &[cout, cin, k, 1, 1], cout, cin * k),
            bias: vars.tensor("bias", [cout]),
            k,
        }
    }

    /// # Shapes
    /// - x: `[n, in, t, h, w]` → `[n, out, t, h, w]`
    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let limit = piece_limit(&x.device());
        self.forward_within(x, limit)
    }

    /// [`Self::forward`] over as many image rows at a time as keep the windows within
    /// `limit` elements (positions are independent: the result is the same).
    ///
    /// # Shapes
    /// - as [`Self::forward`]
    pub fn forward_within(&self, x: Tensor<5>, limit: Option<usize>) -> Tensor<5> {
        let [n, cin, t, _, w] = x.dims();
        let cout = self.bias.dims()[0];
        let rows = rows_within(limit, n * w * t * (cin * self.k).max(cout));
        by_pieces(x, 3, rows.map(|r| r.max(1)), |x| self.windows_by_matmul(x))
    }

    /// # Shapes
    /// - x: `[n, in, t, h, w]` → `[n, out, t, h, w]`
    fn windows_by_matmul(&self, x: Tensor<5>) -> Tensor<5> {
        let [n, c, t, h, w] = x.dims();
        let (k, pad) = (self.k, self.k / 2);
        let m = n * h * w;
        let x = x.permute([0, 3, 4, 2, 1]).reshape([m, t, c]); // [(n h w), t, c]
        let zeros = Tensor::<3>::zeros([m, pad, c], (&x.device(), x.dtype()));
        let x = Tensor::cat(vec![zeros.clone(), x, zeros], 1); // [(n h w), t + 2·pad, c]
        let taps: Vec<Tensor<3>> = (0..k).map(|j| x.clone().narrow(1, j, t)).collect();
        let windows = Tensor::stack::<4>(taps, 3).reshape([m * t, c * k]); // [(n h w t), (c k)]
        super::flops::matmul(m * t, c * k, self.bias.dims()[0]);
        let y = linear(windows, self.weight.clone(), Some(self.bias.clone())); // [(n h w t), out]
        let cout = y.dims()[1];
        y.reshape([n, h, w, t, cout]).permute([0, 4, 3, 1, 2])
    }
}

/// The most f32 elements one working copy may hold on `device`: cubecl's page size on wgpu,
/// which is the adapter's largest storage binding (128 MiB on lavapipe, 2-4 GiB on desktop
/// GPUs), so a tensor above it cannot exist there; unlimited on the CPU backend. The layers
/// whose f32 copies can outgrow it at full size (GroupNorm statistics, f16 convolutions at
/// the UNet's first level) run in pieces below it, with the same result.
pub fn piece_limit(device: &Device) -> Option<usize> {
    if *device == Device::flex() {
        return None;
    }
    let bytes = crate::device::max_binding(crate::device::Backend::Wgpu)?;
    usize::try_from(bytes / 4).ok()
}

/// How many slices of `per_slice` elements fit in `limit` (`None` when there is no limit;
/// 0 when not even one fits, which the caller handles).
pub(crate) fn rows_within(limit: Option<usize>, per_slice: usize) -> Option<usize> {
    limit.map(|l| l / per_slice.max(1))
}

/// Applies `f` to pieces of at most `rows` slices of `x` along `axis` and concatenates the
/// results along it (`None`, or all slices fit: one call). `f` must treat the slices along
/// `axis` independently and keep their count.
///
/// # Shapes
/// - x: any; `f` maps `[.., k, ..]` to `[.., k, ..]` (other axes may change)
pub fn by_pieces<const D: usize>(
    x: Tensor<D>,
    axis: usize,
    rows: Option<usize>,
    f: impl Fn(Tensor<D>) -> Tensor<D>,
) -> Tensor<D> {
    let total = x.dims()[axis];
    match rows {
        Some(r) if r > 0 && r < total => {
            let r = chunk_len(total, r);
            let outs: Vec<Tensor<D>> =
                (0..total).step_by(r).map(|s| f(x.clone().narrow(axis, s, r.min(total - s)))).collect();
            Tensor::cat(outs, axis)
        }
        _ => f(x),
    }
}

/// Multi-head scaled dot-product attention on packed `[b, l, heads·d]` projections.
///
/// Runs through burn's fused attention (flash kernels on wgpu with autotune), which does
/// not materialise the `[l_q, l_k]` score matrix where the backend has a kernel for it.
/// `scale` stays `None` (1/√d): any explicit scale sends burn to the unfused path.
///
/// # Shapes
/// - q: `[b, lq, heads·d]`, k: `[b, lk, heads·d]`, v: `[b, lk, heads·dv]` → `[b, lq, heads·dv]`
pub fn multi_head_attention(q: Tensor<3>, k: Tensor<3>, v: Tensor<3>, heads: usize, causal: bool) -> Tensor<3> {
    multi_head_attention_chunked(q, k, v, heads, causal, None)
}

/// [`multi_head_attention`] over at most `max_query_rows` query tokens at a time, so that an
/// unfused fallback never holds more than `[b, heads, max_query_rows, lk]` scores (the
/// `attention` forward chunking of diffusers). Rows are independent: the result is the same.
/// Causal attention is never chunked (its mask is relative to the query position).
///
/// # Shapes
/// - as [`multi_head_attention`]
pub fn multi_head_attention_chunked(
    q: Tensor<3>,
    k: Tensor<3>,
    v: Tensor<3>,
    heads: usize,
    causal: bool,
    max_query_rows: Option<usize>,
) -> Tensor<3> {
    let [b, lq, hd] = q.dims();
    let lk = k.dims()[1];
    let dv = v.dims()[2] / heads;
    let d = hd / heads;
    let split = |t: Tensor<3>, l: usize, d: usize| t.reshape([b, l, heads, d]).swap_dims(1, 2); // [b, h, l, d]
    let (k, v) = (split(k, lk, d), split(v, lk, dv));
    let opts = AttentionModuleOptions { scale: None, softcap: None, is_causal: causal };
    super::flops::matmul(b * heads * lq, d, lk); // scores
    super::flops::matmul(b * heads * lq, lk, dv); // weighted values
    let rows = match max_query_rows {
        Some(r) if !causal && r > 0 && r < lq => chunk_len(lq, r),
        _ => lq,
    };
    let outs: Vec<Tensor<4>> = (0..lq)
        .step_by(rows)
        .map(|start| {
            let n = rows.min(lq - start);
            let qc = q.clone().narrow(1, start, n);
            attention(split(qc, n, d), k.clone(), v.clone(), None, None, opts)
        })
        .collect();
    let out = if outs.len() == 1 { outs.into_iter().next().expect("one chunk") } else { Tensor::cat(outs, 2) };
    out.swap_dims(1, 2).reshape([b, lq, heads * dv])
}

/// The length of the pieces that split `total` rows into pieces of at most `max`: a divisor
/// of `total` when one is at least `max / 2` (every piece the same shape, so a GPU backend
/// compiles and autotunes one kernel, not two), else `max`.
fn chunk_len(total: usize, max: usize) -> usize {
    (max.div_ceil(2).max(1)..=max).rev().find(|r| total % r == 0).unwrap_or(max)
}

/// Applies `f` to at most `max_rows` rows of `x` at a time (feed-forward chunking: the
/// `[rows, inner]` intermediate never exceeds the chunk). `f` must act on rows independently.
///
/// # Shapes
/// - x: `[n, l, c]` → `[n, l, c']`
pub fn chunk_rows(x: Tensor<3>, max_rows: Option<usize>, f: impl Fn(Tensor<3>) -> Tensor<3>) -> Tensor<3> {
    let [n, l, c] = x.dims();
    match max_rows {
        Some(r) if r > 0 && r < n * l => {
            let y = by_pieces(x.reshape([1, n * l, c]), 1, Some(r), f); // [1, (n l), c']
            let co = y.dims()[2];
            y.reshape([n, l, co])
        }
        _ => f(x),
    }
}

/// Exact (erf) GELU, as `torch.nn.GELU()`.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    activation::gelu(x)
}

/// SiLU / swish.
pub fn silu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    activation::silu(x)
}

#[cfg(test)]
mod tests {
    use burn::tensor::ops::ConvOptions;
    use burn::tensor::{Device, Distribution, Tensor};

    use super::*;

    fn rel(a: Tensor<3>, b: Tensor<3>) -> f32 {
        let d = (a - b.clone()).powf_scalar(2.0).sum().sqrt().into_scalar::<f32>();
        d / b.powf_scalar(2.0).sum().sqrt().into_scalar::<f32>()
    }

    #[test]
    fn chunks_are_equal_when_a_divisor_is_near() {
        assert_eq!(chunk_len(2560, 163), 160);
        assert_eq!(chunk_len(40960, 13107), 10240);
        assert_eq!(chunk_len(333, 64), 37);
        assert_eq!(chunk_len(331, 64), 64, "331 is prime: pieces of the maximum");
        assert_eq!(chunk_len(10, 1), 1);
    }

    /// Query chunks of attention equal one piece (rows are independent), within 1e-6.
    #[test]
    fn chunked_attention_equals_unchunked() {
        let device = Device::flex();
        let r = |l| Tensor::<3>::random([4, l, 64], Distribution::Normal(0.0, 1.0), &device);
        let (q, k, v) = (r(333), r(93), r(93));
        let whole = multi_head_attention(q.clone(), k.clone(), v.clone(), 4, false);
        for rows in [1, 7, 64, 332] {
            let chunked = multi_head_attention_chunked(q.clone(), k.clone(), v.clone(), 4, false, Some(rows));
            let e = rel(chunked, whole.clone());
            assert!(e <= 1e-6, "{rows} rows per chunk: rel_l2 {e:e}");
        }
    }

    /// Token chunks of a row-wise function (the GEGLU feed-forward's shape) equal one piece.
    #[test]
    fn chunked_rows_equal_unchunked() {
        let device = Device::flex();
        let x = Tensor::<3>::random([3, 50, 32], Distribution::Normal(0.0, 1.0), &device);
        let w1 = Tensor::<2>::random([32, 256], Distribution::Normal(0.0, 0.2), &device);
        let w2 = Tensor::<2>::random([128, 32], Distribution::Normal(0.0, 0.2), &device);
        let ff = |x: Tensor<3>| {
            let h = linear(x, w1.clone(), None);
            let (a, g) = (h.clone().narrow(2, 0, 128), h.narrow(2, 128, 128));
            linear(a * gelu(g), w2.clone(), None)
        };
        let whole = ff(x.clone());
        for rows in [1, 16, 149] {
            let e = rel(chunk_rows(x.clone(), Some(rows), ff), whole.clone());
            assert!(e <= 1e-6, "{rows} rows per chunk: rel_l2 {e:e}");
        }
    }

    /// Layers run in pieces below a device's binding limit equal one piece: GroupNorm split
    /// by samples and by groups, a temporal conv by rows (convolutions: `conv.rs`); the
    /// temporal conv as a matmul equals burn's `conv3d`.
    #[test]
    fn pieces_below_the_binding_limit_equal_one_piece() {
        let device = Device::flex();
        let x = Tensor::<4>::random([6, 64, 5, 7], Distribution::Normal(0.5, 2.0), &device);
        let gn = GroupNorm {
            weight: Tensor::random([64], Distribution::Normal(1.0, 0.1), &device),
            bias: Tensor::random([64], Distribution::Normal(0.0, 0.1), &device),
            groups: 32,
            eps: 1e-5,
        };
        let flat = |t: Tensor<4>| t.reshape([1, 6 * 64, 35]);
        let whole = gn.forward_within(x.clone(), None);
        let per_sample = 64 * 35;
        for limit in [per_sample, 2 * per_sample + 1, per_sample / 4, 70] {
            let e = rel(flat(gn.forward_within(x.clone(), Some(limit))), flat(whole.clone()));
            assert!(e <= 1e-6, "GroupNorm in pieces of {limit}: rel_l2 {e:e}");
        }
        let v = x.reshape([2, 64, 3, 5, 7]);
        let wt = Tensor::<5>::random([48, 64, 3, 1, 1], Distribution::Normal(0.0, 0.1), &device);
        let bt = Tensor::<1>::random([48], Distribution::Normal(0.0, 0.1), &device);
        let tc = TemporalConv { weight: wt.clone().reshape([48, 64 * 3]).swap_dims(0, 1), bias: bt.clone(), k: 3 };
        let topts = ConvOptions::new([1, 1, 1], [1, 0, 0], [1, 1, 1], 1);
        let flat5 = |t: Tensor<5>| t.reshape([1, 2 * 48 * 3, 35]);
        let conv = burn::tensor::module::conv3d(v.clone(), wt, Some(bt), topts);
        let whole = tc.forward_within(v.clone(), None);
        let e = rel(flat5(whole.clone()), flat5(conv));
        assert!(e <= 1e-6, "temporal conv as a matmul against conv3d: rel_l2 {e:e}");
        for limit in [2 * 7 * 3 * 64 * 3, 2 * 7 * 3 * 64 * 3 * 2] {
            let e = rel(flat5(tc.forward_within(v.clone(), Some(limit))), flat5(whole.clone()));
            assert!(e <= 1e-6, "temporal conv in pieces of {limit}: rel_l2 {e:e}");
        }
    }
}
