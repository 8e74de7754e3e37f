//! Spatial and temporal transformers (attention.py:212-412).

use burn::tensor::Tensor;

use crate::model::nn::{GroupNorm, LayerNorm, Linear, chunk_rows, gelu};
use crate::model::unet::attention::{AttnKind, CallOptions, CrossAttention};
use crate::weights::vars::Vars;

/// Transformer GroupNorms: 32 groups, eps 1e-6 (attention.py:265, 331).
const TRANSFORMER_GN_EPS: f64 = 1e-6;
const LN_EPS: f64 = 1e-5;

/// GEGLU feed-forward: `proj` to 8·dim, `a · gelu(gate)`, back to dim (attention.py:415-442).
#[derive(Debug, Clone)]
struct GegluFeedForward {
    proj: Linear,
    out: Linear,
}

impl GegluFeedForward {
    fn load(vars: &Vars, dim: usize) -> Self {
        let inner = 4 * dim;
        Self {
            proj: Linear::load(&vars.pp("net").pp(0).pp("proj"), dim, 2 * inner, true),
            out: Linear::load(&vars.pp("net").pp(2), inner, dim, true),
        }
    }

    /// Runs at most `max_rows` tokens at a time (the hidden state is 8·dim wide).
    ///
    /// # Shapes
    /// - x: `[n, l, dim]` → `[n, l, dim]`
    fn forward(&self, x: Tensor<3>, max_rows: Option<usize>) -> Tensor<3> {
        chunk_rows(x, max_rows, |x| {
            let h = self.proj.forward(x);
            let half = h.dims()[2] / 2;
            let a = h.clone().narrow(2, 0, half);
            let gate = h.narrow(2, half, half);
            self.out.forward(a * gelu(gate))
        })
    }
}

/// `BasicTransformerBlock`: attn1, attn2, GEGLU, each pre-LayerNorm with a residual.
#[derive(Debug, Clone)]
pub struct BasicTransformerBlock {
    norm1: LayerNorm,
    attn1: CrossAttention,
    norm2: LayerNorm,
    attn2: CrossAttention,
    norm3: LayerNorm,
    ff: GegluFeedForward,
}

impl BasicTransformerBlock {
    /// `attn2_kind` is [`AttnKind::SelfAttn`] in temporal blocks.
    fn load(
        vars: &Vars,
        dim: usize,
        heads: usize,
        dim_head: usize,
        context_dim: Option<usize>,
        attn2_kind: AttnKind,
        learnable: bool,
    ) -> Self {
        Self {
            norm1: LayerNorm::load(&vars.pp("norm1"), dim, LN_EPS),
            attn1: CrossAttention::load(&vars.pp("attn1"), dim, None, heads, dim_head, AttnKind::SelfAttn, false),
            norm2: LayerNorm::load(&vars.pp("norm2"), dim, LN_EPS),
            attn2: CrossAttention::load(&vars.pp("attn2"), dim, context_dim, heads, dim_head, attn2_kind, learnable),
            norm3: LayerNorm::load(&vars.pp("norm3"), dim, LN_EPS),
            ff: GegluFeedForward::load(&vars.pp("ff"), dim),
        }
    }

    /// # Shapes
    /// - x: `[n, l, dim]`, context: `[n, lc, context_dim]` → `[n, l, dim]`
    fn forward(&self, x: Tensor<3>, context: Option<&Tensor<3>>, opts: CallOptions) -> Tensor<3> {
        let x = self.attn1.forward(self.norm1.forward(x.clone()), None, opts) + x;
        let x = self.attn2.forward(self.norm2.forward(x.clone()), context, opts) + x;
        let hidden = self.ff.proj.weight.dims()[1]; // 8·dim
        self.ff.forward(self.norm3.forward(x.clone()), opts.rows(hidden)) + x
    }
}

/// Geometry of a transformer: width, heads and head size.
#[derive(Debug, Clone, Copy)]
pub struct Heads {
    pub channels: usize,
    pub heads: usize,
    pub dim_head: usize,
}

/// `SpatialTransformer` (use_linear): per-frame attention over the H·W positions.
#[derive(Debug, Clone)]
pub struct SpatialTransformer {
    norm: GroupNorm,
    proj_in: Linear,
    blocks: Vec<BasicTransformerBlock>,
    proj_out: Linear,
}

