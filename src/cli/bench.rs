//! `bench`: speed and memory of every stage of a preset with random weights (no checkpoint
//! needed), printed as a table. For speed, not correctness.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use burn::tensor::{DType, Device, Distribution, Tensor};

use crate::device::Backend;
use crate::model::DynamiCrafter;
use crate::model::config::{ModelConfig, Variant};
use crate::model::unet::attention::BranchWeights;
use crate::pipeline::generate::Settings;
use crate::weights::vars::RandomSource;

/// Arguments of `bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// `256`, `512`, `1024` or `512_interp`.
    #[arg(long, default_value = "512")]
    pub preset: String,
    #[arg(long, default_value = "wgpu")]
    pub backend: Backend,
    /// Timed repetitions of each stage (after one warm-up).
    #[arg(long, default_value_t = 2)]
    pub steps: usize,
    /// Untimed warm-up runs of each stage (0 for very slow full-size CPU runs).
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Frames (default: the preset's 16).
    #[arg(long)]
    pub frames: Option<usize>,
    /// Pixel size `HxW` (default: the preset's).
    #[arg(long)]
    pub size: Option<String>,
    /// Also write the table as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Peak resident memory of this process (Linux), in bytes.
fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

struct Row {
    name: String,
    seconds: f64,
}

/// Records a row and prints it at once (full-size CPU runs take minutes per stage).
fn record(rows: &mut Vec<Row>, name: impl Into<String>, seconds: f64) {
    let name = name.into();
    eprintln!("  {name}: {seconds:.3} s");
    rows.push(Row { name, seconds });
}

fn time(device: &Device, warmup: usize, reps: usize, mut f: impl FnMut()) -> anyhow::Result<f64> {
    for _ in 0..warmup {
        f();
    }
    device.sync().map_err(|e| anyhow::anyhow!("device error: {e:?}"))?;
    let start = Instant::now();
    for _ in 0..reps.max(1) {
        f();
    }
    device.sync().map_err(|e| anyhow::anyhow!("device error: {e:?}"))?;
    Ok(start.elapsed().as_secs_f64() / reps.max(1) as f64)
}

/// Runs the benchmark and prints the table.
pub fn run(a: &BenchArgs) -> anyhow::Result<ExitCode> {
    let variant = Variant::parse(&a.preset).with_context(|| format!("unknown preset `{}`", a.preset))?;
    let cfg = ModelConfig::preset(variant);
    let defaults = Settings::defaults(variant);
    let frames = a.frames.unwrap_or(defaults.frames);
    let (h, w) = match &a.size {
        Some(s) => {
            let (h, w) = s.split_once(['x', 'X']).context("--size is HxW, e.g. 320x512")?;
            (h.trim().parse::<usize>()?, w.trim().parse::<usize>()?)
        }
        None => (defaults.height, defaults.width),
    };
    if h % 64 != 0 || w % 64 != 0 || h == 0 || w == 0 {
        bail!("--size must be positive multiples of 64 pixels (got {h}x{w})");
    }
    let device = a.backend.device();
    eprintln!("building DynamiCrafter {} with random weights on {}", variant.name(), a.backend);
    let t0 = Instant::now();
    let expected = DynamiCrafter::expected_keys(&cfg);
    let source = RandomSource::new(&expected, 7, 0.02);
    let model = DynamiCrafter::load(&source, &cfg, &device, DType::F32)?;
    let load_s = t0.elapsed().as_secs_f64();
    let (lh, lw) = (h / 8, w / 8);
    let d = cfg.unet.context_dim;
    let ctx_len = 77 + 16 * frames;
    let reps = a.steps;
    let mut rows = Vec::new();

    let n = 2048;
    let ma = Tensor::<2>::random([n, n], Distribution::Default, &device);
    let mb = Tensor::<2>::random([n, n], Distribution::Default, &device);
    let base = time(&device, a.warmup, reps, || {
        let _ = ma.clone().matmul(mb.clone());
    })?;
    record(&mut rows, format!("baseline: matmul {n}x{n} f32"), base);

    let ids = vec![vec![49406i64, 320, 1215, 49407]; 1];
    let ids: Vec<Vec<i64>> = ids
        .into_iter()
        .map(|mut v| {
            v.resize(77, 0);
            v
        })
        .collect();
    let secs = time(&device, a.warmup, reps, || {
        let _ = model.text.encode_ids(&ids);
    })?;
    record(&mut rows, "text encoder (1 prompt)", secs);
    let img224 = Tensor::<4>::random([1, 3, 224, 224], Distribution::Default, &device);
    let secs = time(&device, a.warmup, reps, || {
        let _ = model.resampler.forward(model.vision.forward(img224.clone()));
    })?;
    record(&mut rows, "image encoder + resampler", secs);
    let frame = Tensor::<4>::random([1, 3, h, w], Distribution::Default, &device);
    let secs = time(&device, a.warmup, reps, || {
        let _ = model.vae.encode(frame.clone());
    })?;
    record(&mut rows, "VAE encode (1 frame)", secs);
    let x = Tensor::<5>::random([1, 8, frames, lh, lw], Distribution::Default, &device);
    let ctx = Tensor::<3>::random([1, ctx_len, d], Distribution::Default, &device);
    let mut unet_err = None;
    let unet_s = time(&device, a.warmup, reps, || {
        if let Err(e) = model.unet.forward(x.clone(), &[500], ctx.clone(), Some(&[24]), BranchWeights::default()) {
            unet_err = Some(e);
        }
    })?;
    if let Some(e) = unet_err {
        bail!(e);
    }
    record(&mut rows, format!("UNet call ({frames}x{lh}x{lw} latent)"), unet_s);
    let secs = time(&device, a.warmup, reps, || {
        let a = model.unet.forward(x.clone(), &[500], ctx.clone(), Some(&[24]), BranchWeights::default());
        let b = model.unet.forward(x.clone(), &[500], ctx.clone(), Some(&[24]), BranchWeights::default());
        if let (Ok(a), Ok(b)) = (a, b) {
            let _ = b.clone() + (a - b) * 7.5;
        }
    })?;
    record(&mut rows, "DDIM step with CFG (2 UNet calls)", secs);
    let z = Tensor::<4>::random([1, 4, lh, lw], Distribution::Default, &device);
    let secs = time(&device, a.warmup, reps, || {
        let _ = model.vae.decode(z.clone());
    })?;
    record(&mut rows, "VAE decode (1 frame)", secs);

    println!(
        "bench: DynamiCrafter {} on {}, {frames} frames at {h}x{w}, {reps} timed reps after {} warm-up",
        variant.name(),
        a.backend,
        a.warmup
    );
    println!("model build + upload of random weights: {load_s:.1} s");
    println!("{:<40} {:>12} {:>14}", "stage", "seconds", "x baseline");
    for r in &rows {
        println!("{:<40} {:>12.4} {:>14.1}", r.name, r.seconds, r.seconds / base);
    }
    let step = rows.iter().find(|r| r.name.starts_with("DDIM step")).map_or(0.0, |r| r.seconds);
    println!("{:<40} {:>12.1}", "estimated 50-step CFG run (s)", 50.0 * step);
    if let Some(u) = device.memory_pool_usage() {
        println!(
            "device memory: {:.2} GB in use, {:.2} GB reserved",
            u.bytes_in_use as f64 / 1e9,
            u.bytes_reserved as f64 / 1e9
        );
    }
    if let Some(p) = peak_rss() {
        println!("peak process memory (RSS): {:.2} GB", p as f64 / 1e9);
    }
    if let Some(path) = &a.json {
        let obj: serde_json::Map<String, serde_json::Value> =
            rows.iter().map(|r| (r.name.clone(), r.seconds.into())).collect();
        std::fs::write(path, serde_json::to_string_pretty(&obj)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
