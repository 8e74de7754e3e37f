//! `selfcheck`: does this machine's GPU compute the model correctly?
//!
//! A small random-weight model (the tiny fixture's architecture, `assets/selfcheck_model.json`)
//! runs one generation through [`generate`] twice, on the user's backend and precision and
//! on the CPU backend in f32 (which CI proves against the reference), with identical weights,
//! inputs and noise. Every stage the generation reports is compared: text and image
//! contexts, the encoded image latent, the UNet's outputs, one DDIM step and the decoded
//! video. A driver that miscomputes shows up here in seconds, stage by stage.

use std::ops::ControlFlow;
use std::time::Instant;

use crate::device::{Backend, Precision};
use crate::model::DynamiCrafter;
use crate::model::config::ModelConfig;
use crate::model::tokenizer::ClipTokenizer;
use crate::parity::f16_bounds;
use crate::parity::metrics::host;
use crate::parity::rel_l2;
use crate::pipeline::conditioning::CondCache;
use crate::pipeline::generate::{GenerateError, Progress, Settings, generate};
use crate::pipeline::memory::MemoryMode;
use crate::pipeline::preprocess::{FitMode, prepare_frame};
use crate::pipeline::rng::SeededSource;
use crate::pipeline::runtime::{self, RunConfig, RuntimeError};
use crate::pipeline::schedule::NoiseSchedule;
use crate::weights::error::WeightsError;
use crate::weights::vars::{MemorySource, RandomSource, TensorSource};

/// The architecture checked: small enough for seconds on any device.
const MODEL_JSON: &str = include_str!("../assets/selfcheck_model.json");

/// rel. L2 allowed between two f32 devices (summation order differs; measured ≤ 4e-6 on
/// lavapipe for every stage of the tiny model).
const F32_BOUND: f64 = 1e-4;

/// Self-check failures (not disagreements: those are in the report).
#[derive(Debug, thiserror::Error)]
pub enum SelfCheckError {
    #[error("the built-in check model is invalid: {0}")]
    Config(String),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Generate(#[from] GenerateError),
    #[error("reading a result back from the device failed: {0}")]
    Read(String),
    #[error("the tokenizer failed to load: {0}")]
    Tokenizer(String),
}

/// One stage's agreement between the checked device and the CPU reference.
#[derive(Debug, Clone, PartialEq)]
pub struct StageCheck {
    pub stage: &'static str,
    pub rel_l2: f64,
    pub bound: f64,
}

impl StageCheck {
    pub fn ok(&self) -> bool {
        self.rel_l2 <= self.bound
    }
}

/// The outcome: per stage, and the time each side took.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub backend: Backend,
    pub precision: Precision,
    pub stages: Vec<StageCheck>,
    pub seconds: f64,
    pub reference_seconds: f64,
    /// burn's backend and shader compiler as it ran (`…cubecl<wgpu<wgsl>>…`).
    pub compiler: String,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.stages.iter().all(StageCheck::ok)
    }

    /// A table for the terminal or the app's message.
    pub fn table(&self) -> String {
        let mut s = format!(
            "selfcheck: {} {} against the CPU backend in f32\n  compiler: {}\n",
            self.backend, self.precision, self.compiler
        );
        for c in &self.stages {
            let verdict = if c.ok() { "ok" } else { "WRONG" };
            s.push_str(&format!("  {:<22} rel_l2 {:>10.3e}  bound {:>8.1e}  {verdict}\n", c.stage, c.rel_l2, c.bound));
        }
        s.push_str(&format!(
            "  {:.1} s on {}, {:.1} s on the CPU: {}\n",
            self.seconds,
            self.backend,
            self.reference_seconds,
            if self.ok() {
                "every stage agrees"
            } else {
                "this device miscomputes; use the CPU backend or update the driver"
            }
        ));
        s
    }
}

/// The values one generation reported, on the host.
#[derive(Debug, Default)]
struct Trace {
    cond: Vec<f32>,
    uncond: Vec<f32>,
    c_concat: Vec<f32>,
    unet: Vec<f32>,
    latent: Vec<f32>,
    video: Vec<f32>,
}

/// Random weights plus the true noise schedule (random schedule buffers would not be a
/// schedule at all).
struct CheckWeights {
    random: RandomSource,
    schedule: MemorySource,
}

impl TensorSource for CheckWeights {
    fn shape_of(&self, name: &str) -> Option<Vec<usize>> {
        self.schedule.shape_of(name).or_else(|| self.random.shape_of(name))
    }

    fn read_f32(&self, name: &str) -> Result<Vec<f32>, WeightsError> {
        match self.schedule.shape_of(name) {
            Some(_) => self.schedule.read_f32(name),
            None => self.random.read_f32(name),
        }
    }

