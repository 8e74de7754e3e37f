//! The model panel: import or open a model (the file decides its variant; a dialog asks when
//! it cannot), the status, precision and memory, the self-check.

use std::path::PathBuf;

use super::super::action::Action;
use super::super::catalog::OfficialModel;
use super::super::session::{Download, ModelStatus, VariantChoice};
use super::comfy::ComfyForm;
use crate::device::Precision;
use crate::model::config::Variant;
use crate::pipeline::memory::MemoryMode;

/// What the model panel shows.
#[derive(Debug, Clone, Copy)]
pub struct ModelView<'a> {
    pub model: &'a ModelStatus,
    pub download: Option<&'a Download>,
    /// The models in the cache folder.
    pub imported: &'a [(PathBuf, crate::weights::import::ModelManifest)],
    pub catalog: &'a [OfficialModel],
    /// The RIFE file installed for frame interpolation.
    pub rife: Option<&'a std::path::Path>,
    /// A RIFE file is being downloaded.
    pub rife_downloading: bool,
}

/// What the panel owns: how the model runs (a change reloads it) and the download mirror.
#[derive(Debug)]
pub struct RunForm<'a> {
    /// Where RIFE is downloaded from (the user's URL).
    pub rife_url: &'a mut String,
    pub precision: &'a mut Precision,
    pub memory: &'a mut MemoryMode,
    /// The card's memory in GB (0: unknown).
    pub vram_gb: &'a mut f32,
    pub mirror: &'a mut String,
}

/// Model status, import / open / self-check buttons, precision and memory.
pub fn model_ui(
    ui: &mut egui::Ui,
    view: ModelView<'_>,
    form: RunForm<'_>,
    comfy: &mut ComfyForm,
    act: &mut Vec<Action>,
) {
    match view.model {
        ModelStatus::None => ui.label(
            "No model loaded. Download one below, or import a model.ckpt you already have; it is cached for fast loading.",
        ),
        ModelStatus::Loading(l) => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(format!("Loading {l}…"));
            })
            .response
        }
        ModelStatus::Importing { done, total } => {
            let f = if *total > 0 { *done as f32 / *total as f32 } else { 0.0 };
            let text = if *total > 0 {
                format!("Importing: {done}/{total} tensors")
            } else {
                "Reading the checkpoint…".into()
            };
            ui.horizontal(|ui| {
                ui.add(egui::ProgressBar::new(f).desired_width(220.0).text(text));
                if ui.button("Cancel").on_hover_text("Stop the import; the partial cache is removed").clicked() {
                    act.push(Action::CancelImport);
                }
            })
            .response
        }
        ModelStatus::Ready(l) => ui.label(egui::RichText::new(format!("Ready: {l}")).strong()),
        ModelStatus::Failed(m) => ui.colored_label(ui.visuals().error_fg_color, m),
    };
    if let Some(d) = view.download {
        let f = if d.total > 0 { d.done as f32 / d.total as f32 } else { 0.0 };
        let left = d.total.saturating_sub(d.done) as f64;
        let eta = if d.speed > 0.0 { format!("{:.0} min", left / d.speed / 60.0) } else { "…".into() };
        let text = format!(
            "Downloading {}: {:.2}/{:.2} GB · {:.1} MB/s · ETA {eta}",
            d.variant.name(),
            d.done as f64 / 1e9,
            d.total as f64 / 1e9,
            d.speed / 1e6
        );
        let mut cancel = false;
        ui.horizontal(|ui| {
            ui.add(egui::ProgressBar::new(f).desired_width(260.0).text(text));
            cancel = ui
                .button("Cancel")
                .on_hover_text("Stop; what was downloaded is kept and the next download resumes")
                .clicked();
        });
        if cancel {
            act.push(Action::CancelDownload);
        }
    }
    let RunForm { rife_url, precision, memory, vram_gb, mirror } = form;
    runtime_ui(ui, precision, memory, vram_gb, act);
    catalog_ui(ui, view, mirror, act);
    super::comfy::comfy_ui(ui, comfy, act);
    if !view.imported.is_empty() {
        ui.label("Imported models");
        for (path, m) in view.imported {
            let Some(variant) = Variant::parse(&m.variant) else { continue };
            let text = format!("{} ({:?}, {} tensors)", m.variant, m.dtype, m.tensors);
            if ui.small_button(text).on_hover_text(path.display().to_string()).clicked() {
                let path = path.clone();
                act.push(Action::LoadModel(crate::worker::protocol::ModelSource::Checkpoint { path, variant }));
            }
        }
    }
    ui.horizontal(|ui| {
        if ui
            .button("Import checkpoint…")
            .on_hover_text("Convert an official model.ckpt into the fast cache (also: drop a .ckpt onto the window)")
            .clicked()
        {
            act.push(Action::PickFile(super::super::file_picker::Purpose::Import));
        }
        if ui.button("Open model…").on_hover_text("Load an imported .safetensors or a checkpoint directly").clicked()
        {
            act.push(Action::PickFile(super::super::file_picker::Purpose::OpenModel));
        }
        if ui
            .button("Self-check")
            .on_hover_text("Run a small model on this GPU and on the CPU and compare every stage (a few seconds)")
            .clicked()
        {
            act.push(Action::SelfCheck);
        }
    });
    rife_ui(ui, view.rife, view.rife_downloading, rife_url, act);
}

