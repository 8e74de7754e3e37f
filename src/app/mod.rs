//! The desktop app (eframe/egui). The UI thread owns plain data and textures; the worker
//! thread owns the device and the model. Events are drained in [`eframe::App::logic`],
//! everything is drawn in [`eframe::App::ui`], and UI intents are collected as
//! [`Action`]s while drawing and applied after the frame.

mod action;
mod actions;
mod background;
pub mod catalog;
mod clips;
mod events;
pub mod export_job;
pub mod file_picker;
mod image_load;
pub mod open_files;
pub mod panels;
mod queue_store;
pub mod session;
pub mod smooth;
pub mod state;
pub mod storyboard;
pub mod sweep;
mod textures;
pub mod unsaved;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::device::Backend;
use crate::history::{History, HistoryEntry};
use crate::pipeline::generate::Settings;
use crate::worker::WorkerHandle;
use crate::worker::protocol::{Job, JobId, ModelSource};
pub use action::Action;
pub use session::{CentralView, Download, InputImage, ModelStatus, Notice, Queued, Running, VariantChoice};
use state::{PersistedState, STORAGE_KEY};
use textures::Frames;

/// Options for starting the app (the CLI and tests set them).
#[derive(Debug, Clone, Default)]
pub struct AppOptions {
    /// Override the persisted backend.
    pub backend: Option<Backend>,
    /// Load this model at start (overrides the persisted one).
    pub model: Option<ModelSource>,
    /// Where history lives (default: the platform data directory).
    pub history_dir: Option<PathBuf>,
    /// Ignore persisted state (tests).
    pub fresh: bool,
    /// Start with this input image.
    pub image: Option<PathBuf>,
    /// Files passed on the command line (*Open with*): images and checkpoints.
    pub files: Vec<PathBuf>,
    /// Where imported and downloaded models live (default: the platform data directory).
    pub models_dir: Option<PathBuf>,
    /// Choose files in the studio's browser, never the system dialog.
    pub in_app_file_browser: bool,
}

/// The state the panels own, apart from the work in flight ([`session`]) and the settings
/// that persist ([`state`]).
#[derive(Debug, Default)]
pub struct UiState {
    pub player: panels::player::PlayerState,
    /// Textures of input crops and history thumbnails, by content key.
    pub texture_cache: textures::TextureCache,
    /// What the central panel shows.
    pub view: CentralView,
    /// The first clip picked for a comparison.
    pub compare_pick: Option<String>,
    /// History thumbnails, decoded off the UI thread.
    pub thumbs: clips::ClipStore,
    /// Frames of the clips the sheet or the comparison shows.
    pub clips: clips::ClipStore,
    /// The contact sheet's own state (its file path field).
    pub sheet: panels::sheet::SheetPanel,
    /// The "files I already have" form: unet, text encoder, image encoder, VAE paths, a
    /// ComfyUI folder to scan, and the variant.
    pub comfy: panels::comfy::ComfyForm,
    /// The history panel's own state (search text, delete to confirm).
    pub history_panel: panels::history::HistoryPanel,
    /// The file dialog in use (the system's or the studio's browser).
    pub file_picker: file_picker::FilePicker,
    /// The export dialog, while open.
    pub export_draft: Option<panels::export_dialog::ExportDraft>,
}

/// Reads running off the UI thread ([`background::run`]), polled each frame.
#[derive(Default)]
struct Reading {
    /// The queue stored when the app last closed, being read.
    restoring_queue: Option<crossbeam_channel::Receiver<Vec<Job>>>,
    /// The ComfyUI folder scan in progress.
    comfy_scan: Option<crossbeam_channel::Receiver<crate::weights::assemble::Found>>,
    /// The history clip being read for the player (off the UI thread).
    showing: Option<(Box<HistoryEntry>, crossbeam_channel::Receiver<Result<Vec<egui::ColorImage>, String>>)>,
    /// The imported-model listing being read off the UI thread.
    model_listing: Option<crossbeam_channel::Receiver<ModelListing>>,
    /// The history listing being read off the UI thread.
    history_listing: Option<crossbeam_channel::Receiver<crate::history::Listing>>,
    /// Input images being decoded off the UI thread.
    image_loads: Vec<image_load::ImageLoad>,
    /// A RIFE file being downloaded and installed: its path and version, or why not.
    rife_download: Option<crossbeam_channel::Receiver<Result<(PathBuf, String), String>>>,
}

/// The model folder's contents: imported models, and the RIFE file if one is installed.
type ModelListing = (Vec<(PathBuf, crate::weights::import::ModelManifest)>, Option<PathBuf>);

