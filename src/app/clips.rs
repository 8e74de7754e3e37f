//! Frames of history clips for the contact sheet and the comparison, read from disk on
//! background threads and uploaded as textures when they arrive (never on the UI thread).

use std::collections::HashMap;

use crossbeam_channel::{Receiver, TryRecvError};
use image::RgbImage;

use super::textures::Frames;
use crate::history::{History, HistoryEntry};

enum Slot {
    Loading(Receiver<Result<Vec<RgbImage>, String>>),
    Ready(Frames),
    Failed(String),
}

/// Loaded clips by history id; a clip not drawn for [`ClipStore::KEEP_FRAMES`] frames is
/// dropped with its textures.
#[derive(Default)]
pub struct ClipStore {
    slots: HashMap<String, Slot>,
    used: HashMap<String, u64>,
    frame: u64,
}

impl std::fmt::Debug for ClipStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClipStore({} clips)", self.slots.len())
    }
}

/// A clip's state for drawing.
pub enum ClipView<'a> {
    Loading,
    Ready(&'a Frames),
    Failed(&'a str),
}

impl ClipStore {
    /// The clip's frames, starting a background load the first time.
    pub fn get(&mut self, ctx: &egui::Context, history: &History, entry: &HistoryEntry) -> ClipView<'_> {
        let (history, e) = (history.clone(), entry.clone());
        self.get_with(ctx, &entry.id, move || history.load_frames(&e).map_err(|err| err.to_string()))
    }

    /// The frames `load` reads (on a background thread, the first time `key` is asked for).
    pub fn get_with(
        &mut self,
        ctx: &egui::Context,
        key: &str,
        load: impl FnOnce() -> Result<Vec<RgbImage>, String> + Send + 'static,
    ) -> ClipView<'_> {
        self.used.insert(key.to_owned(), self.frame);
        let loading = self.slots.values().filter(|s| matches!(s, Slot::Loading(rx) if rx.is_empty())).count();
        if !self.slots.contains_key(key) {
            if loading >= Self::MAX_LOADING {
                // Started on a later frame, once a loader is free (a long history scrolled
                // into view does not start a thread per row at once).
                ctx.request_repaint_after(std::time::Duration::from_millis(30));
                return ClipView::Loading;
            }
            let slot = match super::background::run(ctx, "clip-load", load) {
                Ok(rx) => Slot::Loading(rx),
                Err(e) => Slot::Failed(format!("cannot start reading: {e}")),
            };
            self.slots.insert(key.to_owned(), slot);
        }
        let entry_id = key.to_owned();
        let entry = &entry_id;
        let slot = self.slots.get_mut(entry.as_str());
        if let Some(Slot::Loading(rx)) = slot.as_deref() {
            let next = match rx.try_recv() {
                Ok(Ok(frames)) => Some(Slot::Ready(Frames::new(ctx, &format!("clip-{entry}"), &frames))),
                Ok(Err(e)) => Some(Slot::Failed(e)),
                Err(TryRecvError::Disconnected) => Some(Slot::Failed("the clip loader stopped".into())),
                Err(TryRecvError::Empty) => None,
            };
            if let Some(n) = next {
                self.slots.insert(entry.clone(), n);
            }
        }
        match self.slots.get(entry.as_str()) {
            Some(Slot::Ready(f)) => ClipView::Ready(f),
            Some(Slot::Failed(e)) => ClipView::Failed(e),
            _ => ClipView::Loading,
        }
    }

    /// Clips read at the same time, at most.
    pub const MAX_LOADING: usize = 4;

    /// Frames a clip survives without being drawn.
    pub const KEEP_FRAMES: u64 = 600;

    /// Ends a frame: drops clips that have not been drawn for a while.
    pub fn end_frame(&mut self) {
        self.frame += 1;
        let frame = self.frame;
        self.used.retain(|_, used| frame - *used <= Self::KEEP_FRAMES);
        let used = &self.used;
        self.slots.retain(|k, _| used.contains_key(k));
    }

    /// Forgets every clip except `keep` (called when the view changes).
    pub fn retain(&mut self, keep: &[&str]) {
        self.slots.retain(|k, _| keep.contains(&k.as_str()));
    }
}
