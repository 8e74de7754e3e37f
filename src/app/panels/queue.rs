//! The queue of waiting requests: visible and reorderable.

use std::collections::VecDeque;

use super::super::action::Action;
use super::super::session::Queued;

/// Waiting requests with up/down/remove.
pub fn queue_ui(ui: &mut egui::Ui, queue: &VecDeque<Queued>, act: &mut Vec<Action>) {
    ui.heading(format!("Queue ({})", queue.len()));
    if queue.is_empty() {
        ui.label(egui::RichText::new("Press Generate while a clip runs to queue more.").weak());
        return;
    }
    let n = queue.len();
    for (i, q) in queue.iter().enumerate() {
        ui.horizontal(|ui| {
            let s = &q.job.settings;
            let prompt: String = s.prompt.chars().take(24).collect();
            ui.label(format!("{}. \"{prompt}\" · {} steps · seed {}", i + 1, s.steps, s.seed));
            if ui.add_enabled(i > 0, egui::Button::new("Up").small()).clicked() {
                act.push(Action::QueueMove { index: i, up: true });
            }
            if ui.add_enabled(i + 1 < n, egui::Button::new("Down").small()).clicked() {
                act.push(Action::QueueMove { index: i, up: false });
            }
            if ui.small_button("Remove").on_hover_text("Remove from the queue").clicked() {
                act.push(Action::QueueRemove(i));
            }
        });
    }
}
