//! One generation, end to end: validated settings → conditioning → DDIM → VAE decode →
//! 8-bit frames. This is the API the CLI and the app's worker call.

use std::ops::ControlFlow;

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::imaging::tensor::ImageTensor;
use crate::model::DynamiCrafter;
use crate::model::config::Variant;
use crate::model::tokenizer::ClipTokenizer;
use crate::model::unet::attention::{BranchWeights, CallOptions};
use crate::pipeline::conditioning::{self, CondCache, CondInputs, Mode};
use crate::pipeline::ddim::{Conditioning, Execution, Guidance, SampleError, sample};
use crate::pipeline::decode_video;
use crate::pipeline::device_read::DeviceRead;
use crate::pipeline::rng::{NoiseSource, SeededSource};
use crate::pipeline::schedule::{DdimSchedule, Spacing};
use crate::pipeline::solver::SamplerKind;

/// Every user-facing knob of one generation (what history stores to reproduce a clip).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub mode: Mode,
    pub prompt: String,
    pub negative_prompt: String,
    pub steps: usize,
    pub cfg: f32,
    /// `Some` enables the separate image guidance scale (three UNet calls per step).
    pub cfg_img: Option<f32>,
    pub eta: f32,
    /// Frame stride (256) or FPS (others) conditioning.
    pub fs: i64,
    pub guidance_rescale: f32,
    pub seed: u64,
    pub text_weight: f32,
    pub image_weight: f32,
    pub frames: usize,
    pub height: usize,
    pub width: usize,
    pub spacing: SpacingSetting,
    /// The update rule between timesteps (DDIM, the reference's, by default).
    #[serde(default)]
    pub sampler: SamplerKind,
}

/// Serializable form of [`Spacing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpacingSetting {
    Uniform,
    UniformTrailing,
}

impl From<SpacingSetting> for Spacing {
    fn from(s: SpacingSetting) -> Self {
        match s {
            SpacingSetting::Uniform => Spacing::Uniform,
            SpacingSetting::UniformTrailing => Spacing::UniformTrailing,
        }
    }
}

impl From<Spacing> for SpacingSetting {
    fn from(s: Spacing) -> Self {
        match s {
            Spacing::Uniform => SpacingSetting::Uniform,
            Spacing::UniformTrailing => SpacingSetting::UniformTrailing,
        }
    }
}

/// The DDIM schedule the sampler runs: built from the schedule buffers **stored in the
/// model's checkpoint** (what the reference samples with), not recomputed from the config.
pub fn ddim_schedule(model: &DynamiCrafter, spacing: Spacing, steps: usize, eta: f64) -> DdimSchedule {
    DdimSchedule::from_tables(&model.schedule.alphas_cumprod, model.schedule.scale_arr.as_deref(), spacing, steps, eta)
}

/// Slider ranges and defaults of a model (spec §8, §9).
#[derive(Debug, Clone, PartialEq)]
pub struct Ranges {
    pub fs: (i64, i64),
    pub fs_default: i64,
    pub fs_label: &'static str,
    /// "larger means more motion" or "smaller means more motion".
    pub fs_hint: &'static str,
    pub steps: (usize, usize),
    pub cfg: (f32, f32),
    pub eta: (f32, f32),
    pub weights: (f32, f32),
}

impl Settings {
    /// The authors' settings for `variant` (spec §8): 50 steps, η 1, CFG 7.5, seed 123,
    /// fs 3 / 24 / 10 / 5, spacing and guidance rescale per model, 16 frames.
    pub fn defaults(variant: Variant) -> Self {
        let (h, w) = match variant {
            Variant::V256 => (256, 256),
            Variant::V512 | Variant::V512Interp => (320, 512),
            Variant::V1024 => (576, 1024),
        };
        let is256 = variant == Variant::V256;
        Self {
            mode: Mode::ImageToVideo,
            prompt: String::new(),
            negative_prompt: String::new(),
            steps: 50,
            cfg: 7.5,
            cfg_img: None,
            eta: 1.0,
            fs: Self::ranges(variant).fs_default,
            guidance_rescale: if is256 { 0.0 } else { 0.7 },
            seed: 123,
            text_weight: 1.0,
            image_weight: 1.0,
            frames: 16,
            height: h,
            width: w,
            spacing: if is256 { SpacingSetting::Uniform } else { SpacingSetting::UniformTrailing },
            sampler: SamplerKind::Ddim,
        }
    }

