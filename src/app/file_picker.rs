//! Choosing a file: the system dialog where the desktop has one (rfd's async dialogs, awaited
//! on a thread so the window keeps drawing), else the studio's own browser (`egui_file`, with
//! a preview of the selected image). A Linux desktop without an xdg-desktop-portal file
//! chooser and without zenity has no system dialog: rfd then returns nothing at once, which
//! cannot be told from a cancel, so the desktop is checked first and a dialog that closes
//! faster than a person can cancel it also opens the browser.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};
use image::RgbImage;

use super::clips::{ClipStore, ClipView};

/// What a chosen file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// An input image for slot 1 (`second = false`) or 2.
    Image { second: bool },
    /// A checkpoint to import.
    Import,
    /// A model to load without importing.
    OpenModel,
    /// Where the export dialog writes.
    Export,
    /// A keyframe added to the end of the storyboard.
    Keyframe,
}

impl Purpose {
    fn title(self) -> &'static str {
        match self {
            Purpose::Image { .. } => "Choose an image",
            Purpose::Import => "Import a DynamiCrafter checkpoint",
            Purpose::OpenModel => "Open an imported model or a checkpoint",
            Purpose::Export => "Export the clip",
            Purpose::Keyframe => "Add a keyframe",
        }
    }

    /// Named groups of file extensions the dialog offers.
    fn filters(self) -> Vec<(&'static str, &'static [&'static str])> {
        match self {
            Purpose::Image { .. } | Purpose::Keyframe => vec![("Images", crate::imaging::load::IMAGE_EXTENSIONS)],
            Purpose::Import => vec![("Checkpoints", crate::weights::checkpoint::MODEL_EXTENSIONS)],
            Purpose::OpenModel => vec![("Models", crate::weights::checkpoint::MODEL_EXTENSIONS)],
            Purpose::Export => {
                vec![("MP4 video (H.264)", &["mp4"]), ("GIF", &["gif"]), ("Animated PNG", &["png", "apng"])]
            }
        }
    }

    fn saves(self) -> bool {
        self == Purpose::Export
    }
}

/// Where the dialog starts: a folder, and for saving a file name.
#[derive(Debug, Clone, Default)]
pub struct Start {
    pub folder: Option<PathBuf>,
    pub file_name: Option<String>,
}

/// A system dialog that ends faster than this did not reach the user (no dialog service).
const TOO_FAST: Duration = Duration::from_millis(250);

/// How a system dialog ended.
enum Ended {
    Chosen(PathBuf),
    Cancelled {
        after: Duration,
    },
    /// The desktop has no file-dialog service (why).
    Unavailable(String),
}

/// The file dialog in use, if any (at most one at a time).
#[derive(Default)]
pub struct FilePicker {
    system: Option<(Purpose, Start, Receiver<Ended>)>,
    browser: Option<Browser>,
    /// Decoded previews of images selected in the browser.
    previews: ClipStore,
    /// Never the system dialog (`--in-app-file-browser`).
    pub always_browser: bool,
}

impl std::fmt::Debug for FilePicker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilePicker").field("system", &self.system.is_some()).field("browser", &self.browser).finish()
    }
}

/// The studio's own browser, with why it is shown instead of the system dialog.
struct Browser {
    purpose: Purpose,
    dialog: egui_file::FileDialog,
    why: String,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser").field("purpose", &self.purpose).field("why", &self.why).finish()
    }
}

/// Set to `app` to always use the studio's browser (like `--in-app-file-browser`).
pub const FORCE_ENV: &str = "DYNAMICRAFTER_FILE_DIALOG";

impl FilePicker {
    /// Whether a dialog is open (one at a time: another request replaces nothing).
    pub fn is_open(&self) -> bool {
        self.system.is_some() || self.browser.is_some()
    }

    /// Opens a dialog for `purpose`: the system's, awaited on a thread, or the browser.
    pub fn open(&mut self, ctx: &egui::Context, purpose: Purpose, start: Start) {
        if self.is_open() {
            return;
        }
        if self.always_browser {
            self.open_browser(purpose, &start, "The studio was started with --in-app-file-browser.".into());
            return;
        }
        if std::env::var(FORCE_ENV).is_ok_and(|v| v == "app") {
            self.open_browser(purpose, &start, format!("{FORCE_ENV}=app is set."));
            return;
        }
        let dialog = system_dialog(purpose, &start);
        let spawned = super::background::run(ctx, "file-dialog", move || {
            if let Some(why) = missing_system_dialog() {
                return Ended::Unavailable(why);
            }
            let began = Instant::now();
            match pollster::block_on(dialog.run()) {
                Some(path) => Ended::Chosen(path),
                None => Ended::Cancelled { after: began.elapsed() },
            }
        });
        match spawned {
            Ok(rx) => self.system = Some((purpose, start, rx)),
            Err(e) => self.open_browser(purpose, &start, format!("The system dialog could not start ({e}).")),
        }
    }

