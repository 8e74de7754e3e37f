//! The sweep controls: comma-separated values per setting, the number of clips it makes,
//! and *Queue sweep*.

use super::super::action::Action;
use super::super::sweep::SweepSpec;
use crate::pipeline::generate::Settings;

/// Sweep rows and the queue button.
pub fn sweep_ui(ui: &mut egui::Ui, spec: &mut SweepSpec, settings: &Settings, act: &mut Vec<Action>) {
    ui.label(
        egui::RichText::new("Every combination is queued; leave a row empty to keep the current value.").weak().small(),
    );
    egui::Grid::new("sweep_grid").num_columns(2).show(ui, |ui| {
        for (label, value, hint) in [
            ("Seeds", &mut spec.seeds, "e.g. 1, 2, 3"),
            ("Text weight", &mut spec.text_weights, "e.g. 0.5, 1, 1.5"),
            ("Image weight", &mut spec.image_weights, "e.g. 0.5, 1, 1.5"),
            ("CFG", &mut spec.cfgs, "e.g. 5, 7.5"),
        ] {
            ui.label(label);
            ui.add(egui::TextEdit::singleline(value).hint_text(hint).desired_width(160.0));
            ui.end_row();
        }
    });
    let plan = spec.expand(settings);
    ui.horizontal(|ui| match &plan {
        Ok(grid) => {
            if ui.button(format!("Queue sweep ({} clips)", grid.len())).clicked() {
                act.push(Action::QueueSweep);
            }
        }
        Err(e) => {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
    });
}
