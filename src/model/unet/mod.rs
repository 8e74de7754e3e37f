//! The 3D UNet (`openaimodel3d.UNetModel`, spec §3).
//!
//! Frames are folded into the batch (`[(b t), c, h, w]`) for 2-D convolutions and spatial
//! attention, and unfolded (`[b, c, t, h, w]`) for temporal convolutions and attention.

pub mod attention;
pub mod embeddings;
pub mod resblock;
pub mod transformer;

use burn::tensor::{DType, Tensor};

use crate::model::config::UNetConfig;
use crate::model::conv::Conv2d;
use crate::model::nn::{GroupNorm, Linear, silu};
use crate::model::vae::upsample_nearest2x;
use crate::weights::vars::Vars;
use attention::{CallOptions, TEXT_TOKENS};
use embeddings::timestep_embedding;
use resblock::ResBlock;
use transformer::{Heads, SpatialTransformer, TemporalTransformer};

/// Image tokens per frame in the context (hard-coded in openaimodel3d.py:553-563).
pub const IMAGE_TOKENS_PER_FRAME: usize = 16;

/// One layer of a `TimestepEmbedSequential`.
#[derive(Debug, Clone)]
enum Layer {
    Conv(Conv2d),
    Res(ResBlock),
    Spatial(SpatialTransformer),
    Temporal(TemporalTransformer),
    Down(Conv2d),
    Up(Conv2d),
}

/// A `TimestepEmbedSequential`: its layers, in checkpoint index order.
#[derive(Debug, Clone)]
struct Block(Vec<Layer>);

impl Block {
    /// # Shapes
    /// - h: `[(b t), c, h, w]` → `[(b t), c', h', w']`
    fn forward(
        &self,
        mut h: Tensor<4>,
        emb: &Tensor<2>,
        ctx: &Tensor<3>,
        frames: usize,
        opts: CallOptions,
    ) -> Tensor<4> {
        for layer in &self.0 {
            h = match layer {
                Layer::Conv(c) | Layer::Down(c) => c.forward(h),
                Layer::Res(r) => r.forward(h, emb, frames),
                Layer::Spatial(s) => s.forward(h, ctx, opts),
                Layer::Temporal(t) => temporal(t, h, frames, opts),
                Layer::Up(c) => c.forward(upsample_nearest2x(h)),
            };
        }
        h
    }
}

/// Runs a temporal transformer on frame-folded features.
///
/// # Shapes
/// - h: `[(b t), c, h, w]` → `[(b t), c, h, w]`
fn temporal(t: &TemporalTransformer, h: Tensor<4>, frames: usize, opts: CallOptions) -> Tensor<4> {
    let [n, c, hh, ww] = h.dims();
    let v = h.reshape([n / frames, frames, c, hh, ww]).swap_dims(1, 2); // [b, c, t, h, w]
    t.forward(v, opts).swap_dims(1, 2).reshape([n, c, hh, ww])
}

/// The UNet.
#[derive(Debug, Clone)]
pub struct UNet {
    time_embed: (Linear, Linear),
    fps_embedding: Option<(Linear, Linear)>,
    input_blocks: Vec<Block>,
    init_attn: Option<TemporalTransformer>,
    middle_block: Block,
    output_blocks: Vec<Block>,
    out_norm: GroupNorm,
    out_conv: Conv2d,
    cfg: UNetConfig,
}

/// Why a UNet input was refused (checked before any tensor operation).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UNetInputError {
    /// The latent size does not survive the down/up-sampling round trip.
    #[error("latent size {h}x{w} is not divisible by {factor}; use pixel sizes that are multiples of {pixel_multiple}")]
    Indivisible { h: usize, w: usize, factor: usize, pixel_multiple: usize },
    /// Channel count differs from the model's.
    #[error("the UNet expects {expected} input channels, got {got}")]
    Channels { expected: usize, got: usize },
    /// The context width differs from the model's.
    #[error("context width {got} differs from the model's {expected}")]
    Context { expected: usize, got: usize },
}

