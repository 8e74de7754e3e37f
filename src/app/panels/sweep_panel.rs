//! The sweep controls: comma-separated values per setting, the number of clips it makes,
//! and *Queue sweep*.

use super::super::{Action, StudioApp};

/// Sweep rows and the queue button.
pub fn sweep_ui(app: &mut StudioApp, ui: &mut egui::Ui) {
    ui.label(
        egui::RichText::new("Every combination is queued; leave a row empty to keep the current value.").weak().small(),
    );
    let spec = &mut app.state.sweep;
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
    let plan = app.state.sweep.expand(&app.state.settings);
    ui.horizontal(|ui| match &plan {
        Ok(grid) => {
            if ui.button(format!("Queue sweep ({} clips)", grid.len())).clicked() {
                app.push(Action::QueueSweep);
            }
        }
        Err(e) => {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
    });
}
