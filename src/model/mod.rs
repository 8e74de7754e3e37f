//! The DynamiCrafter network, one file per concept of the spec.

pub mod clip;
pub mod clip_preprocess;
pub mod config;
pub mod conv;
pub mod conv_choice;
pub mod flops;
pub mod nn;
pub mod resampler;
pub mod tokenizer;
pub mod unet;
pub mod vae;

use std::fmt;

use burn::tensor::{DType, Device};

use crate::model::clip::{ClipTextEncoder, ClipVisionEncoder};
use crate::model::config::ModelConfig;
use crate::model::resampler::Resampler;
use crate::model::unet::UNet;
use crate::model::vae::Autoencoder;
use crate::weights::error::WeightsError;
use crate::weights::vars::{Expected, KeyProblem, LoadContext, LoadMode, MemorySource, TensorSource, Vars, check_keys};

/// The schedule buffers stored in every checkpoint (spec §5), read on the host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredSchedule {
    pub betas: Vec<f32>,
    pub alphas_cumprod: Vec<f32>,
    pub sqrt_alphas_cumprod: Vec<f32>,
    pub sqrt_one_minus_alphas_cumprod: Vec<f32>,
    pub scale_arr: Option<Vec<f32>>,
}

/// Names of the 12 schedule buffers of `register_schedule` (+ `scale_arr`).
const SCHEDULE_BUFFERS: [&str; 12] = [
    "betas",
    "alphas_cumprod",
    "alphas_cumprod_prev",
    "sqrt_alphas_cumprod",
    "sqrt_one_minus_alphas_cumprod",
    "log_one_minus_alphas_cumprod",
    "sqrt_recip_alphas_cumprod",
    "sqrt_recipm1_alphas_cumprod",
    "posterior_variance",
    "posterior_log_variance_clipped",
    "posterior_mean_coef1",
    "posterior_mean_coef2",
];

impl StoredSchedule {
    fn load(vars: &Vars, cfg: &ModelConfig) -> Self {
        let n = cfg.diffusion.timesteps;
        let mut s = Self::default();
        for name in SCHEDULE_BUFFERS {
            let slot = match name {
                "betas" => Some(&mut s.betas),
                "alphas_cumprod" => Some(&mut s.alphas_cumprod),
                "sqrt_alphas_cumprod" => Some(&mut s.sqrt_alphas_cumprod),
                "sqrt_one_minus_alphas_cumprod" => Some(&mut s.sqrt_one_minus_alphas_cumprod),
                _ => None,
            };
            match slot {
                Some(slot) => *slot = vars.host_f32(name, &[n]).unwrap_or_default(),
                None => vars.unused(name, &[n]),
            }
        }
        if cfg.diffusion.dynamic_rescale.is_some() {
            s.scale_arr = vars.host_f32("scale_arr", &[cfg.diffusion.turning_step + n]);
        }
        s
    }
}

/// Checkpoint prefixes of the components.
pub mod prefix {
    pub const UNET: &str = "model.diffusion_model";
    pub const VAE: &str = "first_stage_model";
    pub const TEXT: &str = "cond_stage_model.model";
    pub const VISION: &str = "embedder.model";
    pub const RESAMPLER: &str = "image_proj_model";
}

/// Where each component lives and in which precision (README, "Memory plan").
///
/// The UNet runs on `device` in `dtype`; the VAE decoder on `device` in f32; the
/// components that run once per generation (text tower, image tower and Resampler, VAE
/// encoder) on `encoders` in `encoder_dtype` (the VAE encoder always f32).
#[derive(Debug, Clone)]
pub struct Placement {
    pub device: Device,
    pub dtype: DType,
    pub encoders: Device,
    pub encoder_dtype: DType,
    /// Where the VAE decoder runs (always f32).
    pub decoder: Device,
}

impl Placement {
    /// Everything on one device, the encoders in the UNet's dtype.
    pub fn single(device: &Device, dtype: DType) -> Self {
        Self { device: device.clone(), dtype, encoders: device.clone(), encoder_dtype: dtype, decoder: device.clone() }
    }

    /// The UNet and decoder on `device`, the encoders on the CPU backend in f32: they
    /// occupy no device memory and stay reference-exact.
    pub fn encoders_on_host(device: &Device, dtype: DType) -> Self {
        Self {
            device: device.clone(),
            dtype,
            encoders: Device::flex(),
            encoder_dtype: DType::F32,
            decoder: device.clone(),
        }
    }

    /// The same, with the VAE decoder on the CPU backend (for adapters whose largest buffer
    /// cannot hold one decoded frame's feature maps).
    pub fn decoder_on_host(self) -> Self {
        Self { decoder: Device::flex(), ..self }
    }
}

/// The whole model, loaded.
#[derive(Debug, Clone)]
pub struct DynamiCrafter {
    pub config: ModelConfig,
    pub unet: UNet,
    pub vae: Autoencoder,
    pub text: ClipTextEncoder,
    pub vision: ClipVisionEncoder,
    pub resampler: Resampler,
    pub schedule: StoredSchedule,
}

