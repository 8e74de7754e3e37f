//! The worker thread: it owns the device, the loaded model and the pipeline, and turns
//! [`Command`]s into [`Event`]s. A failing or panicking command becomes an event with
//! advice; the worker keeps running.

mod smoothing;

use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::tensor::Tensor;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use image::RgbImage;

use crate::history::{History, HistoryRecord};
use crate::model::config::{ModelConfig, Variant};
use crate::model::tokenizer::ClipTokenizer;
use crate::panic_message;
use crate::pipeline::conditioning::CondCache;
use crate::pipeline::decode_video;
use crate::pipeline::generate::{Progress, Settings, generate, video_to_rgb8};
use crate::pipeline::preprocess::prepare_frame;
use crate::pipeline::runtime::{self, RunConfig, Runtime};
use crate::weights::import::{
    CachePrecision, Detection, ImportError, ImportProgress, ModelManifest, detect_variant, import_checkpoint,
    open_checkpoint,
};
use crate::worker::protocol::{Command, Event, Job, ModelSource};

/// Approximate linear map from the 4 latent channels to RGB (the usual SD-VAE preview
/// factors), for per-step previews without running the decoder.
const LATENT_RGB: [[f32; 3]; 4] =
    [[0.3512, 0.2297, 0.3227], [0.3250, 0.4974, 0.2350], [-0.2829, 0.1762, 0.2721], [-0.2120, -0.2616, -0.7177]];

/// Projects a predicted latent to small RGB frames.
///
/// # Shapes
/// - x0: `[1, 4, t, h, w]` → `t` images of `w × h`
pub fn latent_preview(x0: &Tensor<5>) -> Option<Vec<RgbImage>> {
    let [_, c, t, h, w] = x0.dims();
    let v = x0.clone().into_data().convert::<f32>().try_to_vec::<f32>().ok()?;
    let plane = h * w;
    let frames = (0..t)
        .map(|k| {
            RgbImage::from_fn(w as u32, h as u32, |x, y| {
                let p = y as usize * w + x as usize;
                let mut rgb = [0f32; 3];
                for (ch, row) in LATENT_RGB.iter().enumerate().take(c) {
                    let l = v[(ch * t + k) * plane + p];
                    for j in 0..3 {
                        rgb[j] += l * row[j];
                    }
                }
                image::Rgb(rgb.map(|x| (((x + 1.0) / 2.0).clamp(0.0, 1.0) * 255.0) as u8))
            })
        })
        .collect();
    Some(frames)
}

/// What to do after the device was lost.
pub(super) const DEVICE_LOST_ADVICE: &str = "The GPU device was lost; the model is being reloaded on a fresh device. If it happens \
     again, update the graphics driver or run Self-check.";

/// Whether a panic's message means the GPU device is gone (driver reset, removed GPU). Only
/// for panics, which carry no type; errors say it with
/// [`crate::pipeline::generate::GenerateError::is_device_lost`].
fn is_device_lost(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("device lost") || m.contains("devicelost") || m.contains("device_lost")
}

/// Advice for an error message a user can act on.
pub fn advice_for(message: &str) -> String {
    let m = message.to_ascii_lowercase();
    if m.contains("memory") || m.contains("alloc") || m.contains("oom") {
        "The GPU ran out of memory. Choose Memory: low and Precision: f16 (or auto) in the Model panel, set your card's \
         GPU memory there, or close other GPU apps; the CPU backend always works."
            .into()
    } else if is_device_lost(message) || m.contains("lost") {
        DEVICE_LOST_ADVICE.into()
    } else if m.contains("binding") || m.contains("buffer") || m.contains("limit") {
        "A tensor exceeded the GPU's buffer limits. Try a smaller output size.".into()
    } else {
        "Check the inputs and settings; the model stays loaded and you can try again.".into()
    }
}

/// The loaded model, its conditioning cache and what the UI needs to know about it.
struct Loaded {
    rt: Runtime,
    cache: CondCache,
    label: String,
    source: ModelSource,
}

