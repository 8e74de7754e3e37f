//! The queue of waiting requests: visible and reorderable.

use super::super::{Action, StudioApp};

/// Waiting requests with up/down/remove.
pub fn queue_ui(app: &mut StudioApp, ui: &mut egui::Ui) {
    ui.heading(format!("Queue ({})", app.queue.len()));
    if app.queue.is_empty() {
        ui.label(egui::RichText::new("Press Generate while a clip runs to queue more.").weak());
        return;
    }
    let n = app.queue.len();
    let mut act = None;
    for (i, q) in app.queue.iter().enumerate() {
        ui.horizontal(|ui| {
            let s = &q.job.settings;
            let prompt: String = s.prompt.chars().take(24).collect();
            ui.label(format!("{}. \"{prompt}\" · {} steps · seed {}", i + 1, s.steps, s.seed));
            if ui.add_enabled(i > 0, egui::Button::new("Up").small()).clicked() {
                act = Some(Action::QueueMove { index: i, up: true });
            }
            if ui.add_enabled(i + 1 < n, egui::Button::new("Down").small()).clicked() {
                act = Some(Action::QueueMove { index: i, up: false });
            }
            if ui.small_button("Remove").on_hover_text("Remove from the queue").clicked() {
                act = Some(Action::QueueRemove(i));
            }
        });
    }
    if let Some(a) = act {
        app.push(a);
    }
}
