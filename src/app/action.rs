//! UI intents: what the panels, shortcuts and dropped files ask for while drawing. They are
//! collected and applied after the frame ([`super::actions`]); a panel changes nothing else.

use std::path::PathBuf;
use std::sync::Arc;

use image::RgbImage;

use super::session::Notice;
use crate::history::HistoryEntry;
use crate::model::config::Variant;
use crate::pipeline::conditioning::Mode;
use crate::worker::protocol::ModelSource;

/// Something the user asked for.
#[derive(Debug, Clone)]
#[must_use]
pub enum Action {
    Generate,
    Cancel,
    LoadModel(ModelSource),
    /// Precision or memory settings changed: the worker reloads the model under them.
    Configure,
    /// Import a checkpoint; without a variant the file decides (or the user is asked).
    Import {
        path: PathBuf,
        variant: Option<Variant>,
    },
    CancelImport,
    /// Queue every combination of the sweep's values.
    QueueSweep,
    /// Show the player, a sweep's contact sheet, or two clips compared.
    View(super::session::CentralView),
    /// Pick a clip for comparison; the second pick opens the comparison.
    PickCompare(String),
    /// Write the contact sheet of a sweep (GIF, APNG or PNG frames by extension).
    SaveSheet {
        id: String,
        path: PathBuf,
    },
    /// Show a folder in the system's file manager.
    OpenFolder(PathBuf),
    /// Import the model assembled from the "files I already have" form.
    ImportParts,
    /// Download an official model, then import and load it.
    Download(Variant),
    /// Stop the download (what arrived is kept for resuming).
    CancelDownload,
    /// Re-read the list of imported models (at start and after an import).
    RefreshModels,
    /// Check the GPU against the CPU backend (runs on the worker).
    SelfCheck,
    /// The user's answer to a [`super::session::VariantChoice`] (`None`: dismissed).
    ChooseVariant(Option<Variant>),
    /// Open a file dialog (the system's, or the studio's browser where there is none).
    PickFile(super::file_picker::Purpose),
    /// The file a dialog returned.
    Picked(super::file_picker::Purpose, PathBuf),
    SetImage {
        second: bool,
        path: PathBuf,
    },
    SetImageBytes {
        second: bool,
        bytes: Arc<Vec<u8>>,
        origin: String,
    },
    SetImageRgb {
        second: bool,
        rgb: Arc<RgbImage>,
    },
    /// Files from the command line or a drop (`open_files` sorts them into intents).
    OpenFiles(Vec<PathBuf>),
    /// Switch the generation mode (image to video, interpolation, loop).
    SetMode(Mode),
    ClearImage {
        second: bool,
    },
    /// Put an entry's settings back into the controls.
    Restore(Box<HistoryEntry>),
    /// Show an entry in the player.
    Show(Box<HistoryEntry>),
    /// Delete an entry (after the user confirmed).
    Delete(String),
    QueueMove {
        index: usize,
        up: bool,
    },
    QueueRemove(usize),
    RefreshHistory,
    Notify(Notice),
    /// Close the status bar's message.
    DismissNotice,
    /// Ask where to export the clip in the player.
    ExportDialog,
    /// Export the clip in the player to `path` (`overwrite`: the user consented).
    ExportTo {
        path: PathBuf,
        overwrite: bool,
    },
    CancelExport,
    /// Try again to save the clips the history could not store.
    SaveUnsaved,
    /// Look for ComfyUI's model files in this folder (off the UI thread).
    ScanComfy(PathBuf),
    /// Add an image file as the last keyframe of the storyboard.
    AddKeyframe(PathBuf),
    /// Storyboards and continuing a clip.
    Storyboard(super::storyboard::StoryboardAction),
    /// Show the clip in the player with RIFE in-betweens: N frames per frame (1: as made).
    Smooth(usize),
    /// Stop the running frame interpolation.
    CancelSmooth,
    /// Download a RIFE file from the URL the user gave, then install it.
    DownloadRife(String),
}