/// Why a model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelLoadError {
    /// The file's tensors do not match the model (wrong model, wrong variant, damaged file).
    #[error("{}", describe_problems(.0))]
    Keys(Vec<KeyProblem>),
    /// Reading a tensor failed.
    #[error(transparent)]
    Weights(#[from] WeightsError),
}

fn describe_problems(p: &[KeyProblem]) -> String {
    let missing = p.iter().filter(|k| matches!(k, KeyProblem::Missing { .. })).count();
    let unused = p.iter().filter(|k| matches!(k, KeyProblem::Unused { .. })).count();
    let shape = p.len() - missing - unused;
    let mut s = format!(
        "the checkpoint does not match this model: {missing} missing, {unused} unexpected and {shape} wrongly shaped tensors \
         (is it a DynamiCrafter checkpoint of the chosen variant?)"
    );
    for k in p.iter().take(12) {
        s.push_str(&format!("\n  - {k}"));
    }
    if p.len() > 12 {
        s.push_str(&format!("\n  … and {} more", p.len() - 12));
    }
    s
}

impl fmt::Display for DynamiCrafter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DynamiCrafter (UNet width {})", self.config.unet.model_channels)
    }
}

/// The loading passes of one model: one per (device, dtype) of a [`Placement`]. A dry run
/// uses one context for all.
struct Passes<'c, 's> {
    unet: Vars<'c, 's>,
    decoder: Vars<'c, 's>,
    encoders: Vars<'c, 's>,
    vae_encoder: Vars<'c, 's>,
}

impl DynamiCrafter {
    fn build(p: &Passes, cfg: &ModelConfig) -> Self {
        Self {
            config: cfg.clone(),
            unet: UNet::load(&p.unet.pp(prefix::UNET), &cfg.unet),
            vae: Autoencoder::load(&p.vae_encoder.pp(prefix::VAE), &p.decoder.pp(prefix::VAE), &cfg.vae),
            text: ClipTextEncoder::load(&p.encoders.pp(prefix::TEXT), &cfg.text),
            vision: ClipVisionEncoder::load(&p.encoders.pp(prefix::VISION), &cfg.vision, &cfg.text),
            resampler: Resampler::load(&p.encoders.pp(prefix::RESAMPLER), &cfg.resampler),
            schedule: StoredSchedule::load(&p.unet, cfg),
        }
    }

    /// The dtype the UNet computes in.
    pub fn dtype(&self) -> DType {
        self.unet.dtype()
    }

    /// The device the UNet runs on.
    pub fn device(&self) -> Device {
        self.unet.device()
    }

    /// The device the encoders run on.
    pub fn encoder_device(&self) -> Device {
        self.vae.encoder_device()
    }

    /// Every tensor (name and checkpoint shape) the model of `cfg` expects, without
    /// creating any real tensor.
    pub fn expected_keys(cfg: &ModelConfig) -> Vec<Expected> {
        let empty = MemorySource::new();
        let device = Device::flex();
        let ctx = LoadContext::new(&empty, &device, DType::F32, LoadMode::DryRun);
        let r = ctx.root();
        let passes = Passes { unet: r.clone(), decoder: r.clone(), encoders: r.clone(), vae_encoder: r };
        let _ = Self::build(&passes, cfg);
        ctx.expected()
    }

    /// Loads strictly onto one device in one dtype (the VAE always in f32): every missing,
    /// unexpected or wrongly shaped tensor is reported by name before any tensor is created.
    pub fn load(
        source: &dyn TensorSource,
        cfg: &ModelConfig,
        device: &Device,
        dtype: DType,
    ) -> Result<Self, ModelLoadError> {
        Self::load_placed(source, cfg, &Placement::single(device, dtype))
    }

    /// Loads strictly with each component where `placement` puts it. Tensors are read,
    /// converted and uploaded one at a time: an fp32 checkpoint loaded in f16 never exists
    /// twice in memory, and an f16 file is handed to the device as it is stored.
    pub fn load_placed(
        source: &dyn TensorSource,
        cfg: &ModelConfig,
        placement: &Placement,
    ) -> Result<Self, ModelLoadError> {
        let expected = Self::expected_keys(cfg);
        let problems = check_keys(&expected, source, &[""]);
        if !problems.is_empty() {
            return Err(ModelLoadError::Keys(problems));
        }
        let p = placement;
        let unet = LoadContext::new(source, &p.device, p.dtype, LoadMode::Load);
        let decoder = LoadContext::new(source, &p.decoder, DType::F32, LoadMode::Load);
        let encoders = LoadContext::new(source, &p.encoders, p.encoder_dtype, LoadMode::Load);
        let vae_encoder = LoadContext::new(source, &p.encoders, DType::F32, LoadMode::Load);
        let passes = Passes {
            unet: unet.root(),
            decoder: decoder.root(),
            encoders: encoders.root(),
            vae_encoder: vae_encoder.root(),
        };
        let model = Self::build(&passes, cfg);
        drop(passes);
        for ctx in [unet, decoder, encoders, vae_encoder] {
            ctx.finish()?;
        }
        Ok(model)
    }
}
