//! Generation history: every finished or cancelled clip is saved at once as PNG frames, a
//! thumbnail and its complete settings, in its own folder under the app's data directory.
//!
//! An entry is written into a hidden `.partial-*` folder, flushed to the disk and renamed
//! when complete, so a crash, a killed process or a power loss never leaves a half-written
//! entry in the list; leftovers are
//! removed by [`History::clean_partial`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::pipeline::generate::Settings;

/// What a history entry remembers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRecord {
    pub settings: Settings,
    /// The model's label (variant and file).
    pub model: String,
    /// Digest of the input image file(s).
    pub input_hash: String,
    /// How the input was fitted to the model's aspect ratio.
    pub fit: String,
    pub cancelled: bool,
    pub steps_done: usize,
    pub created_unix_ms: u64,
    pub frames: usize,
    pub width: u32,
    pub height: u32,
    /// The sweep this clip belongs to, if it was queued as part of one.
    #[serde(default)]
    pub sweep: Option<SweepTag>,
    /// Part of a longer clip: a storyboard segment, or a continuation of another entry.
    #[serde(default)]
    pub part: Option<crate::pipeline::storyboard::Part>,
    /// This clip was joined from other entries (no generation of its own).
    #[serde(default)]
    pub joined: Option<crate::pipeline::storyboard::Joined>,
}

/// A clip's place in a sweep (a grid of settings queued at once).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SweepTag {
    /// Shared by every clip of the sweep.
    pub id: String,
    pub index: usize,
    pub total: usize,
}

/// One saved generation.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    /// Folder name, unique.
    pub id: String,
    pub dir: PathBuf,
    pub record: HistoryRecord,
}

impl HistoryEntry {
    /// Path of the thumbnail.
    pub fn thumbnail(&self) -> PathBuf {
        self.dir.join("thumb.png")
    }
}

/// History failures.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot write history at {path}: {source} (check free disk space and permissions)")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cannot encode frame {path}: {msg}")]
    Encode { path: PathBuf, msg: String },
    #[error("history entry `{0}` not found")]
    NotFound(String),
}

/// An entry folder whose settings cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damaged {
    /// Folder name.
    pub id: String,
    /// What is wrong, for people.
    pub problem: String,
}

/// What [`History::scan`] found.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub entries: Vec<HistoryEntry>,
    pub damaged: Vec<Damaged>,
}

/// The history folder.
#[derive(Debug, Clone)]
pub struct History {
    root: PathBuf,
}

const PARTIAL: &str = ".partial-";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HistoryError + '_ {
    move |source| HistoryError::Io { path: path.to_path_buf(), source }
}

/// Writes an image as PNG, flushed to the disk.
fn write_png(path: &Path, image: &RgbImage) -> Result<(), HistoryError> {
    let mut encoded = Ok(());
    crate::durable::write_with(path, |w| {
        encoded = image.write_to(w, image::ImageFormat::Png);
        Ok(())
    })
    .map_err(io(path))?;
    encoded.map_err(|e| HistoryError::Encode { path: path.to_path_buf(), msg: e.to_string() })
}

/// [`crate::durable::sync_dir`], reporting the folder.
fn sync_dir(dir: &Path) -> Result<(), HistoryError> {
    crate::durable::sync_dir(dir).map_err(io(dir))
}

/// The most frames an entry may list (clips have 16; the bound keeps a damaged record from
/// asking for billions).
const MAX_FRAMES: usize = 1024;

/// The most pixels an entry's frames may decode to in all (a 16-frame 576×1024 clip is
/// 9.4 Mpx; this bound is 768 MB of RGB).
const MAX_CLIP_PIXELS: u64 = 256_000_000;

/// 64-bit FNV-1a digest as hex (identifies the input image; not a security hash).
pub fn digest(bytes: &[u8]) -> String {
    let h = bytes.iter().fold(0xCBF2_9CE4_8422_2325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100_0000_01B3));
    format!("{h:016x}")
}