    fn open_browser(&mut self, purpose: Purpose, start: &Start, why: String) {
        let extensions: Vec<String> =
            purpose.filters().iter().flat_map(|(_, e)| e.iter().map(|s| s.to_string())).collect();
        let accepts = move |p: &Path| {
            p.extension().and_then(|e| e.to_str()).is_some_and(|e| extensions.iter().any(|x| x.eq_ignore_ascii_case(e)))
        };
        let folder = start
            .folder
            .clone()
            .or_else(|| directories::UserDirs::new().map(|u| u.home_dir().to_path_buf()))
            .unwrap_or_default();
        let mut dialog = if purpose.saves() {
            egui_file::FileDialog::save_file().default_filename(start.file_name.clone().unwrap_or_default())
        } else {
            egui_file::FileDialog::open_file().show_files_filter(Box::new(accepts))
        }
        .initial_path(folder)
        .title(purpose.title())
        .id(egui::Id::unique("studio-file-browser"))
        .anchor(egui::Align2::CENTER_CENTER, [-BROWSER_SHIFT, 0.0])
        .default_size([560.0, 420.0])
        .resizable(false)
        .show_rename(false)
        .show_new_folder(purpose.saves())
        .keep_on_top(true);
        dialog.open();
        self.browser = Some(Browser { purpose, dialog, why });
    }

    /// Draws the open dialog and returns the file chosen this frame.
    pub fn show(&mut self, ctx: &egui::Context) -> Option<(Purpose, PathBuf)> {
        self.previews.end_frame();
        if let Some((purpose, start, rx)) = &self.system {
            let ended = match rx.try_recv() {
                Ok(e) => e,
                Err(TryRecvError::Empty) => return None,
                Err(TryRecvError::Disconnected) => Ended::Unavailable("The system dialog stopped.".into()),
            };
            let (purpose, start) = (*purpose, start.clone());
            self.system = None;
            match ended {
                Ended::Chosen(path) => return Some((purpose, path)),
                Ended::Cancelled { after } if after >= TOO_FAST => return None,
                Ended::Cancelled { .. } => self.open_browser(
                    purpose,
                    &start,
                    "The system file dialog closed at once (no dialog service answered).".into(),
                ),
                Ended::Unavailable(why) => self.open_browser(purpose, &start, why),
            }
        }
        let browser = self.browser.as_mut()?;
        browser.dialog.show(ctx);
        let chosen = match browser.dialog.state() {
            egui_file::State::Open => None,
            egui_file::State::Selected => browser.dialog.path().map(|p| (browser.purpose, p.to_path_buf())),
            egui_file::State::Cancelled | egui_file::State::Closed => {
                self.browser = None;
                return None;
            }
        };
        if chosen.is_some() {
            self.browser = None;
            return chosen;
        }
        let (why, selected) = (browser.why.clone(), browser.dialog.path().map(Path::to_path_buf));
        let is_image = matches!(browser.purpose, Purpose::Image { .. } | Purpose::Keyframe);
        self.side_panel(ctx, &why, selected.filter(|_| is_image));
        None
    }

    /// Beside the browser: why it is shown, and the selected image's preview.
    fn side_panel(&mut self, ctx: &egui::Context, why: &str, image: Option<PathBuf>) {
        egui::Window::new("About this browser")
            .id(egui::Id::unique("studio-file-browser-side"))
            .anchor(egui::Align2::CENTER_CENTER, [SIDE_SHIFT, 0.0])
            .collapsible(false)
            .resizable(false)
            .title_bar(false)
            .fixed_size([PREVIEW_SIDE as f32, 340.0])
            .show(ctx, |ui| {
                ui.ctx().move_to_top(ui.layer_id());
                ui.label(egui::RichText::new("The studio's file browser").strong());
                ui.label(egui::RichText::new(why).small());
                ui.label(
                    egui::RichText::new("Type a full path in the File field and press Enter, or pick a file.")
                        .small()
                        .weak(),
                );
                ui.separator();
                let Some(path) = image.filter(|p| p.is_file()) else {
                    return;
                };
                let key = path.display().to_string();
                match self.previews.get_with(ctx, &key, move || preview(&path).map(|p| vec![p])) {
                    ClipView::Ready(f) => {
                        if let Some(t) = f.textures.first() {
                            ui.add(egui::Image::new(t).max_width(PREVIEW_SIDE as f32).max_height(220.0));
                        }
                    }
                    ClipView::Loading => {
                        ui.spinner();
                    }
                    ClipView::Failed(e) => {
                        ui.colored_label(ui.visuals().warn_fg_color, e);
                    }
                }
            });
    }
}

