//! "Use files I already have": a model assembled from ComfyUI files (the UNet file, the SD 2.1
//! text encoder, the ViT-H image encoder, the SD VAE), auto-filled from a ComfyUI `models/`
//! folder, imported like an official checkpoint (`weights::assemble`).

use super::super::action::Action;
use crate::model::config::Variant;

/// The form's fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ComfyForm {
    pub unet: String,
    pub text: String,
    pub image: String,
    pub vae: String,
    pub folder: String,
    /// `None`: from the UNet file's name.
    pub variant: Option<Variant>,
    /// What the last folder scan found (or did not).
    pub scan_note: String,
}

/// The form (inside the Model section).
pub fn comfy_ui(ui: &mut egui::Ui, f: &mut ComfyForm, act: &mut Vec<Action>) {
    let mut import = false;
    let mut scan = None;
    egui::CollapsingHeader::new("Use files I already have (ComfyUI)").default_open(false).show(ui, |ui| {
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut f.folder)
                    .hint_text("ComfyUI or its models/ folder")
                    .desired_width(220.0),
            );
            if ui.button("Scan").on_hover_text("Fill the fields from the files in that folder").clicked() {
                // Walked on a background thread (a large models/ folder on a slow disk must not
                // freeze the window); `fill` applies the result.
                scan = Some(std::path::PathBuf::from(f.folder.trim()));
            }
        });
        if !f.scan_note.is_empty() {
            ui.label(egui::RichText::new(&f.scan_note).small().weak());
        }
        egui::Grid::new("comfy_parts").num_columns(2).show(ui, |ui| {
            for (label, value, hint) in [
                (
                    "UNet",
                    &mut f.unet,
                    "dynamicrafter_512_fp16_pruned.safetensors or dynamicrafter_unet_512.safetensors",
                ),
                ("Text encoder", &mut f.text, "SD 2.1 text encoder, e.g. stable-diffusion-2-1-clip.safetensors"),
                ("Image encoder", &mut f.image, "CLIP-ViT-H-fp16.safetensors or open_clip_pytorch_model.safetensors"),
                ("VAE", &mut f.vae, "only if the UNet file has none: vae-ft-mse-840000-ema-pruned.safetensors"),
            ] {
                ui.label(label);
                ui.add(egui::TextEdit::singleline(value).hint_text(hint).desired_width(260.0));
                ui.end_row();
            }
        });
        ui.horizontal(|ui| {
            let guessed = crate::weights::import::variant_from_name(std::path::Path::new(&f.unet));
            egui::ComboBox::from_label("Variant")
                .selected_text(f.variant.or(guessed).map_or("choose", Variant::name))
                .show_ui(ui, |ui| {
                    for v in Variant::ALL {
                        ui.selectable_value(&mut f.variant, Some(v), v.name());
                    }
                });
            let ready = [&f.unet, &f.text, &f.image].iter().all(|s| !s.trim().is_empty());
            if ui.add_enabled(ready, egui::Button::new("Import these")).clicked() {
                import = true;
            }
        });
    });
    if import {
        act.push(Action::ImportParts);
    }
    if let Some(folder) = scan {
        act.push(Action::ScanComfy(folder));
    }
}

/// Fills the form from a folder scan.
pub fn fill(f: &mut ComfyForm, found: &crate::weights::assemble::Found) {
    let show = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    f.unet = found.unets.first().map(|p| p.display().to_string()).unwrap_or_default();
    f.text = show(&found.text_encoder);
    f.image = show(&found.image_encoder);
    f.vae = show(&found.vae);
    f.scan_note = format!(
        "found {} UNet file(s){}{}{}",
        found.unets.len(),
        if found.text_encoder.is_none() { ", no text encoder" } else { "" },
        if found.image_encoder.is_none() { ", no image encoder" } else { "" },
        if found.vae.is_none() { ", no VAE" } else { "" }
    );
}