impl History {
    /// History under `root` (created on first save).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The default location in the platform data directory.
    pub fn default_root() -> Option<PathBuf> {
        crate::identity::data_dir().map(|d| d.join("history"))
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Saves `frames` with `record`. The entry appears in [`Self::list`] only once complete.
    pub fn save(&self, record: HistoryRecord, frames: &[RgbImage]) -> Result<HistoryEntry, HistoryError> {
        self.save_with(record, frames, &[])
    }

    /// [`Self::save`] with more images kept in the entry's folder under their names (a
    /// storyboard's keyframes: `keyframe_01.png`, …), written and published with it.
    pub fn save_with(
        &self,
        mut record: HistoryRecord,
        frames: &[RgbImage],
        extras: &[(String, &RgbImage)],
    ) -> Result<HistoryEntry, HistoryError> {
        std::fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        record.created_unix_ms = now;
        record.frames = frames.len();
        if let Some(f) = frames.first() {
            record.width = f.width();
            record.height = f.height();
        }
        let mut id = format!("{now}-{}", record.settings.seed);
        let mut n = 1;
        while self.root.join(&id).exists() {
            id = format!("{now}-{}-{n}", record.settings.seed);
            n += 1;
        }
        let tmp = self.root.join(format!("{PARTIAL}{id}"));
        let result = self.write_entry(&tmp, &record, frames, extras);
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        let dir = self.root.join(&id);
        std::fs::rename(&tmp, &dir).map_err(io(&dir))?;
        sync_dir(&self.root)?;
        Ok(HistoryEntry { id, dir, record })
    }

    /// Writes the entry's files into `tmp`, each flushed to the disk, then the folder itself,
    /// so the rename that publishes it never exposes files whose data a power loss could
    /// still drop.
    fn write_entry(
        &self,
        tmp: &Path,
        record: &HistoryRecord,
        frames: &[RgbImage],
        extras: &[(String, &RgbImage)],
    ) -> Result<(), HistoryError> {
        std::fs::create_dir_all(tmp).map_err(io(tmp))?;
        for (name, img) in extras {
            write_png(&tmp.join(name), img)?;
        }
        for (k, f) in frames.iter().enumerate() {
            write_png(&tmp.join(format!("frame_{:04}.png", k + 1)), f)?;
        }
        if let Some(first) = frames.first() {
            let scale = (128.0 / first.width().max(first.height()) as f32).min(1.0);
            let (w, h) =
                (((first.width() as f32 * scale) as u32).max(1), ((first.height() as f32 * scale) as u32).max(1));
            let thumb = image::imageops::resize(first, w, h, image::imageops::FilterType::Triangle);
            write_png(&tmp.join("thumb.png"), &thumb)?;
        }
        let p = tmp.join("settings.json");
        let json = serde_json::to_string_pretty(record).unwrap_or_default();
        crate::durable::write_with(&p, |w| w.write_all(json.as_bytes())).map_err(io(&p))?;
        sync_dir(tmp)
    }

    /// Complete entries, newest first (see [`History::scan`] for the damaged ones).
    pub fn list(&self) -> Vec<HistoryEntry> {
        self.scan().entries
    }

    /// Every entry folder: the readable ones newest first, and those whose settings cannot be
    /// read (listed so that they can be seen and deleted, not hidden).
    pub fn scan(&self) -> Listing {
        let mut listing = Listing::default();
        let Ok(rd) = std::fs::read_dir(&self.root) else {
            return listing;
        };
        for e in rd.filter_map(Result::ok) {
            let id = e.file_name().to_string_lossy().into_owned();
            if id.starts_with('.') || !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let dir = e.path();
            let record = std::fs::read_to_string(dir.join("settings.json"))
                .map_err(|e| e.to_string())
                .and_then(|text| serde_json::from_str::<HistoryRecord>(&text).map_err(|e| e.to_string()));
            match record {
                Ok(record) => listing.entries.push(HistoryEntry { id, dir, record }),
                Err(problem) => listing.damaged.push(Damaged { id, problem: format!("settings.json: {problem}") }),
            }
        }
        listing.entries.sort_by(|a, b| b.record.created_unix_ms.cmp(&a.record.created_unix_ms).then(b.id.cmp(&a.id)));
        listing.damaged.sort_by(|a, b| b.id.cmp(&a.id));
        listing
    }

    /// Reads an entry's frames back. The record and the files may have been edited or
    /// damaged: the frame count, every frame's size and the total decoded size are bounded
    /// before decoding.
    pub fn load_frames(&self, entry: &HistoryEntry) -> Result<Vec<RgbImage>, HistoryError> {
        load_frames_within(entry, MAX_CLIP_PIXELS)
    }

    /// Reads frame `k` (0-based) of an entry alone.
    pub fn load_frame(entry: &HistoryEntry, k: usize) -> Result<RgbImage, HistoryError> {
        Self::load_image(entry, &format!("frame_{:04}.png", k + 1))
    }

    /// Reads an image kept in an entry's folder (a frame, or one saved by [`Self::save_with`]).
    pub fn load_image(entry: &HistoryEntry, name: &str) -> Result<RgbImage, HistoryError> {
        let p = entry.dir.join(name);
        crate::imaging::load::load_image(&p, &frame_options())
            .map_err(|e| HistoryError::Encode { path: p.clone(), msg: e.to_string() })
    }

    /// Whether a clip of `frames` frames of `width × height` can be read back (played,
    /// exported, continued): at most 1024 frames and 256 Mpx in all.
    pub fn fits(frames: usize, width: u32, height: u32) -> bool {
        frames <= MAX_FRAMES && frames as u64 * u64::from(width) * u64::from(height) <= MAX_CLIP_PIXELS
    }

    /// Reads an entry's thumbnail, bounded like an input image.
    pub fn load_thumbnail(entry: &HistoryEntry) -> Result<RgbImage, HistoryError> {
        let p = entry.thumbnail();
        let opts = crate::imaging::load::LoadOptions {
            apply_exif_orientation: false,
            max_side: 1024,
            max_pixels: 1024 * 1024,
            ..Default::default()
        };
        crate::imaging::load::load_image(&p, &opts).map_err(|e| HistoryError::Encode { path: p, msg: e.to_string() })
    }

    /// Deletes an entry.
    pub fn delete(&self, id: &str) -> Result<(), HistoryError> {
        if id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') {
            return Err(HistoryError::NotFound(id.into()));
        }
        let dir = self.root.join(id);
        if !dir.is_dir() {
            return Err(HistoryError::NotFound(id.into()));
        }
        std::fs::remove_dir_all(&dir).map_err(io(&dir))
    }

