//! `bench`: speed and memory of every stage of a preset with random weights (no checkpoint
//! needed), at one or both precisions in the same run, printed as a table with ratios
//! against a baseline matmul measured in the same run (the stages: `stages.rs`; the GPU
//! report over presets, precisions and memory modes: `report.rs`). For speed, not
//! correctness. Resident bytes per component are counted from the module tree.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use burn::tensor::DType;

use crate::device::{Backend, Precision, dtype_name};
use crate::model::config::{ModelConfig, Variant};
use crate::model::{DynamiCrafter, prefix};
use crate::pipeline::generate::Settings;
use crate::pipeline::memory::MemoryMode;
use crate::pipeline::runtime::{self, RunConfig};
use crate::weights::import::open_checkpoint;
use crate::weights::vars::{RandomSource, TensorSource};

use super::stages::{self, Row, STAGES, Shape, StageOptions, sync};

/// Arguments of `bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Instead of timing: the samplers on Gaussian data with a known answer (error against
    /// the exact end point per step count, fitted order, and the stochastic samplers' moments).
    #[arg(long)]
    pub samplers: bool,
    /// `256`, `512`, `1024` or `512_interp`.
    #[arg(long, default_value = "512")]
    pub preset: String,
    #[arg(long, default_value = "wgpu")]
    pub backend: Backend,
    /// `both` (f32 then f16, with the f16/f32 ratio), `f32`, `f16` or `auto`.
    #[arg(long, default_value = "both")]
    pub precision: String,
    /// `balanced` (encoders on the device, batched guidance) or `low`.
    #[arg(long, default_value = "balanced")]
    pub memory: MemoryMode,
    /// Comma-separated subset of: text, image, vae-encode, unet, cfg-step, decode (`load`:
    /// only load the model and time the baseline); or `interpolate`: RIFE ×2 and ×4 of a
    /// `--frames` clip at `--size` (default 16 × 320x512; `--model` a RIFE file, else
    /// random weights).
    #[arg(long, value_delimiter = ',')]
    pub stages: Option<Vec<String>>,
    /// Timed repetitions of each stage (after the warm-up).
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
    /// Also write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Load the weights from this checkpoint or cache (of `--preset`) instead of random
    /// weights: measures real loading (time, peak host memory).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// A fixture-layout directory (`model.ckpt` + `config.json`, see `fixtures/README.md`)
    /// instead of a preset: its model, weights and sizes.
    #[arg(long, conflicts_with = "model")]
    pub fixture: Option<PathBuf>,
    /// Instead of timing stages: N generations back to back through the model worker (as the
    /// app runs them), reporting process and device memory after 1, 10, 100 … and N, and
    /// the slope after warm-up. Needs `--fixture` or `--model`.
    #[arg(long, value_name = "N")]
    pub soak: Option<usize>,
    /// Instead of one table: the GPU report into DIR (`report.json`, `report.md`): the
    /// adapter and shader compiler, every stage of `--presets` × `--precision` ×
    /// `--memories` with wall and device time, peak memory, TFLOP/s and both convolution
    /// paths, the attention kernels chosen, and a generation of `--generation-steps`.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["soak", "samplers", "model"])]
    pub report: Option<PathBuf>,
    /// The report's presets, comma-separated (`--fixture DIR` instead: that model).
    #[arg(long, default_value = "512,1024")]
    pub presets: String,
    /// The report's memory modes, comma-separated.
    #[arg(long, default_value = "balanced,low")]
    pub memories: String,
    /// Steps of the report's end-to-end generation (0: none).
    #[arg(long, default_value_t = 25)]
    pub generation_steps: usize,
}

/// Peak resident memory of this process (Linux), in bytes.
fn peak_rss() -> Option<u64> {
    super::soak::process_memory("VmHWM")
}

pub(super) fn parse_size(size: &Option<String>, defaults: &Settings) -> anyhow::Result<(usize, usize)> {
    let (h, w) = match size {
        Some(s) => {
            let (h, w) = s.split_once(['x', 'X']).context("--size is HxW, e.g. 320x512")?;
            (h.trim().parse::<usize>()?, w.trim().parse::<usize>()?)
        }
        None => return Ok((defaults.height, defaults.width)),
    };
    if h % 64 != 0 || w % 64 != 0 || h == 0 || w == 0 {
        bail!("--size must be positive multiples of 64 pixels (got {h}x{w})");
    }
    Ok((h, w))
}

