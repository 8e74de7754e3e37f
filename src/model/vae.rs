//! The KL-f8 autoencoder (`first_stage_model`, `lvdm/modules/networks/ae_modules.py`,
//! spec §4): encoder to a diagonal Gaussian posterior, decoder back to pixels.

use burn::tensor::Tensor;

use crate::model::config::VaeConfig;
use crate::model::conv::Conv2d;
use crate::model::nn::{GroupNorm, multi_head_attention, silu};
use crate::weights::vars::Vars;

/// VAE GroupNorm: 32 groups, eps 1e-6 (`Normalize`, ae_modules.py).
fn norm(vars: &Vars, ch: usize) -> GroupNorm {
    GroupNorm::load(vars, ch, 32, 1e-6)
}

/// `ResnetBlock` without time embedding (ae_modules.py:151-210).
#[derive(Debug, Clone)]
struct ResnetBlock {
    norm1: GroupNorm,
    conv1: Conv2d,
    norm2: GroupNorm,
    conv2: Conv2d,
    nin_shortcut: Option<Conv2d>,
}

impl ResnetBlock {
    fn load(vars: &Vars, cin: usize, cout: usize) -> Self {
        Self {
            norm1: norm(&vars.pp("norm1"), cin),
            conv1: Conv2d::load(&vars.pp("conv1"), cin, cout, 3, 1, 1, true),
            norm2: norm(&vars.pp("norm2"), cout),
            conv2: Conv2d::load(&vars.pp("conv2"), cout, cout, 3, 1, 1, true),
            nin_shortcut: (cin != cout).then(|| Conv2d::load(&vars.pp("nin_shortcut"), cin, cout, 1, 1, 0, true)),
        }
    }

    /// # Shapes
    /// - x: `[n, cin, h, w]` → `[n, cout, h, w]`
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = self.conv1.forward(silu(self.norm1.forward(x.clone())));
        let h = self.conv2.forward(silu(self.norm2.forward(h)));
        let skip = match &self.nin_shortcut {
            Some(c) => c.forward(x),
            None => x,
        };
        skip + h
    }
}

/// `AttnBlock`: single-head self-attention over all positions, 1×1 conv projections.
#[derive(Debug, Clone)]
struct AttnBlock {
    norm: GroupNorm,
    q: Conv2d,
    k: Conv2d,
    v: Conv2d,
    proj_out: Conv2d,
}

impl AttnBlock {
    fn load(vars: &Vars, ch: usize) -> Self {
        let c = |n: &str| Conv2d::load(&vars.pp(n), ch, ch, 1, 1, 0, true);
        Self { norm: norm(&vars.pp("norm"), ch), q: c("q"), k: c("k"), v: c("v"), proj_out: c("proj_out") }
    }

    /// # Shapes
    /// - x: `[n, c, h, w]` → `[n, c, h, w]`
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [n, c, h, w] = x.dims();
        let hn = self.norm.forward(x.clone());
        let seq = |t: Tensor<4>| t.reshape([n, c, h * w]).swap_dims(1, 2); // [n, hw, c]
        let q = seq(self.q.forward(hn.clone()));
        let k = seq(self.k.forward(hn.clone()));
        let v = seq(self.v.forward(hn));
        let a = multi_head_attention(q, k, v, 1, false); // [n, hw, c]
        let a = a.swap_dims(1, 2).reshape([n, c, h, w]);
        x + self.proj_out.forward(a)
    }
}

/// The mid block: ResNet, attention, ResNet.
#[derive(Debug, Clone)]
struct Mid {
    block_1: ResnetBlock,
    attn_1: AttnBlock,
    block_2: ResnetBlock,
}

impl Mid {
    fn load(vars: &Vars, ch: usize) -> Self {
        Self {
            block_1: ResnetBlock::load(&vars.pp("block_1"), ch, ch),
            attn_1: AttnBlock::load(&vars.pp("attn_1"), ch),
            block_2: ResnetBlock::load(&vars.pp("block_2"), ch, ch),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.block_2.forward(self.attn_1.forward(self.block_1.forward(x)))
    }
}

/// Nearest-neighbour ×2 upsampling.
///
/// # Shapes
/// - x: `[n, c, h, w]` → `[n, c, 2h, 2w]`
pub fn upsample_nearest2x(x: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h, 1, w, 1]).expand([n, c, h, 2, w, 2]).reshape([n, c, 2 * h, 2 * w])
}

