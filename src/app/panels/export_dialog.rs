//! The export dialog: every option of [`ExportOptions`] (the CLI's `animate` flags fill the
//! same struct), remembered between uses, with a file-size estimate. The target is a path
//! field; *Browse…* is a convenience, because on desktops without an xdg-desktop-portal the
//! native dialog cannot open and returns nothing.

use std::path::PathBuf;

use super::super::action::Action;
use crate::export::{Dither, ExportOptions, Format, MAX_SCALE, Mp4Quality, PaletteMode, ScaleFilter};

/// The dialog's state while it is open.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportDraft {
    pub path: String,
    pub overwrite: bool,
    /// Put the keyboard in the path field (when the dialog opens).
    pub focus_path: bool,
    /// Why the last *Export* click did not start (shown in the dialog).
    pub problem: Option<String>,
}

/// Rough bytes per pixel per frame of each format, measured on the tiny model's clips and
/// on natural 512 clips; good to a factor of two, which is what a size hint needs.
fn bytes_per_pixel(format: Format, o: &ExportOptions) -> f64 {
    match format {
        Format::Gif => 0.6,
        Format::Apng | Format::PngFrames => 1.6,
        Format::Mp4 => match o.mp4.quality {
            Mp4Quality::Quality(q) => 0.25 * 0.89f64.powi(i32::from(q)),
            Mp4Quality::Bitrate(_) => 0.0,
        },
    }
}

/// Estimated size of the written clip in bytes.
pub fn estimate_bytes(format: Format, o: &ExportOptions, width: usize, height: usize, frames: usize) -> f64 {
    let mut n = o.range.as_ref().map_or(frames, |r| r.end.min(frames).saturating_sub(r.start));
    if o.trim_loop {
        n = n.saturating_sub(1);
    }
    if o.ping_pong && n > 2 {
        n = 2 * n - 2;
    }
    let px = (width * height) as f64 * f64::from(o.scale * o.scale);
    match (format, o.mp4.quality) {
        (Format::Mp4, Mp4Quality::Bitrate(bps)) => f64::from(bps) / 8.0 * n as f64 / f64::from(o.fps.max(0.1)),
        _ => px * n as f64 * bytes_per_pixel(format, o),
    }
}

/// The clip the dialog exports: frames, width, height.
pub type ClipSize = (usize, usize, usize);

/// What the dialog edits and remembers.
#[derive(Debug)]
pub struct ExportForm<'a> {
    pub options: &'a mut ExportOptions,
    /// RIFE frame interpolation: 1 (off), 2 or 4 frames per frame.
    pub interpolate: &'a mut usize,
    pub last_dir: &'a mut Option<PathBuf>,
}

