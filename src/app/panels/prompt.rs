//! The prompt and negative prompt boxes.

use crate::pipeline::generate::Settings;

/// The prompt box's id: Ctrl+L focuses it (`shortcuts.rs`).
pub fn prompt_id() -> egui::Id {
    egui::Id::unique("prompt_box")
}

/// Prompt boxes (Ctrl+Enter generates, handled with the other shortcuts).
pub fn prompt_ui(ui: &mut egui::Ui, settings: &mut Settings) {
    ui.add(
        egui::TextEdit::multiline(&mut settings.prompt)
            .id(prompt_id())
            .hint_text("Describe the motion, e.g. \"a cat turning its head, wind in the grass\"")
            .desired_rows(3)
            .desired_width(f32::INFINITY),
    )
    .on_hover_text("Ctrl+Enter generates. Text beyond 75 tokens is cut, as in the reference.");
    ui.label("Negative prompt");
    ui.add(
        egui::TextEdit::multiline(&mut settings.negative_prompt)
            .hint_text("What to avoid (empty by default)")
            .desired_rows(1)
            .desired_width(f32::INFINITY),
    );
}