impl SpatialTransformer {
    /// Loads `norm`, `proj_in`, `transformer_blocks.*`, `proj_out`.
    pub fn load(vars: &Vars, g: Heads, depth: usize, context_dim: usize, image_branch: bool, learnable: bool) -> Self {
        let inner = g.heads * g.dim_head;
        let kind = if image_branch { AttnKind::TextImage } else { AttnKind::Text };
        Self {
            norm: GroupNorm::load(&vars.pp("norm"), g.channels, 32, TRANSFORMER_GN_EPS),
            proj_in: Linear::load(&vars.pp("proj_in"), g.channels, inner, true),
            blocks: (0..depth)
                .map(|i| {
                    let b = vars.pp("transformer_blocks").pp(i);
                    BasicTransformerBlock::load(&b, inner, g.heads, g.dim_head, Some(context_dim), kind, learnable)
                })
                .collect(),
            proj_out: Linear::load(&vars.pp("proj_out"), inner, g.channels, true),
        }
    }

    /// # Shapes
    /// - x: `[(b t), c, h, w]`, context: `[(b t), lc, d]` → `[(b t), c, h, w]`
    pub fn forward(&self, x: Tensor<4>, context: &Tensor<3>, opts: CallOptions) -> Tensor<4> {
        let [n, c, h, w] = x.dims();
        let seq = self.norm.forward(x.clone()).reshape([n, c, h * w]).swap_dims(1, 2); // [n, hw, c]
        let mut s = self.proj_in.forward(seq);
        for b in &self.blocks {
            s = b.forward(s, Some(context), opts);
        }
        let s = self.proj_out.forward(s); // [n, hw, c]
        s.swap_dims(1, 2).reshape([n, c, h, w]) + x
    }
}

/// `TemporalTransformer` (self-attention only, no positional encoding): attention over the
/// T frames at every spatial position. Its GroupNorm pools statistics over all frames.
#[derive(Debug, Clone)]
pub struct TemporalTransformer {
    norm: GroupNorm,
    proj_in: Linear,
    blocks: Vec<BasicTransformerBlock>,
    proj_out: Linear,
}

impl TemporalTransformer {
    /// Loads a temporal transformer. `use_linear = false` (only `init_attn`) stores the
    /// projections as `Conv1d` with kernel 1: `[inner, c, 1]`.
    pub fn load(vars: &Vars, g: Heads, depth: usize, use_linear: bool) -> Self {
        let inner = g.heads * g.dim_head;
        let c = g.channels;
        let (proj_in, proj_out) = if use_linear {
            (Linear::load(&vars.pp("proj_in"), c, inner, true), Linear::load(&vars.pp("proj_out"), inner, c, true))
        } else {
            let pin = vars.pp("proj_in");
            let pout = vars.pp("proj_out");
            (
                Linear {
                    weight: pin.linear_weight_stored("weight", &[inner, c, 1], inner, c),
                    bias: Some(pin.tensor("bias", [inner])),
                },
                Linear {
                    weight: pout.linear_weight_stored("weight", &[c, inner, 1], c, inner),
                    bias: Some(pout.tensor("bias", [c])),
                },
            )
        };
        Self {
            norm: GroupNorm::load(&vars.pp("norm"), c, 32, TRANSFORMER_GN_EPS),
            proj_in,
            blocks: (0..depth)
                .map(|i| {
                    let b = vars.pp("transformer_blocks").pp(i);
                    BasicTransformerBlock::load(&b, inner, g.heads, g.dim_head, None, AttnKind::SelfAttn, false)
                })
                .collect(),
            proj_out,
        }
    }

    /// `opts` carries only the chunking here (temporal attention has no image branch).
    ///
    /// # Shapes
    /// - x: `[b, c, t, h, w]` → `[b, c, t, h, w]`
    pub fn forward(&self, x: Tensor<5>, opts: CallOptions) -> Tensor<5> {
        let opts = CallOptions { weights: Default::default(), ..opts };
        let [b, c, t, h, w] = x.dims();
        let normed = self.norm.forward(x.clone()); // statistics over all frames
        let seq = normed.permute([0, 3, 4, 2, 1]).reshape([b * h * w, t, c]); // [(b h w), t, c]
        let mut s = self.proj_in.forward(seq);
        for blk in &self.blocks {
            s = blk.forward(s, None, opts);
        }
        let s = self.proj_out.forward(s); // [(b h w), t, c]
        s.reshape([b, h, w, t, c]).permute([0, 4, 3, 1, 2]) + x
    }
}
