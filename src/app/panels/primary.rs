//! The primary actions, pinned at the bottom of the controls whatever the window size:
//! Generate (Queue while a clip runs), Cancel, and the run's step, s/step and ETA.

use super::super::action::Action;
use super::super::session::Running;
use crate::pipeline::generate::Phase;

/// Generate / Cancel and a compact progress line.
pub fn primary_ui(ui: &mut egui::Ui, running: Option<&Running>, queued: usize, act: &mut Vec<Action>) {
    ui.add_space(4.0);
    let run = running;
    let running = run.is_some();
    ui.horizontal(|ui| {
        let label = if running { "Queue" } else { "Generate" };
        let generate = ui.add_sized([140.0, 32.0], egui::Button::new(egui::RichText::new(label).strong()));
        if generate.on_hover_text("Ctrl+Enter. While a clip is running, new requests wait in the queue.").clicked() {
            act.push(Action::Generate);
        }
        if ui
            .add_enabled(running, egui::Button::new("Cancel").min_size(egui::vec2(90.0, 32.0)))
            .on_hover_text("Esc. Stops within one UNet call and keeps the partial result.")
            .clicked()
        {
            act.push(Action::Cancel);
        }
        if queued > 0 {
            ui.label(format!("{queued} queued"));
        }
    });
    if let Some(r) = run {
        let (text, frac) = match r.phase {
            Phase::Encoding => ("Encoding image and prompt".to_owned(), 0.0),
            Phase::Sampling { .. } => {
                let eta = r.seconds_per_step * r.total.saturating_sub(r.step) as f64;
                (
                    format!("Step {} of {} · {:.2} s/step · ETA {:.0} s", r.step, r.total, r.seconds_per_step, eta),
                    r.step as f32 / r.total.max(1) as f32,
                )
            }
            Phase::Decoding { .. } => ("Decoding frames".to_owned(), 1.0),
        };
        ui.add(egui::ProgressBar::new(frac).text(text));
    }
    ui.add_space(4.0);
}
