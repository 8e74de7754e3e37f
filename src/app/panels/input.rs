//! The input image slots: drop zone, file dialog, paste, thumbnail and the crop preview.

use super::super::action::Action;
use super::super::session::InputImage;
use super::super::textures::TextureCache;
use crate::pipeline::conditioning::Mode;
use crate::pipeline::generate::Settings;
use crate::pipeline::preprocess::{FitMode, fit_image};

/// Input images and the fit choice.
///
/// Shows the two slots (`images`: first, last frame) as `settings` will fit them; owns the
/// fit choice.
pub fn input_ui(
    ui: &mut egui::Ui,
    images: [Option<&InputImage>; 2],
    settings: &Settings,
    fit: &mut FitMode,
    textures: &mut TextureCache,
    act: &mut Vec<Action>,
) {
    let (h, w) = (settings.height, settings.width);
    slot_ui(ui, images[0], false, (h, w), *fit, textures, act);
    if settings.mode == Mode::Interpolation {
        ui.label("Last frame");
        slot_ui(ui, images[1], true, (h, w), *fit, textures, act);
    }
    ui.horizontal(|ui| {
        ui.label("Fit");
        let fits = [
            (
                FitMode::Reference,
                "Reference",
                "As the reference: shorter side to the model's height, centre crop; narrow images get black bars",
            ),
            (FitMode::Cover, "Crop", "Fill the frame and crop what overflows"),
            (FitMode::Contain, "Pad", "Show the whole image with padding"),
            (FitMode::Stretch, "Stretch", "Squash to the model's aspect ratio"),
        ];
        for (mode, label, tip) in fits {
            ui.selectable_value(fit, mode, label).on_hover_text(tip);
        }
    });
}

fn slot_ui(
    ui: &mut egui::Ui,
    img: Option<&InputImage>,
    second: bool,
    (h, w): (usize, usize),
    fit: FitMode,
    textures: &mut TextureCache,
    act: &mut Vec<Action>,
) {
    let frame = egui::Frame::group(ui.style()).inner_margin(6.0);
    frame.show(ui, |ui| {
        ui.set_min_width(ui.available_width());
        match img {
            Some(img) => {
                let key = format!("slot-{second}-{}-{fit:?}-{h}x{w}", img.hash);
                let tex = textures.get_or_make(&key, || {
                    let fitted = fit_image(&img.preview, h, w, fit, [0, 0, 0]);
                    Some(ui.ctx().load_texture(
                        key.clone(),
                        super::super::textures::color_image(&fitted),
                        egui::TextureOptions::LINEAR,
                    ))
                });
                let Some(tex) = tex else { return };
                let width = ui.available_width().min(320.0);
                ui.add(egui::Image::new(&tex).fit_to_exact_size(egui::vec2(width, width * h as f32 / w.max(1) as f32)))
                    .on_hover_text(format!(
                        "{}×{} input, shown as the model will see it ({w}×{h})",
                        img.rgb.width(),
                        img.rgb.height()
                    ));
                ui.horizontal(|ui| {
                    if let Some(p) = &img.path {
                        ui.label(
                            egui::RichText::new(p.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()).small(),
                        );
                    }
                    if ui.small_button("Replace…").clicked() {
                        act.push(Action::PickFile(super::super::file_picker::Purpose::Image { second }));
                    }
                    if ui.small_button("Clear").clicked() {
                        act.push(Action::ClearImage { second });
                    }
                });
            }
            None => {
                ui.vertical_centered(|ui| {
                    ui.add_space(18.0);
                    ui.label("Drop an image here, paste it (Ctrl+V)");
                    if ui.button("Open image…").clicked() {
                        act.push(Action::PickFile(super::super::file_picker::Purpose::Image { second }));
                    }
                    ui.add_space(18.0);
                });
            }
        }
    });
}
