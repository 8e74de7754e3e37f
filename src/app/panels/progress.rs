//! The status bar: running time, device memory, and messages.

use super::super::StudioApp;

/// Progress of the running generation and the last notice.
pub fn status_ui(app: &mut StudioApp, ui: &mut egui::Ui) {
    ui.horizontal(|ui| {
        if let Some(r) = &app.running {
            // Step, s/step and ETA are shown with Generate / Cancel (`primary.rs`).
            ui.spinner();
            ui.label(format!("Running · {:.0} s", r.started.elapsed().as_secs_f64()));
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
        if !app.unsaved.is_empty() {
            ui.separator();
            if app.unsaved.iter().any(|u| u.is_saving()) {
                ui.spinner();
                ui.label("Saving to history…");
            } else if ui
                .button(format!("Save to history ({} unsaved)", app.unsaved.len()))
                .on_hover_text("Try again to store the clips the history could not save")
                .clicked()
            {
                app.push(super::super::Action::SaveUnsaved);
            }
        }
        if let Some(n) = app.notice.clone() {
            ui.separator();
            let color = if n.is_error { ui.visuals().error_fg_color } else { ui.visuals().text_color() };
            ui.colored_label(color, &n.text).on_hover_text(&n.advice);
            if !n.advice.is_empty() {
                ui.label(egui::RichText::new(&n.advice).weak());
            }
            if ui.small_button("Dismiss").clicked() {
                app.notice = None;
            }
        }
    });
}
