//! Model configuration: the reference's `model.params` tree as typed structs, the four
//! official presets, and loading a fixture's `config.json`.
//!
//! Presets cite their source: `configs/inference_{256,512,1024}_v1.0.yaml` of the reference
//! repository (spec §0, §1). 512_Interp uses the 512 file at inference (spec §0).

use std::path::Path;

use serde_json::Value;

/// Errors reading a model configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read model config {path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// The file is not JSON.
    #[error("model config {path} is not valid JSON: {source}")]
    Json { path: String, source: serde_json::Error },
    /// A field is absent or has the wrong type.
    #[error("model config: field `{field}` is missing or has the wrong type")]
    Field { field: String },
    /// A value is outside what the model supports.
    #[error("model config: {0}")]
    Invalid(String),
}

/// What the UNet predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parameterization {
    /// Noise (256 model).
    Eps,
    /// Velocity (512, 1024, 512_Interp).
    V,
}

/// What the integer `fs` conditioning means (spec §0): it changes labels in the UI only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsKind {
    /// Frame stride ("larger means more motion").
    FrameStride,
    /// Frames per second ("smaller means more motion").
    Fps,
}

/// The official releases (spec §0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Variant {
    /// `Doubiiu/DynamiCrafter`, 256×256.
    V256,
    /// `Doubiiu/DynamiCrafter_512`, 320×512.
    V512,
    /// `Doubiiu/DynamiCrafter_1024`, 576×1024.
    V1024,
    /// `Doubiiu/DynamiCrafter_512_Interp`, 320×512, interpolation and looping.
    V512Interp,
}

impl Variant {
    /// All official variants.
    pub const ALL: [Variant; 4] = [Variant::V256, Variant::V512, Variant::V1024, Variant::V512Interp];

    /// Short name used on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Self::V256 => "256",
            Self::V512 => "512",
            Self::V1024 => "1024",
            Self::V512Interp => "512_interp",
        }
    }

    /// Parses `256`, `512`, `1024`, `512_interp` (also `512-interp`, `interp`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "256" => Some(Self::V256),
            "512" => Some(Self::V512),
            "1024" => Some(Self::V1024),
            "512_interp" | "interp" => Some(Self::V512Interp),
            _ => None,
        }
    }
}

/// UNet hyper-parameters (`unet_config.params`, spec §1.1).
#[derive(Debug, Clone, PartialEq)]
pub struct UNetConfig {
    pub in_channels: usize,
    pub out_channels: usize,
    pub model_channels: usize,
    pub channel_mult: Vec<usize>,
    pub num_res_blocks: usize,
    /// Downsample factors (1, 2, 4, …) whose level has spatial and temporal transformers.
    pub attention_resolutions: Vec<usize>,
    pub num_head_channels: usize,
    pub context_dim: usize,
    pub transformer_depth: usize,
    pub temporal_length: usize,
    pub image_cross_attention: bool,
    pub image_cross_attention_scale_learnable: bool,
    pub fs_condition: bool,
    pub default_fs: i64,
    pub addition_attention: bool,
    pub use_linear: bool,
}

/// VAE hyper-parameters (`first_stage_config.params`, spec §1.2).
#[derive(Debug, Clone, PartialEq)]
pub struct VaeConfig {
    pub embed_dim: usize,
    pub ch: usize,
    pub ch_mult: Vec<usize>,
    pub num_res_blocks: usize,
    pub z_channels: usize,
    pub in_channels: usize,
    pub out_ch: usize,
}

/// OpenCLIP text tower (spec §2.1).
#[derive(Debug, Clone, PartialEq)]
pub struct ClipTextConfig {
    pub width: usize,
    pub heads: usize,
    pub layers: usize,
    pub vocab_size: usize,
    pub context_length: usize,
    /// Width of the (unused) `text_projection`: open_clip's `embed_dim`.
    pub embed_dim: usize,
    pub mlp_ratio: f64,
}

/// OpenCLIP vision tower (spec §2.2).
#[derive(Debug, Clone, PartialEq)]
pub struct ClipVisionConfig {
    pub width: usize,
    pub head_width: usize,
    pub layers: usize,
    pub patch_size: usize,
    pub image_size: usize,
    pub embed_dim: usize,
    pub mlp_ratio: f64,
}

impl ClipVisionConfig {
    /// Attention heads.
    pub fn heads(&self) -> usize {
        self.width / self.head_width
    }
    /// Tokens out of the tower: patches plus the class token.
    pub fn tokens(&self) -> usize {
        let g = self.image_size / self.patch_size;
        g * g + 1
    }
}

