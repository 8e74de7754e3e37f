//! `CrossAttention` (attention.py:42-144) with the dual text/image branch and the
//! inference-time UniVid re-weighting (fixtures README §4).

use burn::tensor::Tensor;

use crate::model::nn::{Linear, multi_head_attention};
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
    pub fn forward(&self, x: Tensor<3>, context: Option<&Tensor<3>>, weights: BranchWeights) -> Tensor<3> {
        let q = self.to_q.forward(x.clone());
        let ctx = match (self.kind, context) {
            (AttnKind::SelfAttn, _) | (_, None) => x,
            (_, Some(c)) => c.clone(),
        };
        let out = match self.kind {
            AttnKind::SelfAttn => {
                multi_head_attention(q, self.to_k.forward(ctx.clone()), self.to_v.forward(ctx), self.heads, None, false)
            }
            AttnKind::Text | AttnKind::TextImage => {
                let len = ctx.dims()[1];
                let text_len = TEXT_TOKENS.min(len);
                let text = ctx.clone().narrow(1, 0, text_len);
                let k = self.to_k.forward(text.clone());
                let v = self.to_v.forward(text);
                let out = multi_head_attention(q.clone(), k, v, self.heads, None, false);
                match (&self.ip, len > text_len) {
                    (Some((to_k_ip, to_v_ip)), true) => {
                        let img = ctx.narrow(1, text_len, len - text_len);
                        let k_ip = to_k_ip.forward(img.clone());
                        let v_ip = to_v_ip.forward(img);
                        let out_ip = multi_head_attention(q, k_ip, v_ip, self.heads, None, false);
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
