//! `bench --report DIR`: the GPU report, one command for a machine nobody here has seen. It
//! states the adapter (name, API, driver, device type, f16, timestamps, cooperative matrices,
//! largest binding) and the shader compiler burn chose; then for each preset (at its real
//! size and 16 frames unless `--size`/`--frames` say otherwise), precision and memory mode:
//! the load and every stage of `stages.rs` with wall time, device time and peak device
//! memory, the UNet call once per convolution path, the achieved TFLOP/s next to a baseline
//! matmul of the same dtype measured in the same run; the convolution path `auto` chose per
//! layer shape with both timings; the attention kernel burn's autotune chose per attention
//! shape (from cubecl's decision log); and a 25-step generation at the first preset, timed
//! end to end. `report.json` and `report.md` are rewritten after every configuration, so a
//! run cut short keeps what it measured.

use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

use super::bench::{BenchArgs, parse_size, precisions};
use super::stages::{self, Row, STAGES, Shape, StageOptions};
use crate::device::{AdapterInfo, Backend, Precision, dtype_name};
use crate::model::DynamiCrafter;
use crate::model::config::{ModelConfig, Variant};
use crate::model::conv::{self, ConvPath};
use crate::model::conv_choice;
use crate::model::tokenizer::ClipTokenizer;
use crate::pipeline::conditioning::CondCache;
use crate::pipeline::generate::{Progress, Settings, generate};
use crate::pipeline::memory::MemoryMode;
use crate::pipeline::preprocess::{FitMode, prepare_frame};
use crate::pipeline::runtime::{self, RunConfig};
use crate::weights::checkpoint::Checkpoint;
use crate::weights::import::open_checkpoint;
use crate::weights::vars::{RandomSource, TensorSource};

/// One preset × precision × memory mode.
#[derive(Debug, Clone, serde::Serialize)]
struct Config {
    preset: String,
    precision: &'static str,
    memory: String,
    /// The plan as run (`wgpu f16, memory low (encoders on the CPU)`).
    plan: String,
    frames: usize,
    height: usize,
    width: usize,
    load_seconds: f64,
    /// Device bytes in use after loading (the resident weights).
    loaded_bytes: Option<u64>,
    rows: Vec<Row>,
}

/// The end-to-end generation.
#[derive(Debug, Clone, serde::Serialize)]
struct Generation {
    preset: String,
    precision: &'static str,
    steps: usize,
    frames: usize,
    height: usize,
    width: usize,
    /// Encode + sample + decode, seconds.
    seconds: f64,
    sampling_seconds: f64,
    peak_reserved: Option<u64>,
}

/// One attention shape and the kernel autotune chose for it.
#[derive(Debug, Clone, serde::Serialize)]
struct AttentionChoice {
    /// The autotune key: dtype, batch·heads, query and key lengths, head size (cubecl rounds
    /// them to its anchors).
    key: String,
    chosen: String,
    /// Every candidate: name and median time, or why it failed.
    candidates: Vec<String>,
}

#[derive(Debug, Default, serde::Serialize)]
struct Report {
    version: &'static str,
    backend: String,
    adapter: Option<AdapterInfo>,
    conv: &'static str,
    configs: Vec<Config>,
    conv_choices: Vec<conv_choice::Measured>,
    attention: Vec<AttentionChoice>,
    generation: Option<Generation>,
    /// What could not be measured, and why.
    notes: Vec<String>,
}

