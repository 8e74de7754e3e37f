//! Frame interpolation in the app: the player's *Smooth ×2 / ×4* and the export dialog's
//! *Interpolate* ask the worker for RIFE in-betweens of the clip in the player. The result
//! is kept beside the clip (not in the history: it is the same generation, played faster):
//! the player shows it at its FPS × the factor, and an export of that factor writes it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use image::RgbImage;

use super::textures::Frames;
use super::{Notice, StudioApp};
use crate::worker::protocol::{ClipFrames, Command, InterpolateRequest, JobId};

/// An interpolation the worker is running.
#[derive(Debug, Clone)]
pub struct Smoothing {
    pub id: JobId,
    pub factor: usize,
    /// The history entry (or unsaved clip) id it is for.
    pub source: String,
    pub done: usize,
    pub total: usize,
    cancel: Arc<AtomicBool>,
    /// Export to this path (overwrite?) when the frames arrive.
    pub then_export: Option<(PathBuf, bool)>,
}

impl Smoothing {
    /// Stops after the current frame.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

/// An interpolated clip.
#[derive(Debug)]
pub struct Smoothed {
    pub source: String,
    pub factor: usize,
    pub frames: Frames,
    pub rgb: Arc<Vec<RgbImage>>,
}

/// The id of the clip in the player.
fn current_source(app: &StudioApp) -> Option<String> {
    app.result.as_ref().and_then(|(_, e)| e.as_ref().map(|e| e.id.clone()))
}

/// The interpolated frames of the clip in the player at `factor`, if made.
pub fn smoothed_for(app: &StudioApp, factor: usize) -> Option<&Smoothed> {
    let src = current_source(app)?;
    app.smoothed.as_ref().filter(|s| s.source == src && s.factor == factor)
}

/// Asks the worker to interpolate the clip in the player ×`factor` (1: show the clip as
/// generated); `then_export` writes it when done.
pub fn request(app: &mut StudioApp, factor: usize, then_export: Option<(PathBuf, bool)>) {
    if factor <= 1 {
        app.smoothed = None;
        return;
    }
    let Some((_, Some(entry))) = app.result.clone() else {
        return super::actions::error(app, "nothing to interpolate", "Generate a clip or pick one from the history.");
    };
    if smoothed_for(app, factor).is_some() {
        return; // already made
    }
    if let Some(s) = &app.smoothing {
        s.cancel();
    }
    let clip = match app.unsaved.iter().find(|u| u.entry.id == entry.id) {
        Some(u) => ClipFrames::Frames(u.frames()),
        None => ClipFrames::Entry(Box::new(entry.clone())),
    };
    let id = app.next_id();
    let entry = &entry;
    let cancel = Arc::new(AtomicBool::new(false));
    let source = entry.id.clone();
    let req =
        InterpolateRequest { id, clip, factor, scale: app.state.smooth_scale, ensemble: false, cancel: cancel.clone() };
    if !app.worker().is_some_and(|w| w.send(Command::Interpolate(Box::new(req)))) {
        return super::actions::error(app, "the model worker is not running", "Restart the app.");
    }
    app.smoothing = Some(Smoothing { id, factor, source, done: 0, total: 0, cancel, then_export });
}

/// Progress of the running interpolation.
pub fn progress(app: &mut StudioApp, id: JobId, done: usize, total: usize) {
    if let Some(s) = app.smoothing.as_mut().filter(|s| s.id == id) {
        (s.done, s.total) = (done, total);
    }
}

/// The interpolated frames arrived: show them, and export them if that was asked.
pub fn finished(app: &mut StudioApp, ctx: &egui::Context, id: JobId, factor: usize, frames: Vec<RgbImage>) {
    let Some(req) = app.smoothing.take_if(|s| s.id == id) else { return };
    let textures = Frames::new(ctx, &format!("smooth-{}-{factor}", req.source), &frames);
    let rgb = Arc::new(frames);
    if let Some((path, overwrite)) = req.then_export {
        // Exactly these frames, with the settings of the clip they were made from (the
        // player may show another clip by now).
        let entry = app.entries.iter().chain(app.unsaved.iter().map(|u| &u.entry)).find(|e| e.id == req.source);
        let opts = crate::export::ExportOptions {
            overwrite,
            metadata: entry.and_then(|e| serde_json::to_string(&e.record).ok()),
            fps: app.state.export.fps * factor as f32,
            ..app.state.export.clone()
        };
        let repaint = ctx.clone();
        let wake = move || repaint.request_repaint();
        app.export = Some(super::export_job::ExportJob::start_frames(rgb.clone(), path, opts, wake));
    }
    app.smoothed = Some(Smoothed { source: req.source, factor, frames: textures, rgb });
}

/// The interpolation failed or was cancelled.
pub fn failed(app: &mut StudioApp, id: JobId, message: String, advice: String) {
    if app.smoothing.take_if(|s| s.id == id).is_some() {
        app.notice = Some(Notice { text: format!("Frame interpolation: {message}"), advice, is_error: true });
    }
}

/// Downloads a RIFE file from the user's URL (there is no official source) into the
/// downloads folder, then checks and installs it beside the models; off the UI thread (the
/// worker keeps generating meanwhile).
pub fn download_rife(app: &mut StudioApp, ctx: &egui::Context, url: String) {
    let Some(models) = app.models_dir.clone() else {
        return super::actions::error(app, "this platform has no data directory for models", "");
    };
    if url.trim().is_empty() {
        return super::actions::error(
            app,
            "where is the RIFE file?",
            "Paste the URL of a rife49.pth or rife47.pth you trust (e.g. a Hugging Face mirror's file).",
        );
    }
    // The version is the file name's (4.7 and 4.9 have the same tensors): the URL's last part
    // when it names one, else the file is kept as the 4.7 architecture, version unknown.
    let last = url.trim().rsplit('/').next().unwrap_or_default().split(['?', '#']).next().unwrap_or_default();
    let name = match crate::rife::weights::version_from_name(std::path::Path::new(last)) {
        Some(_) => last.to_owned(),
        None => "rife.pth".to_owned(),
    };
    let work = move || -> Result<(PathBuf, String), String> {
        let target = models.join("downloads").join(name);
        let got = crate::download::download(url.trim(), &target, |_| true).map_err(|e| e.to_string())?;
        let (path, version) = crate::rife::weights::install(&got.path, &models).map_err(|e| e.to_string())?;
        let _ = std::fs::remove_file(&got.path);
        Ok((path, version.to_string()))
    };
    match super::background::run(ctx, "rife-download", work) {
        Ok(rx) => app.reading.rife_download = Some(rx),
        Err(e) => super::actions::error(app, format!("cannot start the download: {e}"), ""),
    }
}

/// Takes a finished RIFE download (called every frame).
pub fn poll_download(app: &mut StudioApp) {
    let Some(result) = app.reading.rife_download.as_ref().and_then(|rx| rx.try_recv().ok()) else { return };
    app.reading.rife_download = None;
    match result {
        Ok((path, version)) => {
            let text = format!("RIFE {version} installed ({}): Interpolate ×2 / ×4 are ready", path.display());
            app.rife_installed = Some(path);
            app.notice = Some(Notice { text, advice: String::new(), is_error: false });
        }
        Err(e) => super::actions::error(app, format!("RIFE download: {e}"), "Check the URL, or open a file you have."),
    }
}