/// The app.
pub struct StudioApp {
    pub state: PersistedState,
    /// What the panels own: playback, the dialogs, the views and their textures (nothing the
    /// worker reads or writes).
    pub ui: UiState,
    /// Reads running off the UI thread, polled each frame.
    reading: Reading,
    worker: Option<WorkerHandle>,
    pub history: History,
    /// Where imported and downloaded models live (`None`: this platform has no data folder).
    pub models_dir: Option<PathBuf>,
    pub entries: Vec<HistoryEntry>,
    /// History folders whose settings cannot be read (shown, deletable).
    pub damaged: Vec<crate::history::Damaged>,
    pub image: Option<InputImage>,
    pub image2: Option<InputImage>,
    pub model: ModelStatus,
    pub adapter: String,
    pub running: Option<Running>,
    pub queue: VecDeque<Queued>,
    /// Live preview of the running job.
    pub preview: Option<Frames>,
    /// The clip shown in the player (last result or a history entry).
    pub result: Option<(Frames, Option<HistoryEntry>)>,
    pub notice: Option<Notice>,
    pub defaults: Settings,
    pub events_seen: usize,
    /// The official models the first-run panel offers (with their memory estimates).
    pub catalog: Vec<catalog::OfficialModel>,
    /// The models in the cache folder (read when something changes, not every frame).
    pub imported: Vec<(PathBuf, crate::weights::import::ModelManifest)>,
    /// The export in progress.
    pub export: Option<export_job::ExportJob>,
    /// The RIFE file in the model folder (frame interpolation), if any.
    pub rife_installed: Option<PathBuf>,
    /// The model download in progress.
    pub download: Option<Download>,
    /// Finished clips the history could not store yet (newest last).
    pub unsaved: Vec<unsaved::Unsaved>,
    /// The job ids last written to the queue store (running first).
    saved_queue: Vec<JobId>,
    /// Cancels the import in progress.
    pub import_cancel: Option<Arc<AtomicBool>>,
    /// The model status to return to when an import is cancelled or needs a choice.
    pub before_import: ModelStatus,
    /// A file waiting for the user to say which model it is.
    pub variant_choice: Option<VariantChoice>,
    /// When the worker was restarted after dying (a crash loop stops restarting).
    pub worker_restarts: Vec<std::time::Instant>,
    /// The storyboard's keyframes and the longer clips being built.
    pub board: storyboard::Board,
    /// The frame interpolation the worker is running.
    pub smoothing: Option<smooth::Smoothing>,
    /// The interpolated clip in the player (see [`smooth`]).
    pub smoothed: Option<smooth::Smoothed>,
    next_job: JobId,
    actions: Vec<Action>,
}

impl std::fmt::Debug for StudioApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StudioApp").field("model", &self.model).field("running", &self.running.is_some()).finish()
    }
}

impl StudioApp {
    /// Creates the app and its worker.
    pub fn new(cc: &eframe::CreationContext<'_>, opts: AppOptions) -> Self {
        let mut state: PersistedState = match (opts.fresh, cc.storage) {
            (false, Some(s)) => eframe::get_value(s, STORAGE_KEY).unwrap_or_default(),
            _ => PersistedState::default(),
        };
        if let Some(b) = opts.backend {
            state.backend = b;
        }
        if let Some(m) = opts.model.clone() {
            state.model = Some(m);
        }
        if let Some(p) = opts.image.clone() {
            state.last_image = Some(p);
        }
        let models = opts.models_dir.or_else(crate::weights::import::default_model_dir);
        let mut app = Self::with_context(&cc.egui_ctx, state, opts.history_dir, models);
        app.ui.file_picker.always_browser = opts.in_app_file_browser;
        if !opts.files.is_empty() {
            app.push(Action::OpenFiles(opts.files));
        }
        app
    }