/// One encoder level: ResNets then an optional asymmetric-pad stride-2 downsample.
#[derive(Debug, Clone)]
struct DownLevel {
    blocks: Vec<ResnetBlock>,
    downsample: Option<Conv2d>,
}

/// `Encoder` (ae_modules.py:364-463).
#[derive(Debug, Clone)]
struct Encoder {
    conv_in: Conv2d,
    down: Vec<DownLevel>,
    mid: Mid,
    norm_out: GroupNorm,
    conv_out: Conv2d,
}

impl Encoder {
    fn load(vars: &Vars, cfg: &VaeConfig) -> Self {
        let levels = cfg.ch_mult.len();
        let mut down = Vec::with_capacity(levels);
        let mut block_in = cfg.ch;
        for (i, m) in cfg.ch_mult.iter().enumerate() {
            let lv = vars.pp("down").pp(i);
            let block_out = cfg.ch * m;
            let mut blocks = Vec::new();
            for j in 0..cfg.num_res_blocks {
                blocks.push(ResnetBlock::load(&lv.pp("block").pp(j), block_in, block_out));
                block_in = block_out;
            }
            let downsample = (i + 1 != levels).then(|| {
                let mut c = Conv2d::load(&lv.pp("downsample").pp("conv"), block_in, block_in, 3, 2, 0, true);
                c.padding = [(0, 1), (0, 1)]; // pad right and bottom only (ae_modules.py:102-109)
                c
            });
            down.push(DownLevel { blocks, downsample });
        }
        let z2 = 2 * cfg.z_channels;
        Self {
            conv_in: Conv2d::load(&vars.pp("conv_in"), cfg.in_channels, cfg.ch, 3, 1, 1, true),
            down,
            mid: Mid::load(&vars.pp("mid"), block_in),
            norm_out: norm(&vars.pp("norm_out"), block_in),
            conv_out: Conv2d::load(&vars.pp("conv_out"), block_in, z2, 3, 1, 1, true),
        }
    }

    /// # Shapes
    /// - x: `[n, 3, H, W]` → `[n, 2·z, H/f, W/f]`
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut h = self.conv_in.forward(x);
        for level in &self.down {
            for b in &level.blocks {
                h = b.forward(h);
            }
            if let Some(d) = &level.downsample {
                h = d.forward(h);
            }
        }
        let h = self.mid.forward(h);
        self.conv_out.forward(silu(self.norm_out.forward(h)))
    }
}

/// One decoder level: ResNets then an optional nearest ×2 + conv upsample.
#[derive(Debug, Clone)]
struct UpLevel {
    blocks: Vec<ResnetBlock>,
    upsample: Option<Conv2d>,
}

/// `Decoder` (ae_modules.py:466-578).
#[derive(Debug, Clone)]
struct Decoder {
    conv_in: Conv2d,
    mid: Mid,
    /// Indexed like the checkpoint (`up.0` is the highest resolution), run in reverse.
    up: Vec<UpLevel>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
}

impl Decoder {
    fn load(vars: &Vars, cfg: &VaeConfig) -> Self {
        let levels = cfg.ch_mult.len();
        let mut block_in = cfg.ch * cfg.ch_mult[levels - 1];
        let conv_in = Conv2d::load(&vars.pp("conv_in"), cfg.z_channels, block_in, 3, 1, 1, true);
        let mid = Mid::load(&vars.pp("mid"), block_in);
        let mut up: Vec<Option<UpLevel>> = vec![None; levels];
        for i in (0..levels).rev() {
            let lv = vars.pp("up").pp(i);
            let block_out = cfg.ch * cfg.ch_mult[i];
            let mut blocks = Vec::new();
            for j in 0..=cfg.num_res_blocks {
                blocks.push(ResnetBlock::load(&lv.pp("block").pp(j), block_in, block_out));
                block_in = block_out;
            }
            let upsample =
                (i != 0).then(|| Conv2d::load(&lv.pp("upsample").pp("conv"), block_in, block_in, 3, 1, 1, true));
            up[i] = Some(UpLevel { blocks, upsample });
        }
        Self {
            conv_in,
            mid,
            up: up.into_iter().flatten().collect(),
            norm_out: norm(&vars.pp("norm_out"), block_in),
            conv_out: Conv2d::load(&vars.pp("conv_out"), block_in, cfg.out_ch, 3, 1, 1, true),
        }
    }

