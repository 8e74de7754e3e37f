//! What the app remembers across restarts (plain data, no handles).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::device::{Backend, Precision};
use crate::model::config::Variant;
use crate::pipeline::generate::Settings;
use crate::pipeline::memory::MemoryMode;
use crate::pipeline::preprocess::FitMode;
use crate::pipeline::runtime::RunConfig;
use crate::worker::protocol::ModelSource;

/// Storage key in eframe's persistence.
pub const STORAGE_KEY: &str = "dynamicrafter-studio";

/// Light, dark or follow the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Theme {
    #[default]
    System,
    Light,
    Dark,
}

/// How the result player loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum LoopMode {
    #[default]
    Loop,
    PingPong,
    Once,
}

/// Player preferences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlayerPrefs {
    pub fps: f32,
    pub loop_mode: LoopMode,
    /// Fit the frame to the panel (`false`: 1:1 pixels).
    pub fit: bool,
}

impl Default for PlayerPrefs {
    fn default() -> Self {
        Self { fps: 8.0, loop_mode: LoopMode::Loop, fit: true }
    }
}

/// Everything persisted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersistedState {
    pub settings: Settings,
    /// Keep the seed between generations (`false`: a new random seed each time).
    pub seed_locked: bool,
    pub fit: FitMode,
    pub backend: Backend,
    /// `auto`, `f16` or `f32`.
    #[serde(default)]
    pub precision: Precision,
    /// `auto`, `balanced` or `low`.
    #[serde(default)]
    pub memory: MemoryMode,
    /// GPU memory of the card in GB (0: unknown).
    #[serde(default)]
    pub vram_gb: f32,
    pub model: Option<ModelSource>,
    pub variant: Option<Variant>,
    pub theme: Theme,
    pub player: PlayerPrefs,
    /// Decode with the VAE every N steps for the live preview (0: latent projection only).
    pub vae_preview_every: usize,
    pub last_image: Option<PathBuf>,
    /// The export dialog's options, remembered between uses.
    #[serde(default)]
    pub export: crate::export::ExportOptions,
    /// Where the last export went.
    #[serde(default)]
    pub last_export_dir: Option<PathBuf>,
    /// The sweep's values (as typed).
    #[serde(default)]
    pub sweep: super::sweep::SweepSpec,
    /// Downloads come from this Hugging Face mirror (empty: huggingface.co itself).
    #[serde(default)]
    pub mirror: String,
    /// Frame interpolation on export: 1 (off), 2 or 4 frames per frame.
    #[serde(default = "one")]
    pub export_interpolate: usize,
    /// Where the user downloads RIFE from (there is no official source).
    #[serde(default)]
    pub rife_url: String,
    /// RIFE's flow scale (1; 0.5 for large motion or large frames).
    #[serde(default = "one_f32")]
    pub smooth_scale: f32,
}

fn one() -> usize {
    1
}

fn one_f32() -> f32 {
    1.0
}

impl PersistedState {
    /// How the worker runs the model.
    pub fn run_config(&self) -> RunConfig {
        RunConfig {
            backend: self.backend,
            precision: self.precision,
            memory: self.memory,
            budget_gb: (self.vram_gb > 0.0).then_some(self.vram_gb),
        }
    }
}

impl Default for PersistedState {
    fn default() -> Self {
        Self {
            settings: Settings::defaults(Variant::V512),
            seed_locked: true,
            fit: FitMode::Reference,
            backend: Backend::Wgpu,
            precision: Precision::Auto,
            memory: MemoryMode::Auto,
            vram_gb: 0.0,
            model: None,
            variant: None,
            theme: Theme::System,
            player: PlayerPrefs::default(),
            vae_preview_every: 0,
            last_image: None,
            export: crate::export::ExportOptions::default(),
            last_export_dir: None,
            sweep: Default::default(),
            mirror: String::new(),
            export_interpolate: 1,
            rife_url: String::new(),
            smooth_scale: 1.0,
        }
    }
}
