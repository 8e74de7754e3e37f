//! The typed messages between the UI thread and the model worker.
//!
//! Both channels are bounded. The worker drops a [`Event::Preview`] when the UI is behind
//! (`try_send`); every other event is delivered (`send`), so results and errors are never
//! lost.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use image::RgbImage;

use crate::device::Backend;
use crate::history::{HistoryEntry, HistoryRecord};
use crate::model::config::Variant;
use crate::pipeline::generate::{Phase, Settings};
use crate::pipeline::preprocess::FitMode;
use crate::pipeline::runtime::RunConfig;
use crate::weights::import::CachePrecision;

/// Identifies one generation request.
pub type JobId = u64;

/// Which weights to load.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ModelSource {
    /// An official checkpoint or an imported cache file, with its variant.
    Checkpoint { path: PathBuf, variant: Variant },
    /// A fixture-style model: a checkpoint plus its `config.json` (tests, development).
    Fixture { checkpoint: PathBuf, config: PathBuf },
}

impl ModelSource {
    /// A short label for the UI.
    pub fn label(&self) -> String {
        match self {
            Self::Checkpoint { path, variant } => {
                format!(
                    "DynamiCrafter {} ({})",
                    variant.name(),
                    path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
                )
            }
            Self::Fixture { config, .. } => format!("fixture model ({})", config.display()),
        }
    }
}

/// One generation request, with everything needed to reproduce it.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: JobId,
    pub settings: Settings,
    pub image: Arc<RgbImage>,
    pub image2: Option<Arc<RgbImage>>,
    pub fit: FitMode,
    /// Hex digest of the input image file(s), stored in history.
    pub input_hash: String,
    /// Set by the UI to cancel; checked before every UNet call.
    pub cancel: Arc<AtomicBool>,
    /// Decode the live preview with the VAE every N steps (0: latent projection only).
    pub vae_preview_every: usize,
    /// Part of a sweep (kept in history for the contact sheet).
    pub sweep: Option<crate::history::SweepTag>,
    /// Part of a storyboard or a continuation (kept in history; the app joins the parts).
    pub part: Option<crate::pipeline::storyboard::Part>,
}

/// UI → worker.
#[derive(Debug)]
pub enum Command {
    /// Load a model (replacing the current one).
    LoadModel(ModelSource),
    /// New precision or memory settings: reloads the loaded model under them.
    Configure(RunConfig),
    /// Import a checkpoint into the model cache, then load it. Without a variant the file
    /// decides (detection); when it cannot, the worker asks with [`Event::ImportNeedsVariant`].
    /// Setting `cancel` stops the import between tensors and removes the partial file.
    Import { path: PathBuf, variant: Option<Variant>, dtype: CachePrecision, cancel: Arc<AtomicBool> },
    /// Run one generation.
    Generate(Box<Job>),
    /// Check this device against the CPU backend with a small model (`selfcheck`).
    SelfCheck,
    /// Import a model assembled from ComfyUI files, then load it.
    ImportParts { parts: crate::weights::assemble::Parts, variant: Variant, cancel: Arc<AtomicBool> },
    /// Download an official model (resuming a previous part), then import and load it.
    /// `url` overrides the official source (a mirror).
    Download { variant: Variant, url: Option<String>, cancel: Arc<AtomicBool> },
    /// Frame interpolation (RIFE) of a clip, on the model's device.
    Interpolate(Box<InterpolateRequest>),
    /// Stop the worker.
    Shutdown,
}

/// Where a clip's frames are.
#[derive(Debug, Clone)]
pub enum ClipFrames {
    /// In memory (a clip the history could not store).
    Frames(Arc<Vec<RgbImage>>),
    /// A history entry (the worker reads its frames).
    Entry(Box<HistoryEntry>),
}