/// Runs the report into `dir`.
pub fn run(a: &BenchArgs, dir: &Path) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let decisions = dir.join("autotune-decisions.jsonl");
    let mut report = Report {
        version: crate::identity::VERSION_LINE,
        backend: a.backend.to_string(),
        conv: conv::path().name(),
        ..Report::default()
    };
    if a.backend == Backend::Wgpu {
        if !log_autotune_decisions(&decisions) {
            report.notes.push(
                "cubecl's configuration was read before the report could log autotune decisions: no attention table"
                    .into(),
            );
        }
        // No adapter (or only OpenGL): stop here with the reason, before burn touches wgpu.
        report.adapter = Some(crate::device::adapter_info()?);
    }
    conv_choice::forget();
    let models = models(a)?;
    let memories = list(&a.memories, |s| <MemoryMode as clap::ValueEnum>::from_str(s, true).ok(), "memory mode")?;
    let wanted: Vec<String> = STAGES.iter().map(|s| (*s).to_owned()).collect();
    let opts = StageOptions { warmup: a.warmup, reps: a.steps, conv_paths: vec![ConvPath::Direct, ConvPath::Gemm] };
    for model in &models {
        let (h, w) = parse_size(&a.size, &model.defaults)?;
        let shape = Shape { frames: a.frames.unwrap_or(model.defaults.frames), h, w };
        for precision in precisions(&a.precision)? {
            for memory in &memories {
                let run = RunConfig { backend: a.backend, precision, memory: *memory, budget_gb: None };
                let p = dtype_name(run.dtype()?);
                eprintln!("{} {p} memory {memory}: loading", model.name);
                let t0 = Instant::now();
                let rt = runtime::load(model.source(), &model.cfg, run, shape.frames, h, w)?;
                let load_seconds = t0.elapsed().as_secs_f64();
                let dev = rt.model.device();
                stages::sync(&dev)?;
                let loaded_bytes = dev.memory_pool_usage().map(|u| u.bytes_in_use);
                let rows = stages::run(&rt, &opts, &shape, &wanted, p)?;
                report.configs.push(Config {
                    preset: model.name.clone(),
                    precision: p,
                    memory: memory.to_string(),
                    plan: run.describe(&rt.plan),
                    frames: shape.frames,
                    height: h,
                    width: w,
                    load_seconds,
                    loaded_bytes,
                    rows,
                });
                drop(rt);
                dev.memory_cleanup();
                write(&mut report, dir, &decisions)?;
            }
        }
    }
    if a.generation_steps > 0 {
        if let Some(model) = models.first() {
            report.generation = Some(generation(a, model)?);
        }
    }
    write(&mut report, dir, &decisions)?;
    print!("{}", markdown(&report));
    eprintln!("wrote {} and {}", dir.join("report.json").display(), dir.join("report.md").display());
    Ok(ExitCode::SUCCESS)
}

/// A model the report runs: a preset with random weights, or a fixture-layout directory.
struct Model {
    name: String,
    cfg: ModelConfig,
    defaults: Settings,
    random: RandomSource,
    checkpoint: Option<Checkpoint>,
}

impl Model {
    fn source(&self) -> &dyn TensorSource {
        match &self.checkpoint {
            Some(c) => c,
            None => &self.random,
        }
    }
}

/// `--fixture DIR`, else every preset of `--presets`.
fn models(a: &BenchArgs) -> anyhow::Result<Vec<Model>> {
    let of = |name: String, cfg: ModelConfig, defaults: Settings, checkpoint: Option<Checkpoint>| Model {
        random: RandomSource::new(&DynamiCrafter::expected_keys(&cfg), 7, 0.02),
        name,
        cfg,
        defaults,
        checkpoint,
    };
    if let Some(dir) = &a.fixture {
        let (cfg, defaults) = Settings::read_fixture_config(&dir.join("config.json")).map_err(anyhow::Error::msg)?;
        let ckpt = open_checkpoint(&dir.join("model.ckpt"))?;
        return Ok(vec![of(format!("fixture {}", dir.display()), cfg, defaults, Some(ckpt))]);
    }
    let presets = list(&a.presets, Variant::parse, "preset")?;
    Ok(presets.into_iter().map(|v| of(v.name().into(), ModelConfig::preset(v), Settings::defaults(v), None)).collect())
}

/// A comma-separated list of names.
fn list<T>(s: &str, parse: impl Fn(&str) -> Option<T>, what: &str) -> anyhow::Result<Vec<T>> {
    s.split(',').map(|v| parse(v.trim()).with_context(|| format!("unknown {what} `{}`", v.trim()))).collect()
}

/// Asks cubecl to write every autotune decision to `file`; `false` if its configuration was
/// already fixed (then nothing is logged).
fn log_autotune_decisions(file: &Path) -> bool {
    use cubecl_runtime::config::{CubeClRuntimeConfig, RuntimeConfig};
    let _ = std::fs::remove_file(file);
    let mut config = CubeClRuntimeConfig::from_current_dir().override_from_env();
    config.autotune.decisions.file = Some(file.to_path_buf());
    CubeClRuntimeConfig::try_set(config)
}

