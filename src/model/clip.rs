//! OpenCLIP towers: the text encoder (penultimate layer + `ln_final`, spec §2.1) and the
//! image encoder (raw last-block tokens, spec §2.2).

use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Int, Tensor, TensorData};

use crate::model::config::{ClipTextConfig, ClipVisionConfig};
use crate::model::conv::conv2d_acc;
use crate::model::nn::{LayerNorm, Linear, gelu, multi_head_attention};
use crate::weights::vars::Vars;

/// open_clip LayerNorm epsilon (fixtures README §1.3 `resolved.norm_eps`).
const LN_EPS: f64 = 1e-5;

/// `nn.MultiheadAttention` with packed `in_proj_weight` `[3w, w]`.
#[derive(Debug, Clone)]
pub struct PackedAttention {
    in_proj: Linear,
    out_proj: Linear,
    heads: usize,
    width: usize,
}

impl PackedAttention {
    fn load(vars: &Vars, width: usize, heads: usize) -> Self {
        Self {
            in_proj: Linear::load_named(vars, "in_proj_weight", Some("in_proj_bias"), width, 3 * width),
            out_proj: Linear::load(&vars.pp("out_proj"), width, width, true),
            heads,
            width,
        }
    }

    /// # Shapes
    /// - x: `[b, l, w]` → `[b, l, w]`
    fn forward(&self, x: Tensor<3>, causal: bool) -> Tensor<3> {
        let qkv = self.in_proj.forward(x); // [b, l, 3w]
        let w = self.width;
        let q = qkv.clone().narrow(2, 0, w);
        let k = qkv.clone().narrow(2, w, w);
        let v = qkv.narrow(2, 2 * w, w);
        self.out_proj.forward(multi_head_attention(q, k, v, self.heads, causal))
    }
}

/// open_clip `ResidualAttentionBlock`: pre-LN attention and GELU MLP.
#[derive(Debug, Clone)]
pub struct ResidualAttentionBlock {
    ln_1: LayerNorm,
    attn: PackedAttention,
    ln_2: LayerNorm,
    c_fc: Linear,
    c_proj: Linear,
}

impl ResidualAttentionBlock {
    fn load(vars: &Vars, width: usize, heads: usize, mlp_ratio: f64) -> Self {
        let hidden = (width as f64 * mlp_ratio) as usize;
        Self {
            ln_1: LayerNorm::load(&vars.pp("ln_1"), width, LN_EPS),
            attn: PackedAttention::load(&vars.pp("attn"), width, heads),
            ln_2: LayerNorm::load(&vars.pp("ln_2"), width, LN_EPS),
            c_fc: Linear::load(&vars.pp("mlp").pp("c_fc"), width, hidden, true),
            c_proj: Linear::load(&vars.pp("mlp").pp("c_proj"), hidden, width, true),
        }
    }

    /// Declares the tensors of a block that exists in the checkpoint but never runs.
    fn declare_unused(vars: &Vars, width: usize, mlp_ratio: f64) {
        let hidden = (width as f64 * mlp_ratio) as usize;
        for ln in ["ln_1", "ln_2"] {
            vars.pp(ln).unused("weight", &[width]);
            vars.pp(ln).unused("bias", &[width]);
        }
        vars.pp("attn").unused("in_proj_weight", &[3 * width, width]);
        vars.pp("attn").unused("in_proj_bias", &[3 * width]);
        vars.pp("attn").pp("out_proj").unused("weight", &[width, width]);
        vars.pp("attn").pp("out_proj").unused("bias", &[width]);
        vars.pp("mlp").pp("c_fc").unused("weight", &[hidden, width]);
        vars.pp("mlp").pp("c_fc").unused("bias", &[hidden]);
        vars.pp("mlp").pp("c_proj").unused("weight", &[width, hidden]);
        vars.pp("mlp").pp("c_proj").unused("bias", &[width]);
    }

    /// # Shapes
    /// - x: `[b, l, w]` → `[b, l, w]`
    pub fn forward(&self, x: Tensor<3>, causal: bool) -> Tensor<3> {
        let x = x.clone() + self.attn.forward(self.ln_1.forward(x), causal);
        let h = self.c_proj.forward(gelu(self.c_fc.forward(self.ln_2.forward(x.clone()))));
        x + h
    }
}

/// Declares open_clip's text-side tensors that a tower keeps but never uses.
fn declare_text_leftovers(vars: &Vars, cfg: &ClipTextConfig) {
    vars.unused("text_projection", &[cfg.width, cfg.embed_dim]);
    vars.unused("logit_scale", &[]);
}

/// `FrozenOpenCLIPEmbedder` with `layer="penultimate"`: all blocks but the last, then
/// `ln_final` (condition.py:199-231). Checkpoint prefix `cond_stage_model.model`.
#[derive(Debug, Clone)]
pub struct ClipTextEncoder {
    token_embedding: Tensor<2>,
    positional_embedding: Tensor<2>,
    blocks: Vec<ResidualAttentionBlock>,
    ln_final: LayerNorm,
    cfg: ClipTextConfig,
}

