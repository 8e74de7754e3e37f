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
pub mod storyboard_panel;
pub mod sweep_panel;
pub mod theme;

use super::textures::Frames;
use super::{StudioApp, state};
use crate::history::{History, HistoryEntry};

/// What the gallery views (sheet, compare) read: the history and the playback speed.
#[derive(Debug, Clone, Copy)]
pub struct Gallery<'a> {
    pub entries: &'a [HistoryEntry],
    pub history: &'a History,
    pub fps: f32,
}

/// The main screen. The one place that sees the whole app: it hands each panel what it shows
/// (read-only) and what it owns (`&mut`), and collects what the panels ask for as actions.
pub fn layout_ui(app: &mut StudioApp, ui: &mut egui::Ui) {
    let mut act = Vec::new();
    egui::Panel::top("top_bar").show(ui, |ui| top_bar_ui(ui, &app.adapter, &mut app.state.theme));
    egui::Panel::bottom("status_bar")
        .show(ui, |ui| progress::status_ui(ui, app.running.as_ref(), &app.unsaved, app.notice.as_ref(), &mut act));
    egui::Panel::left("controls").resizable(true).default_size(360.0).size_range(300.0..=560.0).show(ui, |ui| {
        // The main action stays in view however small the window; the sections scroll.
        egui::Panel::bottom("primary_actions")
            .show(ui, |ui| primary::primary_ui(ui, app.running.as_ref(), app.queue.len(), &mut act));
        egui::ScrollArea::vertical().show(ui, |ui| {
            section(ui, "Model", true, |ui| {
                let view = model::ModelView {
                    model: &app.model,
                    download: app.download.as_ref(),
                    imported: &app.imported,
                    catalog: &app.catalog,
                    rife: app.rife_installed.as_deref(),
                    rife_downloading: app.rife_downloading(),
                };
                let form = model::RunForm {
                    rife_url: &mut app.state.rife_url,
                    precision: &mut app.state.precision,
                    memory: &mut app.state.memory,
                    vram_gb: &mut app.state.vram_gb,
                    mirror: &mut app.state.mirror,
                };
                model::model_ui(ui, view, form, &mut app.ui.comfy, &mut act);
            });
            section(ui, "Image", true, |ui| {
                let images = [app.image.as_ref(), app.image2.as_ref()];
                let textures = &mut app.ui.texture_cache;
                input::input_ui(ui, images, &app.state.settings, &mut app.state.fit, textures, &mut act);
            });
            section(ui, "Prompt", true, |ui| prompt::prompt_ui(ui, &mut app.state.settings));
            section(ui, "Motion and guidance", true, |ui| {
                let s = &mut app.state;
                let (seed_locked, preview_every) = (&mut s.seed_locked, &mut s.vae_preview_every);
                controls::controls_ui(ui, s.variant, &app.defaults, &mut s.settings, seed_locked, preview_every);
            });
            section(ui, "Storyboard", false, |ui| {
                let key = app.running.as_ref().and_then(|r| match &r.request.part {
                    Some(crate::pipeline::storyboard::Part::Storyboard { board, .. }) => Some(board.clone()),
                    _ => None,
                });
                let progress = key.and_then(|k| app.board.progress(&k));
                let frames = app.state.settings.frames;
                let textures = &mut app.ui.texture_cache;
                storyboard_panel::storyboard_ui(ui, &mut app.board, frames, progress, textures, &mut act);
            });
            section(ui, "Sweep", false, |ui| {
                sweep_panel::sweep_ui(ui, &mut app.state.sweep, &app.state.settings, &mut act)
            });
        });
    });
    egui::Panel::right("history").resizable(true).default_size(260.0).show(ui, |ui| {
        queue::queue_ui(ui, &app.queue, &mut act);
        ui.separator();
        let view = history::HistoryView {
            entries: &app.entries,
            damaged: &app.damaged,
            root: app.history.root(),
            compare_pick: app.ui.compare_pick.as_deref(),
        };
        act.extend(history::history_ui(ui, view, &mut app.ui.history_panel, &mut app.ui.thumbs));
    });
    let gallery = Gallery { entries: &app.entries, history: &app.history, fps: app.state.player.fps };
    egui::CentralPanel::default().show(ui, |ui| match &app.ui.view {
        super::session::CentralView::Player => {
            let source = app.result.as_ref().and_then(|(_, e)| e.as_ref().map(|e| e.id.as_str()));
            let smoothed = app.smoothed.as_ref().filter(|s| Some(s.source.as_str()) == source);
            let view = player::PlayerView {
                preview: app.preview.as_ref().filter(|_| app.running.is_some()),
                result: app
                    .result
                    .as_ref()
                    .map(|(f, e)| (smoothed.map_or(f, |s| &s.frames), e.as_ref().map(|e| e.record.settings.seed))),
                exporting: app.export.as_ref().map(|job| job.progress),
                factor: smoothed.map_or(1, |s| s.factor),
                smoothing: app.smoothing.as_ref().map(|s| (s.factor, s.done, s.total)),
                entry: app.result.as_ref().and_then(|(_, e)| e.as_ref()),
            };
            let chain =
                player::ChainForm { crossfade: &mut app.board.crossfade, segment: &mut app.board.rerun_segment };
            player::player_ui(ui, view, &mut app.ui.player, &mut app.state.player, chain, &mut act);
        }
        super::session::CentralView::Sheet(id) => {
            let dir = app.state.last_export_dir.as_deref().unwrap_or(app.history.root());
            let sheet = (id.as_str(), dir, app.export.is_some());
            sheet::sheet_ui(ui, gallery, &mut app.ui.clips, &mut app.ui.sheet, sheet, &mut act);
        }
        super::session::CentralView::Compare(a, b) => {
            compare::compare_ui(ui, gallery, &mut app.ui.clips, (a, b), &mut act)
        }
    });
    let ctx = ui.ctx().clone();
    model::variant_choice_ui(&ctx, app.variant_choice.as_ref(), &mut act);
    let clip: Option<export_dialog::ClipSize> = app
        .result
        .as_ref()
        .and_then(|(f, e)| e.as_ref().map(|e| (Frames::len(f), e.record.width as usize, e.record.height as usize)));
    let (options, last_dir) = (&mut app.state.export, &mut app.state.last_export_dir);
    let form = export_dialog::ExportForm { options, interpolate: &mut app.state.export_interpolate, last_dir };
    export_dialog::export_dialog_ui(&ctx, &mut app.ui.export_draft, clip, form, &mut act);
    about::about_ui(&ctx, &app.adapter);
    for a in act {
        app.push(a);
    }
}

/// A foldable section of the controls (its open state persists with the window).
fn section(ui: &mut egui::Ui, title: &str, open: bool, add: impl FnOnce(&mut egui::Ui)) {
    egui::CollapsingHeader::new(egui::RichText::new(title).strong()).default_open(open).show(ui, add);
}

fn top_bar_ui(ui: &mut egui::Ui, adapter: &str, theme: &mut state::Theme) {
    ui.horizontal(|ui| {
        ui.heading(crate::identity::APP_NAME);
        ui.separator();
        ui.label(egui::RichText::new(adapter).weak());
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            theme::theme_switch_ui(ui, theme);
            about::about_button_ui(ui);
        });
    });
}
