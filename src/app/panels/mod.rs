//! The panels, one file each. Functions that draw take `&mut Ui` and end in `_ui`.

pub mod about;
pub mod comfy;
pub mod compare;
pub mod controls;
pub mod export_dialog;
pub mod history;
pub mod input;
pub mod model;
pub mod player;
pub mod primary;
pub mod progress;
pub mod prompt;
pub mod queue;
pub mod sheet;
pub mod shortcuts;
pub mod sweep_panel;
pub mod theme;

use super::StudioApp;

/// The main screen.
pub fn layout_ui(app: &mut StudioApp, ui: &mut egui::Ui) {
    egui::Panel::top("top_bar").show(ui, |ui| top_bar_ui(app, ui));
    egui::Panel::bottom("status_bar").show(ui, |ui| progress::status_ui(app, ui));
    egui::Panel::left("controls").resizable(true).default_size(360.0).size_range(300.0..=560.0).show(ui, |ui| {
        // The main action stays in view however small the window; the sections scroll.
        egui::Panel::bottom("primary_actions").show(ui, |ui| primary::primary_ui(app, ui));
        egui::ScrollArea::vertical().show(ui, |ui| {
            section(ui, "Model", true, |ui| model::model_ui(app, ui));
            section(ui, "Image", true, |ui| input::input_ui(app, ui));
            section(ui, "Prompt", true, |ui| prompt::prompt_ui(app, ui));
            section(ui, "Motion and guidance", true, |ui| controls::controls_ui(app, ui));
            section(ui, "Sweep", false, |ui| sweep_panel::sweep_ui(app, ui));
        });
    });
    egui::Panel::right("history").resizable(true).default_size(260.0).show(ui, |ui| {
        queue::queue_ui(app, ui);
        ui.separator();
        let view = history::HistoryView {
            entries: &app.entries,
            damaged: &app.damaged,
            root: app.history.root(),
            compare_pick: app.compare_pick.as_deref(),
        };
        if let Some(a) = history::history_ui(ui, view, &mut app.history_panel, &mut app.thumbs) {
            app.push(a);
        }
    });
    egui::CentralPanel::default().show(ui, |ui| match app.view.clone() {
        super::CentralView::Player => player::player_ui(app, ui),
        super::CentralView::Sheet(id) => sheet::sheet_ui(app, ui, &id),
        super::CentralView::Compare(a, b) => compare::compare_ui(app, ui, &a, &b),
    });
    model::variant_choice_ui(app, &ui.ctx().clone());
    export_dialog::export_dialog_ui(app, &ui.ctx().clone());
    about::about_ui(&ui.ctx().clone(), &app.adapter);
}

/// A foldable section of the controls (its open state persists with the window).
fn section(ui: &mut egui::Ui, title: &str, open: bool, add: impl FnOnce(&mut egui::Ui)) {
    egui::CollapsingHeader::new(egui::RichText::new(title).strong()).default_open(open).show(ui, add);
}

fn top_bar_ui(app: &mut StudioApp, ui: &mut egui::Ui) {
    ui.horizontal(|ui| {
        ui.heading(crate::identity::APP_NAME);
        ui.separator();
        ui.label(egui::RichText::new(&app.adapter).weak());
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            theme::theme_switch_ui(app, ui);
            about::about_button_ui(ui);
        });
    });
}
