//! Conditioning assembly at inference (spec §7, fixtures README §3.1) for image-to-video,
//! interpolation and looping.

use burn::tensor::{Device, Tensor, TensorData};

use crate::imaging::PreprocessError;
use crate::imaging::tensor::ImageTensor;
use crate::model::DynamiCrafter;
use crate::model::clip_preprocess::clip_preprocess;
use crate::model::tokenizer::ClipTokenizer;
use crate::model::vae::Posterior;
use crate::pipeline::ddim::Conditioning;
use crate::pipeline::rng::NoiseSource;

/// What the clip shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Mode {
    /// Animate one image (it becomes frame 0).
    #[default]
    ImageToVideo,
    /// From the first image to the second (needs the 512_Interp model).
    Interpolation,
    /// Start and end on the same image (needs the 512_Interp model).
    Loop,
}

impl Mode {
    /// The CLI name.
    pub fn name(self) -> &'static str {
        match self {
            Self::ImageToVideo => "i2v",
            Self::Interpolation => "interp",
            Self::Loop => "loop",
        }
    }

    /// Parses `i2v`, `interp`, `loop`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "i2v" => Some(Self::ImageToVideo),
            "interp" | "interpolation" => Some(Self::Interpolation),
            "loop" | "looping" => Some(Self::Loop),
            _ => None,
        }
    }
}

/// Inputs of the conditioning stage.
#[derive(Debug, Clone)]
pub struct CondInputs<'a> {
    pub mode: Mode,
    /// Prepared first image `[3, H, W]` in [−1, 1].
    pub image: &'a ImageTensor,
    /// Prepared second image (interpolation only).
    pub image2: Option<&'a ImageTensor>,
    pub prompt: &'a str,
    /// Text of the unconditional branch ("" by default).
    pub negative_prompt: &'a str,
    pub frames: usize,
    pub fs: i64,
    /// Build the unconditional context (cfg ≠ 1).
    pub with_uncond: bool,
    /// Build the text-free, image-kept context (three-call guidance).
    pub with_uncond_img: bool,
}

fn upload(img: &ImageTensor, device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(img.data.clone(), [1, img.channels, img.height, img.width]), device)
}

/// Executes everything queued on `device` before the next component starts.
///
/// On burn 0.22's fused wgpu backend, feeding the vision tower's lazy output straight
/// into the Resampler gave a 17 % relative error (each component alone matches the
/// reference to 5e-7, and so does the chain with this sync). Until the fusion bug is found
/// upstream, components hand over materialised tensors. It costs one queue flush.
pub fn settle(device: &Device) {
    let _ = device.sync();
}

/// Identity of a prepared image: its size and a hash of every value's bits.
fn image_key(img: &ImageTensor) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (img.channels, img.height, img.width).hash(&mut h);
    for v in &img.data {
        v.to_bits().hash(&mut h);
    }
    h.finish()
}

/// Entries kept per kind (a few prompts and images: the artist's recent ones).
const CACHE_ENTRIES: usize = 6;

/// The encoder results of recent generations, on the UNet's device, reused when only
/// sampler settings change (seed, CFG, steps, η, fs, attention weights).
///
/// The VAE posterior (mean and log-variance) is cached, not the latent: the latent draws
/// seed-dependent noise, which is re-drawn for every generation exactly as without a cache.
/// A cached tensor is the very tensor a recomputation would produce, so reuse is
/// bit-identical. Belongs to one loaded model: drop it with the model.
#[derive(Debug, Default)]
pub struct CondCache {
    text: Vec<(String, Tensor<3>)>,
    image: Vec<(u64, Tensor<3>)>,
    posterior: Vec<(u64, Posterior)>,
    /// Encoder runs saved by the cache since it was made.
    pub hits: usize,
    /// Encoder runs the cache could not save.
    pub misses: usize,
}

impl CondCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value under `key`, made by `make` (and kept) when absent; oldest entries go first.
    fn get_or<K: PartialEq + Clone, V: Clone, E>(
        list: &mut Vec<(K, V)>,
        key: &K,
        counts: (&mut usize, &mut usize),
        make: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E> {
        if let Some(pos) = list.iter().position(|(k, _)| k == key) {
            *counts.0 += 1;
            let entry = list.remove(pos);
            let v = entry.1.clone();
            list.push(entry);
            return Ok(v);
        }
        *counts.1 += 1;
        let v = make()?;
        if list.len() >= CACHE_ENTRIES {
            list.remove(0);
        }
        list.push((key.clone(), v.clone()));
        Ok(v)
    }

    fn text(&mut self, model: &DynamiCrafter, tokenizer: &ClipTokenizer, prompt: &str) -> Tensor<3> {
        let made = Self::get_or(&mut self.text, &prompt.to_owned(), (&mut self.hits, &mut self.misses), || {
            Ok::<_, std::convert::Infallible>(text_context(model, tokenizer, prompt))
        });
        made.unwrap_or_else(|never| match never {})
    }

    /// `key` is [`image_key`] of `image` (hashed once per image by the caller).
    fn image(&mut self, model: &DynamiCrafter, image: &ImageTensor, key: u64) -> Result<Tensor<3>, PreprocessError> {
        Self::get_or(&mut self.image, &key, (&mut self.hits, &mut self.misses), || image_context(model, image))
    }

    /// `key` is [`image_key`] of `image`.
    fn posterior(&mut self, model: &DynamiCrafter, image: &ImageTensor, key: u64) -> Posterior {
        let made = Self::get_or(&mut self.posterior, &key, (&mut self.hits, &mut self.misses), || {
            Ok::<_, std::convert::Infallible>(encode_posterior(model, image))
        });
        made.unwrap_or_else(|never| match never {})
    }
}