/// Draws the dialog while `slot` holds one (it closes when there is no saved clip to export).
/// Owns the dialog, the remembered options and the last export folder.
pub fn export_dialog_ui(
    ctx: &egui::Context,
    slot: &mut Option<ExportDraft>,
    clip: Option<ClipSize>,
    form: ExportForm<'_>,
    act: &mut Vec<Action>,
) {
    let ExportForm { options: o, interpolate, last_dir: last_export_dir } = form;
    let Some(mut draft) = slot.take() else {
        return;
    };
    let Some((generated, w, h)) = clip else {
        return;
    };
    let factor = (*interpolate).max(1);
    let frames = crate::rife::output_frames(generated, factor);
    let mut open = true;
    let mut go = false;
    let mut browse = false;
    egui::Window::new("Export the clip").open(&mut open).collapsible(false).resizable(false).show(ctx, |ui| {
        let format = Format::from_path(std::path::Path::new(&draft.path)).ok();
        ui.horizontal(|ui| {
            ui.label("File");
            let field = ui.add(egui::TextEdit::singleline(&mut draft.path).desired_width(300.0)).on_hover_text(
                ".mp4, .gif, .png / .apng (animated PNG), or a folder path for PNG frames. Enter exports.",
            );
            if draft.focus_path {
                field.request_focus();
                draft.focus_path = false;
            }
            if field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                go = true;
            }
            if ui.button("Browse…").clicked() {
                browse = true;
            }
        });
        ui.horizontal(|ui| {
            for (label, ext) in [("MP4", "mp4"), ("GIF", "gif"), ("APNG", "png"), ("PNG frames", "")] {
                let current = format.map(Format::name);
                let this = match ext {
                    "mp4" => "mp4",
                    "gif" => "gif",
                    "png" => "apng",
                    _ => "png-frames",
                };
                if ui.selectable_label(current == Some(this), label).clicked() {
                    let p = PathBuf::from(&draft.path);
                    let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "clip".into());
                    let parent = p.parent().map(PathBuf::from).unwrap_or_default();
                    let name = if ext.is_empty() { stem } else { format!("{stem}.{ext}") };
                    draft.path = parent.join(name).display().to_string();
                }
            }
        });
        ui.separator();
        egui::Grid::new("export_grid").num_columns(2).spacing([12.0, 6.0]).show(ui, |ui| {
            ui.label("FPS");
            ui.horizontal(|ui| {
                ui.add(egui::DragValue::new(&mut o.fps).range(1.0..=60.0).speed(0.5));
                if factor > 1 {
                    ui.label(format!("× {factor} = {} fps written", o.fps * factor as f32));
                }
            });
            ui.end_row();
            ui.label("Interpolate");
            ui.horizontal(|ui| {
                for f in [1usize, 2, 4] {
                    let label = if f == 1 { "off".to_owned() } else { format!("×{f}") };
                    ui.selectable_value(interpolate, f, label).on_hover_text(
                        "RIFE frame interpolation before writing: 2 or 4 frames per frame at that many times the FPS (same duration)",
                    );
                }
            });
            ui.end_row();
            ui.label("Scale");
            ui.horizontal(|ui| {
                ui.add(egui::Slider::new(&mut o.scale, 1..=MAX_SCALE).suffix("×"));
                ui.selectable_value(&mut o.scale_filter, ScaleFilter::Lanczos3, "Smooth");
                ui.selectable_value(&mut o.scale_filter, ScaleFilter::Nearest, "Pixels");
            });
            ui.end_row();
            ui.label("Frames");
            ui.horizontal(|ui| {
                let mut whole = o.range.is_none();
                if ui.checkbox(&mut whole, "all").changed() {
                    o.range = if whole { None } else { Some(0..frames) };
                }
                if let Some(r) = o.range.as_mut() {
                    let (mut a, mut b) = (r.start, r.end.min(frames));
                    ui.add(egui::DragValue::new(&mut a).range(0..=frames.saturating_sub(1)).prefix("from "));
                    ui.add(egui::DragValue::new(&mut b).range(a + 1..=frames).prefix("to "));
                    *r = a..b.max(a + 1);
                }
            });
            ui.end_row();
            ui.label("Loop");
            ui.horizontal(|ui| {
                ui.checkbox(&mut o.ping_pong, "Ping-pong").on_hover_text("Forward, then backward");
                ui.checkbox(&mut o.trim_loop, "Trim loop").on_hover_text("Drop the last frame (it repeats the first)");
            });
            ui.end_row();
            if format == Some(Format::Mp4) {
                ui.label("MP4");
                ui.horizontal(|ui| {
                    let mut by_quality = matches!(o.mp4.quality, Mp4Quality::Quality(_));
                    ui.selectable_value(&mut by_quality, true, "Quality");
                    ui.selectable_value(&mut by_quality, false, "Bitrate");
                    match (&mut o.mp4.quality, by_quality) {
                        (Mp4Quality::Quality(q), true) => {
                            ui.add(egui::Slider::new(q, 0..=51).text("(lower is better)"));
                        }
                        (Mp4Quality::Bitrate(b), false) => {
                            let mut kbps = *b / 1000;
                            ui.add(egui::DragValue::new(&mut kbps).range(10..=100_000).suffix(" kbit/s"));
                            *b = kbps * 1000;
                        }
                        (q, true) => *q = Mp4Quality::Quality(crate::export::DEFAULT_MP4_QUALITY),
                        (q, false) => *q = Mp4Quality::Bitrate(4_000_000),
                    }
                });
                ui.end_row();
            }
            if format == Some(Format::Gif) {
                ui.label("GIF palette");
                ui.horizontal(|ui| {
                    ui.selectable_value(&mut o.gif.palette, PaletteMode::Global, "Global")
                        .on_hover_text("One palette: still regions stay still");
                    ui.selectable_value(&mut o.gif.palette, PaletteMode::PerFrame, "Per frame");
                });
                ui.end_row();
                ui.label("GIF dither");
                ui.horizontal(|ui| {
                    ui.selectable_value(&mut o.gif.dither, Dither::None, "None");
                    ui.selectable_value(&mut o.gif.dither, Dither::Ordered, "Ordered");
                    ui.selectable_value(&mut o.gif.dither, Dither::FloydSteinberg, "Floyd–Steinberg");
                });
                ui.end_row();
            }
            ui.label("Also");
            ui.horizontal(|ui| {
                ui.checkbox(&mut o.sidecar, "Settings sidecar (.json)");
                ui.checkbox(&mut draft.overwrite, "Replace an existing file");
            });
            ui.end_row();
        });
        ui.separator();
        match format {
            Some(f) => {
                let mb = estimate_bytes(f, o, w, h, frames) / 1e6;
                let (ow, oh) = (w * o.scale as usize, h * o.scale as usize);
                ui.label(format!("{} · {ow}×{oh} · about {mb:.1} MB", f.name()));
            }
            None => {
                ui.colored_label(ui.visuals().error_fg_color, "Unknown extension: use .mp4, .gif, .png or a folder");
            }
        }
        if let Some(p) = &draft.problem {
            ui.colored_label(ui.visuals().warn_fg_color, p);
        }
        ui.horizontal(|ui| {
            if ui.add_enabled(format.is_some() && !draft.path.trim().is_empty(), egui::Button::new("Export")).clicked()
            {
                go = true;
            }
        });
    });
    if go {
        let path = PathBuf::from(draft.path.trim());
        if path.exists() && !draft.overwrite {
            draft.problem =
                Some(format!("{} already exists: tick “Replace an existing file” or change the name", path.display()));
        } else if let Err(e) = o.validate() {
            draft.problem = Some(e.to_string());
        } else {
            *last_export_dir = path.parent().map(PathBuf::from);
            act.push(Action::ExportTo { path, overwrite: draft.overwrite });
            return;
        }
    }
    if browse {
        act.push(Action::PickFile(super::super::file_picker::Purpose::Export));
    }
    *slot = if open { Some(draft) } else { None };
}
