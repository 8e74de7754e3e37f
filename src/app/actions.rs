//! Applying the UI's intents ([`Action`]s) after the frame (never mid-draw).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::Action;
use super::background;
use super::file_picker::{Purpose, Start};
use super::image_load::{ImageLoad, ImageSource, Slot};
use super::{InputImage, ModelStatus, Notice, Queued, Running, StudioApp};
use crate::model::config::Variant;
use crate::pipeline::conditioning::Mode;
use crate::pipeline::generate::{Phase, Settings};
use crate::weights::import::{CachePrecision, variant_from_name};
use crate::worker::protocol::{Command, Job, ModelSource};

/// A fresh seed from the clock (no RNG dependency needed for this).
pub fn random_seed() -> u64 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let mut x = t as u64 ^ 0x9E37_79B9_7F4A_7C15;
    x ^= x >> 33;
    x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    x ^= x >> 33;
    x % (1u64 << 31)
}

pub(super) fn error(app: &mut StudioApp, text: impl Into<String>, advice: impl Into<String>) {
    app.notice = Some(Notice { text: text.into(), advice: advice.into(), is_error: true });
}

fn start_image_load(app: &mut StudioApp, ctx: &egui::Context, slot: Slot, source: ImageSource) {
    let repaint = ctx.clone();
    let load = ImageLoad::start(slot, source, move || repaint.request_repaint());
    // A newer request for the same input slot replaces an unfinished one (keyframes add up).
    if matches!(slot, Slot::Input { .. }) {
        app.reading.image_loads.retain(|l| l.slot != slot);
    }
    app.reading.image_loads.push(load);
}

/// Takes the decoded images (or their errors) into their slots.
pub fn poll_image_loads(app: &mut StudioApp) {
    let mut i = 0;
    while i < app.reading.image_loads.len() {
        match app.reading.image_loads[i].poll() {
            None => i += 1,
            Some(result) => {
                let slot = app.reading.image_loads.remove(i).slot;
                match result {
                    Ok(img) => match slot {
                        Slot::Input { second } => set_image(app, second, img),
                        Slot::Keyframe => super::storyboard::add_keyframe(app, img),
                    },
                    Err(e) => error(app, e, "Use a PNG, JPEG, WebP, BMP, TIFF or GIF image."),
                }
            }
        }
    }
}

pub(super) fn set_image(app: &mut StudioApp, second: bool, img: InputImage) {
    if second {
        app.image2 = Some(img);
    } else {
        app.state.last_image = img.path.clone();
        app.image = Some(img);
    }
    // A good image answers an earlier error (a broken file); information stays.
    if app.notice.as_ref().is_some_and(|n| n.is_error) {
        app.notice = None;
    }
}