    /// Ranges of the reference demos (spec §9).
    pub fn ranges(variant: Variant) -> Ranges {
        let (fs, fs_default, fs_label, fs_hint) = match variant {
            Variant::V256 => ((1, 6), 3, "Frame stride", "larger means more motion"),
            Variant::V512 => ((15, 30), 24, "FPS", "smaller means more motion"),
            Variant::V1024 => ((5, 20), 10, "FPS", "smaller means more motion"),
            Variant::V512Interp => ((5, 30), 5, "FPS", "smaller means more motion"),
        };
        Ranges {
            fs,
            fs_default,
            fs_label,
            fs_hint,
            steps: (1, 60),
            cfg: (1.0, 15.0),
            eta: (0.0, 1.0),
            weights: (0.0, 2.0),
        }
    }
}

/// A setting the pipeline refuses, with what to do instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingsError {
    #[error("steps must be between 1 and 1000 (got {0})")]
    Steps(usize),
    #[error("this model makes exactly {max} frames (got {got}): its image tokens are made per frame")]
    Frames { got: usize, max: usize },
    #[error("the output size {h}x{w} is not allowed: height and width must be positive multiples of {multiple} pixels")]
    Size { h: usize, w: usize, multiple: usize },
    #[error("{what} must be a finite number in {lo}..={hi} (got {got})")]
    Range { what: &'static str, got: f32, lo: f32, hi: f32 },
    #[error("fs/FPS must be between 1 and 1000 (got {0})")]
    Fs(i64),
    #[error("interpolation needs a second image")]
    MissingSecondImage,
    #[error("the input image is {got_h}x{got_w} but the settings ask for {h}x{w}")]
    ImageSize { got_h: usize, got_w: usize, h: usize, w: usize },
}

impl Settings {
    /// The sampler's guidance: the image scale only applies with guidance on (cfg ≠ 1).
    pub fn guidance(&self) -> Guidance {
        Guidance {
            cfg: self.cfg,
            cfg_img: if self.cfg != 1.0 { self.cfg_img } else { None },
            rescale: self.guidance_rescale,
        }
    }

    /// The sampler's DDIM schedule for these settings.
    pub fn schedule(&self, model: &DynamiCrafter) -> DdimSchedule {
        ddim_schedule(model, self.spacing.into(), self.steps, f64::from(self.eta))
    }

    /// The per-call options: the user's branch weights on top of the memory plan's `exec`.
    pub fn execution(&self, exec: Execution) -> Execution {
        Execution {
            call: CallOptions {
                weights: BranchWeights { text: self.text_weight, image: self.image_weight },
                ..exec.call
            },
            ..exec
        }
    }

    /// Checks every value before any tensor exists.
    pub fn validate(&self, model: &DynamiCrafter) -> Result<(), SettingsError> {
        if !(1..=1000).contains(&self.steps) {
            return Err(SettingsError::Steps(self.steps));
        }
        // The Resampler makes 16 tokens for each of `video_length` frames; the UNet routes
        // them per frame only when the frame count matches (spec §3.2).
        if self.frames < 2 || self.frames != model.config.resampler.video_length {
            return Err(SettingsError::Frames { got: self.frames, max: model.config.resampler.video_length });
        }
        let multiple = model.unet.size_multiple() * model.config.vae_factor();
        if self.height == 0 || self.width == 0 || self.height % multiple != 0 || self.width % multiple != 0 {
            return Err(SettingsError::Size { h: self.height, w: self.width, multiple });
        }
        let range = |what, v: f32, lo: f32, hi: f32| {
            if v.is_finite() && v >= lo && v <= hi {
                Ok(())
            } else {
                Err(SettingsError::Range { what, got: v, lo, hi })
            }
        };
        range("cfg", self.cfg, 0.0, 100.0)?;
        if let Some(c) = self.cfg_img {
            range("cfg_img", c, 0.0, 100.0)?;
        }
        range("eta", self.eta, 0.0, 1.0)?;
        range("guidance rescale", self.guidance_rescale, 0.0, 1.0)?;
        range("text weight", self.text_weight, 0.0, 4.0)?;
        range("image weight", self.image_weight, 0.0, 4.0)?;
        if !(1..=1000).contains(&self.fs) {
            return Err(SettingsError::Fs(self.fs));
        }
        Ok(())
    }
}

