//! The About dialog: version and commit, the licences (the app's and the third-party
//! notices compiled into it), where the data lives, and the GPU in use. It reaches only
//! what it shows: the adapter's name; everything else is the build's own.

use std::sync::OnceLock;

use crate::identity;

/// The dialog's open flag lives in egui's memory (UI-only state).
fn open_id() -> egui::Id {
    egui::Id::unique("about_open")
}

/// The top bar's *About* button.
pub fn about_button_ui(ui: &mut egui::Ui) {
    if ui.button("About").on_hover_text("Version, licences, data folder, GPU").clicked() {
        ui.ctx().data_mut(|d| d.insert_temp(open_id(), true));
    }
}

/// The notices' lines, split once (the text is large: only the visible rows are laid out).
fn notice_lines() -> &'static [&'static str] {
    static LINES: OnceLock<Vec<&'static str>> = OnceLock::new();
    LINES.get_or_init(|| identity::THIRD_PARTY_NOTICES.lines().collect())
}

/// The dialog, while open. `adapter` names the GPU the model runs on.
pub fn about_ui(ctx: &egui::Context, adapter: &str) {
    let mut open = ctx.data(|d| d.get_temp::<bool>(open_id())).unwrap_or(false);
    if !open {
        return;
    }
    egui::Window::new(format!("About {}", identity::APP_NAME))
        .open(&mut open)
        .collapsible(false)
        .default_size([620.0, 520.0])
        .show(ctx, |ui| {
            ui.heading(identity::APP_NAME);
            egui::Grid::new("about_facts").num_columns(2).spacing([12.0, 4.0]).show(ui, |ui| {
                ui.label("Version");
                ui.label(identity::VERSION_LINE);
                ui.end_row();
                ui.label("App id");
                ui.label(identity::APP_ID);
                ui.end_row();
                ui.label("GPU");
                ui.label(if adapter.is_empty() { "not known yet" } else { adapter });
                ui.end_row();
                ui.label("Data folder");
                let data = identity::data_dir().map(|d| d.display().to_string());
                ui.label(data.unwrap_or_else(|| "none (no home folder)".into()))
                    .on_hover_text("Imported models and the history live here");
                ui.end_row();
                ui.label("Licence");
                ui.label("Apache-2.0. The model weights have their own licence (see the model's page).");
                ui.end_row();
            });
            ui.separator();
            ui.label(egui::RichText::new("Third-party notices").strong());
            ui.label(
                egui::RichText::new("Every crate compiled into this program and OpenH264, with their licences.").weak(),
            );
            let lines = notice_lines();
            let row = ui.text_style_height(&egui::TextStyle::Monospace);
            egui::ScrollArea::vertical().auto_shrink([false, false]).show_rows(ui, row, lines.len(), |ui, range| {
                for line in &lines[range] {
                    ui.label(egui::RichText::new(*line).monospace().size(11.0));
                }
            });
        });
    ctx.data_mut(|d| d.insert_temp(open_id(), open));
}