/// Applies one action.
pub fn apply(app: &mut StudioApp, ctx: &egui::Context, a: Action) {
    match a {
        Action::Generate => generate(app),
        Action::Cancel => {
            if let Some(r) = &app.running {
                r.cancel.store(true, Ordering::Relaxed);
            }
        }
        Action::Configure => {
            let run = app.state.run_config();
            if let Some(w) = app.worker() {
                if !w.send(Command::Configure(run)) {
                    error(app, "the model worker is busy or stopped", "Try again when the current job has finished.");
                }
            }
        }
        Action::LoadModel(src) => {
            app.state.model = Some(src.clone());
            app.model = ModelStatus::Loading(src.label());
            if let Some(w) = app.worker() {
                if !w.send(Command::LoadModel(src)) {
                    error(
                        app,
                        "the model worker is busy or stopped",
                        "Wait for the current generation, or restart the app.",
                    );
                }
            }
        }
        Action::Import { path, variant } => start_import(app, ModelStatus::Importing { done: 0, total: 0 }, |cancel| {
            Command::Import { path, variant, dtype: CachePrecision::F16, cancel }
        }),
        Action::SelfCheck => {
            if app.worker().is_some_and(|w| w.send(Command::SelfCheck)) {
                app.notice = Some(Notice {
                    text: "Self-check running: a small model on this device and on the CPU…".into(),
                    advice: String::new(),
                    is_error: false,
                });
            } else {
                error(app, "the model worker is busy or stopped", "Try again when the current job has finished.");
            }
        }
        Action::RefreshModels => {
            // Read off the UI thread; the list arrives with the next frame that drains events.
            let models = app.models_dir.clone();
            if let Ok(rx) = background::run(ctx, "model-list", move || {
                let list = models.as_deref().map(crate::weights::import::list_imported).unwrap_or_default();
                (list, models.as_deref().and_then(crate::rife::weights::find_installed))
            }) {
                app.set_model_listing(rx);
            }
        }
        Action::ImportParts => {
            let f = app.ui.comfy.clone();
            let Some(variant) = f.variant.or_else(|| variant_from_name(std::path::Path::new(&f.unet))) else {
                return error(app, "which model are these files?", "Choose the variant next to the UNet file.");
            };
            let parts = crate::weights::assemble::Parts {
                unet: PathBuf::from(f.unet.trim()),
                text_encoder: PathBuf::from(f.text.trim()),
                image_encoder: PathBuf::from(f.image.trim()),
                vae: (!f.vae.trim().is_empty()).then(|| PathBuf::from(f.vae.trim())),
            };
            start_import(app, ModelStatus::Importing { done: 0, total: 0 }, |cancel| Command::ImportParts {
                parts,
                variant,
                cancel,
            });
        }
        Action::Download(variant) => {
            if app.download.is_some() {
                return error(app, "a download is already running", "Wait for it, or cancel it first.");
            }
            let mirror = app.state.mirror.trim();
            let url = (!mirror.is_empty()).then(|| crate::download::mirror_url(mirror, variant));
            let cancel = Arc::new(AtomicBool::new(false));
            if app.worker().is_some_and(|w| w.send(Command::Download { variant, url, cancel: cancel.clone() })) {
                app.download = Some(super::Download { variant, done: 0, total: 0, speed: 0.0, cancel });
            } else {
                error(app, "the model worker is busy or stopped", "Try again in a moment.");
            }
        }
        Action::CancelDownload => {
            if let Some(d) = &app.download {
                d.cancel();
            }
        }
        Action::OpenFolder(dir) => {
            let opener = if cfg!(target_os = "macos") {
                "open"
            } else if cfg!(windows) {
                "explorer"
            } else {
                "xdg-open"
            };
            match std::process::Command::new(opener).arg(&dir).spawn() {
                // Reaped off the UI thread (no zombie, no wait here).
                Ok(mut child) => drop(std::thread::spawn(move || child.wait())),
                Err(e) => {
                    error(app, format!("cannot open {}: {e}", dir.display()), "Open the folder in your file manager.")
                }
            }
        }
        Action::QueueSweep => queue_sweep(app),
        Action::View(v) => {
            let keep: Vec<String> = match &v {
                super::CentralView::Compare(a, b) => vec![a.clone(), b.clone()],
                _ => Vec::new(),
            };
            if !matches!(v, super::CentralView::Sheet(_)) {
                app.ui.clips.retain(&keep.iter().map(String::as_str).collect::<Vec<_>>());
            }
            app.ui.view = v;
        }
        Action::PickCompare(id) => match app.ui.compare_pick.take() {
            Some(first) if first != id => app.push(Action::View(super::CentralView::Compare(first, id))),
            Some(_) => {}
            None => app.ui.compare_pick = Some(id),
        },
        Action::SaveSheet { id, path } => {
            let members = super::sweep::members(&app.entries, &id);
            let history = app.history.clone();
            let opts = crate::export::ExportOptions { overwrite: true, ..app.state.export.clone() };
            let repaint = ctx.clone();
            app.export = Some(super::export_job::ExportJob::start_with(
                path,
                opts,
                move || repaint.request_repaint(),
                move || {
                    let clips: Result<Vec<_>, String> =
                        members.iter().map(|e| history.load_frames(e).map_err(|err| err.to_string())).collect();
                    super::sweep::compose_sheet(&clips?, 256)
                },
            ));
        }
        Action::CancelImport => {
            if let Some(c) = &app.import_cancel {
                c.store(true, Ordering::Relaxed);
            }
        }
        Action::ChooseVariant(v) => {
            if let (Some(choice), Some(variant)) = (app.variant_choice.take(), v) {
                app.push(if choice.import {
                    Action::Import { path: choice.path, variant: Some(variant) }
                } else {
                    Action::LoadModel(ModelSource::Checkpoint { path: choice.path, variant })
                });
            }
        }
        Action::PickFile(purpose) => {
            let start = picker_start(app, purpose);
            app.ui.file_picker.open(ctx, purpose, start);
        }
        Action::Picked(purpose, path) => picked(app, purpose, path),
        Action::SetImage { second, path } => {
            start_image_load(app, ctx, Slot::Input { second }, ImageSource::File(path));
        }
        Action::SetImageBytes { second, bytes, origin } => {
            start_image_load(app, ctx, Slot::Input { second }, ImageSource::Bytes { bytes, origin });
        }
        Action::SetImageRgb { second, rgb } => {
            start_image_load(app, ctx, Slot::Input { second }, ImageSource::Rgb(rgb));
        }
        Action::AddKeyframe(path) => start_image_load(app, ctx, Slot::Keyframe, ImageSource::File(path)),
        Action::Storyboard(a) => super::storyboard::apply(app, ctx, a),
        Action::OpenFiles(paths) => {
            for a in super::open_files::actions(&paths, app.state.variant, app.state.settings.mode) {
                app.push(a);
            }
        }
        Action::SetMode(mode) => app.state.settings.mode = mode,
        Action::ClearImage { second } => {
            if second {
                app.image2 = None;
            } else {
                app.image = None;
            }
        }
        Action::Restore(entry) => {
            app.state.settings = entry.record.settings.clone();
            app.state.seed_locked = true;
            app.notice = Some(Notice {
                text: format!("Settings restored from {}", entry.id),
                advice: String::new(),
                is_error: false,
            });
        }
        Action::Show(entry) => {
            // Decoded off the UI thread; `events::poll_showing` puts it in the player.
            let (history, e) = (app.history.clone(), (*entry).clone());
            let spawned = background::run(ctx, "clip-show", move || {
                let frames = history.load_frames(&e).map_err(|e| e.to_string());
                frames.map(|f| f.iter().map(super::textures::color_image).collect())
            });
            match spawned {
                Ok(rx) => app.reading.showing = Some((entry, rx)),
                Err(e) => error(app, format!("cannot read the clip: {e}"), ""),
            }
        }
        Action::Delete(id) => {
            if let Err(e) = app.history.delete(&id) {
                error(app, e.to_string(), "");
            }
            if app.result.as_ref().and_then(|(_, e)| e.as_ref()).is_some_and(|e| e.id == id) {
                app.result = None;
            }
            app.entries.retain(|e| e.id != id);
            app.damaged.retain(|d| d.id != id);
        }
        Action::QueueMove { index, up } => {
            let other = if up { index.checked_sub(1) } else { Some(index + 1) };
            if let Some(o) = other.filter(|o| *o < app.queue.len()) {
                if index < app.queue.len() {
                    app.queue.swap(index, o);
                }
            }
        }
        Action::QueueRemove(i) => {
            // A removed storyboard segment or continuation ends its clip (what finished is kept).
            if let Some(part) = app.queue.remove(i).and_then(|q| q.job.part) {
                super::storyboard::part_failed(app, ctx, &part);
            }
        }
        Action::RefreshHistory => {
            let history = app.history.clone();
            if let Ok(rx) = background::run(ctx, "history-list", move || history.scan()) {
                app.set_history_listing(rx);
            }
        }
        Action::ExportDialog => {
            let Some((_, Some(entry))) = app.result.as_ref() else {
                return error(app, "nothing to export", "Generate a clip or pick one from the history first.");
            };
            let dir = app
                .state
                .last_export_dir
                .clone()
                .or_else(|| directories::UserDirs::new().and_then(|u| u.video_dir().map(PathBuf::from)))
                .or_else(|| directories::UserDirs::new().map(|u| u.home_dir().to_path_buf()))
                .unwrap_or_default();
            // A loop's last frame repeats its first: the reference drops it.
            if entry.record.settings.mode == Mode::Loop {
                app.state.export.trim_loop = true;
            }
            let path = dir.join(format!("dynamicrafter-{}.mp4", entry.id)).display().to_string();
            app.ui.export_draft = Some(super::panels::export_dialog::ExportDraft {
                path,
                overwrite: false,
                focus_path: true,
                problem: None,
            });
        }
        Action::ExportTo { path, overwrite } => start_export(app, ctx, path, overwrite),
        Action::Smooth(factor) => super::smooth::request(app, factor, None),
        Action::DownloadRife(url) => super::smooth::download_rife(app, ctx, url),
        Action::CancelSmooth => {
            if let Some(s) = &app.smoothing {
                s.cancel();
            }
        }
        Action::CancelExport => {
            if let Some(e) = &app.export {
                e.cancel.store(true, Ordering::Relaxed);
            }
        }
        Action::Notify(n) => app.notice = Some(n),
        Action::DismissNotice => app.notice = None,
        Action::ScanComfy(folder) => {
            match background::run(ctx, "comfy-scan", move || crate::weights::assemble::find_in_comfy(&folder)) {
                Ok(rx) => {
                    app.ui.comfy.scan_note = "scanning…".into();
                    app.reading.comfy_scan = Some(rx);
                }
                Err(e) => error(app, format!("cannot scan: {e}"), ""),
            }
        }
        Action::SaveUnsaved => {
            for u in &mut app.unsaved {
                u.save(&app.history, ctx);
            }
        }
    }
}