/// Resampler (`image_proj_stage_config.params`, spec §2.3).
#[derive(Debug, Clone, PartialEq)]
pub struct ResamplerConfig {
    pub dim: usize,
    pub depth: usize,
    pub dim_head: usize,
    pub heads: usize,
    pub num_queries: usize,
    pub embedding_dim: usize,
    pub output_dim: usize,
    pub ff_mult: usize,
    pub video_length: usize,
}

/// Diffusion process settings (spec §1, §5).
#[derive(Debug, Clone, PartialEq)]
pub struct DiffusionConfig {
    pub parameterization: Parameterization,
    pub linear_start: f64,
    pub linear_end: f64,
    pub timesteps: usize,
    pub rescale_betas_zero_snr: bool,
    /// `Some(base_scale)` when the dynamic `scale_arr` rescale is on.
    pub dynamic_rescale: Option<f64>,
    pub turning_step: usize,
    pub scale_factor: f64,
    pub fs_kind: FsKind,
    pub perframe_ae: bool,
}

/// The whole model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub unet: UNetConfig,
    pub vae: VaeConfig,
    pub text: ClipTextConfig,
    pub vision: ClipVisionConfig,
    pub resampler: ResamplerConfig,
    pub diffusion: DiffusionConfig,
    /// Checkpoint name of the fs MLP: `fps_embedding` or `framestride_embed` (256 release).
    pub checkpoint_fs_key: String,
}

fn vit_h14_text() -> ClipTextConfig {
    // open_clip `model_configs/ViT-H-14.json` (spec §2.1).
    ClipTextConfig {
        width: 1024,
        heads: 16,
        layers: 24,
        vocab_size: 49408,
        context_length: 77,
        embed_dim: 1024,
        mlp_ratio: 4.0,
    }
}

fn vit_h14_vision() -> ClipVisionConfig {
    // open_clip `model_configs/ViT-H-14.json` (spec §2.2).
    ClipVisionConfig {
        width: 1280,
        head_width: 80,
        layers: 32,
        patch_size: 14,
        image_size: 224,
        embed_dim: 1024,
        mlp_ratio: 4.0,
    }
}

impl ModelConfig {
    /// The official configuration of `variant`.
    ///
    /// Sources: `configs/inference_256_v1.0.yaml` (256), `configs/inference_512_v1.0.yaml`
    /// (512 and 512_Interp, `scripts/run_application.sh:63`), `configs/inference_1024_v1.0.yaml`
    /// (1024); spec §0 and §1.
    pub fn preset(variant: Variant) -> Self {
        let is256 = variant == Variant::V256;
        let unet = UNetConfig {
            in_channels: 8,
            out_channels: 4,
            model_channels: 320,
            channel_mult: vec![1, 2, 4, 4],
            num_res_blocks: 2,
            attention_resolutions: vec![4, 2, 1],
            num_head_channels: 64,
            context_dim: 1024,
            transformer_depth: 1,
            temporal_length: 16,
            image_cross_attention: true,
            image_cross_attention_scale_learnable: is256,
            fs_condition: true,
            default_fs: match variant {
                Variant::V256 => 3,
                Variant::V512 | Variant::V512Interp => 24,
                Variant::V1024 => 10,
            },
            addition_attention: true,
            use_linear: true,
        };
        let vae = VaeConfig {
            embed_dim: 4,
            ch: 128,
            ch_mult: vec![1, 2, 4, 4],
            num_res_blocks: 2,
            z_channels: 4,
            in_channels: 3,
            out_ch: 3,
        };
        let resampler = ResamplerConfig {
            dim: 1024,
            depth: 4,
            dim_head: 64,
            heads: 12,
            num_queries: 16,
            embedding_dim: 1280,
            output_dim: 1024,
            ff_mult: 4,
            video_length: 16,
        };
        let diffusion = DiffusionConfig {
            parameterization: if is256 { Parameterization::Eps } else { Parameterization::V },
            linear_start: 0.00085,
            linear_end: 0.012,
            timesteps: 1000,
            rescale_betas_zero_snr: !is256,
            dynamic_rescale: match variant {
                Variant::V256 => None,
                Variant::V512 | Variant::V512Interp => Some(0.7),
                Variant::V1024 => Some(0.3),
            },
            turning_step: 400,
            scale_factor: 0.18215,
            fs_kind: if is256 { FsKind::FrameStride } else { FsKind::Fps },
            perframe_ae: !is256,
        };
        Self {
            unet,
            vae,
            text: vit_h14_text(),
            vision: vit_h14_vision(),
            resampler,
            diffusion,
            checkpoint_fs_key: if is256 { "framestride_embed".into() } else { "fps_embedding".into() },
        }
    }

