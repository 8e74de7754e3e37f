//! The storyboard: keyframes in order (thumbnail, move, remove, an optional prompt for the
//! segment that starts there), *Loop*, and *Generate storyboard*, which queues one
//! interpolation segment per neighbouring pair.

use super::super::action::Action;
use super::super::file_picker::Purpose;
use super::super::storyboard::{Board, StoryboardAction};
use super::super::textures::TextureCache;
use crate::pipeline::storyboard::{joined_len, segments};

/// Keyframe thumbnails are this tall.
const THUMB_H: f32 = 56.0;

/// Owns the keyframes and the loop choice; `frames` is the model's frame count (for the
/// joined length), `progress` the storyboard being generated (segments done, in all).
pub fn storyboard_ui(
    ui: &mut egui::Ui,
    board: &mut Board,
    frames: usize,
    progress: Option<(usize, usize)>,
    textures: &mut TextureCache,
    act: &mut Vec<Action>,
) {
    ui.label(
        egui::RichText::new("Keyframes in order; each pair becomes one clip of the 512_interp model, joined into one.")
            .weak()
            .small(),
    );
    let n = board.keyframes.len();
    let mut moved: Option<(usize, usize)> = None;
    let mut removed = None;
    for (i, key) in board.keyframes.iter_mut().enumerate() {
        ui.horizontal(|ui| {
            ui.label(format!("{}", i + 1));
            let k = format!("keyframe-{}", key.image.hash);
            let tex = textures.get_or_make(&k, || {
                Some(ui.ctx().load_texture(
                    k.clone(),
                    super::super::textures::color_image(&key.image.preview),
                    egui::TextureOptions::LINEAR,
                ))
            });
            if let Some(t) = tex {
                let [w, h] = t.size();
                ui.add(
                    egui::Image::new(&t).fit_to_exact_size(egui::vec2(THUMB_H * w as f32 / h.max(1) as f32, THUMB_H)),
                );
            }
            ui.vertical(|ui| {
                ui.add(
                    egui::TextEdit::singleline(&mut key.prompt)
                        .hint_text("prompt (default: the shared one)")
                        .desired_width(160.0),
                );
                ui.horizontal(|ui| {
                    if ui
                        .add_enabled(i > 0, egui::Button::new("Earlier").small())
                        .on_hover_text("Move this keyframe one place earlier")
                        .clicked()
                    {
                        moved = Some((i, i - 1));
                    }
                    if ui
                        .add_enabled(i + 1 < n, egui::Button::new("Later").small())
                        .on_hover_text("Move this keyframe one place later")
                        .clicked()
                    {
                        moved = Some((i, i + 1));
                    }
                    if ui.add(egui::Button::new("Remove").small()).on_hover_text("Remove this keyframe").clicked() {
                        removed = Some(i);
                    }
                });
            });
        });
    }
    if let Some((a, b)) = moved {
        board.keyframes.swap(a, b);
    }
    if let Some(i) = removed {
        board.keyframes.remove(i);
    }
    ui.horizontal(|ui| {
        if ui.button("Add keyframe…").on_hover_text("An image file, added at the end").clicked() {
            act.push(Action::PickFile(Purpose::Keyframe));
        }
        ui.checkbox(&mut board.looped, "Loop")
            .on_hover_text("Add the segment from the last keyframe back to the first");
    });
    let n = board.keyframes.len();
    let segs = segments(n, board.looped).len();
    let label = format!("Generate storyboard ({segs} segments)");
    let button = ui.add_enabled(segs > 0, egui::Button::new("Generate storyboard")).on_hover_text(if segs > 0 {
        format!("{label}: {} frames", joined_len(segs, frames, board.looped))
    } else {
        "Add two keyframes or more".to_owned()
    });
    if button.clicked() {
        act.push(Action::Storyboard(StoryboardAction::Queue));
    }
    if let Some((done, all)) = progress {
        ui.add(
            egui::ProgressBar::new(done as f32 / all.max(1) as f32).text(format!("storyboard: {done}/{all} segments")),
        );
    }
}