/// Frame interpolation: the installed RIFE file, or how to get one.
fn rife_ui(
    ui: &mut egui::Ui,
    rife: Option<&std::path::Path>,
    downloading: bool,
    url: &mut String,
    act: &mut Vec<Action>,
) {
    ui.horizontal_wrapped(|ui| {
        ui.label("Frame interpolation:");
        match rife {
            Some(p) => {
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                ui.label(egui::RichText::new(format!("RIFE ({name})")).strong()).on_hover_text(p.display().to_string());
            }
            None => {
                ui.label(egui::RichText::new("not installed").weak());
                if ui
                    .small_button("Open RIFE file…")
                    .on_hover_text(
                        "rife47.pth or rife49.pth, the files ComfyUI-Frame-Interpolation uses (checked, never executed, then kept beside the models)",
                    )
                    .clicked()
                {
                    act.push(Action::PickFile(super::super::file_picker::Purpose::Import));
                }
            }
        }
    });
    if rife.is_none() {
        ui.horizontal(|ui| {
            if downloading {
                ui.spinner();
                ui.label("Downloading RIFE…");
                return;
            }
            ui.add(
                egui::TextEdit::singleline(url)
                    .hint_text("URL of rife49.pth (no official source)")
                    .desired_width(220.0),
            );
            if ui
                .add_enabled(!url.trim().is_empty(), egui::Button::new("Download RIFE"))
                .on_hover_text("Fetched, checked (a Hugging Face file's SHA-256 too) and installed beside the models")
                .clicked()
            {
                act.push(Action::DownloadRife(url.clone()));
            }
        });
    }
}

/// The four official models with what each is for and needs, and a Download button each
/// (open by default until a model is imported).
fn catalog_ui(ui: &mut egui::Ui, view: ModelView<'_>, mirror: &mut String, act: &mut Vec<Action>) {
    let busy = matches!(view.model, ModelStatus::Importing { .. }) || view.download.is_some();
    let first_run = view.imported.is_empty() && matches!(view.model, ModelStatus::None | ModelStatus::Failed(_));
    egui::CollapsingHeader::new("Get a model").default_open(first_run).show(ui, |ui| {
        // One row per model, the description wrapped below it: the first-run list must never
        // widen the controls column (and squeeze the player).
        for m in view.catalog {
            ui.horizontal(|ui| {
                ui.label(egui::RichText::new(m.variant.name()).strong());
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    if ui
                        .add_enabled(!busy, egui::Button::new(format!("Download {:.1} GB", m.download_gb)))
                        .on_hover_text(format!("Needs about {:.1} GB of GPU memory (f16, Memory: low)", m.memory_gb.0))
                        .clicked()
                    {
                        act.push(Action::Download(m.variant));
                    }
                });
            });
            ui.add(
                egui::Label::new(
                    egui::RichText::new(format!(
                        "{} · {} · needs ~{:.1} GB GPU memory",
                        m.output, m.purpose, m.memory_gb.0
                    ))
                    .weak(),
                )
                .wrap(),
            )
            .on_hover_text(format!(
                "{:.1} GB download from huggingface.co/{}. GPU memory (estimated, f16): {:.1} GB with Memory: low, \
                 {:.1} GB balanced.",
                m.download_gb,
                crate::download::repository(m.variant),
                m.memory_gb.0,
                m.memory_gb.1
            ));
            ui.add_space(4.0);
        }
        ui.horizontal(|ui| {
            ui.label("Mirror");
            ui.add(egui::TextEdit::singleline(mirror).hint_text("huggingface.co").desired_width(f32::INFINITY))
                .on_hover_text(
                    "Download from a Hugging Face mirror that serves the same paths \
                 (e.g. https://hf-mirror.com, or one on your network). Empty: huggingface.co.",
                );
        });
    });
}