/// Sends a cancellable import to the worker and shows `status` while it runs (the status to
/// return to on cancel is kept). Downloads have their own state (`Action::Download`).
fn start_import(app: &mut StudioApp, status: ModelStatus, command: impl FnOnce(Arc<AtomicBool>) -> Command) {
    if !matches!(app.model, ModelStatus::Importing { .. }) {
        app.before_import = app.model.clone();
    }
    let cancel = Arc::new(AtomicBool::new(false));
    if app.worker().is_some_and(|w| w.send(command(cancel.clone()))) {
        app.model = status;
        app.import_cancel = Some(cancel);
    } else {
        error(app, "the model worker is busy or stopped", "Wait for the current generation, then try again.");
    }
}

/// Queues the sweep's grid: one job per combination, all tagged with one sweep id, and
/// shows its contact sheet.
fn queue_sweep(app: &mut StudioApp) {
    let grid = match app.state.sweep.expand(&app.state.settings) {
        Ok(g) => g,
        Err(e) => return error(app, format!("sweep: {e}"), "Type a few comma-separated values per row."),
    };
    let id = format!(
        "sweep-{}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)
    );
    let total = grid.len();
    for (index, settings) in grid.into_iter().enumerate() {
        let tag = crate::history::SweepTag { id: id.clone(), index, total };
        if let Err(()) = enqueue(app, settings, Some(tag)) {
            return;
        }
    }
    app.ui.view = super::CentralView::Sheet(id);
    start_next(app);
}