impl UNet {
    /// Loads from `vars` = `model.diffusion_model` (names as in `keys-*.txt`).
    pub fn load(vars: &Vars, cfg: &UNetConfig) -> Self {
        let mc = cfg.model_channels;
        let emb_dim = 4 * mc;
        let mlp =
            |v: &Vars| (Linear::load(&v.pp(0), mc, emb_dim, true), Linear::load(&v.pp(2), emb_dim, emb_dim, true));
        let heads_for =
            |ch: usize| Heads { channels: ch, heads: ch / cfg.num_head_channels, dim_head: cfg.num_head_channels };
        let attn_layers = |v: &Vars, first: usize, ch: usize| -> Vec<Layer> {
            let g = heads_for(ch);
            vec![
                Layer::Spatial(SpatialTransformer::load(
                    &v.pp(first),
                    g,
                    cfg.transformer_depth,
                    cfg.context_dim,
                    cfg.image_cross_attention,
                    cfg.image_cross_attention_scale_learnable,
                )),
                Layer::Temporal(TemporalTransformer::load(&v.pp(first + 1), g, cfg.transformer_depth, cfg.use_linear)),
            ]
        };

        let ib = vars.pp("input_blocks");
        let mut input_blocks =
            vec![Block(vec![Layer::Conv(Conv2d::load(&ib.pp(0).pp(0), cfg.in_channels, mc, 3, 1, 1, true))])];
        let init_attn = cfg.addition_attention.then(|| {
            let g = Heads { channels: mc, heads: 8, dim_head: cfg.num_head_channels };
            TemporalTransformer::load(&vars.pp("init_attn").pp(0), g, cfg.transformer_depth, false)
        });
        let mut chans = vec![mc];
        let mut ch = mc;
        let mut ds = 1;
        let levels = cfg.channel_mult.len();
        for (level, mult) in cfg.channel_mult.iter().enumerate() {
            for _ in 0..cfg.num_res_blocks {
                let v = ib.pp(input_blocks.len());
                let out = mult * mc;
                let mut layers = vec![Layer::Res(ResBlock::load(&v.pp(0), ch, out, emb_dim, true))];
                ch = out;
                if cfg.attention_resolutions.contains(&ds) {
                    layers.extend(attn_layers(&v, 1, ch));
                }
                input_blocks.push(Block(layers));
                chans.push(ch);
            }
            if level + 1 != levels {
                let v = ib.pp(input_blocks.len());
                input_blocks.push(Block(vec![Layer::Down(Conv2d::load(&v.pp(0).pp("op"), ch, ch, 3, 2, 1, true))]));
                chans.push(ch);
                ds *= 2;
            }
        }

        let mb = vars.pp("middle_block");
        let mut middle = vec![Layer::Res(ResBlock::load(&mb.pp(0), ch, ch, emb_dim, true))];
        middle.extend(attn_layers(&mb, 1, ch));
        middle.push(Layer::Res(ResBlock::load(&mb.pp(3), ch, ch, emb_dim, true)));

        let ob = vars.pp("output_blocks");
        let mut output_blocks = Vec::new();
        for (level, mult) in cfg.channel_mult.iter().enumerate().rev() {
            for i in 0..=cfg.num_res_blocks {
                let v = ob.pp(output_blocks.len());
                let ich = chans.pop().unwrap_or(mc);
                let out = mult * mc;
                let mut layers = vec![Layer::Res(ResBlock::load(&v.pp(0), ch + ich, out, emb_dim, true))];
                ch = out;
                if cfg.attention_resolutions.contains(&ds) {
                    layers.extend(attn_layers(&v, 1, ch));
                }
                if level > 0 && i == cfg.num_res_blocks {
                    let idx = layers.len();
                    layers.push(Layer::Up(Conv2d::load(&v.pp(idx).pp("conv"), ch, ch, 3, 1, 1, true)));
                    ds /= 2;
                }
                output_blocks.push(Block(layers));
            }
        }

        Self {
            time_embed: mlp(&vars.pp("time_embed")),
            fps_embedding: cfg.fs_condition.then(|| mlp(&vars.pp("fps_embedding"))),
            input_blocks,
            init_attn,
            middle_block: Block(middle),
            output_blocks,
            out_norm: GroupNorm::load(&vars.pp("out").pp(0), mc, 32, 1e-5),
            out_conv: Conv2d::load(&vars.pp("out").pp(2), mc, cfg.out_channels, 3, 1, 1, true),
            cfg: cfg.clone(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &UNetConfig {
        &self.cfg
    }

    /// The latent size multiple the UNet needs: 2^(levels − 1).
    pub fn size_multiple(&self) -> usize {
        1 << (self.cfg.channel_mult.len() - 1)
    }

    /// Checks an input's geometry before any tensor work.
    pub fn validate(&self, channels: usize, h: usize, w: usize, context_dim: usize) -> Result<(), UNetInputError> {
        let f = self.size_multiple();
        if h == 0 || w == 0 || h % f != 0 || w % f != 0 {
            return Err(UNetInputError::Indivisible { h, w, factor: f, pixel_multiple: f * 8 });
        }
        if channels != self.cfg.in_channels {
            return Err(UNetInputError::Channels { expected: self.cfg.in_channels, got: channels });
        }
        if context_dim != self.cfg.context_dim {
            return Err(UNetInputError::Context { expected: self.cfg.context_dim, got: context_dim });
        }
        Ok(())
    }

    fn mlp(p: &(Linear, Linear), x: Tensor<2>) -> Tensor<2> {
        p.1.forward(silu(p.0.forward(x)))
    }

    /// The dtype the UNet computes in (that of its weights).
    pub fn dtype(&self) -> DType {
        self.out_conv.dtype()
    }

    /// The device the UNet runs on.
    pub fn device(&self) -> burn::tensor::Device {
        self.out_conv.device()
    }

    /// Predicts noise or velocity.
    ///
    /// `t` and `fs` hold one value per batch item. Inputs of any float dtype are cast to
    /// the UNet's own; the output is always f32 (the sampler's arithmetic stays f32). The
    /// sinusoidal embeddings of `t` and `fs` are computed in f32 on the host.
    ///
    /// # Shapes
    /// - x: `[b, in_channels, t, h, w]` (noisy latent, then the image latent)
    /// - context: `[b, 77 + 16·t, d]` (per-frame image tokens) or any `[b, l, d]`
    /// - returns `[b, out_channels, t, h, w]`
    pub fn forward(
        &self,
        x: Tensor<5>,
        t: &[i64],
        context: Tensor<3>,
        fs: Option<&[i64]>,
        opts: impl Into<CallOptions>,
    ) -> Result<Tensor<5>, UNetInputError> {
        let opts = opts.into();
        let [b, c, frames, h, w] = x.dims();
        let [_, l, d] = context.dims();
        self.validate(c, h, w, d)?;
        let device = x.device();
        let dtype = self.dtype();
        let (x, context) = (x.cast(dtype), context.cast(dtype));
        let mc = self.cfg.model_channels;

        let t_emb = timestep_embedding(t, mc, &device).cast(dtype); // [b, mc]
        let mut emb = Self::mlp(&self.time_embed, t_emb);
        if let Some(fe) = &self.fps_embedding {
            let default = vec![self.cfg.default_fs; b];
            let fs = fs.unwrap_or(&default);
            emb = emb + Self::mlp(fe, timestep_embedding(fs, mc, &device).cast(dtype));
        }
        let e = emb.dims()[1];
        let emb = emb.reshape([b, 1, e]).expand([b, frames, e]).reshape([b * frames, e]); // [(b t), e]

        let ctx = if l == TEXT_TOKENS + IMAGE_TOKENS_PER_FRAME * frames {
            let text = context.clone().narrow(1, 0, TEXT_TOKENS);
            let text = text.reshape([b, 1, TEXT_TOKENS, d]).expand([b, frames, TEXT_TOKENS, d]).reshape([
                b * frames,
                TEXT_TOKENS,
                d,
            ]);
            let img = context.narrow(1, TEXT_TOKENS, l - TEXT_TOKENS).reshape([b * frames, IMAGE_TOKENS_PER_FRAME, d]);
            Tensor::cat(vec![text, img], 1) // [(b t), 77 + 16, d]
        } else {
            context.reshape([b, 1, l, d]).expand([b, frames, l, d]).reshape([b * frames, l, d])
        };

        let mut hcur = x.swap_dims(1, 2).reshape([b * frames, c, h, w]); // [(b t), c, h, w]
        let mut skips = Vec::with_capacity(self.input_blocks.len());
        for (i, block) in self.input_blocks.iter().enumerate() {
            hcur = block.forward(hcur, &emb, &ctx, frames, opts);
            if i == 0 {
                if let Some(ia) = &self.init_attn {
                    hcur = temporal(ia, hcur, frames, opts);
                }
            }
            skips.push(hcur.clone());
        }
        hcur = self.middle_block.forward(hcur, &emb, &ctx, frames, opts);
        for block in &self.output_blocks {
            let skip = skips.pop().unwrap_or_else(|| hcur.clone());
            hcur = block.forward(Tensor::cat(vec![hcur, skip], 1), &emb, &ctx, frames, opts);
        }
        let y = self.out_conv.forward(silu(self.out_norm.forward(hcur))); // [(b t), out, h, w]
        let oc = self.cfg.out_channels;
        Ok(y.reshape([b, frames, oc, h, w]).swap_dims(1, 2).cast(DType::F32))
    }
}