/// Where a generation is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    Encoding,
    Sampling { step: usize, total: usize, timestep: i64 },
    Decoding { frame: usize, total: usize },
}

/// What the progress callback receives. The app and the CLI read phases and steps; the
/// parity reads every intermediate, so the path it checks is the path users run.
#[derive(Debug)]
pub enum Progress<'a> {
    Phase(Phase),
    /// Once, before the first step: the guidance contexts and the DDIM schedule in use.
    Conditioned {
        cond: &'a Conditioning,
        schedule: &'a DdimSchedule,
    },
    /// After each DDIM step: the predicted clean latent `[1, 4, t, h, w]`, the latent after
    /// the step, the step's raw UNet outputs (call order cond, uncond, uncond_img), and the
    /// wall time of the step measured after the device finished it (not when it was queued).
    Step {
        step: usize,
        total: usize,
        timestep: i64,
        x0: &'a Tensor<5>,
        x: &'a Tensor<5>,
        unet_out: &'a [Tensor<5>],
        seconds: f64,
    },
    /// The final latent `[1, 4, t, h, w]` and the decoded video `[1, 3, t, H, W]` in
    /// [−1, 1], before the 8-bit conversion.
    Decoded {
        latent: &'a Tensor<5>,
        video: &'a Tensor<5>,
    },
}

/// A finished (or cancelled) generation.
#[derive(Debug, Clone)]
pub struct Generation {
    /// `t` frames of `height × width` RGB, 8-bit, row-major.
    pub frames: Vec<Vec<u8>>,
    pub width: usize,
    pub height: usize,
    pub cancelled: bool,
    pub steps_done: usize,
}

/// Generation failures.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Sample(#[from] SampleError),
    #[error(transparent)]
    Image(#[from] crate::imaging::PreprocessError),
    #[error("reading the result from the device failed: {0}")]
    Device(#[from] DeviceRead),
}

impl GenerateError {
    /// Whether the device is gone (the model must be loaded on a fresh one).
    pub fn is_device_lost(&self) -> bool {
        matches!(self, Self::Device(DeviceRead::Lost(_)) | Self::Sample(SampleError::Device(DeviceRead::Lost(_))))
    }
}

impl Settings {
    /// Settings for a non-official (fixture) model: sizes from the fixture's `config.json`
    /// top level, recipe from its model config.
    pub fn for_fixture(cfg: &crate::model::config::ModelConfig, fixture: &serde_json::Value) -> Self {
        let mut s = Self::defaults(Variant::V512);
        let size = |k: &str| fixture.get(k).and_then(serde_json::Value::as_u64).map(|v| v as usize);
        s.frames = size("frames").unwrap_or(cfg.resampler.video_length);
        s.height = size("height").unwrap_or(s.height);
        s.width = size("width").unwrap_or(s.width);
        s.fs = cfg.unet.default_fs;
        let zero_snr = cfg.diffusion.rescale_betas_zero_snr;
        s.spacing = if zero_snr { SpacingSetting::UniformTrailing } else { SpacingSetting::Uniform };
        s.guidance_rescale = if zero_snr { 0.7 } else { 0.0 };
        s
    }

    /// A fixture-style model's `config.json` (the layout of `fixtures/README.md`), read from
    /// disk: its model configuration and settings. Errors name the file.
    pub fn read_fixture_config(path: &std::path::Path) -> Result<(crate::model::config::ModelConfig, Self), String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let cfg = crate::model::config::ModelConfig::from_fixture_json(&json)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let settings = Self::for_fixture(&cfg, &json);
        Ok((cfg, settings))
    }
}

