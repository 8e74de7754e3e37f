//! `CrossAttention` (attention.py:42-144) with the dual text/image branch and the
//! inference-time UniVid re-weighting (fixtures README §4).

use burn::tensor::Tensor;

use crate::model::nn::{Linear, multi_head_attention_chunked};
use crate::weights::vars::Vars;

/// Text tokens at the head of every context (`text_context_len`, attention.py:45).
pub const TEXT_TOKENS: usize = 77;

/// Per-generation weights of the two cross-attention branches (not model weights).
///
/// `out = to_out(w_text · Attn(q, K_text, V_text) + w_img · λ · Attn(q, K_img, V_img))`.
/// With both at 1 this is exactly the reference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BranchWeights {
    pub text: f32,
    pub image: f32,
}

impl Default for BranchWeights {
    fn default() -> Self {
        Self { text: 1.0, image: 1.0 }
    }
}

/// Per-call options of the UNet: the UniVid branch weights and activation chunking.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CallOptions {
    pub weights: BranchWeights,
    /// The most elements one attention score block or feed-forward hidden state may hold
    /// (`None`: no chunking). Chunks split independent rows, so results do not change.
    pub chunk_elems: Option<usize>,
}

impl From<BranchWeights> for CallOptions {
    fn from(weights: BranchWeights) -> Self {
        Self { weights, chunk_elems: None }
    }
}

impl CallOptions {
    /// Rows per chunk when each row costs `per_row` elements (`None`: one piece).
    pub fn rows(&self, per_row: usize) -> Option<usize> {
        self.chunk_elems.map(|e| (e / per_row.max(1)).max(1))
    }
}

/// How an attention layer sees its context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttnKind {
    /// Self-attention (`attn1`, and both attentions of temporal blocks).
    SelfAttn,
    /// Cross-attention on the first 77 (text) tokens only.
    Text,
    /// Text plus the image branch `to_k_ip`/`to_v_ip` on the tokens after the 77.
    TextImage,
}

/// One attention layer.
#[derive(Debug, Clone)]
pub struct CrossAttention {
    to_q: Linear,
    to_k: Linear,
    to_v: Linear,
    to_out: Linear,
    ip: Option<(Linear, Linear)>,
    /// λ: 1, or `tanh(alpha) + 1` when learnable (256 model).
    lambda: f32,
    heads: usize,
    kind: AttnKind,
}

impl CrossAttention {
    /// Loads `to_q`, `to_k`, `to_v`, `to_out.0` (and `to_k_ip`, `to_v_ip`, `alpha`).
    ///
    /// `context_dim` is `None` for self-attention.
    pub fn load(
        vars: &Vars,
        query_dim: usize,
        context_dim: Option<usize>,
        heads: usize,
        dim_head: usize,
        kind: AttnKind,
        learnable_scale: bool,
    ) -> Self {
        let inner = heads * dim_head;
        let cdim = context_dim.unwrap_or(query_dim);
        let ip = (kind == AttnKind::TextImage).then(|| {
            (
                Linear::load(&vars.pp("to_k_ip"), cdim, inner, false),
                Linear::load(&vars.pp("to_v_ip"), cdim, inner, false),
            )
        });
        let lambda =
            if kind == AttnKind::TextImage && learnable_scale { vars.scalar("alpha").tanh() + 1.0 } else { 1.0 };
        Self {
            to_q: Linear::load(&vars.pp("to_q"), query_dim, inner, false),
            to_k: Linear::load(&vars.pp("to_k"), cdim, inner, false),
            to_v: Linear::load(&vars.pp("to_v"), cdim, inner, false),
            to_out: Linear::load(&vars.pp("to_out").pp(0), inner, query_dim, true),
            ip,
            lambda,
            heads,
            kind,
        }
    }

