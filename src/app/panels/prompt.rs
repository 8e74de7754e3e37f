//! The prompt and negative prompt boxes.

use super::super::{Action, StudioApp};

/// Prompt boxes (Ctrl+Enter generates).
pub fn prompt_ui(app: &mut StudioApp, ui: &mut egui::Ui) {
    // A focused multi-line box takes Enter for itself, so Ctrl+Enter is consumed here first.
    let generate = ui.input_mut(|i| i.consume_key(egui::Modifiers::COMMAND, egui::Key::Enter));
    if generate {
        app.push(Action::Generate);
    }
    ui.add(
        egui::TextEdit::multiline(&mut app.state.settings.prompt)
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