    /// Creates the app on an egui context (also used by tests).
    pub fn with_context(
        ctx: &egui::Context,
        state: PersistedState,
        history_dir: Option<PathBuf>,
        models_dir: Option<PathBuf>,
    ) -> Self {
        panels::theme::apply(ctx, state.theme);
        let root = history_dir.or_else(History::default_root).unwrap_or_else(|| PathBuf::from("history"));
        let history = History::new(root);
        let (worker, notice) = match spawn_worker(ctx, &state, &history, models_dir.as_deref()) {
            Ok(w) => (Some(w), None),
            Err(n) => (None, Some(n)),
        };
        let entries = Vec::new(); // listed off the UI thread (`Action::RefreshHistory`)
        let defaults = state.settings.clone();
        let mut app = Self {
            state,
            ui: UiState::default(),
            reading: Reading::default(),
            worker,
            history,
            models_dir,
            entries,
            damaged: Vec::new(),
            image: None,
            image2: None,
            model: ModelStatus::None,
            adapter: String::new(),
            running: None,
            queue: VecDeque::new(),
            preview: None,
            result: None,
            notice,
            defaults,
            events_seen: 0,
            imported: Vec::new(),
            catalog: catalog::catalog(),
            export: None,
            download: None,
            rife_installed: None,
            unsaved: Vec::new(),
            saved_queue: Vec::new(),
            import_cancel: None,
            before_import: ModelStatus::None,
            variant_choice: None,
            worker_restarts: Vec::new(),
            board: Default::default(),
            smoothing: None,
            smoothed: None,
            next_job: 1,
            actions: Vec::new(),
        };
        // Requests queued when the app last closed wait for the model, then run. Their images
        // are decoded off the UI thread (`poll_restored_queue`).
        let root = app.history.root().to_path_buf();
        app.reading.restoring_queue =
            background::run(ctx, "queue-restore", move || queue_store::load(&root, &mut 0)).ok();
        if let Some(m) = app.state.model.clone() {
            app.push(Action::LoadModel(m));
        }
        app.push(Action::RefreshModels);
        app.push(Action::RefreshHistory);
        if let Some(p) = app.state.last_image.clone() {
            if p.is_file() {
                app.push(Action::SetImage { second: false, path: p });
            }
        }
        app
    }

    /// Queues a UI intent; it is applied after the current frame.
    pub fn push(&mut self, a: Action) {
        self.actions.push(a);
    }

    /// Applies queued intents now (the app calls this after drawing; tests may too).
    pub fn apply_actions(&mut self, ctx: &egui::Context) {
        let actions = std::mem::take(&mut self.actions);
        for a in actions {
            actions::apply(self, ctx, a);
        }
    }

    fn worker(&self) -> Option<&WorkerHandle> {
        self.worker.as_ref()
    }

    /// A fresh id for a job or a request to the worker.
    fn next_id(&mut self) -> JobId {
        let id = self.next_job;
        self.next_job += 1;
        id
    }

    /// Stops the worker thread as if it had died (tests of the recovery path).
    #[doc(hidden)]
    pub fn stop_worker_for_test(&self) {
        if let Some(w) = &self.worker {
            let _ = w.commands.send(crate::worker::protocol::Command::Shutdown);
        }
    }

    /// Starts replacing the history list with a fresh listing (read off the UI thread).
    fn set_history_listing(&mut self, rx: crossbeam_channel::Receiver<crate::history::Listing>) {
        self.reading.history_listing = Some(rx);
    }

    /// Starts replacing the imported-model list (read off the UI thread).
    fn set_model_listing(&mut self, rx: crossbeam_channel::Receiver<ModelListing>) {
        self.reading.model_listing = Some(rx);
    }

    /// Takes a finished history listing (and model listing).
    /// Queues the requests restored from the last session (behind any queued since), with
    /// fresh ids.
    fn poll_restored_queue(&mut self) {
        let Some(result) = self.reading.restoring_queue.as_ref().map(crossbeam_channel::Receiver::try_recv) else {
            return;
        };
        if matches!(result, Err(crossbeam_channel::TryRecvError::Empty)) {
            return;
        }
        self.reading.restoring_queue = None;
        let mut parts = 0;
        for mut job in result.unwrap_or_default() {
            job.id = self.next_id();
            // The clips a storyboard or continuation was joining are not restored: its parts
            // run as clips of their own.
            parts += usize::from(job.part.take().is_some());
            self.queue.push_back(Queued { job });
        }
        if parts > 0 {
            self.notice = Some(Notice {
                text: format!(
                    "{parts} queued storyboard segment(s) or continuation(s) were restored as separate clips"
                ),
                advice: "Queue the storyboard again to get one joined clip.".into(),
                is_error: false,
            });
        }
        if matches!(self.model, ModelStatus::Ready(_)) {
            actions::start_next(self); // the model was ready first
        }
    }

    /// Fills the ComfyUI form when its folder scan is done.
    fn poll_comfy_scan(&mut self) {
        if let Some(found) = self.reading.comfy_scan.as_ref().and_then(|rx| rx.try_recv().ok()) {
            panels::comfy::fill(&mut self.ui.comfy, &found);
            self.reading.comfy_scan = None;
        }
    }

