//! A sweep's contact sheet: its clips as looping thumbnails in a grid with the values that
//! vary; a click opens one in the player; the sheet saves as a GIF, APNG or PNG frames.

use super::super::action::Action;
use super::super::clips::ClipStore;
use super::super::clips::ClipView;
use super::super::session::CentralView;
use super::super::sweep::caption;
use super::Gallery;

/// What the sheet owns: where *Save sheet* writes.
#[derive(Debug, Default)]
pub struct SheetPanel {
    pub path: String,
}

/// Draws the sheet of sweep `id`. `default_dir`: where a sheet is saved unless the path
/// says otherwise; `busy`: an export runs (one at a time).
pub fn sheet_ui(
    ui: &mut egui::Ui,
    gallery: Gallery<'_>,
    clips: &mut ClipStore,
    own: &mut SheetPanel,
    (id, default_dir, busy): (&str, &std::path::Path, bool),
    act: &mut Vec<Action>,
) {
    let members = super::super::sweep::members(gallery.entries, id);
    let total = members.first().and_then(|e| e.record.sweep.as_ref()).map_or(0, |s| s.total);
    ui.horizontal(|ui| {
        if ui.button("Back to the player").clicked() {
            act.push(Action::View(CentralView::Player));
        }
        ui.heading(format!("Sweep: {} of {} clips", members.len(), total.max(members.len())));
    });
    ui.horizontal(|ui| {
        if own.path.is_empty() {
            own.path = default_dir.join(format!("{id}.gif")).display().to_string();
        }
        ui.add(egui::TextEdit::singleline(&mut own.path).desired_width(320.0))
            .on_hover_text(".gif, .png / .apng, or a folder for PNG frames");
        let can = !members.is_empty() && !busy;
        if ui.add_enabled(can, egui::Button::new("Save sheet")).clicked() {
            let path = std::path::PathBuf::from(own.path.trim());
            act.push(Action::SaveSheet { id: id.to_owned(), path });
        }
    });
    if members.is_empty() {
        ui.label("The sweep's clips appear here as they finish.");
        return;
    }
    let cols = (members.len() as f64).sqrt().ceil() as usize;
    let cell = ((ui.available_width() - 12.0 * cols as f32) / cols as f32).clamp(96.0, 320.0);
    // All cells play in step, at the player's FPS.
    let t = ui.input(|i| i.time);
    ui.ctx().request_repaint_after(std::time::Duration::from_millis(60));
    let fps = f64::from(gallery.fps.max(1.0));
    let mut open = None;
    egui::ScrollArea::vertical().id_salt("sheet_scroll").show(ui, |ui| {
        egui::Grid::new("sheet").num_columns(cols).spacing([12.0, 12.0]).show(ui, |ui| {
            for (i, e) in members.iter().enumerate() {
                ui.vertical(|ui| {
                    match clips.get(ui.ctx(), gallery.history, e) {
                        ClipView::Ready(frames) if !frames.is_empty() => {
                            let k = (t * fps) as usize % frames.len();
                            let aspect = frames.size[1] as f32 / frames.size[0].max(1) as f32;
                            let r = ui.add(
                                egui::Image::new(&frames.textures[k])
                                    .fit_to_exact_size(egui::vec2(cell, cell * aspect))
                                    .sense(egui::Sense::click()),
                            );
                            if r.on_hover_text("Open in the player").clicked() {
                                open = Some(e.clone());
                            }
                        }
                        ClipView::Failed(err) => {
                            ui.colored_label(ui.visuals().error_fg_color, err);
                        }
                        _ => {
                            ui.spinner();
                        }
                    }
                    ui.label(egui::RichText::new(caption(&e.record.settings)).small());
                });
                if (i + 1) % cols == 0 {
                    ui.end_row();
                }
            }
        });
    });
    if let Some(e) = open {
        act.push(Action::Show(Box::new(e)));
        act.push(Action::View(CentralView::Player));
    }
}
