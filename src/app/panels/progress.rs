//! The status bar: running time, device memory, and messages.

use super::super::action::Action;
use super::super::session::{Notice, Running};
use super::super::unsaved::Unsaved;

/// Progress of the running generation and the last notice.
pub fn status_ui(
    ui: &mut egui::Ui,
    running: Option<&Running>,
    unsaved: &[Unsaved],
    notice: Option<&Notice>,
    act: &mut Vec<Action>,
) {
    ui.horizontal(|ui| {
        if let Some(r) = running {
            // Step, s/step and ETA are shown with Generate / Cancel (`primary.rs`).
            ui.spinner();
            ui.label(format!("Running · {:.0} s", r.started.elapsed().as_secs_f64()));
            match &r.request.part {
                Some(crate::pipeline::storyboard::Part::Storyboard { index, count, segment, .. }) => {
                    ui.label(format!(
                        "storyboard segment {}/{count} (keyframe {} to {})",
                        index + 1,
                        segment.from + 1,
                        segment.to + 1
                    ));
                }
                Some(crate::pipeline::storyboard::Part::Continuation { .. }) => {
                    ui.label("continuing a clip");
                }
                None => {}
            }
            if let Some((used, reserved)) = r.memory {
                ui.label(format!(
                    "GPU memory {:.2} GB in use, {:.2} GB reserved",
                    used as f64 / 1e9,
                    reserved as f64 / 1e9
                ))
                .on_hover_text("Device memory of the model runtime at the last step");
            }
        } else {
            ui.label("Idle");
        }
        if !unsaved.is_empty() {
            ui.separator();
            if unsaved.iter().any(|u| u.is_saving()) {
                ui.spinner();
                ui.label("Saving to history…");
            } else if ui
                .button(format!("Save to history ({} unsaved)", unsaved.len()))
                .on_hover_text("Try again to store the clips the history could not save")
                .clicked()
            {
                act.push(Action::SaveUnsaved);
            }
        }
        if let Some(n) = notice {
            ui.separator();
            let color = if n.is_error { ui.visuals().error_fg_color } else { ui.visuals().text_color() };
            ui.colored_label(color, &n.text).on_hover_text(&n.advice);
            if !n.advice.is_empty() {
                ui.label(egui::RichText::new(&n.advice).weak());
            }
            if ui.small_button("Dismiss").clicked() {
                act.push(Action::DismissNotice);
            }
        }
    });
}