    fn tensor_names(&self) -> Vec<String> {
        let mut names = self.random.tensor_names();
        names.extend(self.schedule.tensor_names());
        names
    }
}

fn weights(cfg: &ModelConfig) -> CheckWeights {
    let mut schedule = MemorySource::new();
    for (name, v) in NoiseSchedule::new(&cfg.diffusion).buffers() {
        schedule.insert(name, vec![v.len()], v);
    }
    CheckWeights { random: RandomSource::new(&DynamiCrafter::expected_keys(cfg), 11, 0.05), schedule }
}

/// Runs the check on `backend` in `precision`.
pub fn run(backend: Backend, precision: Precision) -> Result<Report, SelfCheckError> {
    let json: serde_json::Value =
        serde_json::from_str(MODEL_JSON).map_err(|e| SelfCheckError::Config(e.to_string()))?;
    let cfg = ModelConfig::from_fixture_json(&json).map_err(|e| SelfCheckError::Config(e.to_string()))?;
    let mut settings = Settings::for_fixture(&cfg, &json);
    settings.prompt = "a lighthouse on a cliff, waves crashing".into();
    settings.steps = 1;
    let source = weights(&cfg);
    let tok = ClipTokenizer::new().map_err(|e| SelfCheckError::Tokenizer(e.to_string()))?;
    let image =
        image::RgbImage::from_fn(96, 80, |x, y| image::Rgb([(x * 2) as u8, (y * 3) as u8, ((x + y) % 256) as u8]));
    let frame = prepare_frame(&image, settings.height, settings.width, FitMode::Cover, [0, 0, 0]);

    let trace = |backend: Backend, precision: Precision| -> Result<(Trace, f64), SelfCheckError> {
        let run = RunConfig { backend, precision, memory: MemoryMode::Balanced, budget_gb: None };
        let rt = runtime::load(&source, &cfg, run, settings.frames, settings.height, settings.width)?;
        let mut t = Trace::default();
        let mut err = None;
        let mut keep = |dst: &mut Vec<f32>, v: Result<Vec<f32>, String>| match v {
            Ok(v) => *dst = v,
            Err(e) => err = Some(e),
        };
        let start = Instant::now();
        let mut noise = SeededSource::new(7);
        let mut cache = CondCache::new();
        generate(
            &rt.model,
            &tok,
            &settings,
            &frame,
            None,
            Some(&mut noise),
            rt.execution(),
            &mut cache,
            &|| false,
            |p| {
                match p {
                    Progress::Conditioned { cond, .. } => {
                        keep(&mut t.cond, host(cond.cond.clone()));
                        if let Some(u) = &cond.uncond {
                            keep(&mut t.uncond, host(u.clone()));
                        }
                        keep(&mut t.c_concat, host(cond.c_concat.clone()));
                    }
                    Progress::Step { unet_out, .. } => {
                        let all: Result<Vec<Vec<f32>>, String> = unet_out.iter().map(|u| host(u.clone())).collect();
                        keep(&mut t.unet, all.map(|v| v.concat()));
                    }
                    Progress::Decoded { latent, video } => {
                        keep(&mut t.latent, host(latent.clone()));
                        keep(&mut t.video, host(video.clone()));
                    }
                    Progress::Phase(_) => {}
                }
                ControlFlow::Continue(())
            },
        )?;
        let seconds = start.elapsed().as_secs_f64();
        match err {
            Some(e) => Err(SelfCheckError::Read(e)),
            None => Ok((t, seconds)),
        }
    };
    let (ours, seconds) = trace(backend, precision)?;
    let (reference, reference_seconds) = trace(Backend::Cpu, Precision::F32)?;
    let half = precision.resolve(backend, &backend.device()) != burn::tensor::DType::F32;
    let (stage, step) = if half { (f16_bounds::STAGE, f16_bounds::SAMPLING) } else { (F32_BOUND, F32_BOUND) };
    let stages = vec![
        StageCheck { stage: "text + image context", rel_l2: rel_l2(&ours.cond, &reference.cond), bound: stage },
        StageCheck { stage: "negative context", rel_l2: rel_l2(&ours.uncond, &reference.uncond), bound: stage },
        StageCheck { stage: "VAE encode", rel_l2: rel_l2(&ours.c_concat, &reference.c_concat), bound: stage },
        StageCheck { stage: "UNet (both branches)", rel_l2: rel_l2(&ours.unet, &reference.unet), bound: stage },
        StageCheck { stage: "DDIM step", rel_l2: rel_l2(&ours.latent, &reference.latent), bound: step },
        StageCheck { stage: "VAE decode", rel_l2: rel_l2(&ours.video, &reference.video), bound: step },
    ];
    let compiler = crate::device::compiler_name(&backend.device());
    Ok(Report { backend, precision, stages, seconds, reference_seconds, compiler })
}
