//! `bench --soak N`: N generations back to back through the model worker, exactly as the app
//! runs them (the worker thread, its events, the history on disk), with the process's
//! resident memory and the device memory after 1, 10, 100 … and N generations, as ratios to
//! the first generation, and the slope after warm-up: memory must stay flat.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::history::History;
use crate::pipeline::generate::Settings;
use crate::pipeline::runtime::RunConfig;
use crate::worker::WorkerHandle;
use crate::worker::protocol::{Command, Event, Job, ModelSource};

/// Generations before the slope is measured (pools and caches fill during the first ones).
const WARM_UP: usize = 10;
/// Longest one generation may take before the soak gives up.
const PATIENCE: Duration = Duration::from_secs(1800);

/// A memory figure of this process from `/proc/self/status` (Linux), in bytes: `VmHWM` (peak
/// resident), `VmRSS` (resident now).
pub(super) fn process_memory(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.strip_prefix(field).is_some_and(|rest| rest.starts_with(':')))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resident memory of this process now (Linux), in bytes.
fn rss() -> Option<u64> {
    process_memory("VmRSS")
}

/// Memory after one generation.
#[derive(Debug, Clone, Copy)]
struct Sample {
    generation: usize,
    rss: Option<u64>,
    /// Device bytes in use and reserved at the generation's last step, where reported.
    device: Option<(u64, u64)>,
    seconds: f64,
}

/// Least-squares slope of `y` over `x` (bytes per generation).
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let (mx, my) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let (sxy, sxx) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + (x - mx) * (y - my), b + (x - mx).powi(2)));
    (sxx > 0.0).then(|| sxy / sxx)
}

/// What to soak: `generations` runs of `source` under `run`, each of `steps` sampling steps
/// (and `frames` frames, else the model's own).
#[derive(Debug, Clone)]
pub struct Soak {
    pub generations: usize,
    pub source: ModelSource,
    pub run: RunConfig,
    pub steps: usize,
    pub frames: Option<usize>,
}

/// Runs the soak and prints the table.
pub fn run(soak: &Soak) -> anyhow::Result<ExitCode> {
    if soak.generations == 0 {
        bail!("--soak needs at least one generation");
    }
    let dir = std::env::temp_dir().join(format!("dynamicrafter-soak-{}", std::process::id()));
    let result = generations(soak, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    print_table(soak, &result?);
    Ok(ExitCode::SUCCESS)
}

/// The next event `pick` accepts; fails on a model or job failure, a dead worker or a timeout.
fn wait<T>(worker: &WorkerHandle, what: &str, mut pick: impl FnMut(Event) -> Option<T>) -> anyhow::Result<T> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = worker.events.recv_timeout(left).map_err(|_| anyhow::anyhow!("no {what} within {PATIENCE:?}"))?;
        match event {
            Event::ModelFailed { message } => bail!("the model failed: {message}"),
            Event::Failed { message, advice, .. } => bail!("a generation failed: {message} ({advice})"),
            other => {
                if let Some(t) = pick(other) {
                    return Ok(t);
                }
            }
        }
    }
}