/// Converts decoded frames to 8-bit RGB as the reference CLI does: clamp to [−1, 1], then
/// `floor((x + 1) / 2 · 255)`.
///
/// # Shapes
/// - video: `[1, 3, t, h, w]` → `t` frames of `h·w·3` bytes
pub fn video_to_rgb8(video: Tensor<5>) -> Result<Vec<Vec<u8>>, DeviceRead> {
    if let Some(fault) = crate::pipeline::device_read::injected() {
        return Err(fault);
    }
    let [_, c, t, h, w] = video.dims();
    let data = video
        .try_into_data()?
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| DeviceRead::Failed(format!("{e:?}")))?;
    let mut frames = vec![vec![0u8; h * w * 3]; t];
    for ch in 0..c.min(3) {
        for k in 0..t {
            for p in 0..h * w {
                let v = data[((ch * t) + k) * h * w + p].clamp(-1.0, 1.0);
                frames[k][p * 3 + ch] = ((v + 1.0) / 2.0 * 255.0).floor() as u8;
            }
        }
    }
    Ok(frames)
}

/// Runs one generation on the model's devices. `exec` says how the UNet calls run (the
/// memory plan); `cache` holds encoder results of earlier generations with this model.
/// `on_progress` returning `Break` cancels after the current UNet call; the last predicted
/// frames are then decoded and returned with `cancelled = true`.
#[allow(clippy::too_many_arguments)]
pub fn generate(
    model: &DynamiCrafter,
    tokenizer: &ClipTokenizer,
    settings: &Settings,
    image: &ImageTensor,
    image2: Option<&ImageTensor>,
    noise: Option<&mut dyn NoiseSource>,
    exec: Execution,
    cache: &mut CondCache,
    cancel: &dyn Fn() -> bool,
    mut on_progress: impl FnMut(Progress<'_>) -> ControlFlow<()>,
) -> Result<Generation, GenerateError> {
    let device = model.device();
    settings.validate(model)?;
    if settings.mode == Mode::Interpolation && image2.is_none() {
        return Err(SettingsError::MissingSecondImage.into());
    }
    for img in std::iter::once(image).chain(image2) {
        if img.height != settings.height || img.width != settings.width {
            return Err(SettingsError::ImageSize {
                got_h: img.height,
                got_w: img.width,
                h: settings.height,
                w: settings.width,
            }
            .into());
        }
    }
    let mut seeded = SeededSource::new(settings.seed);
    let noise: &mut dyn NoiseSource = match noise {
        Some(n) => n,
        None => &mut seeded,
    };
    let _ = on_progress(Progress::Phase(Phase::Encoding));
    let inputs = CondInputs {
        mode: settings.mode,
        image,
        image2,
        prompt: &settings.prompt,
        negative_prompt: &settings.negative_prompt,
        frames: settings.frames,
        fs: settings.fs,
        with_uncond: settings.cfg != 1.0,
        with_uncond_img: settings.cfg != 1.0 && settings.cfg_img.is_some(),
    };
    let cond = conditioning::build(model, tokenizer, &inputs, noise, cache)?;
    let schedule = settings.schedule(model);
    let _ = on_progress(Progress::Conditioned { cond: &cond, schedule: &schedule });
    let dims = cond.c_concat.dims();
    let x_t = Tensor::<5>::from_data(TensorData::new(noise.initial(dims.iter().product()), dims), &device);
    let guidance = settings.guidance();
    let exec = settings.execution(exec);
    let mut step_start = std::time::Instant::now();
    let sampled = sample(
        settings.sampler,
        &model.unet,
        &schedule,
        &model.schedule,
        model.config.diffusion.parameterization,
        x_t,
        &cond,
        guidance,
        exec,
        noise,
        cancel,
        |rep| {
            // Timing counts finished device work: wait for the step's kernels.
            let _ = device.sync();
            let seconds = step_start.elapsed().as_secs_f64();
            let flow = on_progress(Progress::Step {
                step: rep.step,
                total: rep.total,
                timestep: rep.timestep,
                x0: rep.x0,
                x: rep.x,
                unet_out: rep.unet_out,
                seconds,
            });
            step_start = std::time::Instant::now();
            flow
        },
    )?;
    let _ = on_progress(Progress::Phase(Phase::Decoding { frame: 0, total: settings.frames }));
    let video = decode_video(model, sampled.latent.clone());
    let _ = on_progress(Progress::Decoded { latent: &sampled.latent, video: &video });
    let frames = video_to_rgb8(video)?;
    Ok(Generation {
        frames,
        width: settings.width,
        height: settings.height,
        cancelled: sampled.cancelled,
        steps_done: sampled.steps_done,
    })
}
