//! Exporting a history entry off the UI thread, with progress and cancel. Uses the same
//! export code as the CLI's `--out`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, TryRecvError, bounded};
use image::RgbImage;

use crate::export::{Clip, ExportOptions, ExportReport, export_with_progress};
use crate::history::{History, HistoryEntry};

/// Messages from the export thread.
#[derive(Debug)]
pub enum ExportMsg {
    Progress(f32),
    Done(ExportReport),
    Failed(String),
}

/// A running export.
#[derive(Debug)]
pub struct ExportJob {
    pub target: PathBuf,
    pub progress: f32,
    pub cancel: Arc<AtomicBool>,
    rx: Receiver<ExportMsg>,
}

impl ExportJob {
    /// Starts exporting `entry` to `target` on its own thread.
    pub fn start(
        history: History,
        entry: HistoryEntry,
        target: PathBuf,
        opts: ExportOptions,
        wake: impl Fn() + Send + 'static,
    ) -> Self {
        Self::start_with(target, opts, wake, move || {
            history.load_frames(&entry).map(clip_of).map_err(|e| e.to_string())
        })
    }

    /// Starts exporting frames held in memory (a clip the history could not store).
    pub fn start_frames(
        frames: Arc<Vec<RgbImage>>,
        target: PathBuf,
        opts: ExportOptions,
        wake: impl Fn() + Send + 'static,
    ) -> Self {
        Self::start_with(target, opts, wake, move || Ok(clip_of(frames.to_vec())))
    }

    /// Starts exporting the clip `make` builds (on the export thread: reading frames from
    /// disk, composing a contact sheet) to `target`.
    pub fn start_with(
        target: PathBuf,
        opts: ExportOptions,
        wake: impl Fn() + Send + 'static,
        make: impl FnOnce() -> Result<Clip, String> + Send + 'static,
    ) -> Self {
        let (tx, rx) = bounded(16);
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        let path = target.clone();
        std::thread::spawn(move || {
            let export = || {
                let clip = make()?;
                export_with_progress(&clip, &path, &opts, &mut |p| {
                    let _ = tx.try_send(ExportMsg::Progress(p.fraction()));
                    wake();
                    !flag.load(Ordering::Relaxed)
                })
                .map_err(|e| e.to_string())
            };
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(export))
                .unwrap_or_else(|p| Err(format!("internal error: {}", crate::panic_message(&*p))));
            let _ = tx.send(match result {
                Ok(r) => ExportMsg::Done(r),
                Err(e) => ExportMsg::Failed(e),
            });
            wake();
        });
        Self { target, progress: 0.0, cancel, rx }
    }

    /// Drains progress; returns the final message once the export ends, or a failure if
    /// the export thread ended without one (it died).
    pub fn poll(&mut self) -> Option<ExportMsg> {
        loop {
            match self.rx.try_recv() {
                Ok(ExportMsg::Progress(p)) => self.progress = p,
                Ok(done) => return Some(done),
                Err(TryRecvError::Empty) => return None,
                Err(TryRecvError::Disconnected) => {
                    return Some(ExportMsg::Failed("the export stopped unexpectedly".into()));
                }
            }
        }
    }
}

/// A clip to export from decoded frames.
fn clip_of(frames: Vec<RgbImage>) -> Clip {
    let (w, h) = frames.first().map_or((0, 0), |f| (f.width() as usize, f.height() as usize));
    Clip { width: w, height: h, frames: frames.into_iter().map(|f| f.into_raw()).collect() }
}
