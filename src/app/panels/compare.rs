//! Two history clips side by side, playing in step, with the settings that differ.

use super::super::action::Action;
use super::super::clips::{ClipStore, ClipView};
use super::super::session::CentralView;
use super::Gallery;

/// The settings of two clips that differ: `(name, a, b)`.
pub fn settings_diff(
    a: &crate::pipeline::generate::Settings,
    b: &crate::pipeline::generate::Settings,
) -> Vec<(String, String, String)> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(a), serde_json::to_value(b))
    else {
        return Vec::new();
    };
    a.iter()
        .filter_map(|(k, va)| {
            let vb = b.get(k).cloned().unwrap_or(serde_json::Value::Null);
            (*va != vb).then(|| (k.clone(), va.to_string(), vb.to_string()))
        })
        .collect()
}

/// Draws the comparison of history clips `a` and `b`.
pub fn compare_ui(
    ui: &mut egui::Ui,
    gallery: Gallery<'_>,
    clips: &mut ClipStore,
    (a, b): (&str, &str),
    act: &mut Vec<Action>,
) {
    let find = |id: &str| gallery.entries.iter().find(|e| e.id == id).cloned();
    let (Some(ea), Some(eb)) = (find(a), find(b)) else {
        ui.label("One of the clips is no longer in the history.");
        if ui.button("Back to the player").clicked() {
            act.push(Action::View(CentralView::Player));
        }
        return;
    };
    ui.horizontal(|ui| {
        if ui.button("Back to the player").clicked() {
            act.push(Action::View(CentralView::Player));
        }
        ui.heading("Compare");
    });
    let t = ui.input(|i| i.time);
    ui.ctx().request_repaint_after(std::time::Duration::from_millis(60));
    let fps = f64::from(gallery.fps.max(1.0));
    let width = (ui.available_width() - 16.0) / 2.0;
    ui.horizontal_top(|ui| {
        for e in [&ea, &eb] {
            ui.vertical(|ui| {
                ui.set_width(width);
                match clips.get(ui.ctx(), gallery.history, e) {
                    ClipView::Ready(frames) if !frames.is_empty() => {
                        // Both play the same frame index: differences show as motion.
                        let k = (t * fps) as usize % frames.len();
                        let aspect = frames.size[1] as f32 / frames.size[0].max(1) as f32;
                        ui.add(
                            egui::Image::new(&frames.textures[k]).fit_to_exact_size(egui::vec2(width, width * aspect)),
                        );
                    }
                    ClipView::Failed(err) => {
                        ui.colored_label(ui.visuals().error_fg_color, err);
                    }
                    _ => {
                        ui.spinner();
                    }
                }
                let p: String = e.record.settings.prompt.chars().take(60).collect();
                ui.label(if p.is_empty() { "(no prompt)".into() } else { p });
            });
        }
    });
    ui.separator();
    let diff = settings_diff(&ea.record.settings, &eb.record.settings);
    if diff.is_empty() {
        ui.label("Same settings.");
    } else {
        egui::Grid::new("compare_diff").num_columns(3).striped(true).show(ui, |ui| {
            ui.strong("setting");
            ui.strong("left");
            ui.strong("right");
            ui.end_row();
            for (k, va, vb) in diff {
                ui.label(k);
                ui.label(va);
                ui.label(vb);
                ui.end_row();
            }
        });
    }
}
