//! Draining the worker's events into UI state (runs in `App::logic`, even when hidden).

use super::actions::start_next;
use super::export_job::ExportMsg;
use super::textures::Frames;
use super::{ModelStatus, Notice, StudioApp};
use crate::worker::protocol::Event;

/// At most this many events per frame, so a burst never stalls the UI.
const MAX_EVENTS_PER_FRAME: usize = 256;

/// Applies every pending event.
pub fn drain(app: &mut StudioApp, ctx: &egui::Context) {
    poll_export(app);
    let Some(rx) = app.worker.as_ref().map(|w| w.events.clone()) else {
        return;
    };
    for ev in rx.try_iter().take(MAX_EVENTS_PER_FRAME) {
        app.events_seen += 1;
        apply(app, ctx, ev);
    }
}

fn apply(app: &mut StudioApp, ctx: &egui::Context, ev: Event) {
    match ev {
        Event::Device { backend, adapter } => app.adapter = format!("{backend}: {adapter}"),
        Event::ModelLoading { label } => app.model = ModelStatus::Loading(label),
        Event::ModelLoaded { label, runtime, variant, defaults } => {
            app.model = ModelStatus::Ready(format!("{label} · {runtime}"));
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
            app.model = ModelStatus::Failed(message.clone());
            app.notice = Some(Notice { text: message, advice: String::new(), is_error: true });
        }
        Event::Phase { job, phase } => {
            if let Some(r) = app.running.as_mut().filter(|r| r.job == job) {
                r.phase = phase;
            }
        }
        Event::Step { job, step, total, seconds_per_step } => {
            if let Some(r) = app.running.as_mut().filter(|r| r.job == job) {
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
            app.result = Some((Frames::new(ctx, &format!("entry-{}", entry.id), &frames), Some(*entry)));
            app.player.restart();
            app.preview = None;
            app.entries = app.history.list();
            if cancelled {
                app.notice = Some(Notice {
                    text: "Cancelled: the partial result is kept in history".into(),
                    advice: String::new(),
                    is_error: false,
                });
            }
            start_next(app);
        }
        Event::Failed { job, message, advice } => {
            if app.running.as_ref().is_some_and(|r| r.job == job) {
                app.running = None;
            }
            app.preview = None;
            app.notice = Some(Notice { text: message, advice, is_error: true });
            start_next(app);
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