/// Builds a job from the current controls and runs or queues it.
fn generate(app: &mut StudioApp) {
    if !app.state.seed_locked {
        app.state.settings.seed = random_seed();
    }
    let settings = app.state.settings.clone();
    if enqueue(app, settings, None).is_ok() {
        start_next(app);
    }
}

/// Exports the clip in the player to `path`, with the dialog's options (remembered) and the
/// clip's settings as metadata. With *Interpolate ×N*, the interpolated frames are written
/// at N × the FPS (made first if the player does not hold them yet).
pub(super) fn start_export(app: &mut StudioApp, ctx: &egui::Context, path: PathBuf, overwrite: bool) {
    let Some((_, Some(entry))) = app.result.clone() else {
        return error(app, "nothing to export", "Generate a clip or pick one from the history first.");
    };
    let factor = app.state.export_interpolate.max(1);
    let mut opts = crate::export::ExportOptions {
        overwrite,
        metadata: serde_json::to_string(&entry.record).ok(),
        ..app.state.export.clone()
    };
    let repaint = ctx.clone();
    let wake = move || repaint.request_repaint();
    if factor > 1 {
        let Some(frames) = super::smooth::smoothed_for(app, factor).map(|s| s.rgb.clone()) else {
            return super::smooth::request(app, factor, Some((path, overwrite)));
        };
        opts.fps *= factor as f32;
        app.export = Some(super::export_job::ExportJob::start_frames(frames, path, opts, wake));
        return;
    }
    app.export = Some(match app.unsaved.iter().find(|u| u.entry.id == entry.id) {
        Some(u) => super::export_job::ExportJob::start_frames(u.frames(), path, opts, wake),
        None => super::export_job::ExportJob::start(app.history.clone(), entry, path, opts, wake),
    });
}

