//! Draining the worker's events into UI state (runs in `App::logic`, even when hidden).

use super::actions::start_next;
use super::export_job::ExportMsg;
use super::textures::Frames;
use super::unsaved::Unsaved;
use std::time::{Duration, Instant};

use super::{Action, ModelStatus, Notice, Queued, StudioApp};
use crate::worker::protocol::Event;

/// At most this many events per frame, so a burst never stalls the UI.
const MAX_EVENTS_PER_FRAME: usize = 256;

/// A worker that dies this many times within [`RESTART_WINDOW`] is not restarted again.
const MAX_RESTARTS: usize = 3;
const RESTART_WINDOW: Duration = Duration::from_secs(60);

/// Applies every pending event, then notices a worker that died.
pub fn drain(app: &mut StudioApp, ctx: &egui::Context) {
    poll_export(app);
    poll_unsaved(app);
    poll_showing(app, ctx);
    app.poll_history_listing();
    app.poll_comfy_scan();
    app.poll_restored_queue();
    super::actions::poll_image_loads(app);
    super::storyboard::poll(app, ctx);
    super::smooth::poll_download(app);
    let Some(rx) = app.worker.as_ref().map(|w| w.events.clone()) else {
        return;
    };
    for ev in rx.try_iter().take(MAX_EVENTS_PER_FRAME) {
        app.events_seen += 1;
        apply(app, ctx, ev);
    }
    recover_worker(app, ctx);
}

/// A worker thread that ended without being asked (a panic outside a command, a bug) is
/// replaced: the interrupted generation goes back to the front of the queue, the queue is
/// kept, and the model is reloaded under the same settings. A crash loop stops restarting.
fn recover_worker(app: &mut StudioApp, ctx: &egui::Context) {
    let Some(reason) = app.worker.as_mut().and_then(crate::worker::WorkerHandle::exit_reason) else {
        return;
    };
    let now = Instant::now();
    app.worker_restarts.retain(|t| now.duration_since(*t) < RESTART_WINDOW);
    if let Some(r) = app.running.take() {
        app.queue.push_front(Queued { job: r.request });
    }
    app.preview = None;
    app.import_cancel = None;
    // An interpolation in flight died with the worker (its frames are not coming).
    app.smoothing = None;
    let kept = app.queue.len();
    if app.worker_restarts.len() >= MAX_RESTARTS {
        app.worker = None;
        app.model = ModelStatus::Failed("the model worker keeps stopping".into());
        app.notice = Some(Notice {
            text: format!(
                "The model worker stopped again ({reason}); it stopped {MAX_RESTARTS} times within a minute, so it was not restarted."
            ),
            advice: format!(
                "Your {kept} queued generation(s) are kept. Try f32 precision or the low memory mode, then restart the app."
            ),
            is_error: true,
        });
        return;
    }
    app.worker_restarts.push(now);
    match super::spawn_worker(ctx, &app.state, &app.history, app.models_dir.as_deref()) {
        Ok(w) => {
            app.worker = Some(w);
            app.model = ModelStatus::None;
            if let Some(m) = app.state.model.clone() {
                app.push(Action::LoadModel(m));
            }
            app.notice = Some(Notice {
                text: format!("The model worker stopped ({reason}) and was restarted."),
                advice: format!(
                    "The model is reloading; {kept} queued generation(s) are kept and will run once it is ready."
                ),
                is_error: true,
            });
        }
        Err(n) => {
            app.worker = None;
            app.notice = Some(n);
        }
    }
}

