//! The memory plan: where the components live, whether the guidance branches run as one
//! batch, how large one attention or feed-forward piece may be, and an estimate of the
//! device memory a generation needs, checked before the run.
//!
//! The estimate counts the resident weights exactly (from the module tree) and the
//! activations from the UNet's widest level; `bench` measures the real peak.

use std::fmt;

use burn::tensor::DType;

use crate::device::Backend;
use crate::model::config::ModelConfig;
use crate::model::{DynamiCrafter, prefix};

/// What the user picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
pub enum MemoryMode {
    /// `balanced` when the GPU memory budget is known to hold it, else `low`.
    #[default]
    Auto,
    /// Encoders resident on the device, guidance branches batched, large chunks.
    Balanced,
    /// Encoders on the CPU, one UNet call per guidance branch, small chunks.
    Low,
}

impl MemoryMode {
    pub const ALL: [Self; 3] = [Self::Auto, Self::Balanced, Self::Low];
}

impl fmt::Display for MemoryMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The names the command line takes (`clap::ValueEnum`), shown the same in the app.
        let value = clap::ValueEnum::to_possible_value(self);
        f.write_str(value.as_ref().map_or("?", clap::builder::PossibleValue::get_name))
    }
}

/// Elements of one attention score block or feed-forward hidden piece.
const BALANCED_CHUNK_ELEMS: usize = 1 << 28; // 1 GiB of f32 scores
const LOW_CHUNK_ELEMS: usize = 1 << 25; // 128 MiB of f32 scores

/// The resolved plan of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryPlan {
    /// `Balanced` or `Low` (never `Auto`).
    pub mode: MemoryMode,
    /// Text tower, image tower + Resampler and VAE encoder on the CPU backend.
    pub encoders_on_host: bool,
    /// The guidance branches of a step as one UNet batch.
    pub batch_cfg: bool,
    /// Chunk limit for attention scores and feed-forward hidden states.
    pub chunk_elems: usize,
    /// The VAE decoder on the CPU backend: set when one decoded frame's largest feature map
    /// exceeds the adapter's largest buffer (lavapipe's 128 MiB at 320×512), which no GPU
    /// kernel could bind.
    pub decoder_on_host: bool,
    /// The adapter's largest buffer in bytes (`None`: unknown or the CPU backend).
    pub max_binding: Option<u64>,
}

impl MemoryPlan {
    /// Resolves `mode` for `backend`. `budget` is the device memory the user says the GPU
    /// has (`None`: unknown); `max_binding` the adapter's largest storage binding, in bytes,
    /// which caps one piece. `estimate_balanced` is the need of the balanced plan.
    pub fn resolve(
        mode: MemoryMode,
        backend: Backend,
        budget: Option<u64>,
        max_binding: Option<u64>,
        estimate_balanced: impl Fn(&MemoryPlan) -> u64,
    ) -> Self {
        let balanced = Self::of(MemoryMode::Balanced, backend, max_binding);
        match mode {
            MemoryMode::Balanced | MemoryMode::Low => Self::of(mode, backend, max_binding),
            // The CPU backend's "device" is host memory: nothing to save by moving the encoders.
            MemoryMode::Auto if backend == Backend::Cpu => balanced,
            MemoryMode::Auto => match budget {
                Some(b) if estimate_balanced(&balanced) <= b => balanced,
                _ => Self::of(MemoryMode::Low, backend, max_binding),
            },
        }
    }

    fn of(mode: MemoryMode, backend: Backend, max_binding: Option<u64>) -> Self {
        let base = if mode == MemoryMode::Low { LOW_CHUNK_ELEMS } else { BALANCED_CHUNK_ELEMS };
        let cap = max_binding.map_or(usize::MAX, |b| usize::try_from(b / 4).unwrap_or(usize::MAX));
        Self {
            mode,
            encoders_on_host: mode == MemoryMode::Low && backend == Backend::Wgpu,
            batch_cfg: mode == MemoryMode::Balanced,
            chunk_elems: base.min(cap).max(1 << 16),
            decoder_on_host: false,
            max_binding,
        }
    }

    /// What runs on the CPU under this plan, for people (`None`: everything on the device).
    pub fn on_host(&self) -> Option<&'static str> {
        match (self.encoders_on_host, self.decoder_on_host) {
            (true, true) => Some("encoders and VAE decoder on the CPU"),
            (true, false) => Some("encoders on the CPU"),
            (false, true) => Some("VAE decoder on the CPU"),
            (false, false) => None,
        }
    }

    /// Moves the decoder to the CPU if a `height` × `width` frame of `cfg` needs a buffer
    /// larger than the adapter has.
    pub fn place_decoder(mut self, cfg: &ModelConfig, height: usize, width: usize) -> Self {
        self.decoder_on_host = self.max_binding.is_some_and(|b| largest_decoder_map(cfg, height, width) > b);
        self
    }
}