    fn poll_history_listing(&mut self) {
        if let Some((list, rife)) = self.reading.model_listing.as_ref().and_then(|rx| rx.try_recv().ok()) {
            self.imported = list;
            self.rife_installed = rife;
            self.reading.model_listing = None;
        }
        if let Some(list) = self.reading.history_listing.as_ref().and_then(|rx| rx.try_recv().ok()) {
            self.entries = list.entries;
            self.damaged = list.damaged;
            self.reading.history_listing = None;
        }
    }

    /// Writes the queue (the running request first) to disk when it changed.
    pub fn persist_queue(&mut self) {
        if self.reading.restoring_queue.is_some() {
            return; // the stored queue is still being read: writing now would replace it
        }
        // Runs every frame: compare ids, and copy the jobs only when the queue changed.
        let pending = || self.running.iter().map(|r| &r.request).chain(self.queue.iter().map(|q| &q.job));
        if pending().map(|j| j.id).eq(self.saved_queue.iter().copied()) {
            return;
        }
        let jobs: Vec<Job> = pending().cloned().collect();
        self.saved_queue = jobs.iter().map(|j| j.id).collect();
        queue_store::save(self.history.root(), jobs);
    }

    /// Whether a RIFE file is being downloaded.
    pub fn rife_downloading(&self) -> bool {
        self.reading.rife_download.is_some()
    }

    /// Whether an input image is being decoded.
    pub fn image_loading(&self) -> bool {
        !self.reading.image_loads.is_empty()
    }

    /// Whether the worker thread still runs.
    pub fn worker_alive(&self) -> bool {
        self.worker.as_ref().is_some_and(WorkerHandle::is_alive)
    }
}

impl eframe::App for StudioApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        events::drain(self, ctx);
        self.apply_actions(ctx);
        self.persist_queue();
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let busy = panels::shortcuts::Busy {
            running: self.running.is_some(),
            exporting: self.export.is_some(),
            dialog: self.ui.file_picker.is_open(),
        };
        let mut act = Vec::new();
        panels::shortcuts::handle(ui.ctx(), busy, &mut self.ui.player.playing, &mut act);
        for a in act {
            self.push(a);
        }
        panels::layout_ui(self, ui);
        if let Some((purpose, path)) = self.ui.file_picker.show(ui.ctx()) {
            self.push(Action::Picked(purpose, path));
        }
        self.ui.texture_cache.end_frame();
        self.ui.thumbs.end_frame();
        self.ui.clips.end_frame();
        let ctx = ui.ctx().clone();
        self.apply_actions(&ctx);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, STORAGE_KEY, &self.state);
    }
}

/// Starts a model worker under the persisted run settings.
fn spawn_worker(
    ctx: &egui::Context,
    state: &PersistedState,
    history: &History,
    models: Option<&std::path::Path>,
) -> Result<WorkerHandle, Notice> {
    let repaint = ctx.clone();
    let models = models.map(std::path::Path::to_path_buf);
    WorkerHandle::spawn(state.run_config(), history.clone(), models, move || repaint.request_repaint()).map_err(|e| {
        Notice {
            text: format!("cannot start the model worker: {e}"),
            advice: "Restart the app; if it persists, the system is out of threads or memory.".into(),
            is_error: true,
        }
    })
}

/// Runs the desktop app (blocks until the window closes).
pub fn run(opts: AppOptions) -> Result<(), eframe::Error> {
    use crate::identity;
    let mut viewport = egui::ViewportBuilder::default()
        .with_title(identity::APP_NAME)
        .with_app_id(identity::APP_ID)
        .with_inner_size([1280.0, 820.0])
        .with_min_inner_size([900.0, 600.0])
        .with_drag_and_drop(true);
    match eframe::icon_data::from_png_bytes(identity::ICON_PNG) {
        Ok(icon) => viewport = viewport.with_icon(icon),
        Err(e) => eprintln!("warning: the window icon does not decode: {e}"),
    }
    // The settings stay in the folder eframe chose from the app's name (not the app id).
    let persistence_path = identity::settings_file();
    if let Some(dir) = persistence_path.as_ref().and_then(|p| p.parent()) {
        let _ = std::fs::create_dir_all(dir);
    }
    let native = eframe::NativeOptions { viewport, persist_window: true, persistence_path, ..Default::default() };
    eframe::run_native(identity::APP_NAME, native, Box::new(move |cc| Ok(Box::new(StudioApp::new(cc, opts)))))
}
