//! The input image slots: drop zone, file dialog, paste, thumbnail and the crop preview.

use super::super::{Action, InputImage, StudioApp};
use crate::pipeline::conditioning::Mode;
use crate::pipeline::preprocess::{FitMode, fit_image};

/// Input images and the fit choice.
pub fn input_ui(app: &mut StudioApp, ui: &mut egui::Ui) {
    let (h, w) = (app.state.settings.height, app.state.settings.width);
    slot_ui(app, ui, false, h, w);
    if app.state.settings.mode == Mode::Interpolation {
        ui.label("Last frame");
        slot_ui(app, ui, true, h, w);
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
            ui.selectable_value(&mut app.state.fit, mode, label).on_hover_text(tip);
        }
    });
}

fn slot_ui(app: &mut StudioApp, ui: &mut egui::Ui, second: bool, h: usize, w: usize) {
    let img: Option<InputImage> = if second { app.image2.clone() } else { app.image.clone() };
    let frame = egui::Frame::group(ui.style()).inner_margin(6.0);
    frame.show(ui, |ui| {
        ui.set_min_width(ui.available_width());
        match img {
            Some(img) => {
                let key = format!("slot-{second}-{}-{:?}-{h}x{w}", img.hash, app.state.fit);
                let fit = app.state.fit;
                let tex = app.texture_cache.get_or_make(&key, || {
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
                        app.push(Action::PickFile(super::super::file_picker::Purpose::Image { second }));
                    }
                    if ui.small_button("Clear").clicked() {
                        app.push(Action::ClearImage { second });
                    }
                });
            }
            None => {
                ui.vertical_centered(|ui| {
                    ui.add_space(18.0);
                    ui.label("Drop an image here, paste it (Ctrl+V)");
                    if ui.button("Open image…").clicked() {
                        app.push(Action::PickFile(super::super::file_picker::Purpose::Image { second }));
                    }
                    ui.add_space(18.0);
                });
            }
        }
    });
}