/// Bytes of the VAE decoder's largest f32 feature map for one `height` × `width` frame: the
/// second level's channels upsampled to full size (256 × H × W for the SD VAE).
pub fn largest_decoder_map(cfg: &ModelConfig, height: usize, width: usize) -> u64 {
    let top = (cfg.vae.ch * cfg.vae.ch_mult.get(1).copied().unwrap_or(1)) as u64;
    top * height as u64 * width as u64 * 4
}

/// Bytes of the largest tensor a UNet call keeps whole on the device, in the compute dtype:
/// an output block's input (the upsampled features concatenated with the skip), for all
/// `n` samples (frames × batched branches). The f32 working copies of GroupNorm and the
/// convolutions are taken in pieces (`model::nn::piece_limit`), so they do not count.
fn largest_unet_tensor(cfg: &ModelConfig, n: u64, lh: u64, lw: u64, bytes: u64) -> u64 {
    let mc = cfg.unet.model_channels as u64;
    let mults = &cfg.unet.channel_mult;
    let (mut h, mut w, mut largest) = (lh, lw, 0);
    for (level, mult) in mults.iter().enumerate() {
        let below = mults.get(level + 1).unwrap_or(mult);
        largest = largest.max(n * (*mult.max(below) as u64 + *mult as u64) * mc * h * w * bytes);
        h = h.div_ceil(2);
        w = w.div_ceil(2);
    }
    largest
}

/// Device memory a generation needs, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// UNet and VAE decoder, plus the encoders when they are on the device.
    pub weights: u64,
    /// Peak activations of one UNet call (all guidance branches when batched) or a decode.
    pub activations: u64,
    /// The largest single tensor the device must hold.
    pub largest_tensor: u64,
}

impl MemoryEstimate {
    pub fn total(&self) -> u64 {
        self.weights + self.activations
    }
}

/// Parameters under the component prefixes (tensors inference reads), from the module tree.
pub fn params(cfg: &ModelConfig, prefixes: &[&str]) -> u64 {
    DynamiCrafter::expected_keys(cfg)
        .iter()
        .filter(|e| e.used && prefixes.iter().any(|p| e.name.starts_with(p)))
        .map(|e| e.shape.iter().product::<usize>() as u64)
        .sum()
}

/// Estimates the device memory of one generation of `frames` × `height` × `width` with
/// `calls` UNet calls per step (1, 2 or 3).
///
/// Activations: the skip connections of every input block at once, plus about ten live
/// feature maps of the widest level (residual blocks, attention in/out, GroupNorm's f32
/// copy), plus one chunk of attention scores and one of feed-forward hidden state.
pub fn estimate(
    cfg: &ModelConfig,
    frames: usize,
    height: usize,
    width: usize,
    dtype: DType,
    plan: &MemoryPlan,
    calls: usize,
) -> MemoryEstimate {
    let bytes = dtype.size() as u64;
    let mut weights = params(cfg, &[prefix::UNET]) * bytes;
    if !plan.decoder_on_host {
        weights += params(cfg, &["first_stage_model.decoder", "first_stage_model.post_quant_conv"]) * 4;
    }
    if !plan.encoders_on_host {
        weights += params(cfg, &[prefix::TEXT, prefix::VISION, prefix::RESAMPLER]) * bytes;
        weights += params(cfg, &["first_stage_model.encoder", "first_stage_model.quant_conv"]) * 4;
    }
    let f = cfg.vae_factor();
    let (lh, lw) = ((height / f) as u64, (width / f) as u64);
    let batch = if plan.batch_cfg { calls.max(1) as u64 } else { 1 };
    let n = batch * frames as u64;
    let mc = cfg.unet.model_channels as u64;
    let mut skips = 0u64;
    let (mut h, mut w) = (lh, lw);
    for (level, mult) in cfg.unet.channel_mult.iter().enumerate() {
        let ch = *mult as u64 * mc;
        skips += (cfg.unet.num_res_blocks as u64 + 1) * n * ch * h * w;
        if level + 1 < cfg.unet.channel_mult.len() {
            h = h.div_ceil(2);
            w = w.div_ceil(2);
        }
    }
    let widest = n * mc * lh * lw;
    // The largest piece: level 0's feed-forward hidden state (8·mc per token) or its
    // attention scores if burn falls back to materialising them, capped by the chunking.
    let heads = (mc / cfg.unet.num_head_channels.max(1) as u64).max(1);
    let whole = (n * lh * lw * 8 * mc).max(n * heads * (lh * lw).pow(2));
    let unet = (skips + 10 * widest) * bytes + 2 * whole.min(plan.chunk_elems as u64) * 4;
    // One decoded frame, f32: about four live maps of the second level's width upsampled
    // to full size (the largest), plus the mid-block's single-head attention scores.
    let map = largest_decoder_map(cfg, height, width);
    let decode = if plan.decoder_on_host { 0 } else { 4 * map + (lh * lw).pow(2) * 4 };
    let mut largest_tensor = largest_unet_tensor(cfg, n, lh, lw, bytes);
    if !plan.decoder_on_host {
        largest_tensor = largest_tensor.max(map);
    }
    MemoryEstimate { weights, activations: unet.max(decode), largest_tensor }
}

