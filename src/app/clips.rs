//! Frames of history clips for the contact sheet and the comparison, read from disk on
//! background threads and uploaded as textures when they arrive (never on the UI thread).

use std::collections::HashMap;

use crossbeam_channel::{Receiver, TryRecvError, bounded};
use image::RgbImage;

use super::textures::Frames;
use crate::history::{History, HistoryEntry};

enum Slot {
    Loading(Receiver<Result<Vec<RgbImage>, String>>),
    Ready(Frames),
    Failed(String),
}

/// Loaded clips by history id.
#[derive(Default)]
pub struct ClipStore {
    slots: HashMap<String, Slot>,
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
        if !self.slots.contains_key(&entry.id) {
            let (tx, rx) = bounded(1);
            let (history, e, repaint) = (history.clone(), entry.clone(), ctx.clone());
            let _ = std::thread::Builder::new().name("clip-load".into()).spawn(move || {
                let _ = tx.send(history.load_frames(&e).map_err(|err| err.to_string()));
                repaint.request_repaint();
            });
            self.slots.insert(entry.id.clone(), Slot::Loading(rx));
        }
        let slot = self.slots.get_mut(&entry.id);
        if let Some(Slot::Loading(rx)) = slot.as_deref() {
            let next = match rx.try_recv() {
                Ok(Ok(frames)) => Some(Slot::Ready(Frames::new(ctx, &format!("clip-{}", entry.id), &frames))),
                Ok(Err(e)) => Some(Slot::Failed(e)),
                Err(TryRecvError::Disconnected) => Some(Slot::Failed("the clip loader stopped".into())),
                Err(TryRecvError::Empty) => None,
            };
            if let Some(n) = next {
                self.slots.insert(entry.id.clone(), n);
            }
        }
        match self.slots.get(&entry.id) {
            Some(Slot::Ready(f)) => ClipView::Ready(f),
            Some(Slot::Failed(e)) => ClipView::Failed(e),
            _ => ClipView::Loading,
        }
    }

    /// Forgets every clip except `keep` (called when the view changes).
    pub fn retain(&mut self, keep: &[&str]) {
        self.slots.retain(|k, _| keep.contains(&k.as_str()));
    }
}
