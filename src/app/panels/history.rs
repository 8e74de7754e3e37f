//! The history gallery: every finished or cancelled clip, with restore and delete. Only the
//! rows in view are laid out (`show_rows`), so a history of thousands draws like one of ten.

use std::path::Path;

use super::super::action::Action;
use super::super::clips::{ClipStore, ClipView};
use super::super::storyboard::StoryboardAction;
use crate::history::{Damaged, History, HistoryEntry};

/// What the history panel owns: its search text and the delete it asks to confirm.
#[derive(Debug, Default)]
pub struct HistoryPanel {
    pub filter: String,
    confirm_delete: Option<String>,
    /// The tallest row drawn so far (rows wrap their buttons in a narrow panel); every row is
    /// given this height, which `show_rows` needs to place them.
    row_height: f32,
}

/// What the panel shows (read-only: every change goes out as an [`Action`]).
#[derive(Debug, Clone, Copy)]
pub struct HistoryView<'a> {
    pub entries: &'a [HistoryEntry],
    pub damaged: &'a [Damaged],
    pub root: &'a Path,
    /// The first clip picked for a comparison.
    pub compare_pick: Option<&'a str>,
}

/// Height of a row before one has been measured (thumbnail, prompt, settings, buttons).
const FIRST_ROW_HEIGHT: f32 = 96.0;
/// Width of a thumbnail.
const THUMB_WIDTH: f32 = 72.0;

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

/// Gallery of saved generations; returns what the user asked for.
pub fn history_ui(
    ui: &mut egui::Ui,
    view: HistoryView<'_>,
    own: &mut HistoryPanel,
    thumbs: &mut ClipStore,
) -> Option<Action> {
    let mut act = None;
    ui.heading(format!("History ({})", view.entries.len()));
    if !view.damaged.is_empty() {
        ui.colored_label(ui.visuals().warn_fg_color, format!("{} damaged entries (listed last)", view.damaged.len()));
    }
    ui.horizontal(|ui| {
        ui.add(egui::TextEdit::singleline(&mut own.filter).hint_text("Search prompts").desired_width(160.0));
        if ui.small_button("Open folder").on_hover_text("Open the history folder in the file manager").clicked() {
            act = Some(Action::OpenFolder(view.root.to_path_buf()));
        }
    });
    let needle = own.filter.to_lowercase();
    let shown: Vec<&HistoryEntry> = view
        .entries
        .iter()
        .filter(|e| needle.is_empty() || e.record.settings.prompt.to_lowercase().contains(&needle))
        .collect();
    let rows = shown.len() + view.damaged.len();
    let row_height = if own.row_height > 0.0 { own.row_height } else { FIRST_ROW_HEIGHT };
    let mut tallest: f32 = 0.0;
    egui::ScrollArea::vertical().id_salt("history_scroll").show_rows(ui, row_height, rows, |ui, range| {
        for row in range {
            let size = egui::vec2(ui.available_width(), row_height);
            let drawn = ui.allocate_ui_with_layout(size, egui::Layout::top_down(egui::Align::Min), |ui| {
                ui.set_min_size(size);
                egui::Frame::group(ui.style())
                    .show(ui, |ui| {
                        ui.set_width(ui.available_width());
                        match shown.get(row) {
                            Some(e) => entry_row_ui(ui, e, view.compare_pick, own, thumbs, &mut act),
                            None => damaged_row_ui(ui, &view.damaged[row - shown.len()], view.root, own, &mut act),
                        }
                    })
                    .response
                    .rect
                    .height()
            });
            tallest = tallest.max(drawn.inner);
        }
    });
    if tallest > row_height + 0.5 {
        // A row wrapped taller than the others were placed for: place them all for it next frame.
        own.row_height = tallest.ceil();
        ui.ctx().request_repaint();
    }
    if matches!(act, Some(Action::Delete(_))) {
        own.confirm_delete = None;
    }
    act
}

fn entry_row_ui(
    ui: &mut egui::Ui,
    e: &HistoryEntry,
    compare_pick: Option<&str>,
    own: &mut HistoryPanel,
    thumbs: &mut ClipStore,
    act: &mut Option<Action>,
) {
    ui.horizontal(|ui| {
        let key = format!("thumb-{}", e.id);
        let entry = e.clone();
        // Decoded on a background thread the first time it is shown.
        let tex = match thumbs.get_with(ui.ctx(), &key, move || {
            History::load_thumbnail(&entry).map(|t| vec![t]).map_err(|err| err.to_string())
        }) {
            ClipView::Ready(f) => f.textures.first().cloned(),
            _ => None,
        };
        if let Some(t) = tex {
            if ui
                .add(egui::Image::new(&t).max_width(THUMB_WIDTH).max_height(THUMB_WIDTH).sense(egui::Sense::click()))
                .on_hover_text("Show in the player")
                .clicked()
            {
                *act = Some(Action::Show(Box::new(e.clone())));
            }
        }
        ui.vertical(|ui| {
            let s = &e.record.settings;
            let prompt: String = s.prompt.chars().take(40).collect();
            ui.add(egui::Label::new(if prompt.is_empty() { "(no prompt)".to_owned() } else { prompt }).truncate());
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
            if let Some(j) = &e.record.joined {
                let what = match &j.kind {
                    crate::pipeline::storyboard::JoinKind::Storyboard { looped, .. } => {
                        format!("storyboard · {} segments{}", j.parts.len(), if *looped { " · loop" } else { "" })
                    }
                    crate::pipeline::storyboard::JoinKind::Continuation { .. } => {
                        format!("{} clips chained", j.parts.len())
                    }
                };
                ui.label(egui::RichText::new(what).small().weak());
            }
            ui.horizontal_wrapped(|ui| {
                if ui
                    .small_button("Continue")
                    .on_hover_text("A new clip from this clip's last frame, appended")
                    .clicked()
                {
                    *act = Some(Action::Storyboard(StoryboardAction::Continue(Box::new(e.clone()))));
                }
                if ui.small_button("Restore settings").clicked() {
                    *act = Some(Action::Restore(Box::new(e.clone())));
                }
                if ui.small_button("Folder").on_hover_text("Open this clip's frames and settings").clicked() {
                    *act = Some(Action::OpenFolder(e.dir.clone()));
                }
                let label = match compare_pick {
                    Some(id) if id == e.id => "Picked",
                    Some(_) => "Compare with",
                    None => "Compare",
                };
                if ui.small_button(label).on_hover_text("Pick two clips to play them side by side").clicked() {
                    *act = Some(Action::PickCompare(e.id.clone()));
                }
                if let Some(tag) = &e.record.sweep {
                    if ui.small_button("Sheet").on_hover_text("This clip's sweep as a contact sheet").clicked() {
                        *act = Some(Action::View(super::super::session::CentralView::Sheet(tag.id.clone())));
                    }
                }
                delete_button(ui, &mut own.confirm_delete, &e.id, act);
            });
        });
    });
}

fn damaged_row_ui(ui: &mut egui::Ui, d: &Damaged, root: &Path, own: &mut HistoryPanel, act: &mut Option<Action>) {
    ui.colored_label(ui.visuals().warn_fg_color, format!("Damaged entry {}", d.id));
    ui.label(egui::RichText::new(&d.problem).small().weak());
    ui.horizontal(|ui| {
        if ui.small_button("Folder").on_hover_text("Open the entry's folder").clicked() {
            *act = Some(Action::OpenFolder(root.join(&d.id)));
        }
        delete_button(ui, &mut own.confirm_delete, &d.id, act);
    });
}