/// A clip to make smoother: `factor` frames per frame (`(n − 1)·factor + 1` in all).
#[derive(Debug, Clone)]
pub struct InterpolateRequest {
    pub id: JobId,
    pub clip: ClipFrames,
    pub factor: usize,
    /// RIFE's flow scale (1 by default; see [`crate::rife::SCALES`]).
    pub scale: f32,
    pub ensemble: bool,
    /// Set by the UI to stop after the current frame.
    pub cancel: Arc<AtomicBool>,
}

/// A generation phase the UI shows.
pub type JobPhase = Phase;

/// Worker → UI.
#[derive(Debug)]
pub enum Event {
    /// The device the worker runs on.
    Device {
        backend: Backend,
        adapter: String,
    },
    ModelLoading {
        label: String,
    },
    /// The model is ready; `defaults` are its reference settings (spec §8).
    ModelLoaded {
        label: String,
        /// How it runs: backend, precision, memory plan.
        runtime: String,
        variant: Option<Variant>,
        defaults: Box<Settings>,
        /// Where it came from (remembered, and reloaded after a worker restart).
        source: ModelSource,
    },
    ModelFailed {
        message: String,
    },
    ImportProgress {
        done: usize,
        total: usize,
    },
    ImportFailed {
        message: String,
    },
    /// The result of [`Command::SelfCheck`]: the report table, and whether every stage agreed.
    SelfCheck {
        ok: bool,
        report: String,
    },
    /// The user cancelled the download or import (`message` says what was kept).
    ImportCancelled {
        message: String,
    },
    /// Download progress (bytes, bytes per second).
    DownloadProgress {
        variant: Variant,
        done: u64,
        total: u64,
        speed: f64,
    },
    /// The file cannot tell which model it is: the user must choose among `candidates`.
    ImportNeedsVariant {
        path: PathBuf,
        candidates: Vec<Variant>,
        why: String,
    },
    Phase {
        job: JobId,
        phase: JobPhase,
    },
    /// After each DDIM step.
    Step {
        job: JobId,
        step: usize,
        total: usize,
        seconds_per_step: f64,
        /// Device memory (bytes in use, bytes reserved by the runtime's pools), where the
        /// backend reports it.
        memory: Option<(u64, u64)>,
    },
    /// Cheap latent-to-RGB projection of the predicted frames (may be dropped).
    Preview {
        job: JobId,
        step: usize,
        frames: Vec<RgbImage>,
    },
    /// Finished or cancelled: the frames are already saved in history.
    Finished {
        job: JobId,
        entry: Box<HistoryEntry>,
        frames: Vec<RgbImage>,
        cancelled: bool,
    },
    Failed {
        job: JobId,
        message: String,
        advice: String,
    },
    /// A download failed or was cancelled (`failed: false`); `message` says what is kept.
    DownloadEnded {
        message: String,
        failed: bool,
    },
    /// A download finished and was verified: the UI imports it.
    Downloaded {
        variant: Variant,
        path: PathBuf,
    },
    /// Frame interpolation progress (output frames made; may be dropped).
    Interpolating {
        id: JobId,
        done: usize,
        total: usize,
    },
    /// The interpolated clip.
    Interpolated {
        id: JobId,
        factor: usize,
        frames: Vec<RgbImage>,
    },
    /// Interpolation failed or was cancelled.
    InterpolateFailed {
        id: JobId,
        message: String,
        advice: String,
    },
    /// A RIFE file was checked and installed in the model folder (from an import).
    RifeInstalled {
        path: PathBuf,
        version: String,
    },
    /// A file recognised as RIFE could not be installed (the loaded model is untouched).
    RifeFailed {
        message: String,
    },
    /// Something the user should know that is neither a result nor an error.
    Notice {
        text: String,
    },
    /// Finished or cancelled, but the history could not store it (`message` says why): the
    /// frames come here, so the clip stays in the player, exportable, and saving can be
    /// retried.
    Unsaved {
        job: JobId,
        record: Box<HistoryRecord>,
        frames: Vec<RgbImage>,
        message: String,
    },
}