/// Queues one request with `settings` and the current inputs; on a missing model or image
/// the user is told why and nothing is queued.
fn enqueue(app: &mut StudioApp, settings: Settings, sweep: Option<crate::history::SweepTag>) -> Result<(), ()> {
    if !matches!(app.model, ModelStatus::Ready(_)) {
        error(app, "no model is loaded", "Import or open a model in the Model panel first.");
        return Err(());
    }
    let Some(image) = app.image.clone() else {
        error(app, "no input image", "Drop an image onto the window, paste one, or click Open image.");
        return Err(());
    };
    let mode = settings.mode;
    if mode == Mode::Interpolation && app.image2.is_none() {
        error(app, "interpolation needs a second image", "Add the last frame in the second image slot.");
        return Err(());
    }
    let job = Job {
        id: app.next_id(),
        settings,
        image: image.rgb.clone(),
        image2: if mode == Mode::Interpolation { app.image2.as_ref().map(|i| i.rgb.clone()) } else { None },
        fit: app.state.fit,
        input_hash: match (&app.image2, mode) {
            (Some(i2), Mode::Interpolation) => format!("{}+{}", image.hash, i2.hash),
            _ => image.hash.clone(),
        },
        cancel: Arc::new(AtomicBool::new(false)),
        vae_preview_every: app.state.vae_preview_every,
        sweep,
        part: None,
    };
    app.queue.push_back(Queued { job });
    Ok(())
}

/// Starts the next queued job if the worker is idle.
pub fn start_next(app: &mut StudioApp) {
    if app.running.is_some() {
        return;
    }
    let Some(q) = app.queue.pop_front() else {
        return;
    };
    let job = q.job;
    let running = Running {
        job: job.id,
        request: job.clone(),
        settings: job.settings.clone(),
        cancel: job.cancel.clone(),
        phase: Phase::Encoding,
        step: 0,
        total: job.settings.steps,
        seconds_per_step: 0.0,
        started: std::time::Instant::now(),
        memory: None,
    };
    let sent = app.worker().is_some_and(|w| w.send(Command::Generate(Box::new(job.clone()))));
    if sent {
        app.running = Some(running);
        app.preview = None;
    } else {
        app.queue.push_front(Queued { job });
        error(app, "the model worker is not running", "Restart the app.");
    }
}

/// Where a file dialog starts: beside the current image, or the export's file name.
fn picker_start(app: &StudioApp, purpose: Purpose) -> Start {
    let folder_of = |p: &std::path::Path| {
        std::path::absolute(p).ok().and_then(|p| p.parent().filter(|d| !d.as_os_str().is_empty()).map(Into::into))
    };
    match purpose {
        Purpose::Image { second } => {
            let slot = if second { &app.image2 } else { &app.image };
            Start { folder: slot.as_ref().and_then(|i| i.path.as_deref()).and_then(folder_of), file_name: None }
        }
        Purpose::Export => {
            let draft = app.ui.export_draft.as_ref().map(|d| PathBuf::from(&d.path)).unwrap_or_default();
            Start { folder: folder_of(&draft), file_name: draft.file_name().map(|n| n.to_string_lossy().into_owned()) }
        }
        Purpose::Keyframe => {
            let last = app.board.keyframes.last().and_then(|k| k.image.path.as_deref());
            Start { folder: last.and_then(folder_of), file_name: None }
        }
        Purpose::Import | Purpose::OpenModel => Start::default(),
    }
}

/// What a file chosen in a dialog does.
fn picked(app: &mut StudioApp, purpose: Purpose, path: PathBuf) {
    match purpose {
        Purpose::Image { second } => app.push(Action::SetImage { second, path }),
        Purpose::Keyframe => app.push(Action::AddKeyframe(path)),
        Purpose::Import => app.push(Action::Import { path, variant: None }),
        Purpose::Export => {
            if let Some(draft) = app.ui.export_draft.as_mut() {
                draft.path = path.display().to_string();
            }
        }
        Purpose::OpenModel => match variant_from_name(&path) {
            Some(variant) => app.push(Action::LoadModel(ModelSource::Checkpoint { path, variant })),
            None => {
                app.variant_choice = Some(super::VariantChoice {
                    path,
                    candidates: Variant::ALL.to_vec(),
                    why: "The file name does not say which DynamiCrafter this is.".into(),
                    import: false,
                })
            }
        },
    }
}