fn apply(app: &mut StudioApp, ctx: &egui::Context, ev: Event) {
    match ev {
        Event::Device { backend: _, adapter } => app.adapter = adapter,
        Event::ModelLoading { label } => {
            app.import_cancel = None;
            app.model = ModelStatus::Loading(label);
        }
        Event::ModelLoaded { label, runtime, variant, defaults, source } => {
            app.model = ModelStatus::Ready(format!("{label} · {runtime}"));
            app.state.model = Some(source);
            // An import ends by loading its result: the cache folder changed.
            app.push(Action::RefreshModels);
            let changed = app.state.variant != variant
                || app.defaults.height != defaults.height
                || app.defaults.frames != defaults.frames;
            app.state.variant = variant;
            // Keep the user's prompts and seed; take the model's sizes and recipe.
            if changed {
                let keep = app.state.settings.clone();
                let mut s = (*defaults).clone();
                s.prompt = keep.prompt;
                s.negative_prompt = keep.negative_prompt;
                s.seed = keep.seed;
                app.state.settings = s;
            }
            app.defaults = *defaults;
            start_next(app);
        }
        Event::ModelFailed { message } => {
            app.model = ModelStatus::Failed(message.clone());
            app.notice = Some(Notice {
                text: message,
                advice: "Check that the file is a DynamiCrafter checkpoint of the chosen variant.".into(),
                is_error: true,
            });
        }
        Event::ImportProgress { done, total } => app.model = ModelStatus::Importing { done, total },
        Event::ImportFailed { message } => {
            app.import_cancel = None;
            app.model = ModelStatus::Failed(message.clone());
            app.notice = Some(Notice { text: message, advice: String::new(), is_error: true });
        }
        Event::SelfCheck { ok, report } => {
            app.notice = Some(Notice {
                text: report,
                advice: if ok { String::new() } else { "Switch the backend to CPU, or update the GPU driver.".into() },
                is_error: !ok,
            });
        }
        Event::ImportCancelled { message } => {
            app.import_cancel = None;
            app.model = std::mem::take(&mut app.before_import);
            app.notice = Some(Notice { text: message, advice: String::new(), is_error: false });
        }
        Event::DownloadProgress { variant: _, done, total, speed } => {
            if let Some(d) = &mut app.download {
                (d.done, d.total, d.speed) = (done, total, speed);
            }
        }
        Event::DownloadEnded { message, failed } => {
            app.download = None;
            let advice = if failed { "Check the connection, or set a mirror; the next download resumes." } else { "" };
            app.notice = Some(Notice { text: message, advice: advice.into(), is_error: failed });
        }
        Event::ImportNeedsVariant { path, candidates, why } => {
            app.import_cancel = None;
            app.model = std::mem::take(&mut app.before_import);
            app.variant_choice = Some(super::VariantChoice { path, candidates, why, import: true });
        }
        Event::Phase { job, phase } => {
            if let Some(r) = app.running.as_mut().filter(|r| r.job == job) {
                r.phase = phase;
            }
        }
        Event::Step { job, step, total, seconds_per_step, memory } => {
            if let Some(r) = app.running.as_mut().filter(|r| r.job == job) {
                r.memory = memory;
                r.step = step + 1;
                r.total = total;
                r.seconds_per_step = seconds_per_step;
                r.phase = crate::pipeline::generate::Phase::Sampling { step, total, timestep: 0 };
            }
        }
        Event::Preview { job, frames, .. } => {
            if app.running.as_ref().is_some_and(|r| r.job == job) {
                match app.preview.as_mut() {
                    Some(p) => p.update(&frames),
                    None => app.preview = Some(Frames::new(ctx, "preview", &frames)),
                }
            }
        }
        Event::Finished { job, entry, frames, cancelled } => {
            if app.running.as_ref().is_some_and(|r| r.job == job) {
                app.running = None;
            }
            let entry = *entry;
            super::storyboard::part_finished(app, ctx, &entry, &frames, cancelled);
            // The new clip goes first (newest first), without listing the folder again.
            app.entries.retain(|e| e.id != entry.id);
            app.entries.insert(0, entry.clone());
            app.result = Some((Frames::new(ctx, &format!("entry-{}", entry.id), &frames), Some(entry)));
            app.ui.player.restart();
            app.preview = None;
            if cancelled {
                app.notice = Some(Notice {
                    text: "Cancelled: the partial result is kept in history".into(),
                    advice: String::new(),
                    is_error: false,
                });
            }
            start_next(app);
        }
        Event::Downloaded { variant, path } => {
            app.download = None;
            app.push(Action::Import { path, variant: Some(variant) });
        }
        Event::RifeInstalled { path, version } => {
            app.import_cancel = None;
            app.model = std::mem::take(&mut app.before_import);
            app.rife_installed = Some(path.clone());
            let text = format!("RIFE {version} installed ({}): Interpolate ×2 / ×4 are ready", path.display());
            app.notice = Some(Notice { text, advice: String::new(), is_error: false });
        }
        Event::RifeFailed { message } => {
            app.import_cancel = None;
            app.model = std::mem::take(&mut app.before_import);
            let advice = "Use rife47.pth or rife49.pth (ComfyUI-Frame-Interpolation's files).".to_owned();
            app.notice = Some(Notice { text: message, advice, is_error: true });
        }
        Event::Interpolating { id, done, total } => super::smooth::progress(app, id, done, total),
        Event::Interpolated { id, factor, frames } => super::smooth::finished(app, ctx, id, factor, frames),
        Event::InterpolateFailed { id, message, advice } => super::smooth::failed(app, id, message, advice),
        Event::Notice { text } => app.notice = Some(Notice { text, advice: String::new(), is_error: false }),
        Event::Unsaved { job, record, frames, message } => {
            if app.running.as_ref().is_some_and(|r| r.job == job) {
                app.running = None;
            }
            if let Some(part) = &record.part {
                // A part that is not in the history cannot be joined: stop its storyboard or
                // chain there, joining what was saved.
                super::storyboard::part_failed(app, ctx, part);
            }
            let clip = Unsaved::new(job, *record, frames);
            app.result = Some((Frames::new(ctx, &clip.entry.id, &clip.frames()), Some(clip.entry.clone())));
            app.ui.player.restart();
            app.preview = None;
            app.unsaved.push(clip);
            app.notice = Some(Notice {
                text: format!("The clip is not in the history: {message}"),
                advice: "It stays in the player: export it, or free some space and press Save to history.".into(),
                is_error: true,
            });
            start_next(app);
        }
        Event::Failed { job, message, advice } => {
            if let Some(r) = app.running.take_if(|r| r.job == job) {
                if let Some(part) = &r.request.part {
                    super::storyboard::part_failed(app, ctx, part);
                }
            }
            app.preview = None;
            app.notice = Some(Notice { text: message, advice, is_error: true });
            start_next(app);
        }
    }
}

