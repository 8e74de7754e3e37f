//! Finished clips the history could not store (disk full, folder gone, no permission). They
//! stay in memory: the player shows them, the export reads their frames from memory, and
//! *Save to history* retries on a background thread until the history has them.

use std::path::PathBuf;
use std::sync::Arc;

use crossbeam_channel::{Receiver, bounded};
use image::RgbImage;

use crate::history::{History, HistoryEntry, HistoryRecord};
use crate::worker::protocol::JobId;

/// One clip waiting to be saved.
pub struct Unsaved {
    /// How the player and the export see it: an entry whose id is `unsaved-<job>` and whose
    /// folder does not exist.
    pub entry: HistoryEntry,
    frames: Arc<Vec<RgbImage>>,
    saving: Option<Receiver<Result<HistoryEntry, String>>>,
}

impl std::fmt::Debug for Unsaved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unsaved").field("id", &self.entry.id).field("saving", &self.saving.is_some()).finish()
    }
}

impl Unsaved {
    pub fn new(job: JobId, record: HistoryRecord, frames: Vec<RgbImage>) -> Self {
        let entry = HistoryEntry { id: format!("unsaved-{job}"), dir: PathBuf::new(), record };
        Self { entry, frames: Arc::new(frames), saving: None }
    }

    /// The clip's frames (shared, not copied).
    pub fn frames(&self) -> Arc<Vec<RgbImage>> {
        self.frames.clone()
    }

    pub fn is_saving(&self) -> bool {
        self.saving.is_some()
    }

    /// Tries to save the clip into `history` on a background thread.
    pub fn save(&mut self, history: &History, ctx: &egui::Context) {
        if self.saving.is_some() {
            return;
        }
        let (history, record, frames) = (history.clone(), self.entry.record.clone(), self.frames.clone());
        let spawned = super::background::run(ctx, "history-save", move || {
            history.save(record, &frames).map_err(|e| e.to_string())
        });
        self.saving = Some(spawned.unwrap_or_else(|e| {
            // No thread: the attempt fails at once, and says why.
            let (tx, rx) = bounded(1);
            let _ = tx.send(Err(format!("cannot start saving: {e}")));
            rx
        }));
    }

    /// The saving attempt's result, once it is done.
    pub fn poll(&mut self) -> Option<Result<HistoryEntry, String>> {
        let result = self.saving.as_ref()?.try_recv().ok()?;
        self.saving = None;
        Some(result)
    }
}
