//! Light and dark themes.

use super::super::StudioApp;
use super::super::state::Theme;

/// Applies `theme` to the context.
pub fn apply(ctx: &egui::Context, theme: Theme) {
    ctx.set_theme(match theme {
        Theme::System => egui::ThemePreference::System,
        Theme::Light => egui::ThemePreference::Light,
        Theme::Dark => egui::ThemePreference::Dark,
    });
}

/// The theme selector in the top bar.
pub fn theme_switch_ui(app: &mut StudioApp, ui: &mut egui::Ui) {
    let before = app.state.theme;
    egui::ComboBox::from_id_salt("theme")
        .selected_text(format!("{:?}", app.state.theme))
        .show_ui(ui, |ui| {
            ui.selectable_value(&mut app.state.theme, Theme::System, "System");
            ui.selectable_value(&mut app.state.theme, Theme::Light, "Light");
            ui.selectable_value(&mut app.state.theme, Theme::Dark, "Dark");
        })
        .response
        .on_hover_text("Colour theme");
    if before != app.state.theme {
        apply(ui.ctx(), app.state.theme);
    }
}