/// Puts the history clip that finished reading into the player.
fn poll_showing(app: &mut StudioApp, ctx: &egui::Context) {
    let Some(result) = app.reading.showing.as_ref().map(|(_, rx)| rx.try_recv()) else {
        return;
    };
    let done = match result {
        Err(crossbeam_channel::TryRecvError::Empty) => return,
        Err(crossbeam_channel::TryRecvError::Disconnected) => Err("the reading stopped unexpectedly".to_owned()),
        Ok(r) => r,
    };
    let Some((entry, _)) = app.reading.showing.take() else { return };
    match done {
        Ok(frames) => {
            app.result = Some((Frames::from_color_images(ctx, &format!("entry-{}", entry.id), frames), Some(*entry)));
            app.ui.player.restart();
        }
        Err(message) => {
            let advice = "The entry's files may have been moved or deleted.".to_owned();
            app.notice = Some(Notice { text: message, advice, is_error: true });
        }
    }
}

/// Takes the results of *Save to history*: a saved clip joins the history (and the player
/// shows it as that entry); a failure says why.
fn poll_unsaved(app: &mut StudioApp) {
    let mut k = 0;
    while k < app.unsaved.len() {
        match app.unsaved[k].poll() {
            Some(Ok(entry)) => {
                let old = app.unsaved.remove(k).entry.id;
                if let Some((_, shown @ Some(_))) = app.result.as_mut() {
                    if shown.as_ref().is_some_and(|e| e.id == old) {
                        *shown = Some(entry.clone());
                    }
                }
                app.entries.insert(0, entry);
                if app.unsaved.is_empty() {
                    app.notice =
                        Some(Notice { text: "Saved to history".into(), advice: String::new(), is_error: false });
                }
            }
            Some(Err(message)) => {
                app.notice = Some(Notice {
                    text: format!("Still not in the history: {message}"),
                    advice: "The clip stays in the player: export it, or free some space and try again.".into(),
                    is_error: true,
                });
                k += 1;
            }
            None => k += 1,
        }
    }
}

fn poll_export(app: &mut StudioApp) {
    let Some(msg) = app.export.as_mut().and_then(|e| e.poll()) else {
        return;
    };
    app.export = None;
    app.notice = Some(match msg {
        ExportMsg::Done(r) => Notice {
            text: format!(
                "Exported {} ({} frames, {:.1} MB)",
                r.path.display(),
                r.frames_written,
                r.bytes as f64 / 1e6
            ),
            advice: String::new(),
            is_error: false,
        },
        ExportMsg::Failed(e) => Notice {
            text: format!("Export failed: {e}"),
            advice: "The clip stays in history; try another folder or format.".into(),
            is_error: true,
        },
        ExportMsg::Progress(_) => return,
    });
}
