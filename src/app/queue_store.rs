//! The generation queue on disk, so queued requests survive closing the app: the settings as
//! JSON and the input images as PNG in `<history>/.queue/`, written on a background thread;
//! the list is replaced atomically (write, then rename), after the images it names.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::pipeline::generate::Settings;
use crate::pipeline::preprocess::{FitMode, LoadOptions, load_image};
use crate::worker::protocol::Job;

/// One queued request as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    settings: Settings,
    fit: FitMode,
    input_hash: String,
    vae_preview_every: usize,
    /// File names of the input images in the queue folder.
    image: String,
    image2: Option<String>,
    #[serde(default)]
    sweep: Option<crate::history::SweepTag>,
}

fn dir(history_root: &Path) -> PathBuf {
    history_root.join(".queue")
}

/// Saves issued so far; a save writes only if no newer one was issued meanwhile.
static ISSUED: AtomicU64 = AtomicU64::new(0);
/// One writer at a time.
static WRITING: Mutex<()> = Mutex::new(());

/// Writes `jobs` (in order) off the UI thread. An empty queue removes the folder.
pub fn save(history_root: &Path, jobs: Vec<Job>) {
    let root = history_root.to_path_buf();
    let seq = ISSUED.fetch_add(1, Ordering::SeqCst) + 1;
    let _ = std::thread::Builder::new().name("queue-save".into()).spawn(move || {
        let _one = WRITING.lock().unwrap_or_else(|p| p.into_inner());
        if ISSUED.load(Ordering::SeqCst) != seq {
            return; // a newer queue is on its way
        }
        let d = dir(&root);
        if jobs.is_empty() {
            let _ = std::fs::remove_dir_all(&d);
            return;
        }
        // Images first (named by job id, so a reader never sees a half-written one under a
        // name the current list uses), then the list, replaced atomically by a rename.
        let write = || -> Result<Vec<String>, Box<dyn std::error::Error>> {
            std::fs::create_dir_all(&d)?;
            let mut stored = Vec::with_capacity(jobs.len());
            let mut keep = vec!["queue.json".to_owned()];
            for j in &jobs {
                let (a, b) = (format!("{}.png", j.id), format!("{}b.png", j.id));
                if !d.join(&a).exists() {
                    j.image.save(d.join(format!("{a}.tmp.png")))?;
                    std::fs::rename(d.join(format!("{a}.tmp.png")), d.join(&a))?;
                }
                if let Some(i2) = &j.image2 {
                    if !d.join(&b).exists() {
                        i2.save(d.join(format!("{b}.tmp.png")))?;
                        std::fs::rename(d.join(format!("{b}.tmp.png")), d.join(&b))?;
                    }
                    keep.push(b.clone());
                }
                keep.push(a.clone());
                stored.push(Stored {
                    settings: j.settings.clone(),
                    fit: j.fit,
                    input_hash: j.input_hash.clone(),
                    vae_preview_every: j.vae_preview_every,
                    image: a,
                    image2: j.image2.is_some().then_some(b),
                    sweep: j.sweep.clone(),
                });
            }
            std::fs::write(d.join("queue.json.tmp"), serde_json::to_vec_pretty(&stored)?)?;
            std::fs::rename(d.join("queue.json.tmp"), d.join("queue.json"))?;
            Ok(keep)
        };
        // Images of requests that left the queue go once the new list is in place.
        if let (Ok(keep), Ok(rd)) = (write(), std::fs::read_dir(&d)) {
            for e in rd.filter_map(Result::ok) {
                if !keep.iter().any(|k| e.file_name().to_string_lossy() == k.as_str()) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    });
}

/// The stored queue, as jobs with fresh ids from `next_id` (empty if none or unreadable).
pub fn load(history_root: &Path, next_id: &mut u64) -> Vec<Job> {
    let d = dir(history_root);
    let Ok(text) = std::fs::read_to_string(d.join("queue.json")) else {
        return Vec::new();
    };
    let Ok(stored) = serde_json::from_str::<Vec<Stored>>(&text) else {
        return Vec::new();
    };
    let opts = LoadOptions { apply_exif_orientation: false, ..LoadOptions::default() };
    let read = |p: PathBuf| load_image(&p, &opts).ok().map(Arc::new);
    stored
        .into_iter()
        .filter_map(|s| {
            let image: Arc<RgbImage> = read(d.join(&s.image))?;
            let image2 = match &s.image2 {
                Some(name) => Some(read(d.join(name))?),
                None => None,
            };
            let id = *next_id;
            *next_id += 1;
            Some(Job {
                id,
                settings: s.settings,
                image,
                image2,
                fit: s.fit,
                input_hash: s.input_hash,
                cancel: Default::default(),
                vae_preview_every: s.vae_preview_every,
                sweep: s.sweep,
            })
        })
        .collect()
}