fn generations(soak: &Soak, dir: &std::path::Path) -> anyhow::Result<Vec<Sample>> {
    let n = soak.generations;
    let worker =
        WorkerHandle::spawn(soak.run, History::new(dir), None, || ()).context("cannot start the model worker")?;
    eprintln!("soak: loading {} on {}", soak.source.label(), soak.run.backend);
    worker.commands.send(Command::LoadModel(soak.source.clone())).context("the worker is gone")?;
    let defaults = wait(&worker, "loaded model", |e| match e {
        Event::ModelLoaded { defaults, runtime, .. } => {
            eprintln!("soak: {runtime}");
            Some(defaults)
        }
        _ => None,
    })?;
    let mut settings =
        Settings { steps: soak.steps.max(1), prompt: "a lighthouse, waves crashing".into(), ..*defaults };
    settings.frames = soak.frames.unwrap_or(settings.frames);
    let (w, h) = (settings.width as u32, settings.height as u32);
    let image = Arc::new(image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])));
    let mut samples = Vec::with_capacity(n);
    for generation in 1..=n {
        let job = Job {
            id: generation as u64,
            settings: Settings { seed: generation as u64, ..settings.clone() },
            image: image.clone(),
            image2: None,
            fit: Default::default(),
            input_hash: "soak".into(),
            cancel: Arc::new(AtomicBool::new(false)),
            vae_preview_every: 0,
            sweep: None,
            part: None,
        };
        let started = Instant::now();
        worker.commands.send(Command::Generate(Box::new(job))).context("the worker is gone")?;
        let mut device = None;
        wait(&worker, "finished generation", |e| match e {
            Event::Step { memory, .. } => {
                device = memory.or(device);
                None
            }
            Event::Finished { .. } => Some(()),
            Event::Unsaved { message, .. } => {
                eprintln!("soak: generation {generation} could not be saved: {message}");
                Some(())
            }
            _ => None,
        })?;
        samples.push(Sample { generation, rss: rss(), device, seconds: started.elapsed().as_secs_f64() });
        if generation.is_power_of_two() || generation % 10 == 0 {
            eprintln!("soak: {generation}/{n}");
        }
    }
    let _ = worker.commands.send(Command::Shutdown);
    Ok(samples)
}

fn mb(b: u64) -> String {
    format!("{:.1}", b as f64 / 1e6)
}

fn print_table(soak: &Soak, samples: &[Sample]) {
    let n = soak.generations;
    println!(
        "soak: {n} generations of {} on {} ({} sampling steps each), memory after each",
        soak.source.label(),
        soak.run.backend,
        soak.steps.max(1)
    );
    println!(
        "{:>10} {:>10} {:>9} {:>14} {:>14} {:>9} {:>8}",
        "generation", "RSS MB", "x gen 1", "device use MB", "reserved MB", "x gen 1", "s/gen"
    );
    let first = samples[0];
    let ratio = |x: Option<u64>, base: Option<u64>| match (x, base) {
        (Some(x), Some(b)) if b > 0 => format!("{:.3}", x as f64 / b as f64),
        _ => "-".into(),
    };
    let mut marks: Vec<usize> =
        std::iter::successors(Some(1usize), |m| m.checked_mul(10)).take_while(|m| *m <= n).collect();
    if marks.last() != Some(&n) {
        marks.push(n);
    }
    for m in marks {
        let s = samples[m - 1];
        let (use_, reserved) = s.device.map_or(("-".into(), "-".into()), |(u, r)| (mb(u), mb(r)));
        println!(
            "{:>10} {:>10} {:>9} {:>14} {:>14} {:>9} {:>8.2}",
            s.generation,
            s.rss.map_or("-".into(), mb),
            ratio(s.rss, first.rss),
            use_,
            reserved,
            ratio(s.device.map(|d| d.1), first.device.map(|d| d.1)),
            s.seconds
        );
    }
    let after: Vec<&Sample> = samples.iter().filter(|s| s.generation > WARM_UP.min(n - 1)).collect();
    let fit = |value: &dyn Fn(&Sample) -> Option<u64>| {
        let points: Vec<(f64, f64)> =
            after.iter().filter_map(|s| value(s).map(|v| (s.generation as f64, v as f64))).collect();
        slope(&points).map_or("-".into(), |b| format!("{:+.1} KB per generation", b / 1e3))
    };
    println!(
        "slope after {} warm-up generations ({} points): RSS {}, device reserved {}",
        WARM_UP.min(n - 1),
        after.len(),
        fit(&|s| s.rss),
        fit(&|s| s.device.map(|d| d.1))
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_slope_is_the_least_squares_line() {
        let line: Vec<(f64, f64)> = (0..10).map(|x| (x as f64, 3.0 * x as f64 + 7.0)).collect();
        assert!((super::slope(&line).expect("slope") - 3.0).abs() < 1e-12);
        assert_eq!(super::slope(&[(1.0, 2.0)]), None);
    }
}
