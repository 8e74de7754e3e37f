//! The status bar: phase, step i of N, seconds per step, ETA, and messages.

use super::super::StudioApp;
use crate::pipeline::generate::Phase;

/// Progress of the running generation and the last notice.
pub fn status_ui(app: &mut StudioApp, ui: &mut egui::Ui) {
    ui.horizontal(|ui| {
        if let Some(r) = &app.running {
            let (text, frac) = match r.phase {
                Phase::Encoding => ("Encoding image and prompt".to_owned(), 0.0),
                Phase::Sampling { .. } => {
                    let eta = r.seconds_per_step * r.total.saturating_sub(r.step) as f64;
                    (
                        format!(
                            "Sampling: step {} of {} · {:.2} s/step · ETA {:.0} s",
                            r.step, r.total, r.seconds_per_step, eta
                        ),
                        r.step as f32 / r.total.max(1) as f32,
                    )
                }
                Phase::Decoding { .. } => ("Decoding frames".to_owned(), 1.0),
            };
            ui.spinner();
            ui.add(egui::ProgressBar::new(frac).desired_width(320.0).text(text));
            ui.label(format!("{:.0} s", r.started.elapsed().as_secs_f64()));
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