    /// Reads a fixture's `config.json` (fixtures README §1.3).
    pub fn from_fixture_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Io { path: path.display().to_string(), source })?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|source| ConfigError::Json { path: path.display().to_string(), source })?;
        Self::from_fixture_json(&v)
    }

    /// Parses the JSON of a fixture's `config.json`.
    pub fn from_fixture_json(v: &Value) -> Result<Self, ConfigError> {
        let m = J(v).at("model")?;
        let u = m.at("unet_config")?.at("params")?;
        let unet = UNetConfig {
            in_channels: u.usize("in_channels")?,
            out_channels: u.usize("out_channels")?,
            model_channels: u.usize("model_channels")?,
            channel_mult: u.usizes("channel_mult")?,
            num_res_blocks: u.usize("num_res_blocks")?,
            attention_resolutions: u.usizes("attention_resolutions")?,
            num_head_channels: u.usize("num_head_channels")?,
            context_dim: u.usize("context_dim")?,
            transformer_depth: u.usize_or("transformer_depth", 1)?,
            temporal_length: u.usize("temporal_length")?,
            image_cross_attention: u.bool_or("image_cross_attention", false)?,
            image_cross_attention_scale_learnable: u.bool_or("image_cross_attention_scale_learnable", false)?,
            fs_condition: u.bool_or("fs_condition", false)?,
            default_fs: u.usize_or("default_fs", 1)? as i64,
            addition_attention: u.bool_or("addition_attention", false)?,
            use_linear: u.bool_or("use_linear", false)?,
        };
        let dd = m.at("first_stage_config")?.at("params")?;
        let d = dd.at("ddconfig")?;
        let vae = VaeConfig {
            embed_dim: dd.usize("embed_dim")?,
            ch: d.usize("ch")?,
            ch_mult: d.usizes("ch_mult")?,
            num_res_blocks: d.usize("num_res_blocks")?,
            z_channels: d.usize("z_channels")?,
            in_channels: d.usize("in_channels")?,
            out_ch: d.usize("out_ch")?,
        };
        let oc = J(v).at("open_clip_arch")?;
        let res = oc.at("resolved").ok();
        let cfg = oc.at("config")?;
        let embed_dim = cfg.usize("embed_dim")?;
        let tc = cfg.at("text_cfg")?;
        let vc = cfg.at("vision_cfg")?;
        let text_mlp = res.as_ref().and_then(|r| r.f64("text_mlp_ratio").ok()).unwrap_or(4.0);
        let vision_mlp =
            res.as_ref().and_then(|r| r.at("vision_cfg").ok()).and_then(|r| r.f64("mlp_ratio").ok()).unwrap_or(4.0);
        let text = ClipTextConfig {
            width: tc.usize("width")?,
            heads: tc.usize("heads")?,
            layers: tc.usize("layers")?,
            vocab_size: tc.usize_or("vocab_size", 49408)?,
            context_length: tc.usize_or("context_length", 77)?,
            embed_dim,
            mlp_ratio: text_mlp,
        };
        let vision = ClipVisionConfig {
            width: vc.usize("width")?,
            head_width: vc.usize_or("head_width", 64)?,
            layers: vc.usize("layers")?,
            patch_size: vc.usize("patch_size")?,
            image_size: vc.usize_or("image_size", 224)?,
            embed_dim,
            mlp_ratio: vision_mlp,
        };
        let r = m.at("image_proj_stage_config")?.at("params")?;
        let resampler = ResamplerConfig {
            dim: r.usize("dim")?,
            depth: r.usize("depth")?,
            dim_head: r.usize("dim_head")?,
            heads: r.usize("heads")?,
            num_queries: r.usize("num_queries")?,
            embedding_dim: r.usize("embedding_dim")?,
            output_dim: r.usize("output_dim")?,
            ff_mult: r.usize("ff_mult")?,
            video_length: r.usize("video_length")?,
        };
        let param = match m.str_or("parameterization", "eps")?.as_str() {
            "v" => Parameterization::V,
            "eps" => Parameterization::Eps,
            other => return Err(ConfigError::Invalid(format!("unknown parameterization `{other}`"))),
        };
        let dynamic = m.bool_or("use_dynamic_rescale", false)?;
        let diffusion = DiffusionConfig {
            parameterization: param,
            linear_start: m.f64("linear_start")?,
            linear_end: m.f64("linear_end")?,
            timesteps: m.usize_or("timesteps", 1000)?,
            rescale_betas_zero_snr: m.bool_or("rescale_betas_zero_snr", false)?,
            dynamic_rescale: if dynamic { Some(m.f64("base_scale")?) } else { None },
            turning_step: m.usize_or("turning_step", 400)?,
            scale_factor: m.f64("scale_factor")?,
            fs_kind: if m.str_or("fps_condition_type", "fs")? == "fps" { FsKind::Fps } else { FsKind::FrameStride },
            perframe_ae: m.bool_or("perframe_ae", false)?,
        };
        let checkpoint_fs_key = J(v).str_or("checkpoint_fs_key", "fps_embedding")?;
        let cfg = Self { unet, vae, text, vision, resampler, diffusion, checkpoint_fs_key };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks the invariants the modules rely on, so that bad configs fail here and not
    /// inside a tensor operation.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let u = &self.unet;
        if u.channel_mult.is_empty() || u.model_channels == 0 || u.num_head_channels == 0 {
            return bad("UNet channel_mult, model_channels and num_head_channels must be non-empty and positive".into());
        }
        for m in &u.channel_mult {
            let ch = m * u.model_channels;
            if ch % 32 != 0 || ch % u.num_head_channels != 0 {
                return bad(format!("UNet width {ch} must be a multiple of 32 (GroupNorm) and of num_head_channels"));
            }
        }
        if self.vae.ch_mult.is_empty() || (self.vae.ch * self.vae.ch_mult[0]) % 32 != 0 {
            return bad("VAE widths must be multiples of 32".into());
        }
        if self.text.heads == 0 || self.text.width % self.text.heads != 0 {
            return bad("text width must be divisible by its heads".into());
        }
        if self.vision.head_width == 0 || self.vision.width % self.vision.head_width != 0 {
            return bad("vision width must be divisible by head_width".into());
        }
        if self.vision.patch_size == 0 || self.vision.image_size % self.vision.patch_size != 0 {
            return bad("vision image_size must be a multiple of patch_size".into());
        }
        if self.resampler.embedding_dim != self.vision.width {
            return bad("Resampler embedding_dim must equal the vision width".into());
        }
        if self.resampler.output_dim != u.context_dim || self.text.width != u.context_dim {
            return bad("Resampler output_dim and text width must equal the UNet context_dim".into());
        }
        Ok(())
    }

    /// Latent downsampling factor of the VAE: 2^(levels − 1).
    pub fn vae_factor(&self) -> usize {
        1 << (self.vae.ch_mult.len() - 1)
    }
}

