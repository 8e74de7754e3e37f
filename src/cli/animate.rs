//! `animate`: one generation from the command line, with a progress bar on stderr.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;

use crate::cli::export_args::ExportArgs;
use crate::device::{Backend, Precision};
use crate::export::{Clip, export};
use crate::imaging::load::{LoadOptions, load_image};
use crate::model::config::{ModelConfig, Variant};
use crate::model::tokenizer::ClipTokenizer;
use crate::pipeline::conditioning::CondCache;
use crate::pipeline::conditioning::Mode;
use crate::pipeline::generate::{Phase, Progress, Settings, generate};
use crate::pipeline::memory::MemoryMode;
use crate::pipeline::preprocess::{FitMode, prepare_frame};
use crate::pipeline::runtime::{self, RunConfig};
use crate::weights::import::{Detection, detect_variant, open_checkpoint};

/// Arguments of `animate`.
#[derive(Debug, Args)]
pub struct AnimateArgs {
    /// A checkpoint (`model.ckpt`, `.safetensors`) or an imported model file.
    #[arg(long)]
    pub model: PathBuf,
    /// `256`, `512`, `1024` or `512_interp` (default: detected).
    #[arg(long)]
    pub variant: Option<String>,
    /// A fixture-style `config.json` describing a non-official model (tests).
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long)]
    pub image: PathBuf,
    /// The last frame for `--mode interp`.
    #[arg(long)]
    pub image2: Option<PathBuf>,
    /// `i2v`, `interp` or `loop`.
    #[arg(long, default_value = "i2v")]
    pub mode: String,
    #[arg(long, default_value = "")]
    pub prompt: String,
    #[arg(long, default_value = "")]
    pub negative_prompt: String,
    #[arg(long)]
    pub steps: Option<usize>,
    #[arg(long)]
    pub cfg: Option<f32>,
    /// Separate image guidance scale (three UNet calls per step).
    #[arg(long)]
    pub cfg_img: Option<f32>,
    #[arg(long)]
    pub eta: Option<f32>,
    /// Frame stride (256) or FPS (512, 1024, interp) conditioning.
    #[arg(long)]
    pub fs: Option<i64>,
    #[arg(long)]
    pub guidance_rescale: Option<f32>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// `ddim` (the reference), or `dpmpp-2m` / `dpmpp-2m-sde` (fewer steps, not reference-exact).
    #[arg(long, default_value = "ddim")]
    pub sampler: String,
    #[arg(long, default_value_t = 1.0)]
    pub text_weight: f32,
    #[arg(long, default_value_t = 1.0)]
    pub image_weight: f32,
    /// `reference` (shorter side, centre crop, black bars), `cover`, `contain` or `stretch`.
    #[arg(long, default_value = "reference")]
    pub fit: String,
    /// Output: `clip.gif`, `clip.mp4` (H.264), `clip.png` / `clip.apng` (animated PNG), or a
    /// folder (numbered PNG frames).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub export: ExportArgs,
    #[arg(long, default_value = "wgpu")]
    pub backend: Backend,
    /// `auto` (f16 on a GPU that supports it), `f16` or `f32`.
    #[arg(long, default_value = "auto")]
    pub precision: Precision,
    /// `auto`, `balanced` (encoders resident, batched guidance) or `low` (encoders on the CPU).
    #[arg(long, default_value = "auto")]
    pub memory: MemoryMode,
    /// GPU memory of the card in GB: refuse runs estimated not to fit, and let `auto` choose.
    #[arg(long)]
    pub vram_gb: Option<f32>,
    /// Frame interpolation with RIFE after the generation: 2 or 4 frames per frame; the
    /// written file plays at `--fps` × this, so its duration is kept.
    #[arg(long, default_value_t = 1)]
    pub interpolate: usize,
    #[command(flatten)]
    pub rife: crate::cli::interpolate::RifeArgs,
}

fn fit_mode(s: &str) -> anyhow::Result<FitMode> {
    Ok(match s {
        "reference" => FitMode::Reference,
        "cover" | "crop" => FitMode::Cover,
        "contain" | "pad" => FitMode::Contain,
        "stretch" => FitMode::Stretch,
        other => bail!("unknown --fit `{other}` (use reference, cover, contain or stretch)"),
    })
}

/// Settings from the flags over the model's defaults.
fn settings(
    a: &AnimateArgs,
    variant: Option<Variant>,
    cfg: &ModelConfig,
    fixture: Option<&serde_json::Value>,
) -> anyhow::Result<Settings> {
    let mut s = match (variant, fixture) {
        (Some(v), _) => Settings::defaults(v),
        (None, Some(f)) => Settings::for_fixture(cfg, f),
        (None, None) => Settings::defaults(Variant::V512),
    };
    s.mode = Mode::parse(&a.mode).with_context(|| format!("unknown --mode `{}` (use i2v, interp or loop)", a.mode))?;
    s.prompt = a.prompt.clone();
    s.negative_prompt = a.negative_prompt.clone();
    if let Some(v) = a.steps {
        s.steps = v;
    }
    if let Some(v) = a.cfg {
        s.cfg = v;
    }
    s.cfg_img = a.cfg_img;
    if let Some(v) = a.eta {
        s.eta = v;
    }
    if let Some(v) = a.fs {
        s.fs = v;
    }
    if let Some(v) = a.guidance_rescale {
        s.guidance_rescale = v;
    }
    if let Some(v) = a.seed {
        s.seed = v;
    }
    s.text_weight = a.text_weight;
    s.image_weight = a.image_weight;
    s.sampler = crate::pipeline::solver::SamplerKind::parse(&a.sampler)
        .with_context(|| format!("unknown --sampler `{}` (use ddim, dpmpp-2m or dpmpp-2m-sde)", a.sampler))?;
    Ok(s)
}