/// Asks which model a file is when the file cannot tell (a modal over the window).
pub fn variant_choice_ui(ctx: &egui::Context, choice: Option<&VariantChoice>, act: &mut Vec<Action>) {
    let Some(choice) = choice else {
        return;
    };
    let modal = egui::Modal::new(egui::Id::unique("variant_choice")).show(ctx, |ui| {
        ui.set_max_width(420.0);
        ui.heading("Which DynamiCrafter is this?");
        ui.label(choice.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        ui.label(egui::RichText::new(&choice.why).weak());
        ui.add_space(6.0);
        ui.horizontal_wrapped(|ui| {
            for v in &choice.candidates {
                let hint = match v {
                    Variant::V256 => "256×256",
                    Variant::V512 => "320×512, image to video",
                    Variant::V1024 => "576×1024",
                    Variant::V512Interp => "320×512, interpolation and loops",
                };
                if ui.button(v.name()).on_hover_text(hint).clicked() {
                    act.push(Action::ChooseVariant(Some(*v)));
                }
            }
            if ui.button("Cancel").clicked() {
                act.push(Action::ChooseVariant(None));
            }
        });
    });
    if modal.should_close() {
        act.push(Action::ChooseVariant(None));
    }
}

/// Precision, memory mode and the card's memory: a change reloads the model under them.
fn runtime_ui(
    ui: &mut egui::Ui,
    precision: &mut Precision,
    memory: &mut MemoryMode,
    vram_gb: &mut f32,
    act: &mut Vec<Action>,
) {
    let before = (*precision, *memory);
    ui.horizontal(|ui| {
        egui::ComboBox::from_label("Precision")
            .selected_text(precision.to_string())
            .show_ui(ui, |ui| {
                for p in Precision::ALL {
                    ui.selectable_value(precision, p, p.to_string());
                }
            })
            .response
            .on_hover_text(
                "auto: f16 on a GPU that supports it (half the memory), f32 otherwise. f32 is reference-exact.",
            );
        egui::ComboBox::from_label("Memory")
            .selected_text(memory.to_string())
            .show_ui(ui, |ui| {
                for m in MemoryMode::ALL {
                    ui.selectable_value(memory, m, m.to_string());
                }
            })
            .response
            .on_hover_text(
                "balanced: encoders stay on the GPU and guidance runs as one batch (fastest). \
                 low: encoders run on the CPU and guidance one call at a time (least GPU memory). \
                 auto: balanced when the GPU memory below is known to hold it.",
            );
    });
    let vram = ui
        .horizontal(|ui| {
            ui.label("GPU memory");
            ui.add(egui::DragValue::new(vram_gb).range(0.0..=192.0).speed(0.5).suffix(" GB"))
                .on_hover_text("Your card's memory (0: unknown). Runs estimated not to fit are refused with advice.")
        })
        .inner;
    // Reload once the value is settled, not on every step of a drag.
    let vram_done = vram.drag_stopped() || (vram.changed() && !vram.dragged());
    let changed = (*precision, *memory) != before || vram_done;
    if changed {
        act.push(Action::Configure);
    }
}