/// A small typed view over `serde_json::Value` with field-named errors.
struct J<'a>(&'a Value);

impl<'a> J<'a> {
    fn at(&self, k: &str) -> Result<J<'a>, ConfigError> {
        self.0.get(k).map(J).ok_or_else(|| ConfigError::Field { field: k.into() })
    }
    fn usize(&self, k: &str) -> Result<usize, ConfigError> {
        self.0.get(k).and_then(Value::as_u64).map(|v| v as usize).ok_or_else(|| ConfigError::Field { field: k.into() })
    }
    fn usize_or(&self, k: &str, d: usize) -> Result<usize, ConfigError> {
        match self.0.get(k) {
            None | Some(Value::Null) => Ok(d),
            Some(_) => self.usize(k),
        }
    }
    fn f64(&self, k: &str) -> Result<f64, ConfigError> {
        self.0.get(k).and_then(Value::as_f64).ok_or_else(|| ConfigError::Field { field: k.into() })
    }
    fn bool_or(&self, k: &str, d: bool) -> Result<bool, ConfigError> {
        match self.0.get(k) {
            None | Some(Value::Null) => Ok(d),
            Some(v) => v.as_bool().ok_or_else(|| ConfigError::Field { field: k.into() }),
        }
    }
    fn str_or(&self, k: &str, d: &str) -> Result<String, ConfigError> {
        match self.0.get(k) {
            None | Some(Value::Null) => Ok(d.into()),
            Some(v) => v.as_str().map(str::to_owned).ok_or_else(|| ConfigError::Field { field: k.into() }),
        }
    }
    fn usizes(&self, k: &str) -> Result<Vec<usize>, ConfigError> {
        let arr = self.0.get(k).and_then(Value::as_array).ok_or_else(|| ConfigError::Field { field: k.into() })?;
        arr.iter()
            .map(|x| x.as_u64().map(|v| v as usize).ok_or_else(|| ConfigError::Field { field: k.into() }))
            .collect()
    }
}