    /// Removes half-written entries left by a crash; returns how many.
    pub fn clean_partial(&self) -> usize {
        let Ok(rd) = std::fs::read_dir(&self.root) else {
            return 0;
        };
        rd.filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(PARTIAL))
            .filter(|e| std::fs::remove_dir_all(e.path()).is_ok())
            .count()
    }
}

/// [`History::load_frames`] with `max_pixels` decoded in all.
/// How a history frame is read: bounded like an input image, EXIF ignored.
fn frame_options() -> crate::imaging::load::LoadOptions {
    crate::imaging::load::LoadOptions {
        apply_exif_orientation: false,
        max_side: 4096,
        max_pixels: 4096 * 4096,
        ..Default::default()
    }
}

fn load_frames_within(entry: &HistoryEntry, max_pixels: u64) -> Result<Vec<RgbImage>, HistoryError> {
    if entry.record.frames > MAX_FRAMES {
        return Err(HistoryError::Encode {
            path: entry.dir.join("settings.json"),
            msg: format!("it lists {} frames (at most {MAX_FRAMES})", entry.record.frames),
        });
    }
    let opts = frame_options();
    let mut total = 0u64;
    (0..entry.record.frames)
        .map(|k| {
            let p = entry.dir.join(format!("frame_{:04}.png", k + 1));
            let frame = crate::imaging::load::load_image(&p, &opts)
                .map_err(|e| HistoryError::Encode { path: p.clone(), msg: e.to_string() })?;
            total += u64::from(frame.width()) * u64::from(frame.height());
            if total > max_pixels {
                return Err(HistoryError::Encode {
                    path: p,
                    msg: format!("the clip's frames exceed {max_pixels} pixels in all"),
                });
            }
            Ok(frame)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decoded_size_of_a_clip_is_bounded() {
        let d = tempfile::tempdir().unwrap();
        let history = History::new(d.path());
        let record = HistoryRecord {
            settings: Settings::defaults(crate::model::config::Variant::V512),
            model: "test".into(),
            input_hash: "0".into(),
            fit: "Reference".into(),
            cancelled: false,
            steps_done: 1,
            created_unix_ms: 0,
            frames: 3,
            width: 10,
            height: 10,
            sweep: None,
            part: None,
            joined: None,
        };
        let frames = vec![RgbImage::new(10, 10); 3];
        let entry = history.save(record, &frames).unwrap();
        assert_eq!(load_frames_within(&entry, 300).unwrap().len(), 3);
        let err = load_frames_within(&entry, 299).unwrap_err().to_string();
        assert!(err.contains("frame_0003.png"), "{err}");
    }
}