/// One `--precision` value by the names clap gives it.
fn precision(s: &str) -> anyhow::Result<Precision> {
    <Precision as clap::ValueEnum>::from_str(s, true).map_err(|e| anyhow::anyhow!("--precision: {e}"))
}

pub(super) fn precisions(s: &str) -> anyhow::Result<Vec<Precision>> {
    if s.eq_ignore_ascii_case("both") {
        return Ok(vec![Precision::F32, Precision::F16]);
    }
    Ok(vec![precision(s)?])
}

/// Bytes of the weights under `prefixes` in `dtype`.
fn resident(cfg: &ModelConfig, prefixes: &[&str], dtype: DType) -> u64 {
    crate::pipeline::memory::params(cfg, prefixes) * dtype.size() as u64
}

/// The analytic sampler table (`--samplers`, `pipeline::solver_check`).
fn samplers_table() -> anyhow::Result<()> {
    use crate::pipeline::solver::SamplerKind;
    use crate::pipeline::solver_check::{DATA, STEPS, fitted_order, ode_error, sde_moments};
    println!(
        "Gaussian data μ = {}, s = {}; optimal denoiser in place of the UNet; rms error against the",
        DATA.mu, DATA.s
    );
    println!("exact probability-flow end point (4096 samples), on each model's own schedule:");
    for variant in [Variant::V512, Variant::V256] {
        println!("\n{} schedule", variant.name());
        print!("{:<22}", "solver \\ steps");
        for n in STEPS {
            print!("{n:>10}");
        }
        println!("{:>8}", "order");
        for kind in [SamplerKind::Ddim, SamplerKind::DpmPp2m] {
            let errs: Vec<(usize, f64)> = STEPS
                .iter()
                .map(|&n| ode_error(variant, kind, n, DATA, 4096).map(|e| (n, e)))
                .collect::<Result<_, _>>()?;
            let name = if kind == SamplerKind::Ddim { "ddim (eta 0)" } else { kind.name() };
            print!("{name:<22}");
            for (_, e) in &errs {
                print!("{e:>10.2e}");
            }
            println!("{:>8.2}", fitted_order(&errs));
        }
    }
    println!("\nstochastic samplers, 100000 samples: output mean and variance / the data's at the end level");
    for (kind, label) in [(SamplerKind::Ddim, "ddim (eta 1)"), (SamplerKind::DpmPp2mSde, "dpmpp-2m-sde")] {
        for steps in [10, 50, 200] {
            let (m, v, wm, wv) = sde_moments(Variant::V512, kind, steps, DATA, 100_000)?;
            println!(
                "  512 {label:<14} {steps:>4} steps: mean {m:.4} / {wm:.4}, variance {v:.4} / {wv:.4} ({:+.1} %)",
                (v / wv - 1.0) * 100.0
            );
        }
    }
    Ok(())
}

/// `--soak N`: the worker runs real files, so a fixture or a checkpoint is needed.
fn soak_of(a: &BenchArgs, generations: usize) -> anyhow::Result<super::soak::Soak> {
    use crate::worker::protocol::ModelSource;
    let source = match (&a.fixture, &a.model) {
        (Some(dir), _) => ModelSource::Fixture { checkpoint: dir.join("model.ckpt"), config: dir.join("config.json") },
        (None, Some(path)) => ModelSource::Checkpoint {
            path: path.clone(),
            variant: Variant::parse(&a.preset).with_context(|| format!("unknown preset `{}`", a.preset))?,
        },
        (None, None) => bail!("--soak runs the worker on real files: give --fixture DIR or --model FILE"),
    };
    let precision = match a.precision.as_str() {
        "both" => Precision::Auto,
        p => precision(p)?,
    };
    let run = RunConfig { backend: a.backend, precision, memory: a.memory, budget_gb: None };
    Ok(super::soak::Soak { generations, source, run, steps: a.steps, frames: a.frames })
}

