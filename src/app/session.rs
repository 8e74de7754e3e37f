//! What the app knows of the work in flight, as the panels show it: the input slots, the
//! model's status, a download, the running job and the queue, a file that needs its model
//! chosen, messages, and what the central panel shows. Panels read these; only actions and
//! worker events change them.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use image::RgbImage;

use crate::pipeline::generate::{Phase, Settings};
use crate::worker::protocol::{Job, JobId};

/// An input image slot.
#[derive(Debug, Clone)]
pub struct InputImage {
    pub path: Option<PathBuf>,
    /// Full resolution: what the job gets.
    pub rgb: Arc<RgbImage>,
    /// At most 1024 px on its long side: what the input panel fits and draws.
    pub preview: Arc<RgbImage>,
    pub hash: String,
}

/// The model as the UI knows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum ModelStatus {
    #[default]
    None,
    Loading(String),
    Importing {
        done: usize,
        total: usize,
    },
    Ready(String),
    Failed(String),
}

/// A model download in progress. Apart from [`ModelStatus`]: the loaded model keeps working
/// (and generating) while a download runs beside it.
#[derive(Debug, Clone)]
pub struct Download {
    pub variant: crate::model::config::Variant,
    pub done: u64,
    pub total: u64,
    pub speed: f64,
    pub(super) cancel: Arc<AtomicBool>,
}

impl Download {
    /// Asks the download to stop (what arrived is kept for resuming).
    pub fn cancel(&self) {
        self.cancel.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// What the central panel shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum CentralView {
    /// The live preview or the selected clip.
    #[default]
    Player,
    /// The contact sheet of a sweep (its id).
    Sheet(String),
    /// Two history clips side by side (their ids).
    Compare(String, String),
}

/// A file whose model variant the user must choose (the file cannot tell).
#[derive(Debug, Clone, PartialEq)]
pub struct VariantChoice {
    pub path: PathBuf,
    pub candidates: Vec<crate::model::config::Variant>,
    pub why: String,
    /// Import it (else load it directly).
    pub import: bool,
}

/// The generation in progress.
#[derive(Debug, Clone)]
pub struct Running {
    pub job: JobId,
    /// The request itself, re-queued if the worker dies under it.
    pub request: Job,
    pub settings: Settings,
    pub cancel: Arc<AtomicBool>,
    pub phase: Phase,
    pub step: usize,
    pub total: usize,
    pub seconds_per_step: f64,
    pub started: std::time::Instant,
    /// Device memory in use and reserved at the last step (bytes).
    pub memory: Option<(u64, u64)>,
}

/// A request waiting for the worker.
#[derive(Debug, Clone)]
pub struct Queued {
    pub job: Job,
}

/// A message shown to the user.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub text: String,
    pub advice: String,
    pub is_error: bool,
}
