//! Mode, sliders (with the reference's ranges, tooltips and a reset each) and seed. Generate
//! and Cancel are pinned below them (`primary.rs`).

use super::super::actions::random_seed;
use crate::model::config::Variant;
use crate::pipeline::conditioning::Mode;
use crate::pipeline::generate::Settings;

/// A slider row with a reset button. Returns whether the value changed.
fn slider_row<T: egui::emath::Numeric>(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut T,
    range: std::ops::RangeInclusive<T>,
    default: T,
    step: f64,
    tooltip: &str,
) -> bool {
    let mut changed = false;
    ui.horizontal(|ui| {
        let r = ui.add(egui::Slider::new(value, range).text(label).step_by(step)).on_hover_text(tooltip);
        changed |= r.changed();
        let differs = value.to_f64() != default.to_f64();
        if ui
            .add_enabled(differs, egui::Button::new("Reset").small())
            .on_hover_text(format!("Reset to {}", default.to_f64()))
            .clicked()
        {
            *value = default;
            changed = true;
        }
    });
    changed
}

/// The generation controls.
///
/// `model`: the loaded model's variant (its ranges; `None`: none loaded yet); `d`: its
/// defaults, for the resets. The panel owns the settings form, the seed lock and the
/// preview choice.
pub fn controls_ui(
    ui: &mut egui::Ui,
    model: Option<Variant>,
    d: &Settings,
    s: &mut Settings,
    seed_locked: &mut bool,
    vae_preview_every: &mut usize,
) {
    let variant = model.unwrap_or(Variant::V512);
    let ranges = Settings::ranges(variant);

    ui.horizontal(|ui| {
        ui.label("Mode");
        let interp_ok = model == Some(Variant::V512Interp) || model.is_none();
        ui.selectable_value(&mut s.mode, Mode::ImageToVideo, "Image to video");
        ui.add_enabled_ui(interp_ok, |ui| {
            ui.selectable_value(&mut s.mode, Mode::Interpolation, "Interpolate")
                .on_hover_text("From the first image to the second. Needs the 512_interp model.")
                .on_disabled_hover_text("Needs the 512_interp model");
            ui.selectable_value(&mut s.mode, Mode::Loop, "Loop")
                .on_hover_text("Start and end on the same image. Needs the 512_interp model.")
                .on_disabled_hover_text("Needs the 512_interp model");
        });
    });

    slider_row(
        ui,
        "Guidance scale (CFG)",
        &mut s.cfg,
        ranges.cfg.0..=ranges.cfg.1,
        d.cfg,
        0.5,
        "How strongly the prompt and image steer the motion. 1 turns guidance off (one UNet call per step, faster).",
    );
    let mut img_guidance = s.cfg_img.is_some();
    ui.horizontal(|ui| {
        if ui.checkbox(&mut img_guidance, "Separate image guidance").on_hover_text("Guide text and image separately (three UNet calls per step). Off: one scale for both, as the reference.").changed() {
            s.cfg_img = img_guidance.then_some(s.cfg.min(3.0));
        }
    });
    if let Some(ci) = s.cfg_img.as_mut() {
        slider_row(
            ui,
            "Image guidance scale",
            ci,
            1.0..=15.0,
            3.0,
            0.5,
            "How strongly the output follows the input image.",
        );
    }
    let fs_tip =
        format!("{}: {}. The model was trained on {}-{}.", ranges.fs_label, ranges.fs_hint, ranges.fs.0, ranges.fs.1);
    slider_row(ui, ranges.fs_label, &mut s.fs, ranges.fs.0..=ranges.fs.1, d.fs, 1.0, &fs_tip);
    slider_row(
        ui,
        "Steps",
        &mut s.steps,
        ranges.steps.0..=ranges.steps.1,
        d.steps,
        1.0,
        "Sampling steps: more is slower and usually cleaner.",
    );
    ui.horizontal(|ui| {
        egui::ComboBox::from_label("Sampler")
            .selected_text(s.sampler.label())
            .show_ui(ui, |ui| {
                for k in crate::pipeline::solver::SamplerKind::ALL {
                    ui.selectable_value(&mut s.sampler, k, k.label());
                }
            })
            .response
            .on_hover_text(
                "DDIM is the reference's sampler. DPM-Solver++ 2M reaches a similar clip in fewer steps \
                 (try 20-25); its SDE variant adds fresh noise each step. Neither is reference-exact.",
            );
    });
    slider_row(
        ui,
        "η (eta)",
        &mut s.eta,
        ranges.eta.0..=ranges.eta.1,
        d.eta,
        0.1,
        "Noise injected per step: 0 is deterministic DDIM, 1 the reference default.",
    );
    slider_row(
        ui,
        "Guidance rescale",
        &mut s.guidance_rescale,
        0.0..=1.0,
        d.guidance_rescale,
        0.05,
        "Tames over-saturation from high guidance (reference: 0.7 for 512/1024, 0 for 256).",
    );
    ui.separator();
    ui.label(egui::RichText::new("Attention re-weighting (UniVid)").strong());
    slider_row(
        ui,
        "Text attention weight",
        &mut s.text_weight,
        ranges.weights.0..=ranges.weights.1,
        1.0,
        0.05,
        "Scales the text branch of every spatial cross-attention. Higher follows the prompt more.",
    );
    slider_row(
        ui,
        "Image attention weight",
        &mut s.image_weight,
        ranges.weights.0..=ranges.weights.1,
        1.0,
        0.05,
        "Scales the image branch. Higher stays closer to the input image.",
    );
    ui.separator();
    ui.horizontal(|ui| {
        ui.label("Seed");
        let mut seed = s.seed;
        if ui
            .add(egui::DragValue::new(&mut seed).range(0..=(1u64 << 31)))
            .on_hover_text("Same seed and settings give the same clip")
            .changed()
        {
            s.seed = seed;
        }
        if ui.button("Random").on_hover_text("New random seed").clicked() {
            s.seed = random_seed();
        }
        ui.checkbox(seed_locked, "Lock").on_hover_text("Keep this seed; unlocked, every generation draws a new one");
    });
    ui.horizontal(|ui| {
        ui.label("Live VAE preview every");
        ui.add(egui::DragValue::new(vae_preview_every).range(0..=50).suffix(" steps")).on_hover_text(
            "0: a fast colour projection of the latents each step. N: decode with the VAE every N steps (slower).",
        );
    });
}