/// Runs the benchmark and prints the table.
pub fn run(a: &BenchArgs) -> anyhow::Result<ExitCode> {
    if a.samplers {
        samplers_table()?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(dir) = &a.report {
        return super::report::run(a, dir);
    }
    if let Some(generations) = a.soak {
        return super::soak::run(&soak_of(a, generations)?);
    }
    if a.stages.as_ref().is_some_and(|s| s.iter().any(|s| s == "interpolate")) {
        return super::bench_interpolate::run(a);
    }
    let (name, cfg, defaults, file) = match &a.fixture {
        Some(dir) => {
            let (cfg, defaults) =
                Settings::read_fixture_config(&dir.join("config.json")).map_err(anyhow::Error::msg)?;
            (format!("fixture {}", dir.display()), cfg, defaults, Some(open_checkpoint(&dir.join("model.ckpt"))?))
        }
        None => {
            let variant = Variant::parse(&a.preset).with_context(|| format!("unknown preset `{}`", a.preset))?;
            let file = a.model.as_deref().map(open_checkpoint).transpose()?;
            (
                format!("DynamiCrafter {}", variant.name()),
                ModelConfig::preset(variant),
                Settings::defaults(variant),
                file,
            )
        }
    };
    let frames = a.frames.unwrap_or(defaults.frames);
    let (h, w) = parse_size(&a.size, &defaults)?;
    let wanted: Vec<String> = a.stages.clone().unwrap_or_else(|| STAGES.iter().map(|s| (*s).to_owned()).collect());
    if let Some(bad) = wanted.iter().find(|s| !STAGES.contains(&s.as_str()) && *s != "load") {
        bail!("unknown stage `{bad}` (choose from {}, or `load` for loading only)", STAGES.join(", "));
    }
    let random = RandomSource::new(&DynamiCrafter::expected_keys(&cfg), 7, 0.02);
    let source: &dyn TensorSource = match &file {
        Some(f) => f,
        None => &random,
    };
    let shape = Shape { frames, h, w };
    let mut rows: Vec<Row> = Vec::new();
    let mut resident_rows = Vec::new();
    let mut loaded = Vec::new();
    let mut estimates = Vec::new();
    for precision in precisions(&a.precision)? {
        let run = RunConfig { backend: a.backend, precision, memory: a.memory, budget_gb: None };
        let dtype = run.dtype()?;
        let p = dtype_name(dtype);
        let from = match (&a.model, &a.fixture) {
            (Some(m), _) => m.display().to_string(),
            (None, Some(f)) => f.join("model.ckpt").display().to_string(),
            (None, None) => "random weights".to_owned(),
        };
        eprintln!("building {name} from {from}: {p} on {}", a.backend);
        let t0 = Instant::now();
        let rt = runtime::load(source, &cfg, run, frames, h, w)?;
        let load_s = t0.elapsed().as_secs_f64();
        if let Some(rss) = peak_rss() {
            eprintln!("  peak process memory (RSS) after loading: {:.2} GB", rss as f64 / 1e9);
        }
        let dev = rt.model.device();
        sync(&dev)?;
        let after_load = dev.memory_pool_usage().map(|u| u.bytes_in_use);
        eprintln!("  loaded in {load_s:.1} s ({})", run.describe(&rt.plan));
        let enc_dtype = if rt.plan.encoders_on_host { DType::F32 } else { dtype };
        let est = run.estimate(&cfg, &rt.plan, frames, h, w, 2)?;
        estimates.push((p, est));
        resident_rows.push((
            p,
            [
                ("UNet", resident(&cfg, &[prefix::UNET], dtype)),
                ("text tower", resident(&cfg, &[prefix::TEXT], enc_dtype)),
                ("image tower + Resampler", resident(&cfg, &[prefix::VISION, prefix::RESAMPLER], enc_dtype)),
                ("VAE (f32)", resident(&cfg, &[prefix::VAE], DType::F32)),
            ],
            after_load,
            rt.plan,
        ));
        let opts = StageOptions { warmup: a.warmup, reps: a.steps, conv_paths: Vec::new() };
        rows.extend(stages::run(&rt, &opts, &shape, &wanted, p)?);
        loaded.push((p, load_s));
        drop(rt);
        dev.memory_cleanup();
    }
    print_table(a, &name, &shape, &rows);
    println!();
    println!("resident weights per component (GB; on the CPU where the plan puts them there):");
    for (p, comps, after_load, plan) in &resident_rows {
        let list: Vec<String> = comps.iter().map(|(n, b)| format!("{n} {:.2}", *b as f64 / 1e9)).collect();
        let dev = after_load.map_or(String::from("-"), |b| format!("{:.2}", b as f64 / 1e9));
        let where_ = plan.on_host().map(|h| format!(" ({h})")).unwrap_or_default();
        println!("  {p}: {}; device in use after load {dev}{where_}", list.join(", "));
    }
    for (p, s) in &loaded {
        println!("  {p}: model load + upload {s:.1} s");
    }
    for (p, e) in &estimates {
        println!(
            "  {p}: the plan's estimate for a CFG generation: {:.2} GB ({:.2} GB weights + {:.2} GB activations)",
            e.total() as f64 / 1e9,
            e.weights as f64 / 1e9,
            e.activations as f64 / 1e9
        );
    }
    if let Some(rss) = peak_rss() {
        println!("peak process memory (RSS): {:.2} GB", rss as f64 / 1e9);
    }
    if let Some(path) = &a.json {
        let obj = serde_json::json!({
            "model": name, "backend": a.backend.to_string(), "memory": a.memory.to_string(),
            "frames": frames, "height": h, "width": w, "rows": rows,
        });
        std::fs::write(path, serde_json::to_string_pretty(&obj)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(a: &BenchArgs, name: &str, shape: &Shape, rows: &[Row]) {
    println!(
        "bench: {name} on {}, memory {}, {} frames at {}x{}, {} timed reps after {} warm-up",
        a.backend, a.memory, shape.frames, shape.h, shape.w, a.steps, a.warmup
    );
    let precs: Vec<&str> = rows.iter().fold(Vec::new(), |mut v, r| {
        if !v.contains(&r.precision) {
            v.push(r.precision);
        }
        v
    });
    let mut header = format!("{:<34}", "stage");
    for p in &precs {
        header.push_str(&format!(" {:>10} {:>9} {:>10}", format!("{p} s"), "x base", format!("{p} peak")));
    }
    if precs.len() == 2 {
        header.push_str(&format!(" {:>10}", format!("{}/{}", precs[1], precs[0])));
    }
    println!("{header}");
    let stages: Vec<&str> = rows.iter().fold(Vec::new(), |mut v, r| {
        if !v.contains(&r.stage.as_str()) {
            v.push(r.stage.as_str());
        }
        v
    });
    let find = |s: &str, p: &str| rows.iter().find(|r| r.stage == s && r.precision == p);
    for s in &stages {
        let mut line = format!("{s:<34}");
        for p in &precs {
            let base = find(stages[0], p).map_or(f64::NAN, |r| r.seconds);
            match find(s, p) {
                Some(r) => {
                    let peak = r.peak_reserved.map_or(String::from("-"), |b| format!("{:.2} GB", b as f64 / 1e9));
                    let x = r.seconds / base;
                    let x = if x < 1.0 { format!("{x:.3}") } else { format!("{x:.1}") };
                    line.push_str(&format!(" {:>10.4} {x:>9} {peak:>10}", r.seconds));
                }
                None => line.push_str(&format!(" {:>10} {:>9} {:>10}", "-", "-", "-")),
            }
        }
        if precs.len() == 2 {
            if let (Some(x), Some(y)) = (find(s, precs[0]), find(s, precs[1])) {
                line.push_str(&format!(" {:>10.2}", y.seconds / x.seconds));
            }
        }
        println!("{line}");
    }
    for p in &precs {
        if let Some(step) = rows.iter().find(|r| r.precision == *p && r.stage.starts_with("CFG step")) {
            let peak = rows.iter().filter(|r| r.precision == *p).filter_map(|r| r.peak_reserved).max();
            let peak = peak.map_or(String::from("-"), |b| format!("{:.2} GB", b as f64 / 1e9));
            println!(
                "{p}: estimated 50-step CFG run {:.1} s; peak device memory over the stages {peak}",
                50.0 * step.seconds
            );
        }
    }
}