/// Image context of one prepared frame: CLIP tokens through the Resampler, run on the
/// encoders' device and handed to the UNet's device.
///
/// # Shapes
/// - returns `[1, 16·frames, d]`
pub fn image_context(model: &DynamiCrafter, image: &ImageTensor) -> Result<Tensor<3>, PreprocessError> {
    let enc = model.encoder_device();
    let prep = clip_preprocess(image)?;
    let tokens = model.vision.forward(upload(&prep, &enc));
    settle(&enc);
    let ctx = model.resampler.forward(tokens);
    settle(&enc);
    Ok(ctx.to_device(&model.device()))
}

/// Text context of one prompt, on the UNet's device.
///
/// # Shapes
/// - returns `[1, 77, d]`
pub fn text_context(model: &DynamiCrafter, tokenizer: &ClipTokenizer, prompt: &str) -> Tensor<3> {
    let t = model.text.encode_ids(&[tokenizer.encode(prompt).to_vec()]);
    settle(&model.encoder_device());
    t.to_device(&model.device())
}

/// The VAE posterior of one frame, encoded on the encoders' device, on the UNet's device.
///
/// # Shapes
/// - mean, logvar `[1, 4, h, w]`
pub fn encode_posterior(model: &DynamiCrafter, image: &ImageTensor) -> Posterior {
    let enc = model.encoder_device();
    let post = model.vae.encode(upload(image, &enc));
    settle(&enc);
    let device = model.device();
    Posterior { mean: post.mean.to_device(&device), logvar: post.logvar.to_device(&device) }
}

/// The scaled latent of one frame: `scale_factor · (mean + std · noise)`, with the noise
/// of frame `k`.
///
/// # Shapes
/// - returns `[1, 4, h, w]`
pub fn sample_latent(model: &DynamiCrafter, post: &Posterior, k: usize, noise: &mut dyn NoiseSource) -> Tensor<4> {
    let dims = post.mean.dims();
    let n = noise.vae(k, dims.iter().product());
    let eps = Tensor::from_data(TensorData::new(n, dims), &model.device());
    post.sample(eps) * model.config.diffusion.scale_factor
}

/// Builds the contexts and the concatenated image latent, reusing what `cache` holds.
pub fn build(
    model: &DynamiCrafter,
    tokenizer: &ClipTokenizer,
    inp: &CondInputs,
    noise: &mut dyn NoiseSource,
    cache: &mut CondCache,
) -> Result<Conditioning, PreprocessError> {
    let device = model.device();
    let key = image_key(inp.image);
    let img_ctx = cache.image(model, inp.image, key)?;
    let text = cache.text(model, tokenizer, inp.prompt);
    let cond = Tensor::cat(vec![text, img_ctx.clone()], 1);
    let uncond = match inp.with_uncond {
        true => {
            let zeros = ImageTensor { data: vec![0.0; inp.image.data.len()], ..inp.image.clone() };
            let zero_ctx = cache.image(model, &zeros, image_key(&zeros))?;
            Some(Tensor::cat(vec![cache.text(model, tokenizer, inp.negative_prompt), zero_ctx], 1))
        }
        false => None,
    };
    let uncond_img = inp.with_uncond_img.then(|| Tensor::cat(vec![cache.text(model, tokenizer, ""), img_ctx], 1));

    let t = inp.frames;
    let post0 = cache.posterior(model, inp.image, key);
    let z0 = sample_latent(model, &post0, 0, noise); // [1, 4, h, w]
    let [_, c, h, w] = z0.dims();
    let c_concat = match inp.mode {
        Mode::ImageToVideo => z0.reshape([1, c, 1, h, w]).expand([1, c, t, h, w]),
        Mode::Interpolation | Mode::Loop => {
            let last_img = match inp.mode {
                Mode::Interpolation => inp.image2.unwrap_or(inp.image),
                _ => inp.image,
            };
            let post_l = cache.posterior(model, last_img, image_key(last_img));
            let zl = sample_latent(model, &post_l, t - 1, noise);
            let mut parts = vec![z0.reshape([1, c, 1, h, w])];
            if t > 2 {
                parts.push(Tensor::zeros([1, c, t - 2, h, w], &device));
            }
            if t > 1 {
                parts.push(zl.reshape([1, c, 1, h, w]));
            }
            Tensor::cat(parts, 2)
        }
    };
    Ok(Conditioning { cond, uncond, uncond_img, c_concat, fs: inp.fs })
}