/// The browser sits left of centre and its side panel right of it.
const BROWSER_SHIFT: f32 = 130.0;
const SIDE_SHIFT: f32 = 300.0;
const PREVIEW_SIDE: u32 = 240;

/// The selected image, decoded with the input slots' limits and shrunk for the side panel.
fn preview(path: &Path) -> Result<RgbImage, String> {
    let rgb = crate::imaging::load::load_image(path, &Default::default()).map_err(|e| e.to_string())?;
    Ok(image::imageops::thumbnail(&rgb, PREVIEW_SIDE.min(rgb.width()), PREVIEW_SIDE.min(rgb.height())))
}

/// A system dialog, built on the UI thread (macOS wants that) and awaited on another.
struct SystemDialog {
    dialog: rfd::AsyncFileDialog,
    saves: bool,
}

impl SystemDialog {
    async fn run(self) -> Option<PathBuf> {
        let handle = if self.saves { self.dialog.save_file().await } else { self.dialog.pick_file().await };
        handle.map(|h| h.path().to_path_buf())
    }
}

fn system_dialog(purpose: Purpose, start: &Start) -> SystemDialog {
    let mut dialog = rfd::AsyncFileDialog::new().set_title(purpose.title());
    for (name, extensions) in purpose.filters() {
        dialog = dialog.add_filter(name, extensions);
    }
    if let Some(folder) = &start.folder {
        dialog = dialog.set_directory(folder);
    }
    if let Some(name) = &start.file_name {
        dialog = dialog.set_file_name(name);
    }
    SystemDialog { dialog, saves: purpose.saves() }
}

/// Why this desktop has no system file dialog, or `None` when it has one. Only Linux can lack
/// one: rfd there needs an xdg-desktop-portal with a file chooser on the session bus, or zenity.
fn missing_system_dialog() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let env = |k: &str| std::env::var_os(k).map(PathBuf::from);
    let on_path = |exe: &str| env("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(exe).is_file()));
    if on_path("zenity") {
        return None;
    }
    let session_bus =
        env("DBUS_SESSION_BUS_ADDRESS").is_some() || env("XDG_RUNTIME_DIR").is_some_and(|d| d.join("bus").exists());
    let mut data_dirs: Vec<PathBuf> =
        env("XDG_DATA_HOME").or_else(|| env("HOME").map(|h| h.join(".local/share"))).into_iter().collect();
    let system = std::env::var("XDG_DATA_DIRS").unwrap_or_else(|_| "/usr/local/share:/usr/share".into());
    data_dirs.extend(system.split(':').filter(|d| !d.is_empty()).map(PathBuf::from));
    if session_bus && portal_file_chooser(&data_dirs) {
        return None;
    }
    Some(if session_bus {
        "This desktop has no file-dialog service: no xdg-desktop-portal with a file chooser, and no zenity.".into()
    } else {
        "This desktop has no file-dialog service: no D-Bus session (for xdg-desktop-portal), and no zenity.".into()
    })
}

/// Whether the portal service and a backend that implements its file chooser are installed.
fn portal_file_chooser(data_dirs: &[PathBuf]) -> bool {
    let service = data_dirs.iter().any(|d| d.join("dbus-1/services/org.freedesktop.portal.Desktop.service").is_file());
    let chooser = data_dirs.iter().any(|d| {
        std::fs::read_dir(d.join("xdg-desktop-portal/portals")).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("org.freedesktop.impl.portal.FileChooser"))
            })
        })
    });
    service && chooser
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_portal_needs_its_service_and_a_file_chooser_backend() {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().to_path_buf();
        assert!(!portal_file_chooser(std::slice::from_ref(&d)));
        std::fs::create_dir_all(d.join("dbus-1/services")).expect("dir");
        std::fs::write(d.join("dbus-1/services/org.freedesktop.portal.Desktop.service"), "[D-BUS Service]\n")
            .expect("write");
        assert!(!portal_file_chooser(std::slice::from_ref(&d)), "a portal without backends has no file chooser");
        std::fs::create_dir_all(d.join("xdg-desktop-portal/portals")).expect("dir");
        std::fs::write(
            d.join("xdg-desktop-portal/portals/gtk.portal"),
            "[portal]\nInterfaces=org.freedesktop.impl.portal.FileChooser;org.freedesktop.impl.portal.AppChooser;\n",
        )
        .expect("write");
        assert!(portal_file_chooser(&[d]));
    }
}