    /// # Shapes
    /// - z: `[n, z, h, w]` → `[n, 3, h·f, w·f]`
    fn forward(&self, z: Tensor<4>) -> Tensor<4> {
        let mut h = self.mid.forward(self.conv_in.forward(z));
        for level in self.up.iter().rev() {
            for b in &level.blocks {
                h = b.forward(h);
            }
            if let Some(u) = &level.upsample {
                h = u.forward(upsample_nearest2x(h));
            }
        }
        self.conv_out.forward(silu(self.norm_out.forward(h)))
    }
}

/// The diagonal Gaussian posterior of one encode.
#[derive(Debug, Clone)]
pub struct Posterior {
    /// `[n, embed_dim, h, w]`.
    pub mean: Tensor<4>,
    /// `[n, embed_dim, h, w]`, clamped to [−30, 20] (distributions.py:24-40).
    pub logvar: Tensor<4>,
}

impl Posterior {
    /// `mean + exp(logvar / 2) · noise` (the pipeline samples; it never takes the mode).
    ///
    /// # Shapes
    /// - noise: like `mean` → like `mean`
    pub fn sample(&self, noise: Tensor<4>) -> Tensor<4> {
        self.mean.clone() + (self.logvar.clone() * 0.5).exp() * noise
    }
}

/// `AutoencoderKL`, in two halves that may live on different devices: the encoder runs
/// once per generation (conditioning), the decoder after sampling.
#[derive(Debug, Clone)]
pub struct Autoencoder {
    encoder: Encoder,
    decoder: Decoder,
    quant_conv: Conv2d,
    post_quant_conv: Conv2d,
    embed_dim: usize,
}

impl Autoencoder {
    /// Loads the encoder half from `enc` and the decoder half from `dec`, both at
    /// `first_stage_model` (two loading passes may place them on two devices).
    pub fn load(enc: &Vars, dec: &Vars, cfg: &VaeConfig) -> Self {
        let z2 = 2 * cfg.z_channels;
        Self {
            encoder: Encoder::load(&enc.pp("encoder"), cfg),
            decoder: Decoder::load(&dec.pp("decoder"), cfg),
            quant_conv: Conv2d::load(&enc.pp("quant_conv"), z2, 2 * cfg.embed_dim, 1, 1, 0, true),
            post_quant_conv: Conv2d::load(&dec.pp("post_quant_conv"), cfg.embed_dim, cfg.z_channels, 1, 1, 0, true),
            embed_dim: cfg.embed_dim,
        }
    }

    /// The device of the encoder half.
    pub fn encoder_device(&self) -> burn::tensor::Device {
        self.quant_conv.device()
    }

    /// The device of the decoder half.
    pub fn decoder_device(&self) -> burn::tensor::Device {
        self.post_quant_conv.device()
    }

    /// Encodes pixels in [−1, 1] into the latent posterior (unscaled), in the encoder's
    /// dtype; the posterior is f32.
    ///
    /// # Shapes
    /// - x: `[n, 3, H, W]` → mean, logvar `[n, embed_dim, H/8, W/8]`
    pub fn encode(&self, x: Tensor<4>) -> Posterior {
        let x = x.cast(self.quant_conv.dtype());
        let moments = self.quant_conv.forward(self.encoder.forward(x)).cast(burn::tensor::DType::F32);
        let e = self.embed_dim;
        let mean = moments.clone().narrow(1, 0, e);
        let logvar = moments.narrow(1, e, e).clamp(-30.0, 20.0);
        Posterior { mean, logvar }
    }

    /// Decodes an unscaled latent (the caller divides by `scale_factor`) on the decoder's
    /// device in its dtype, returning f32 on that device.
    ///
    /// # Shapes
    /// - z: `[n, embed_dim, h, w]` → `[n, 3, 8h, 8w]`, not clamped
    pub fn decode(&self, z: Tensor<4>) -> Tensor<4> {
        let c = &self.post_quant_conv;
        let z = z.to_device(&c.device()).cast(c.dtype());
        self.decoder.forward(self.post_quant_conv.forward(z)).cast(burn::tensor::DType::F32)
    }
}
