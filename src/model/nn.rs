//! The small layers every component shares, loaded by checkpoint name.
//!
//! Each layer holds plain tensors in burn's layout (linear weights `[in, out]`), is built
//! from a [`Vars`] path, and documents its shapes on `forward`.

use burn::tensor::Tensor;
use burn::tensor::activation;
use burn::tensor::module::{attention, conv2d, linear};
use burn::tensor::ops::{AttentionModuleOptions, ConvOptions};

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
        let (var, mean) = x.clone().var_mean_bias(D - 1);
        let x = (x - mean) / (var + self.eps).sqrt();
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
        let dims = x.dims();
        let (n, c) = (dims[0], dims[1]);
        let rest: usize = dims[2..].iter().product();
        let g = self.groups;
        let grouped = x.reshape([n, g, (c / g) * rest]); // [n, g, c/g · rest]
        let (var, mean) = grouped.clone().var_mean_bias(2);
        let normed = (grouped - mean) / (var + self.eps).sqrt();
        let normed = normed.reshape([n, c, rest]); // [n, c, rest]
        let w = self.weight.clone().reshape([1, c, 1]);
        let b = self.bias.clone().reshape([1, c, 1]);
        (normed * w + b).reshape(dims)
    }
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
        conv2d(x, self.weight.clone(), self.bias.clone(), opts)
    }
}

/// Multi-head scaled dot-product attention on packed `[b, l, heads·d]` projections.
///
/// Runs through burn's fused attention (flash kernels on wgpu with autotune), which does
/// not materialise the `[l_q, l_k]` score matrix where the backend has a kernel for it.
///
/// # Shapes
/// - q: `[b, lq, heads·d]`, k: `[b, lk, heads·d]`, v: `[b, lk, heads·dv]` → `[b, lq, heads·dv]`
pub fn multi_head_attention(
    q: Tensor<3>,
    k: Tensor<3>,
    v: Tensor<3>,
    heads: usize,
    scale: Option<f64>,
    causal: bool,
) -> Tensor<3> {
    let [b, lq, hd] = q.dims();
    let lk = k.dims()[1];
    let dv = v.dims()[2] / heads;
    let d = hd / heads;
    let split = |t: Tensor<3>, l: usize, d: usize| t.reshape([b, l, heads, d]).swap_dims(1, 2); // [b, h, l, d]
    let out = attention(
        split(q, lq, d),
        split(k, lk, d),
        split(v, lk, dv),
        None,
        None,
        AttentionModuleOptions { scale, softcap: None, is_causal: causal },
    );
    out.swap_dims(1, 2).reshape([b, lq, heads * dv])
}

/// Exact (erf) GELU, as `torch.nn.GELU()`.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    activation::gelu(x)
}

/// SiLU / swish.
pub fn silu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    activation::silu(x)
}
