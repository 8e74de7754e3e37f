//! Keyboard shortcuts: Ctrl+Enter generates, Escape cancels, Ctrl+O opens an image, Ctrl+L
//! focuses the prompt, Ctrl+E opens the export dialog, Space plays or pauses, and pasting an
//! image sets the input.

use std::sync::Arc;

use super::super::action::Action;

/// What the shortcuts depend on.
#[derive(Debug, Clone, Copy)]
pub struct Busy {
    /// A clip is being generated (Escape cancels it).
    pub running: bool,
    /// An export runs (Ctrl+E waits).
    pub exporting: bool,
    /// A file dialog is open (Escape closes it instead).
    pub dialog: bool,
}

/// Reads shortcuts and dropped or pasted files for this frame; Space toggles `playing`.
pub fn handle(ctx: &egui::Context, busy: Busy, playing: &mut bool, act: &mut Vec<Action>) {
    // Read before `ctx.input`: calling back into the context inside it would deadlock.
    let typing = ctx.egui_wants_keyboard_input();
    // A focused multi-line box takes Enter for itself, so Ctrl+Enter is consumed before any
    // widget runs (and works whatever section is folded).
    let (generate, focus_prompt, export, open) = ctx.input_mut(|i| {
        (
            i.consume_key(egui::Modifiers::COMMAND, egui::Key::Enter),
            i.consume_key(egui::Modifiers::COMMAND, egui::Key::L),
            i.consume_key(egui::Modifiers::COMMAND, egui::Key::E),
            i.consume_key(egui::Modifiers::COMMAND, egui::Key::O),
        )
    });
    if generate {
        act.push(Action::Generate);
    }
    if focus_prompt {
        ctx.memory_mut(|m| m.request_focus(super::prompt::prompt_id()));
    }
    if export && !busy.exporting {
        act.push(Action::ExportDialog);
    }
    let (cancel, play, dropped, pasted) = ctx.input(|i| {
        let pasted: Vec<Arc<egui::ColorImage>> = i
            .events
            .iter()
            .filter_map(|e| match e {
                egui::Event::PasteImage(img) => Some(img.clone()),
                _ => None,
            })
            .collect();
        (
            i.key_pressed(egui::Key::Escape),
            i.key_pressed(egui::Key::Space) && !typing,
            i.raw.dropped_files.clone(),
            pasted,
        )
    });
    if cancel && busy.running && !busy.dialog {
        act.push(Action::Cancel);
    }
    if open {
        act.push(Action::PickFile(super::super::file_picker::Purpose::Image { second: false }));
    }
    if play {
        *playing = !*playing;
    }
    let mut paths = Vec::new();
    for f in dropped {
        if f.path().as_os_str().is_empty() {
            // Dropped bytes without a file (a browser image).
            match f.bytes() {
                Ok(bytes) => act.push(Action::SetImageBytes {
                    second: false,
                    bytes: Arc::new(bytes),
                    origin: "dropped file".into(),
                }),
                Err(e) => act.push(Action::Notify(super::super::session::Notice {
                    text: e,
                    advice: String::new(),
                    is_error: true,
                })),
            }
        } else {
            paths.push(f.path().to_path_buf());
        }
    }
    if !paths.is_empty() {
        // Images fill the slots; a checkpoint imports (the file decides which model it is).
        act.push(Action::OpenFiles(paths));
    }
    for img in pasted {
        let [w, h] = img.size;
        let raw: Vec<u8> = img.pixels.iter().flat_map(|c| [c.r(), c.g(), c.b()]).collect();
        if let Some(rgb) = image::RgbImage::from_raw(w as u32, h as u32, raw) {
            act.push(Action::SetImageRgb { second: false, rgb: Arc::new(rgb) });
        }
    }
}