/// The worker's state.
pub struct Runner {
    run: RunConfig,
    loaded: Option<Loaded>,
    tokenizer: Option<ClipTokenizer>,
    history: History,
    /// Where imports and downloads go (`None`: this platform has no data folder).
    models: Option<PathBuf>,
    events: Sender<Event>,
    wake: Arc<dyn Fn() + Send + Sync>,
    /// Frame interpolation (RIFE), loaded on first use.
    smoother: smoothing::Smoother,
}

impl Runner {
    /// A worker on `backend` saving results into `history`.
    pub fn new(
        run: RunConfig,
        history: History,
        models: Option<PathBuf>,
        events: Sender<Event>,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> Self {
        Self { run, loaded: None, tokenizer: None, history, models, events, wake, smoother: Default::default() }
    }

    fn send(&self, e: Event) -> bool {
        let ok = self.events.send(e).is_ok();
        (self.wake)();
        ok
    }

    /// Runs until [`Command::Shutdown`] or until the UI is gone.
    pub fn run(mut self, commands: Receiver<Command>) {
        self.history.clean_partial();
        if let Some(dir) = self.models.clone() {
            let (n, bytes) = crate::weights::import::clean_stale_partials(&dir);
            if n > 0 {
                let text = format!(
                    "Removed {n} unfinished file(s) of an interrupted import ({:.2} GB freed)",
                    bytes as f64 / 1e9
                );
                self.send(Event::Notice { text });
            }
        }
        let backend = self.run.backend;
        let adapter = std::panic::catch_unwind(|| crate::device::adapter_label(backend))
            .unwrap_or_else(|_| format!("{backend} (adapter unknown)"));
        self.send(Event::Device { backend, adapter });
        while let Ok(cmd) = commands.recv() {
            match cmd {
                Command::Shutdown => break,
                Command::LoadModel(src) => self.guarded(|r| r.load(src)),
                Command::Configure(run) => {
                    self.run = run;
                    self.smoother.reset();
                    if let Some(src) = self.loaded.as_ref().map(|l| l.source.clone()) {
                        self.guarded(|r| r.load(src));
                    }
                }
                Command::SelfCheck => self.guarded(|r| {
                    let event = match crate::selfcheck::run(r.run.backend, r.run.precision) {
                        Ok(report) => Event::SelfCheck { ok: report.ok(), report: report.table() },
                        Err(e) => Event::SelfCheck { ok: false, report: format!("the self-check could not run: {e}") },
                    };
                    r.send(event);
                }),
                Command::Download { variant, url, cancel } => self.start_download(variant, url, cancel),
                Command::ImportParts { parts, variant, cancel } => {
                    self.guarded(|r| r.import_parts(&parts, variant, &cancel));
                }
                Command::Import { path, variant, dtype, cancel } => {
                    self.guarded(|r| r.import(path, variant, dtype, &cancel));
                }
                Command::Interpolate(req) => {
                    let id = req.id;
                    if let Err(p) = catch_unwind(AssertUnwindSafe(|| self.interpolate(*req))) {
                        let message = panic_message(&*p);
                        let advice = advice_for(&message);
                        self.send(Event::InterpolateFailed { id, message: message.clone(), advice });
                        self.smoother.reset();
                        self.recover_device(is_device_lost(&message));
                    }
                }
                Command::Generate(job) => {
                    let id = job.id;
                    let outcome = catch_unwind(AssertUnwindSafe(|| self.generate(*job)));
                    if let Err(p) = outcome {
                        let message = panic_message(&*p);
                        let advice = advice_for(&message);
                        self.send(Event::Failed { job: id, message: message.clone(), advice });
                        self.recover_device(is_device_lost(&message));
                    }
                }
            }
        }
    }

    /// After a failed job (an error or a panic): release the device pools (an out-of-memory
    /// failure leaves them full), and after a lost device reload the model so the next job
    /// gets a fresh one.
    fn recover_device(&mut self, lost: bool) {
        let Some(loaded) = &self.loaded else { return };
        loaded.rt.model.device().memory_cleanup();
        if lost {
            let source = loaded.source.clone();
            self.guarded(|r| r.load(source));
        }
    }

    fn guarded(&mut self, f: impl FnOnce(&mut Self)) {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(self))) {
            self.send(Event::ModelFailed { message: panic_message(&*p) });
        }
    }

    fn load(&mut self, src: ModelSource) {
        let label = src.label();
        self.send(Event::ModelLoading { label: label.clone() });
        self.loaded = None; // free the old model first
        let run = self.run;
        let result = (|| -> Result<(Runtime, Option<Variant>, Settings), String> {
            let (path, cfg, variant, defaults) = match &src {
                ModelSource::Checkpoint { path, variant } => {
                    (path, ModelConfig::preset(*variant), Some(*variant), Settings::defaults(*variant))
                }
                ModelSource::Fixture { checkpoint, config } => {
                    let (cfg, defaults) = Settings::read_fixture_config(config)?;
                    (checkpoint, cfg, None, defaults)
                }
            };
            let ckpt = open_checkpoint(path).map_err(|e| e.to_string())?;
            let (f, h, w) = (defaults.frames, defaults.height, defaults.width);
            let rt = runtime::load(&ckpt, &cfg, run, f, h, w).map_err(|e| e.to_string())?;
            Ok((rt, variant, defaults))
        })();
        match result {
            Ok((rt, variant, defaults)) => {
                if self.tokenizer.is_none() {
                    match ClipTokenizer::new() {
                        Ok(t) => self.tokenizer = Some(t),
                        Err(e) => {
                            self.send(Event::ModelFailed { message: e.to_string() });
                            return;
                        }
                    }
                }
                let runtime = rt.config.describe(&rt.plan);
                self.loaded = Some(Loaded { rt, cache: CondCache::new(), label: label.clone(), source: src.clone() });
                self.send(Event::ModelLoaded { label, runtime, variant, defaults: Box::new(defaults), source: src });
            }
            Err(message) => {
                self.send(Event::ModelFailed { message });
            }
        }
    }

    fn import_parts(&mut self, parts: &crate::weights::assemble::Parts, variant: Variant, cancel: &AtomicBool) {
        let Some(dest) = self.models.clone() else {
            self.send(Event::ImportFailed { message: "this platform has no data directory for models".into() });
            return;
        };
        let cfg = ModelConfig::preset(variant);
        let source = match crate::weights::assemble::Assembled::open(parts, &cfg) {
            Ok(s) => s,
            Err(e) => {
                self.send(Event::ImportFailed { message: e.to_string() });
                return;
            }
        };
        let name = format!("{}-comfy", variant.name());
        let progress = self.import_progress(cancel);
        let result = crate::weights::import::import_source(
            &source,
            &parts.unet,
            &cfg,
            &name,
            &dest,
            CachePrecision::F16,
            progress,
        );
        self.finish_import(result, &dest, variant);
    }

    /// Reports import progress (once per percent) and reads the cancel flag.
    fn import_progress<'a>(&'a self, cancel: &'a AtomicBool) -> impl FnMut(ImportProgress) -> bool + 'a {
        let (events, wake) = (self.events.clone(), &self.wake);
        let mut last_pct = usize::MAX;
        move |p| {
            let pct = p.tensors_done * 100 / p.tensors_total.max(1);
            if pct != last_pct {
                last_pct = pct;
                let _ = events.try_send(Event::ImportProgress { done: p.tensors_done, total: p.tensors_total });
                wake();
            }
            !cancel.load(Ordering::Relaxed)
        }
    }

    /// Loads a finished import, or reports why there is none.
    fn finish_import(&mut self, result: Result<ModelManifest, ImportError>, dest: &std::path::Path, variant: Variant) {
        match result {
            Ok(manifest) => self.load(ModelSource::Checkpoint { path: dest.join(manifest.weights_file), variant }),
            Err(ImportError::Cancelled) => {
                self.send(Event::ImportCancelled { message: "Import cancelled; nothing was written".into() });
            }
            Err(e) => {
                self.send(Event::ImportFailed { message: e.to_string() });
            }
        }
    }

    /// Downloads on a thread of its own, so that a slow or silent server never holds the
    /// model: Generate and Load run meanwhile. The UI imports the file when it arrives
    /// ([`Event::Downloaded`]).
    fn start_download(&self, variant: Variant, url: Option<String>, cancel: Arc<AtomicBool>) {
        let Some(dest) = self.models.clone() else {
            let message = "this platform has no data directory for models".into();
            self.send(Event::DownloadEnded { message, failed: true });
            return;
        };
        let target = dest.join("downloads").join(format!("dynamicrafter_{}", variant.name())).join("model.ckpt");
        let url = url.unwrap_or_else(|| crate::download::official_url(variant));
        let (events, wake) = (self.events.clone(), self.wake.clone());
        let spawned = std::thread::Builder::new().name("download".into()).spawn(move || {
            let mut last = std::time::Instant::now();
            let run = std::panic::AssertUnwindSafe(|| {
                crate::download::download(&url, &target, |p| {
                    if last.elapsed().as_millis() >= 250 || p.done == p.total {
                        last = std::time::Instant::now();
                        let (done, total, speed) = (p.done, p.total, p.speed);
                        let _ = events.try_send(Event::DownloadProgress { variant, done, total, speed });
                        wake();
                    }
                    !cancel.load(Ordering::Relaxed)
                })
            });
            let event = match std::panic::catch_unwind(run) {
                Err(p) => Event::DownloadEnded {
                    message: format!("internal error: {}", crate::panic_message(&*p)),
                    failed: true,
                },
                Ok(Ok(got)) => Event::Downloaded { variant, path: got.path },
                Ok(Err(crate::download::DownloadError::Cancelled(done))) => Event::DownloadEnded {
                    message: format!(
                        "Download cancelled; {:.2} GB are kept and the next download resumes",
                        done as f64 / 1e9
                    ),
                    failed: false,
                },
                Ok(Err(e)) => Event::DownloadEnded { message: e.to_string(), failed: true },
            };
            let _ = events.send(event);
            wake();
        });
        if let Err(e) = spawned {
            self.send(Event::DownloadEnded { message: format!("cannot start the download: {e}"), failed: true });
        }
    }

    fn import(
        &mut self,
        path: std::path::PathBuf,
        variant: Option<Variant>,
        dtype: CachePrecision,
        cancel: &AtomicBool,
    ) {
        let opened = variant.is_none().then(|| open_checkpoint(&path).map_err(|e| e.to_string()));
        if let Some(Ok(c)) = &opened {
            if crate::rife::weights::looks_like_rife(c) {
                self.install_rife(&path);
                return;
            }
        }
        let variant = match variant {
            Some(v) => v,
            None => match opened.unwrap_or_else(|| Err("no file".into())).and_then(|c| detect_variant(&c, &path)) {
                Ok(Detection::Known { variant, .. }) => variant,
                Ok(Detection::Ambiguous { candidates, why }) => {
                    self.send(Event::ImportNeedsVariant { path, candidates, why });
                    return;
                }
                Err(why) => {
                    self.send(Event::ImportFailed { message: format!("{}: {why}", path.display()) });
                    return;
                }
            },
        };
        let Some(dest) = self.models.clone() else {
            self.send(Event::ImportFailed { message: "this platform has no data directory for models".into() });
            return;
        };
        let progress = self.import_progress(cancel);
        let result = import_checkpoint(&path, variant, &dest, dtype, progress);
        self.finish_import(result, &dest, variant);
    }

    fn generate(&mut self, job: Job) {
        let (Some(loaded), Some(tok)) = (&mut self.loaded, &self.tokenizer) else {
            self.send(Event::Failed {
                job: job.id,
                message: "no model is loaded".into(),
                advice: "Load or import a model first (Model panel).".into(),
            });
            return;
        };
        let s = &job.settings;
        // Refuse, before any tensor, a run the stated GPU memory cannot hold.
        let rt = &loaded.rt;
        let calls = s.guidance().unet_calls();
        let fits = rt
            .config
            .estimate(&rt.model.config, &rt.plan, s.frames, s.height, s.width, calls)
            .and_then(|est| rt.config.check_fits(&est, &rt.plan));
        if let Err(e) = fits {
            let message = e.to_string();
            self.send(Event::Failed {
                job: job.id,
                message,
                advice: "Change the memory mode or precision in the Model panel, or the output size.".into(),
            });
            return;
        }
        let frame = prepare_frame(&job.image, s.height, s.width, job.fit, [0, 0, 0]);
        let frame2 = job.image2.as_ref().map(|i| prepare_frame(i, s.height, s.width, job.fit, [0, 0, 0]));
        let mut sampled_s = 0.0;
        let events = self.events.clone();
        let wake = &self.wake;
        let cancel = || job.cancel.load(Ordering::Relaxed);
        let label = loaded.label.clone();
        let exec = loaded.rt.execution();
        let model = &loaded.rt.model;
        let cache = &mut loaded.cache;
        let result = generate(model, tok, s, &frame, frame2.as_ref(), None, exec, cache, &cancel, |p| {
            match p {
                Progress::Phase(phase) => {
                    let _ = events.send(Event::Phase { job: job.id, phase });
                }
                Progress::Step { step, total, x0, seconds, .. } => {
                    sampled_s += seconds;
                    let seconds_per_step = sampled_s / (step + 1) as f64;
                    let memory = model.device().memory_pool_usage().map(|u| (u.bytes_in_use, u.bytes_reserved));
                    let _ = events.send(Event::Step { job: job.id, step, total, seconds_per_step, memory });
                    let n = job.vae_preview_every;
                    let decoded = (n > 0 && (step + 1) % n == 0 && step + 1 < total)
                        .then(|| video_to_rgb8(decode_video(model, x0.clone())).ok())
                        .flatten()
                        .map(|fr| {
                            fr.into_iter()
                                .filter_map(|f| RgbImage::from_raw(s.width as u32, s.height as u32, f))
                                .collect()
                        });
                    if let Some(frames) = decoded.or_else(|| latent_preview(x0)) {
                        match events.try_send(Event::Preview { job: job.id, step, frames }) {
                            Ok(()) | Err(TrySendError::Full(_)) => {}
                            Err(TrySendError::Disconnected(_)) => return ControlFlow::Break(()),
                        }
                    }
                }
                Progress::Conditioned { .. } | Progress::Decoded { .. } => {}
            }
            wake();
            if cancel() { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        });
        match result {
            Ok(g) => {
                let frames: Vec<RgbImage> = g
                    .frames
                    .into_iter()
                    .filter_map(|f| RgbImage::from_raw(g.width as u32, g.height as u32, f))
                    .collect();
                if g.steps_done == 0 {
                    self.send(Event::Failed {
                        job: job.id,
                        message: "cancelled before the first step finished".into(),
                        advice: "Nothing was generated yet, so nothing was saved.".into(),
                    });
                    return;
                }
                let record = HistoryRecord {
                    settings: s.clone(),
                    model: label.clone(),
                    input_hash: job.input_hash.clone(),
                    fit: format!("{:?}", job.fit),
                    cancelled: g.cancelled,
                    steps_done: g.steps_done,
                    created_unix_ms: 0,
                    frames: frames.len(),
                    width: g.width as u32,
                    height: g.height as u32,
                    sweep: job.sweep.clone(),
                    part: job.part.clone(),
                    joined: None,
                };
                match self.history.save(record.clone(), &frames) {
                    Ok(entry) => {
                        self.send(Event::Finished {
                            job: job.id,
                            entry: Box::new(entry),
                            frames,
                            cancelled: g.cancelled,
                        });
                    }
                    Err(e) => {
                        let message = e.to_string();
                        self.send(Event::Unsaved { job: job.id, record: Box::new(record), frames, message });
                    }
                }
            }
            Err(e) => {
                let message = e.to_string();
                let lost = e.is_device_lost();
                let advice = if lost { DEVICE_LOST_ADVICE.to_owned() } else { advice_for(&message) };
                self.send(Event::Failed { job: job.id, message, advice });
                self.recover_device(lost);
            }
        }
    }
}
