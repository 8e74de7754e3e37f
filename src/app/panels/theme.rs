//! Light and dark themes.

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
pub fn theme_switch_ui(ui: &mut egui::Ui, theme: &mut Theme) {
    let before = *theme;
    egui::ComboBox::from_id_salt("theme")
        .selected_text(format!("{theme:?}"))
        .show_ui(ui, |ui| {
            ui.selectable_value(theme, Theme::System, "System");
            ui.selectable_value(theme, Theme::Light, "Light");
            ui.selectable_value(theme, Theme::Dark, "Dark");
        })
        .response
        .on_hover_text("Colour theme");
    if before != *theme {
        apply(ui.ctx(), *theme);
    }
}
