//! The image projector (`image_proj_model`, `lvdm/modules/encoders/resampler.py:96-145`,
//! spec §2.3): learned per-frame queries attend to the CLIP image tokens.

use burn::tensor::Tensor;

use crate::model::config::ResamplerConfig;
use crate::model::nn::{LayerNorm, Linear, gelu, multi_head_attention};
use crate::weights::vars::Vars;

const LN_EPS: f64 = 1e-5;

/// `PerceiverAttention`: queries from the latents, keys/values over `[x, latents]`.
#[derive(Debug, Clone)]
struct PerceiverAttention {
    norm1: LayerNorm,
    norm2: LayerNorm,
    to_q: Linear,
    to_kv: Linear,
    to_out: Linear,
    heads: usize,
    inner: usize,
}

impl PerceiverAttention {
    fn load(vars: &Vars, cfg: &ResamplerConfig) -> Self {
        let inner = cfg.heads * cfg.dim_head;
        Self {
            norm1: LayerNorm::load(&vars.pp("norm1"), cfg.dim, LN_EPS),
            norm2: LayerNorm::load(&vars.pp("norm2"), cfg.dim, LN_EPS),
            to_q: Linear::load(&vars.pp("to_q"), cfg.dim, inner, false),
            to_kv: Linear::load(&vars.pp("to_kv"), cfg.dim, 2 * inner, false),
            to_out: Linear::load(&vars.pp("to_out"), inner, cfg.dim, false),
            heads: cfg.heads,
            inner,
        }
    }

    /// # Shapes
    /// - x: `[b, n, dim]`, latents: `[b, q, dim]` → `[b, q, dim]`
    fn forward(&self, x: Tensor<3>, latents: Tensor<3>) -> Tensor<3> {
        let x = self.norm1.forward(x);
        let latents = self.norm2.forward(latents);
        let q = self.to_q.forward(latents.clone());
        let kv = self.to_kv.forward(Tensor::cat(vec![x, latents], 1)); // [b, n + q, 2·inner]
        let k = kv.clone().narrow(2, 0, self.inner);
        let v = kv.narrow(2, self.inner, self.inner);
        // (q·s)(k·s)ᵀ with s = d^-1/4 is the usual d^-1/2 scale.
        self.to_out.forward(multi_head_attention(q, k, v, self.heads, false))
    }
}

/// `FeedForward`: LayerNorm → Linear → GELU → Linear, no biases (keys `.0`, `.1`, `.3`).
#[derive(Debug, Clone)]
struct FeedForward {
    norm: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

impl FeedForward {
    fn load(vars: &Vars, dim: usize, mult: usize) -> Self {
        Self {
            norm: LayerNorm::load(&vars.pp(0), dim, LN_EPS),
            fc1: Linear::load(&vars.pp(1), dim, dim * mult, false),
            fc2: Linear::load(&vars.pp(3), dim * mult, dim, false),
        }
    }

    /// # Shapes
    /// - x: `[b, q, dim]` → `[b, q, dim]`
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.fc2.forward(gelu(self.fc1.forward(self.norm.forward(x))))
    }
}

/// The Resampler. Output token `16·i + j` is query `j` of frame `i`.
#[derive(Debug, Clone)]
pub struct Resampler {
    latents: Tensor<3>,
    proj_in: Linear,
    layers: Vec<(PerceiverAttention, FeedForward)>,
    proj_out: Linear,
    norm_out: LayerNorm,
}

impl Resampler {
    /// Loads from `vars` = `image_proj_model`.
    pub fn load(vars: &Vars, cfg: &ResamplerConfig) -> Self {
        let queries = cfg.num_queries * cfg.video_length;
        let layers = (0..cfg.depth)
            .map(|i| {
                let l = vars.pp("layers").pp(i);
                (PerceiverAttention::load(&l.pp(0), cfg), FeedForward::load(&l.pp(1), cfg.dim, cfg.ff_mult))
            })
            .collect();
        Self {
            latents: vars.tensor("latents", [1, queries, cfg.dim]),
            proj_in: Linear::load(&vars.pp("proj_in"), cfg.embedding_dim, cfg.dim, true),
            layers,
            proj_out: Linear::load(&vars.pp("proj_out"), cfg.dim, cfg.output_dim, true),
            norm_out: LayerNorm::load(&vars.pp("norm_out"), cfg.output_dim, LN_EPS),
        }
    }

    /// Computes in the dtype of its weights; returns f32.
    ///
    /// # Shapes
    /// - x: `[b, 257, embedding_dim]` (CLIP tokens) → `[b, num_queries·video_length, output_dim]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let b = x.dims()[0];
        let x = x.cast(self.latents.dtype());
        let mut latents = self.latents.clone().repeat_dim(0, b);
        let x = self.proj_in.forward(x);
        for (attn, ff) in &self.layers {
            latents = attn.forward(x.clone(), latents.clone()) + latents;
            latents = ff.forward(latents.clone()) + latents;
        }
        self.norm_out.forward(self.proj_out.forward(latents)).cast(burn::tensor::DType::F32)
    }
}