/// One 25-step generation (by default) at the model's frame count and size (`--size`), f16
/// where the device has it, balanced memory, timed from the image to the decoded frames.
fn generation(a: &BenchArgs, model: &Model) -> anyhow::Result<Generation> {
    let mut s = model.defaults.clone();
    // The model's own frame count whatever `--frames` says: a generation cannot use another
    // (the Resampler makes image tokens per frame; `Settings::validate`).
    s.steps = a.generation_steps;
    (s.height, s.width) = parse_size(&a.size, &s)?;
    s.prompt = "a lighthouse on a cliff, waves crashing, golden hour".into();
    let precision = if a.backend == Backend::Wgpu { Precision::Auto } else { Precision::F32 };
    let run = RunConfig { backend: a.backend, precision, memory: MemoryMode::Balanced, budget_gb: None };
    eprintln!("{}: a {}-step generation, end to end", model.name, s.steps);
    let rt = runtime::load(model.source(), &model.cfg, run, s.frames, s.height, s.width)?;
    let image = image::RgbImage::from_fn(s.width as u32, s.height as u32, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    let frame = prepare_frame(&image, s.height, s.width, FitMode::Cover, [0, 0, 0]);
    let tokenizer = ClipTokenizer::new()?;
    let dev = rt.model.device();
    dev.memory_cleanup();
    let mut sampling = 0.0;
    let start = Instant::now();
    let out = generate(
        &rt.model,
        &tokenizer,
        &s,
        &frame,
        None,
        None,
        rt.execution(),
        &mut CondCache::new(),
        &|| false,
        |p| {
            if let Progress::Step { seconds, .. } = p {
                sampling += seconds;
            }
            ControlFlow::Continue(())
        },
    )?;
    let seconds = start.elapsed().as_secs_f64();
    eprintln!("  {} frames in {seconds:.1} s (sampling {sampling:.1} s)", out.frames.len());
    Ok(Generation {
        preset: model.name.clone(),
        precision: dtype_name(rt.model.dtype()),
        steps: s.steps,
        frames: s.frames,
        height: s.height,
        width: s.width,
        seconds,
        sampling_seconds: sampling,
        peak_reserved: dev.memory_pool_usage().map(|u| u.bytes_reserved),
    })
}

/// The attention decisions in cubecl's log (keys with a `seq_q`), in order.
fn attention_choices(file: &Path) -> Vec<AttentionChoice> {
    let Ok(text) = std::fs::read_to_string(file) else { return Vec::new() };
    let mut out = Vec::new();
    for line in text.lines() {
        let Ok(d) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let key = &d["key"];
        if key.get("seq_q").is_none() {
            continue;
        }
        let fastest = d["fastest_index"].as_u64();
        let ms = |c: &serde_json::Value| {
            let (s, n) = (c["secs"].as_f64().unwrap_or(0.0), c["nanos"].as_f64().unwrap_or(0.0));
            format!("{:.3} ms", s * 1e3 + n / 1e6)
        };
        let mut chosen = String::from("?");
        let mut candidates = Vec::new();
        for r in d["results"].as_array().into_iter().flatten() {
            match (r["outcome"].get("Ok"), r["outcome"].get("Err")) {
                (Some(ok), _) => {
                    let name = ok["name"].as_str().unwrap_or("?").to_owned();
                    if ok["index"].as_u64() == fastest {
                        chosen = name.clone();
                    }
                    candidates.push(format!("{name} {}", ms(&ok["computation"]["median"])));
                }
                (None, Some(serde_json::Value::Object(err))) => {
                    for (kind, detail) in err {
                        let name = detail["name"].as_str().unwrap_or("?");
                        let why = if kind == "Skip" { "skipped".to_owned() } else { format!("failed ({kind})") };
                        candidates.push(format!("{name} {why}"));
                    }
                }
                _ => {}
            }
        }
        let k = |f: &str| key[f].as_u64().map_or("?".to_owned(), |v| v.to_string());
        let dtype = key["elem_query"]["Float"].as_str().unwrap_or("?").to_lowercase();
        let key = format!(
            "{dtype} batch·heads {} q {} kv {} d {}{}",
            k("total_batches"),
            k("seq_q"),
            k("seq_kv"),
            k("head_dim"),
            if key["attention_mask"].as_bool() == Some(true) { " masked" } else { "" }
        );
        out.push(AttentionChoice { key, chosen, candidates });
    }
    out
}

/// Brings the report up to date with what this process measured (the convolution choices, the
/// autotune decisions logged so far) and writes it as JSON and Markdown.
fn write(report: &mut Report, dir: &Path, decisions: &Path) -> anyhow::Result<()> {
    report.conv_choices = conv_choice::measured();
    report.attention = attention_choices(decisions);
    let json: PathBuf = dir.join("report.json");
    std::fs::write(&json, serde_json::to_string_pretty(report)?)
        .with_context(|| format!("cannot write {}", json.display()))?;
    let md = dir.join("report.md");
    std::fs::write(&md, markdown(report)).with_context(|| format!("cannot write {}", md.display()))?;
    Ok(())
}

fn gb(b: Option<u64>) -> String {
    b.map_or("-".into(), |b| format!("{:.2}", b as f64 / 1e9))
}

/// The report as Markdown tables.
fn markdown(r: &Report) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# DynamiCrafter Studio GPU report\n\nstudio {} · backend {} · `--conv {}`\n",
        r.version, r.backend, r.conv
    );
    if let Some(a) = &r.adapter {
        let _ = writeln!(
            md,
            "| adapter | API | type | driver | f16 | timestamps | coop. matrix | max binding | compiler |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} {} | {} | {} | {} | {:.2} GB | `{}` |\n",
            a.name,
            a.api,
            a.device_type,
            a.driver,
            a.driver_info,
            a.shader_f16,
            a.timestamp_query,
            a.cooperative_matrix,
            a.max_binding as f64 / 1e9,
            a.compiler
        );
    }
    for c in &r.configs {
        let _ = writeln!(
            md,
            "## {} · {} · memory {} · {} frames at {}×{}\n\n{}; loaded in {:.1} s, {} GB on the device\n",
            c.preset,
            c.precision,
            c.memory,
            c.frames,
            c.height,
            c.width,
            c.plan,
            c.load_seconds,
            gb(c.loaded_bytes)
        );
        let _ = writeln!(md, "| stage | wall s | device s | peak GB | GFLOP | TFLOP/s | × baseline TFLOP/s |");
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
        let base = c.rows.first().and_then(Row::tflops);
        for row in &c.rows {
            let t = row.tflops();
            let ratio = t.zip(base).map_or("-".into(), |(t, b)| format!("{:.2}", t / b));
            let _ = writeln!(
                md,
                "| {} | {:.4} | {} | {} | {} | {} | {ratio} |",
                row.stage,
                row.seconds,
                row.device_seconds.map_or("-".into(), |s| format!("{s:.4}")),
                gb(row.peak_reserved),
                if row.flops > 0 { format!("{:.1}", row.flops as f64 / 1e9) } else { "-".into() },
                t.map_or("-".into(), |t| format!("{t:.2}")),
            );
        }
        let _ = writeln!(md);
    }
    if !r.conv_choices.is_empty() {
        let _ = writeln!(md, "## Convolution path per layer shape (`auto`: one timed run of each)\n");
        let _ = writeln!(md, "| shape | direct ms | gemm ms | gemm / direct | chosen |\n|---|---:|---:|---:|---|");
        for m in &r.conv_choices {
            let _ = writeln!(
                md,
                "| {} | {:.2} | {:.2} | {:.2} | {} |",
                m.shape,
                m.direct_s * 1e3,
                m.gemm_s * 1e3,
                m.gemm_s / m.direct_s,
                m.chosen.name()
            );
        }
        let _ = writeln!(md);
    }
    if !r.attention.is_empty() {
        let _ = writeln!(
            md,
            "## Attention kernel per shape (burn's autotune)\n\n| key | chosen | candidates |\n|---|---|---|"
        );
        for a in &r.attention {
            let _ = writeln!(md, "| `{}` | {} | {} |", a.key, a.chosen, a.candidates.join("; "));
        }
        let _ = writeln!(md);
    }
    if let Some(g) = &r.generation {
        let _ = writeln!(
            md,
            "## Generation\n\n{} {}, {} steps, {} frames at {}×{}: **{:.1} s** end to end (sampling {:.1} s, {:.2} s/step), device reserved {} GB\n",
            g.preset,
            g.precision,
            g.steps,
            g.frames,
            g.height,
            g.width,
            g.seconds,
            g.sampling_seconds,
            g.sampling_seconds / g.steps.max(1) as f64,
            gb(g.peak_reserved)
        );
    }
    for n in &r.notes {
        let _ = writeln!(md, "- note: {n}");
    }
    md
}