/// Why a run was refused before it started.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WontFit {
    #[error(
        "this run needs about {need_gb:.1} GB of GPU memory ({weights_gb:.1} GB weights + {act_gb:.1} GB activations) \
         but the budget is {budget_gb:.1} GB: {advice}"
    )]
    Budget { need_gb: f64, weights_gb: f64, act_gb: f64, budget_gb: f64, advice: String },
    #[error(
        "this run needs one GPU buffer of {need_mib} MiB, but this adapter's largest is {limit_mib} MiB \
         (a driver limit, not memory): {advice}"
    )]
    Binding { need_mib: u64, limit_mib: u64, advice: String },
}

/// Refuses a run whose estimate exceeds `budget` (when the budget is known), or that needs a
/// tensor larger than the adapter's largest buffer.
pub fn check_fits(est: &MemoryEstimate, budget: Option<u64>, plan: &MemoryPlan, dtype: DType) -> Result<(), WontFit> {
    let mut advice = Vec::new();
    if plan.mode != MemoryMode::Low {
        advice.push("choose the `low` memory mode");
    }
    if dtype == DType::F32 {
        advice.push("use f16 precision");
    }
    advice.push("or choose a smaller output size");
    let advice = advice.join(", ");
    if let Some(limit) = plan.max_binding.filter(|l| est.largest_tensor > *l) {
        let mib = |b: u64| b.div_ceil(1 << 20);
        return Err(WontFit::Binding { need_mib: mib(est.largest_tensor), limit_mib: limit >> 20, advice });
    }
    let Some(budget) = budget else { return Ok(()) };
    if est.total() <= budget {
        return Ok(());
    }
    let gb = |b: u64| b as f64 / 1e9;
    Err(WontFit::Budget {
        need_gb: gb(est.total()),
        weights_gb: gb(est.weights),
        act_gb: gb(est.activations),
        budget_gb: gb(budget),
        advice,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::config::Variant;

    #[test]
    fn low_moves_encoders_off_wgpu_and_never_batches() {
        let p = MemoryPlan::resolve(MemoryMode::Low, Backend::Wgpu, None, Some(128 << 20), |_| 0);
        assert!(p.encoders_on_host && !p.batch_cfg);
        assert_eq!(p.chunk_elems, (128 << 20) / 4, "a piece never exceeds the binding limit");
        let b = MemoryPlan::resolve(MemoryMode::Balanced, Backend::Wgpu, None, None, |_| 0);
        assert!(!b.encoders_on_host && b.batch_cfg);
    }

    #[test]
    fn auto_is_balanced_only_when_the_budget_holds_it() {
        let need = |_: &MemoryPlan| 7_000_000_000;
        assert_eq!(MemoryPlan::resolve(MemoryMode::Auto, Backend::Wgpu, None, None, need).mode, MemoryMode::Low);
        let small = Some(6_000_000_000);
        assert_eq!(MemoryPlan::resolve(MemoryMode::Auto, Backend::Wgpu, small, None, need).mode, MemoryMode::Low);
        let big = Some(16_000_000_000);
        assert_eq!(MemoryPlan::resolve(MemoryMode::Auto, Backend::Wgpu, big, None, need).mode, MemoryMode::Balanced);
    }

    #[test]
    fn estimate_of_512_counts_f16_unet_weights_and_refuses_a_small_budget() {
        let cfg = ModelConfig::preset(Variant::V512);
        let low = MemoryPlan::resolve(MemoryMode::Low, Backend::Wgpu, None, None, |_| 0);
        let e16 = estimate(&cfg, 16, 320, 512, DType::F16, &low, 2);
        let e32 = estimate(&cfg, 16, 320, 512, DType::F32, &low, 2);
        // The UNet has about 1.4 billion parameters: ~2.8 GB in f16.
        assert!((2.5e9..3.3e9).contains(&(e16.weights as f64)), "{e16:?}");
        assert!(e32.weights > e16.weights * 19 / 10);
        let err = check_fits(&e16, Some(1_000_000_000), &low, DType::F16).unwrap_err();
        assert!(err.to_string().contains("smaller output size"), "{err}");
        assert!(check_fits(&e16, None, &low, DType::F16).is_ok());
    }

    /// The plan's estimates for every official preset at its own size (16 frames, CFG),
    /// printed as a table; in f16 with the `low` plan each stays within the targets
    /// (≤ 5 GB at 256, ≤ 6 GB at 512, ≤ 10 GB at 1024), and f32 `low` within 12 GB at 512.
    #[test]
    fn estimates_of_the_presets_meet_the_targets() {
        use crate::model::config::Variant;
        use crate::pipeline::generate::Settings;
        let gb = |b: u64| b as f64 / 1e9;
        for v in Variant::ALL {
            let cfg = ModelConfig::preset(v);
            let s = Settings::defaults(v);
            for mode in [MemoryMode::Low, MemoryMode::Balanced] {
                let plan = MemoryPlan::resolve(mode, Backend::Wgpu, None, None, |_| 0);
                for dtype in [DType::F16, DType::F32] {
                    let e = estimate(&cfg, s.frames, s.height, s.width, dtype, &plan, 2);
                    println!(
                        "{:<10} {:<8} {:?}: {:.2} GB ({:.2} weights + {:.2} activations)",
                        v.name(),
                        mode.to_string(),
                        dtype,
                        gb(e.total()),
                        gb(e.weights),
                        gb(e.activations)
                    );
                }
            }
            let low = MemoryPlan::resolve(MemoryMode::Low, Backend::Wgpu, None, None, |_| 0);
            let f16 = gb(estimate(&cfg, s.frames, s.height, s.width, DType::F16, &low, 2).total());
            let target = match v {
                Variant::V256 => 5.0,
                Variant::V512 | Variant::V512Interp => 6.0,
                Variant::V1024 => 10.0,
            };
            assert!(f16 <= target, "{}: f16 low estimate {f16:.2} GB over the {target} GB target", v.name());
            if v == Variant::V512 {
                let f32 = gb(estimate(&cfg, s.frames, s.height, s.width, DType::F32, &low, 2).total());
                assert!(f32 <= 12.0, "512 f32 low estimate {f32:.2} GB");
            }
        }
    }

    /// At 320×512 lavapipe's 128 MiB buffers cannot hold a decoded frame's largest map
    /// (256 × 320 × 512 f32, 168 MB): the decoder goes to the CPU. f32 cannot run the UNet
    /// there at all (an output block's input, 960 × 16 × 40 × 64 f32, is 157 MB): refused
    /// before the run with advice; f16 fits. A 2 GiB GPU keeps everything on the device.
    #[test]
    fn the_binding_limit_places_the_decoder_and_refuses_what_cannot_exist() {
        let cfg = ModelConfig::preset(Variant::V512);
        let plan = |binding| {
            MemoryPlan::resolve(MemoryMode::Low, Backend::Wgpu, None, Some(binding), |_| 0)
                .place_decoder(&cfg, 320, 512)
        };
        let lavapipe = plan(128 << 20);
        assert!(lavapipe.decoder_on_host);
        assert_eq!(lavapipe.on_host(), Some("encoders and VAE decoder on the CPU"));
        let e16 = estimate(&cfg, 16, 320, 512, DType::F16, &lavapipe, 2);
        assert_eq!(e16.largest_tensor, 16 * 960 * 40 * 64 * 2);
        assert!(check_fits(&e16, None, &lavapipe, DType::F16).is_ok());
        let e32 = estimate(&cfg, 16, 320, 512, DType::F32, &lavapipe, 2);
        let err = check_fits(&e32, None, &lavapipe, DType::F32).unwrap_err();
        assert!(matches!(err, WontFit::Binding { need_mib: 150, limit_mib: 128, .. }), "{err:?}");
        assert!(err.to_string().contains("use f16 precision"), "{err}");
        let gpu = plan(2 << 30);
        assert!(!gpu.decoder_on_host);
        let e = estimate(&cfg, 16, 320, 512, DType::F32, &gpu, 2);
        assert!(e.weights > e16.weights && check_fits(&e, None, &gpu, DType::F32).is_ok());
    }
}
