//! The history gallery: every finished or cancelled clip, with restore and delete.

use super::super::{Action, StudioApp};
use crate::history::History;

/// *Delete*, then *Really delete* / *Keep*.
fn delete_button(ui: &mut egui::Ui, confirm: &mut Option<String>, id: &str, act: &mut Option<Action>) {
    if confirm.as_deref() == Some(id) {
        if ui.small_button("Really delete").clicked() {
            *act = Some(Action::Delete(id.to_owned()));
        }
        if ui.small_button("Keep").clicked() {
            *confirm = None;
        }
    } else if ui.small_button("Delete").clicked() {
        *confirm = Some(id.to_owned());
    }
}

/// Gallery of saved generations.
pub fn history_ui(app: &mut StudioApp, ui: &mut egui::Ui) {
    ui.heading(format!("History ({})", app.entries.len()));
    if !app.damaged.is_empty() {
        ui.colored_label(ui.visuals().warn_fg_color, format!("{} damaged entries (listed last)", app.damaged.len()));
    }
    ui.horizontal(|ui| {
        ui.add(egui::TextEdit::singleline(&mut app.history_filter).hint_text("Search prompts").desired_width(160.0));
        if ui.small_button("Open folder").on_hover_text("Open the history folder in the file manager").clicked() {
            app.push(Action::OpenFolder(app.history.root().to_path_buf()));
        }
    });
    let needle = app.history_filter.to_lowercase();
    let mut act = None;
    egui::ScrollArea::vertical().id_salt("history_scroll").show(ui, |ui| {
        let shown = app
            .entries
            .iter()
            .filter(|e| needle.is_empty() || e.record.settings.prompt.to_lowercase().contains(&needle));
        for e in shown {
            egui::Frame::group(ui.style()).show(ui, |ui| {
                ui.horizontal(|ui| {
                    let key = format!("thumb-{}", e.id);
                    // Decoded on a background thread the first time it is shown.
                    let entry = e.clone();
                    let tex = match app.thumbs.get_with(ui.ctx(), &key, move || {
                        History::load_thumbnail(&entry).map(|t| vec![t]).map_err(|err| err.to_string())
                    }) {
                        super::super::clips::ClipView::Ready(f) => f.textures.first().cloned(),
                        _ => None,
                    };
                    if let Some(t) = tex {
                        if ui
                            .add(egui::Image::new(&t).max_width(72.0).sense(egui::Sense::click()))
                            .on_hover_text("Show in the player")
                            .clicked()
                        {
                            act = Some(Action::Show(Box::new(e.clone())));
                        }
                    }
                    ui.vertical(|ui| {
                        let s = &e.record.settings;
                        let prompt: String = s.prompt.chars().take(40).collect();
                        ui.label(if prompt.is_empty() { "(no prompt)".to_owned() } else { prompt });
                        let status = if e.record.cancelled {
                            format!(" · cancelled at {}/{}", e.record.steps_done, s.steps)
                        } else {
                            String::new()
                        };
                        ui.label(
                            egui::RichText::new(format!("seed {} · cfg {} · {} steps{status}", s.seed, s.cfg, s.steps))
                                .small()
                                .weak(),
                        );
                        ui.horizontal_wrapped(|ui| {
                            if ui.small_button("Restore settings").clicked() {
                                act = Some(Action::Restore(Box::new(e.clone())));
                            }
                            if ui.small_button("Folder").on_hover_text("Open this clip's frames and settings").clicked()
                            {
                                act = Some(Action::OpenFolder(e.dir.clone()));
                            }
                            let picked = app.compare_pick.as_deref() == Some(e.id.as_str());
                            let label = match (&app.compare_pick, picked) {
                                (_, true) => "Picked",
                                (Some(_), false) => "Compare with",
                                (None, _) => "Compare",
                            };
                            if ui
                                .small_button(label)
                                .on_hover_text("Pick two clips to play them side by side")
                                .clicked()
                            {
                                act = Some(Action::PickCompare(e.id.clone()));
                            }
                            if let Some(tag) = &e.record.sweep {
                                if ui
                                    .small_button("Sheet")
                                    .on_hover_text("This clip's sweep as a contact sheet")
                                    .clicked()
                                {
                                    act = Some(Action::View(super::super::CentralView::Sheet(tag.id.clone())));
                                }
                            }
                            delete_button(ui, &mut app.confirm_delete, &e.id, &mut act);
                        });
                    });
                });
            });
        }
        for d in &app.damaged {
            egui::Frame::group(ui.style()).show(ui, |ui| {
                ui.colored_label(ui.visuals().warn_fg_color, format!("Damaged entry {}", d.id));
                ui.label(egui::RichText::new(&d.problem).small().weak());
                ui.horizontal(|ui| {
                    if ui.small_button("Folder").on_hover_text("Open the entry's folder").clicked() {
                        act = Some(Action::OpenFolder(app.history.root().join(&d.id)));
                    }
                    delete_button(ui, &mut app.confirm_delete, &d.id, &mut act);
                });
            });
        }
    });
    if let Some(a) = act {
        if matches!(a, Action::Delete(_)) {
            app.confirm_delete = None;
        }
        app.push(a);
    }
}
