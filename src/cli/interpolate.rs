//! `interpolate IN.gif|FOLDER --model rife47.pth --factor 2 --out OUT`: RIFE frame
//! interpolation of an existing clip; and the same step for `animate --interpolate N`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;

use crate::device::{Backend, Precision};
use crate::export::{Clip, ExportOptions, export};
use crate::imaging::clip_file::read_clip;
use crate::pipeline::runtime::RunConfig;
use crate::rife::{IFNet, Options, interpolate_clip, load_rife, output_frames};

/// The RIFE options of `animate --interpolate`.
#[derive(Debug, Clone, Args)]
pub struct RifeArgs {
    /// RIFE weights (`rife47.pth`, `rife49.pth`); default: the newest one in the model folder.
    #[arg(id = "rife_model", long = "rife-model")]
    pub rife_model: Option<PathBuf>,
    /// Flow resolution: 0.25, 0.5, 1 (default), 2 or 4; below 1 for large or fast-moving
    /// frames, above 1 for small details.
    #[arg(id = "rife_scale", long = "rife-scale", default_value_t = 1.0)]
    pub scale: f32,
    /// Run every level on the swapped pair too and average (slower, sometimes steadier).
    #[arg(id = "rife_ensemble", long = "rife-ensemble")]
    pub ensemble: bool,
}

impl Default for RifeArgs {
    fn default() -> Self {
        Self { rife_model: None, scale: 1.0, ensemble: false }
    }
}

/// Arguments of `interpolate`.
#[derive(Debug, Args)]
pub struct InterpolateArgs {
    /// An animated GIF or a folder of numbered frames.
    pub input: PathBuf,
    /// RIFE weights (`rife47.pth`, `rife49.pth`).
    #[arg(long)]
    pub model: PathBuf,
    /// Frames out per frame in: 2 or 4 (any integer ≥ 2 works).
    #[arg(long, default_value_t = 2)]
    pub factor: usize,
    /// Output: `.gif`, `.mp4`, `.png`/`.apng`, or a folder.
    #[arg(long)]
    pub out: PathBuf,
    /// The input's frame rate (default: the GIF's own, or 8 for a folder); the output plays
    /// at this × factor, so the duration is kept.
    #[arg(long)]
    pub fps: Option<f32>,
    #[arg(long, default_value_t = 1.0)]
    pub scale: f32,
    #[arg(long)]
    pub ensemble: bool,
    #[arg(long)]
    pub overwrite: bool,
    #[arg(long, default_value = "wgpu")]
    pub backend: Backend,
    /// `auto` (f16 on a GPU that supports it), `f16` or `f32`.
    #[arg(long, default_value = "auto")]
    pub precision: Precision,
}

/// The RIFE file to use: the given one, or `rife49.pth` / `rife47.pth` in the model folder.
pub fn rife_model_path(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.to_owned());
    }
    let dir = crate::weights::import::default_model_dir().context("no model folder on this system")?;
    crate::rife::weights::find_installed(&dir).with_context(|| {
        format!(
            "no RIFE model in {} (rife49.pth or rife47.pth): download one (`download rife49 --url …`) or pass --rife-model",
            dir.display()
        )
    })
}

/// Loads RIFE on `backend` in `precision`.
pub fn load(path: &Path, backend: Backend, precision: Precision) -> anyhow::Result<IFNet> {
    let run = RunConfig { backend, precision, memory: Default::default(), budget_gb: None };
    let dtype = run.dtype()?;
    let (net, version) = load_rife(path, &backend.device(), dtype)?;
    eprintln!("RIFE {version} from {} on {backend} ({})", path.display(), crate::device::dtype_name(dtype));
    Ok(net)
}

/// Interpolates `clip` ×`factor` with a progress bar; the frames stay on the host.
pub fn interpolate(net: &IFNet, clip: &Clip, factor: usize, opts: Options) -> anyhow::Result<Clip> {
    let total = output_frames(clip.frames.len(), factor);
    let bar = super::progress::bar(total as u64, super::progress::STEPS);
    let mut frames = Vec::with_capacity(total);
    let start = Instant::now();
    interpolate_clip(net, clip, factor, opts, |k, frame| {
        frames.push(frame);
        bar.set_position(k as u64 + 1);
        true
    })?;
    bar.finish_and_clear();
    eprintln!(
        "interpolated {} → {} frames (×{factor}) in {:.1} s",
        clip.frames.len(),
        frames.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(Clip { width: clip.width, height: clip.height, frames })
}

/// Runs `interpolate`.
pub fn run(a: &InterpolateArgs) -> anyhow::Result<ExitCode> {
    if a.factor < 2 {
        bail!("--factor must be 2 or more");
    }
    if !crate::rife::SCALES.contains(&a.scale) {
        bail!("--scale must be 0.25, 0.5, 1, 2 or 4");
    }
    crate::export::Format::from_path(&a.out)?;
    if a.out.exists() && !a.overwrite {
        bail!("{} already exists (pass --overwrite to replace it)", a.out.display());
    }
    let (clip, gif_fps) = read_clip(&a.input)?;
    let fps_in = a.fps.or(gif_fps).unwrap_or(8.0);
    let opts = ExportOptions { fps: fps_in * a.factor as f32, overwrite: a.overwrite, ..Default::default() };
    opts.validate()?;
    let net = load(&a.model, a.backend, a.precision)?;
    let out = interpolate(&net, &clip, a.factor, Options { timestep: 0.5, scale: a.scale, ensemble: a.ensemble })?;
    let format = export(&out, &a.out, &opts)?;
    eprintln!("wrote {} ({format:?}, {} frames at {:.1} fps)", a.out.display(), out.frames.len(), opts.fps);
    Ok(ExitCode::SUCCESS)
}