type Described = (crate::weights::Checkpoint, ModelConfig, Option<Variant>, Option<serde_json::Value>);

/// Opens the checkpoint and works out its configuration (nothing is loaded yet).
fn describe_model(a: &AnimateArgs) -> anyhow::Result<Described> {
    let ckpt = open_checkpoint(&a.model)?;
    let (cfg, variant, fixture) = match &a.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let json: serde_json::Value =
                serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
            (ModelConfig::from_fixture_json(&json)?, None, Some(json))
        }
        None => {
            let v = match &a.variant {
                Some(v) => Variant::parse(v).with_context(|| format!("unknown --variant `{v}`"))?,
                None => detect_variant(&ckpt, &a.model)
                    .and_then(Detection::require)
                    .map_err(|why| anyhow::anyhow!("{}: {why}", a.model.display()))?,
            };
            (ModelConfig::preset(v), Some(v), None)
        }
    };
    Ok((ckpt, cfg, variant, fixture))
}

/// Runs `animate`.
pub fn run(a: &AnimateArgs) -> anyhow::Result<ExitCode> {
    let fit = fit_mode(&a.fit)?;
    let mode = Mode::parse(&a.mode).with_context(|| format!("unknown --mode `{}`", a.mode))?;
    if mode == Mode::Interpolation && a.image2.is_none() {
        bail!("--mode interp needs --image2 (the last frame)");
    }
    crate::export::Format::from_path(&a.out)?;
    // Export flags are checked before the model loads: a typo fails in milliseconds.
    let mut options = a.export.options(None, &a.out)?;
    if a.out.exists() && !a.export.overwrite {
        bail!("{} already exists (pass --overwrite to replace it)", a.out.display());
    }
    if a.interpolate > 1 {
        options.fps *= a.interpolate as f32;
        options.validate()?;
    }
    // The RIFE file is found (and its keys checked) before the long generation.
    let rife = (a.interpolate > 1)
        .then(|| {
            let path = super::interpolate::rife_model_path(a.rife.rife_model.as_deref())?;
            super::interpolate::load(&path, a.backend, a.precision)
        })
        .transpose()?;
    let opts = LoadOptions::default();
    let img = load_image(&a.image, &opts)?;
    let img2 = a.image2.as_deref().map(|p: &Path| load_image(p, &opts)).transpose()?;

    let t0 = Instant::now();
    let (ckpt, cfg, variant, fixture) = describe_model(a)?;
    let s = settings(a, variant, &cfg, fixture.as_ref())?;
    let run = RunConfig { backend: a.backend, precision: a.precision, memory: a.memory, budget_gb: a.vram_gb };
    let plan = run.plan(&cfg, s.frames, s.height, s.width)?;
    let calls = s.guidance().unet_calls();
    let est = run.estimate(&cfg, &plan, s.frames, s.height, s.width, calls)?;
    run.check_fits(&est, &plan)?;
    eprintln!(
        "loading {} ({}; estimated device memory {:.1} GB)",
        a.model.display(),
        run.describe(&plan),
        est.total() as f64 / 1e9
    );
    let rt = runtime::load(&ckpt, &cfg, run, s.frames, s.height, s.width)?;
    drop(ckpt);
    let model = &rt.model;
    s.validate(model)?;
    eprintln!("model loaded in {:.1} s", t0.elapsed().as_secs_f64());
    let frame = prepare_frame(&img, s.height, s.width, fit, [0, 0, 0]);
    let frame2 = img2.as_ref().map(|i| prepare_frame(i, s.height, s.width, fit, [0, 0, 0]));
    let tokenizer = ClipTokenizer::new()?;

    let start = Instant::now();
    let mut cache = CondCache::new();
    let mut sampled_s = 0.0;
    let exec = rt.execution();
    let bar = super::progress::bar(s.steps as u64, super::progress::STEPS);
    let generation = generate(model, &tokenizer, &s, &frame, frame2.as_ref(), None, exec, &mut cache, &|| false, |p| {
        match p {
            Progress::Phase(Phase::Encoding) => eprintln!("encoding the image and the prompt"),
            Progress::Phase(Phase::Decoding { .. }) => {
                bar.finish_and_clear();
                eprintln!("sampled in {sampled_s:.1} s; decoding {} frames", s.frames);
            }
            Progress::Phase(Phase::Sampling { .. }) => {}
            Progress::Step { step, total, seconds, .. } => {
                sampled_s += seconds;
                bar.set_length(total as u64);
                bar.set_position(step as u64 + 1);
                bar.set_message(format!("{:.2} s/step", sampled_s / (step + 1) as f64));
            }
            Progress::Conditioned { .. } | Progress::Decoded { .. } => {}
        }
        ControlFlow::Continue(())
    });
    bar.finish_and_clear();
    let generation = generation?;
    let mut clip = Clip { width: generation.width, height: generation.height, frames: generation.frames };
    if let Some(net) = &rife {
        let o = crate::rife::Options { timestep: 0.5, scale: a.rife.scale, ensemble: a.rife.ensemble };
        clip = super::interpolate::interpolate(net, &clip, a.interpolate, o)?;
    }
    let comment = serde_json::to_string(&s).ok();
    options.metadata = comment;
    let format = export(&clip, &a.out, &options)?;
    eprintln!(
        "wrote {} ({format:?}, {} frames) in {:.1} s",
        a.out.display(),
        clip.frames.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
