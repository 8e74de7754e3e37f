//! `animate`: one generation from the command line, with a progress bar on stderr.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use image::RgbImage;

use crate::cli::export_args::ExportArgs;
use crate::device::{Backend, Precision};
use crate::export::{Clip, export};
use crate::history::digest;
use crate::imaging::clip_file::read_clip;
use crate::imaging::load::{LoadOptions, load_image};
use crate::model::config::{ModelConfig, Variant};
use crate::model::tokenizer::ClipTokenizer;
use crate::pipeline::conditioning::CondCache;
use crate::pipeline::conditioning::Mode;
use crate::pipeline::generate::{Phase, Progress, Settings, generate};
use crate::pipeline::memory::MemoryMode;
use crate::pipeline::preprocess::{FitMode, prepare_frame};
use crate::pipeline::runtime::{self, RunConfig};
use crate::pipeline::storyboard;
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
    /// The input image (not with `--keyframes` or `--continue-from`).
    #[arg(long, required_unless_present_any = ["keyframes", "continue_from"])]
    pub image: Option<PathBuf>,
    /// A storyboard: 2 or more keyframes in order; each neighbouring pair becomes one
    /// interpolation segment (the 512_interp model), joined without doubled frames.
    #[arg(long, num_args = 2.., conflicts_with_all = ["image", "image2", "continue_from"])]
    pub keyframes: Vec<PathBuf>,
    /// With `--keyframes`: add the segment from the last keyframe back to the first.
    #[arg(long = "loop", requires = "keyframes")]
    pub looped: bool,
    /// With `--keyframes`: one prompt per segment, in order (default: `--prompt` for all).
    #[arg(long = "segment-prompt", requires = "keyframes")]
    pub segment_prompts: Vec<String>,
    /// Continue a clip (GIF or frame folder): a new clip from its last frame, appended.
    #[arg(long, conflicts_with_all = ["image", "image2"])]
    pub continue_from: Option<PathBuf>,
    /// With `--continue-from`: blend this many frames across the join (0: a plain cut).
    #[arg(long, default_value_t = 0, requires = "continue_from")]
    pub crossfade: usize,
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
    if mode == Mode::Interpolation && a.image2.is_none() && a.keyframes.is_empty() {
        bail!("--mode interp needs --image2 (the last frame)");
    }
    crate::export::Format::from_path(&a.out)?;
    // Export flags are checked before the model loads: a typo fails in milliseconds.
    let mut options = a.export.options(None, &a.out)?;
    if a.out.exists() && !a.export.overwrite {
        bail!("{} already exists (pass --overwrite to replace it)", a.out.display());
    }
    if a.interpolate == 0 {
        bail!("--interpolate is the frames per frame: 2 or 4 (1: none)");
    }
    if a.interpolate > 1 {
        if !crate::rife::SCALES.contains(&a.rife.scale) {
            bail!("--rife-scale must be 0.25, 0.5, 1, 2 or 4");
        }
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
    let inputs = Inputs::read(a, mode)?;

    let t0 = Instant::now();
    let (ckpt, cfg, variant, fixture) = describe_model(a)?;
    let mut s = settings(a, variant, &cfg, fixture.as_ref())?;
    if !a.keyframes.is_empty() {
        if variant.is_some_and(|v| v != Variant::V512Interp) {
            bail!(
                "--keyframes needs the 512_interp model (this is DynamiCrafter {})",
                variant.map_or("", Variant::name)
            );
        }
        s.mode = Mode::Interpolation;
    } else if a.continue_from.is_some() {
        s.mode = Mode::ImageToVideo;
    }
    if let Join::Continue { clip, .. } = &inputs.join {
        if (clip.width, clip.height) != (s.width, s.height) {
            bail!(
                "{} is {}×{}, this model makes {}×{} clips: they cannot be joined",
                a.continue_from.as_deref().unwrap_or(Path::new("")).display(),
                clip.width,
                clip.height,
                s.width,
                s.height
            );
        }
    }
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
    let tokenizer = ClipTokenizer::new()?;

    let start = Instant::now();
    let mut cache = CondCache::new();
    let exec = rt.execution();
    let mut clips: Vec<Vec<Vec<u8>>> = Vec::new();
    let (mut width, mut height) = (s.width, s.height);
    let n = inputs.segments.len();
    for (i, seg) in inputs.segments.iter().enumerate() {
        let mut si = s.clone();
        si.seed = s.seed.wrapping_add(i as u64);
        if let Some(p) = &seg.prompt {
            si.prompt = p.clone();
        }
        if n > 1 {
            eprintln!("segment {}/{n}: keyframe {} → {} (seed {})", i + 1, seg.label.0, seg.label.1, si.seed);
        }
        let frame = prepare_frame(&seg.image, si.height, si.width, fit, [0, 0, 0]);
        let frame2 = seg.image2.as_ref().map(|i| prepare_frame(i, si.height, si.width, fit, [0, 0, 0]));
        let mut sampled_s = 0.0;
        let bar = super::progress::bar(si.steps as u64, super::progress::STEPS);
        let generation =
            generate(model, &tokenizer, &si, &frame, frame2.as_ref(), None, exec, &mut cache, &|| false, |p| {
                match p {
                    Progress::Phase(Phase::Encoding) => eprintln!("encoding the image and the prompt"),
                    Progress::Phase(Phase::Decoding { .. }) => {
                        bar.finish_and_clear();
                        eprintln!("sampled in {sampled_s:.1} s; decoding {} frames", si.frames);
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
        (width, height) = (generation.width, generation.height);
        clips.push(generation.frames);
    }
    let frames = match &inputs.join {
        Join::Single => clips.remove(0),
        Join::Storyboard { looped } => storyboard::join(&clips, *looped),
        Join::Continue { clip, .. } => storyboard::append(&clip.frames, &clips[0], a.crossfade),
    };
    let mut clip = Clip { width, height, frames };
    let mut interpolation_failed = None;
    if let Some(net) = &rife {
        let o = crate::rife::Options { timestep: 0.5, scale: a.rife.scale, ensemble: a.rife.ensemble };
        match super::interpolate::interpolate(net, &clip, a.interpolate, o) {
            Ok(c) => clip = c,
            Err(e) => {
                // The generation is not lost: it is written as made, at the plain FPS.
                options.fps /= a.interpolate as f32;
                interpolation_failed = Some(e);
            }
        }
    }
    options.metadata = Some(inputs.metadata(&s, a, interpolation_failed.is_none()).to_string());
    let format = export(&clip, &a.out, &options)?;
    eprintln!(
        "wrote {} ({format:?}, {} frames) in {:.1} s",
        a.out.display(),
        clip.frames.len(),
        start.elapsed().as_secs_f64()
    );
    if let Some(e) = interpolation_failed {
        return Err(e.context(format!("frame interpolation failed; {} holds the clip without it", a.out.display())));
    }
    Ok(ExitCode::SUCCESS)
}

/// One generation to run.
struct SegmentInput {
    image: RgbImage,
    image2: Option<RgbImage>,
    prompt: Option<String>,
    /// Keyframe numbers (1-based) for the progress lines.
    label: (usize, usize),
}

/// How the generations become one clip.
enum Join {
    Single,
    Storyboard { looped: bool },
    Continue { clip: Clip, last_frame_hash: String },
}

/// What `animate` generates, read before the model loads.
struct Inputs {
    segments: Vec<SegmentInput>,
    join: Join,
}

impl Inputs {
    fn read(a: &AnimateArgs, mode: Mode) -> anyhow::Result<Self> {
        let opts = LoadOptions::default();
        if !a.keyframes.is_empty() {
            let keys = a.keyframes.iter().map(|p| load_image(p, &opts)).collect::<Result<Vec<_>, _>>()?;
            let plan = storyboard::segments(keys.len(), a.looped);
            if !a.segment_prompts.is_empty() && a.segment_prompts.len() != plan.len() {
                bail!("{} --segment-prompt given for {} segments", a.segment_prompts.len(), plan.len());
            }
            let segments = plan
                .iter()
                .enumerate()
                .map(|(i, seg)| SegmentInput {
                    image: keys[seg.from].clone(),
                    image2: Some(keys[seg.to].clone()),
                    prompt: a.segment_prompts.get(i).cloned(),
                    label: (seg.from + 1, seg.to + 1),
                })
                .collect();
            return Ok(Self { segments, join: Join::Storyboard { looped: a.looped } });
        }
        if let Some(path) = &a.continue_from {
            let (clip, _) = read_clip(path)?;
            let last = clip.frames.last().cloned().unwrap_or_default();
            let image = RgbImage::from_raw(clip.width as u32, clip.height as u32, last)
                .with_context(|| format!("{}: the last frame is damaged", path.display()))?;
            let last_frame_hash = digest(image.as_raw());
            let seg = SegmentInput { image, image2: None, prompt: None, label: (1, 1) };
            return Ok(Self { segments: vec![seg], join: Join::Continue { clip, last_frame_hash } });
        }
        let image = load_image(a.image.as_deref().context("--image is required")?, &opts)?;
        let image2 = a.image2.as_deref().map(|p: &Path| load_image(p, &opts)).transpose()?;
        if mode == Mode::Interpolation && image2.is_none() {
            bail!("--mode interp needs --image2 (the last frame)");
        }
        Ok(Self { segments: vec![SegmentInput { image, image2, prompt: None, label: (1, 2) }], join: Join::Single })
    }

    /// The generation settings stored in the file, with the storyboard or the continued
    /// clip (and the hash of the frame the continuation started from).
    fn metadata(&self, s: &Settings, a: &AnimateArgs, interpolated: bool) -> serde_json::Value {
        let mut m = serde_json::to_value(s).unwrap_or_default();
        let extra = match &self.join {
            Join::Single => None,
            Join::Storyboard { looped } => Some((
                "storyboard",
                serde_json::json!({
                    "keyframes": a.keyframes,
                    "loop": looped,
                    "segments": self.segments.iter().enumerate().map(|(i, g)| serde_json::json!({
                        "from": g.label.0 - 1, "to": g.label.1 - 1,
                        "seed": s.seed.wrapping_add(i as u64),
                        "prompt": g.prompt.as_deref().unwrap_or(&s.prompt),
                    })).collect::<Vec<_>>(),
                }),
            )),
            Join::Continue { clip, last_frame_hash } => Some((
                "continued_from",
                serde_json::json!({
                    "clip": a.continue_from,
                    "frames": clip.frames.len(),
                    "input_frame_hash": last_frame_hash,
                    "crossfade": a.crossfade,
                }),
            )),
        };
        if let (Some((k, v)), Some(obj)) = (extra, m.as_object_mut()) {
            obj.insert(k.into(), v);
        }
        if a.interpolate > 1 && interpolated {
            if let Some(obj) = m.as_object_mut() {
                obj.insert(
                    "interpolate".into(),
                    serde_json::json!({"factor": a.interpolate, "rife_scale": a.rife.scale}),
                );
            }
        }
        m
    }
}
