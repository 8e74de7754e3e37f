//! The prompt and negative prompt boxes.

use super::super::StudioApp;

/// The prompt box's id: Ctrl+L focuses it (`shortcuts.rs`).
pub fn prompt_id() -> egui::Id {
    egui::Id::unique("prompt_box")
}

/// Prompt boxes (Ctrl+Enter generates, handled with the other shortcuts).
pub fn prompt_ui(app: &mut StudioApp, ui: &mut egui::Ui) {
    ui.add(
        egui::TextEdit::multiline(&mut app.state.settings.prompt)
            .id(prompt_id())
            .hint_text("Describe the motion, e.g. \"a cat turning its head, wind in the grass\"")
            .desired_rows(3)
            .desired_width(f32::INFINITY),
    )
    .on_hover_text("Ctrl+Enter generates. Text beyond 75 tokens is cut, as in the reference.");
    ui.label("Negative prompt");
    ui.add(
        egui::TextEdit::multiline(&mut app.state.settings.negative_prompt)
            .hint_text("What to avoid (empty by default)")
            .desired_rows(1)
            .desired_width(f32::INFINITY),
    );
}