    /// # Shapes
    /// - x: `[n, l, query_dim]`; context: `[n, 77 (+ image tokens), context_dim]` for cross
    ///   kinds (ignored for self-attention) → `[n, l, query_dim]`
    pub fn forward(&self, x: Tensor<3>, context: Option<&Tensor<3>>, opts: CallOptions) -> Tensor<3> {
        let weights = opts.weights;
        let n = x.dims()[0];
        let heads = self.heads;
        // Scores of one query row: n · heads · lk.
        let attend = |q: Tensor<3>, k: Tensor<3>, v: Tensor<3>| {
            let rows = opts.rows(n * heads * k.dims()[1]);
            multi_head_attention_chunked(q, k, v, heads, false, rows)
        };
        let q = self.to_q.forward(x.clone());
        let ctx = match (self.kind, context) {
            (AttnKind::SelfAttn, _) | (_, None) => x,
            (_, Some(c)) => c.clone(),
        };
        let out = match self.kind {
            AttnKind::SelfAttn => attend(q, self.to_k.forward(ctx.clone()), self.to_v.forward(ctx)),
            AttnKind::Text | AttnKind::TextImage => {
                let len = ctx.dims()[1];
                let text_len = TEXT_TOKENS.min(len);
                let text = ctx.clone().narrow(1, 0, text_len);
                let k = self.to_k.forward(text.clone());
                let v = self.to_v.forward(text);
                let out = attend(q.clone(), k, v);
                match (&self.ip, len > text_len) {
                    (Some((to_k_ip, to_v_ip)), true) => {
                        let img = ctx.narrow(1, text_len, len - text_len);
                        let k_ip = to_k_ip.forward(img.clone());
                        let v_ip = to_v_ip.forward(img);
                        let out_ip = attend(q, k_ip, v_ip);
                        let out = if weights.text == 1.0 { out } else { out * weights.text };
                        out + out_ip * (self.lambda * weights.image)
                    }
                    _ => out,
                }
            }
        };
        self.to_out.forward(out)
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::activation::softmax;
    use burn::tensor::{DType, Device, Distribution, Tensor};

    use super::*;
    use crate::weights::vars::{LoadContext, LoadMode, MemorySource, RandomSource};

    /// Plain softmax attention, materialising the score matrix, one head at a time.
    fn plain(q: Tensor<3>, k: Tensor<3>, v: Tensor<3>, heads: usize) -> Tensor<3> {
        let d = q.dims()[2] / heads;
        let outs: Vec<Tensor<3>> = (0..heads)
            .map(|h| {
                let (q, k, v) =
                    (q.clone().narrow(2, h * d, d), k.clone().narrow(2, h * d, d), v.clone().narrow(2, h * d, d));
                softmax(q.matmul(k.swap_dims(1, 2)) / (d as f64).sqrt(), 2).matmul(v)
            })
            .collect();
        Tensor::cat(outs, 2)
    }

    fn layer(device: &Device) -> CrossAttention {
        let dry = MemorySource::new();
        let ctx = LoadContext::new(&dry, device, DType::F32, LoadMode::DryRun);
        let _ = CrossAttention::load(&ctx.root().pp("a"), 32, Some(24), 2, 16, AttnKind::TextImage, true);
        let src = RandomSource::new(&ctx.expected(), 3, 0.5);
        let ctx = LoadContext::new(&src, device, DType::F32, LoadMode::Load);
        CrossAttention::load(&ctx.root().pp("a"), 32, Some(24), 2, 16, AttnKind::TextImage, true)
    }

    fn max_diff(a: Tensor<3>, b: Tensor<3>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    /// The fused attention equals the plain formulation, and the re-weighting with
    /// `w_text = w_img = 1` is the reference's `to_out(text + λ·image)`.
    #[test]
    fn reweighted_attention_equals_plain_reference() {
        let device = Device::flex();
        let a = layer(&device);
        let x = Tensor::<3>::random([3, 10, 32], Distribution::Normal(0.0, 1.0), &device);
        let c = Tensor::<3>::random([3, TEXT_TOKENS + 16, 24], Distribution::Normal(0.0, 1.0), &device);
        let q = a.to_q.forward(x.clone());
        let text = c.clone().narrow(1, 0, TEXT_TOKENS);
        let img = c.clone().narrow(1, TEXT_TOKENS, 16);
        let (kip, vip) = a.ip.as_ref().unwrap();
        let t = plain(q.clone(), a.to_k.forward(text.clone()), a.to_v.forward(text), 2);
        let i = plain(q, kip.forward(img.clone()), vip.forward(img), 2);
        assert!(a.lambda != 1.0, "learnable λ = tanh(α) + 1 should differ from 1 here");

        let reference = a.to_out.forward(t.clone() + i.clone() * a.lambda);
        let ours = a.forward(x.clone(), Some(&c), BranchWeights::default().into());
        assert!(max_diff(ours, reference) < 1e-5);

        let w = BranchWeights { text: 0.6, image: 1.4 };
        let weighted = a.to_out.forward(t * 0.6 + i * (1.4 * a.lambda));
        let ours_w = a.forward(x.clone(), Some(&c), w.into());
        assert!(max_diff(ours_w.clone(), weighted) < 1e-5);
        assert!(
            max_diff(ours_w, a.forward(x, Some(&c), BranchWeights::default().into())) > 1e-3,
            "weights had no effect"
        );
    }

    /// The memory-efficient attention path equals softmax(QKᵀ)V on a long sequence.
    #[test]
    fn fused_attention_matches_materialised() {
        let device = Device::flex();
        let q = Tensor::<3>::random([2, 300, 64], Distribution::Normal(0.0, 1.0), &device);
        let k = Tensor::<3>::random([2, 300, 64], Distribution::Normal(0.0, 1.0), &device);
        let v = Tensor::<3>::random([2, 300, 64], Distribution::Normal(0.0, 1.0), &device);
        let fused = crate::model::nn::multi_head_attention(q.clone(), k.clone(), v.clone(), 4, false);
        assert!(max_diff(fused, plain(q, k, v, 4)) < 1e-5);
    }
}