impl ClipTextEncoder {
    /// Loads from `vars` = `cond_stage_model.model`.
    pub fn load(vars: &Vars, cfg: &ClipTextConfig) -> Self {
        let w = cfg.width;
        let rb = vars.pp("transformer").pp("resblocks");
        let run = cfg.layers.saturating_sub(1);
        let blocks = (0..run).map(|i| ResidualAttentionBlock::load(&rb.pp(i), w, cfg.heads, cfg.mlp_ratio)).collect();
        // The last block is in the file but the penultimate-layer encoder never runs it.
        if cfg.layers > 0 {
            ResidualAttentionBlock::declare_unused(&rb.pp(cfg.layers - 1), w, cfg.mlp_ratio);
        }
        declare_text_leftovers(vars, cfg);
        Self {
            token_embedding: vars.pp("token_embedding").tensor("weight", [cfg.vocab_size, w]),
            positional_embedding: vars.tensor("positional_embedding", [cfg.context_length, w]),
            blocks,
            ln_final: LayerNorm::load(&vars.pp("ln_final"), w, LN_EPS),
            cfg: cfg.clone(),
        }
    }

    /// Encodes token ids (as made by the tokenizer) into the UNet's text context,
    /// computing in the dtype of the weights and returning f32.
    ///
    /// # Shapes
    /// - tokens: `[b, 77]` → `[b, 77, width]`
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        let [b, l] = tokens.dims();
        let w = self.cfg.width;
        let flat = tokens.reshape([b * l]);
        let x = self.token_embedding.clone().select(0, flat).reshape([b, l, w]); // [b, l, w]
        let mut x = x + self.positional_embedding.clone().narrow(0, 0, l).unsqueeze::<3>();
        for block in &self.blocks {
            x = block.forward(x, true);
        }
        self.ln_final.forward(x).cast(DType::F32)
    }

    /// Uploads token ids and encodes them.
    ///
    /// # Shapes
    /// - ids: `b` rows of 77 → `[b, 77, width]`
    pub fn encode_ids(&self, ids: &[Vec<i64>]) -> Tensor<3> {
        let b = ids.len();
        let l = ids.first().map_or(self.cfg.context_length, Vec::len);
        let flat: Vec<i64> = ids.iter().flatten().copied().collect();
        let device = self.token_embedding.device();
        let t = Tensor::<2, Int>::from_data(TensorData::new(flat, [b, l]), &device);
        self.forward(t)
    }
}

/// `FrozenOpenCLIPImageEmbedderV2` after preprocessing: patch conv, class token, positions,
/// `ln_pre`, every block; the raw output of the last block (condition.py:337-372).
/// Checkpoint prefix `embedder.model`.
#[derive(Debug, Clone)]
pub struct ClipVisionEncoder {
    conv1: Tensor<4>,
    class_embedding: Tensor<1>,
    positional_embedding: Tensor<2>,
    ln_pre: LayerNorm,
    blocks: Vec<ResidualAttentionBlock>,
    cfg: ClipVisionConfig,
}

impl ClipVisionEncoder {
    /// Loads from `vars` = `embedder.model`; `text` describes the unused text leftovers the
    /// image embedder's file still carries (spec §2.2).
    pub fn load(vars: &Vars, cfg: &ClipVisionConfig, text: &ClipTextConfig) -> Self {
        let w = cfg.width;
        let v = vars.pp("visual");
        let p = cfg.patch_size;
        let rb = v.pp("transformer").pp("resblocks");
        let blocks =
            (0..cfg.layers).map(|i| ResidualAttentionBlock::load(&rb.pp(i), w, cfg.heads(), cfg.mlp_ratio)).collect();
        // Unused by the V2 embedder: `ln_post`, `proj` and open_clip's text leftovers.
        v.pp("ln_post").unused("weight", &[w]);
        v.pp("ln_post").unused("bias", &[w]);
        v.unused("proj", &[w, cfg.embed_dim]);
        vars.pp("token_embedding").unused("weight", &[text.vocab_size, text.width]);
        vars.unused("positional_embedding", &[text.context_length, text.width]);
        vars.pp("ln_final").unused("weight", &[text.width]);
        vars.pp("ln_final").unused("bias", &[text.width]);
        declare_text_leftovers(vars, text);
        Self {
            conv1: v.pp("conv1").tensor("weight", [w, 3, p, p]),
            class_embedding: v.tensor("class_embedding", [w]),
            positional_embedding: v.tensor("positional_embedding", [cfg.tokens(), w]),
            ln_pre: LayerNorm::load(&v.pp("ln_pre"), w, LN_EPS),
            blocks,
            cfg: cfg.clone(),
        }
    }

    /// Computes in the dtype of the weights; returns f32.
    ///
    /// # Shapes
    /// - x: `[b, 3, 224, 224]` (CLIP-normalised, see `clip_preprocess`) → `[b, 257, width]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<3> {
        let b = x.dims()[0];
        let w = self.cfg.width;
        let p = self.cfg.patch_size;
        let x = x.cast(self.conv1.dtype());
        let patches = conv2d_acc(x, &self.conv1, None, ConvOptions::new([p, p], [0, 0], [1, 1], 1)); // [b, w, g, g]
        let n = patches.dims()[2] * patches.dims()[3];
        let tokens = patches.reshape([b, w, n]).swap_dims(1, 2); // [b, n, w]
        let cls = self.class_embedding.clone().reshape([1, 1, w]).repeat_dim(0, b); // [b, 1, w]
        let x = Tensor::cat(vec![cls, tokens], 1) + self.positional_embedding.clone().unsqueeze::<3>();
        let mut x = self.ln_pre.forward(x);
        for block in &self.blocks {
            x = block.forward(x, false);
        }
        x.cast(DType::F32)
    }
}
