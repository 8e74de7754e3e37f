//! The generation queue on disk, so queued requests survive closing the app: the settings as
//! JSON and the input images as PNG in `<history>/.queue/` (named by their content), written
//! on a background thread; the list is replaced atomically (write, then rename), after the
//! images it names.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use image::RgbImage;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::imaging::load::{LoadOptions, load_image};
use crate::pipeline::generate::Settings;
use crate::pipeline::preprocess::FitMode;
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
    #[serde(default)]
    part: Option<crate::pipeline::storyboard::Part>,
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
        let _ = write(&root, &jobs);
    });
}

/// The file name of an image in the queue folder: its content's SHA-256 (size and pixels).
/// Named by content, a file can never hold another job's image, whatever ids a restart hands
/// out, and two jobs on one image share it.
fn image_name(image: &RgbImage) -> String {
    let mut h = Sha256::new();
    h.update(image.width().to_le_bytes());
    h.update(image.height().to_le_bytes());
    h.update(image.as_raw());
    let hex: String = h.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{hex}.png")
}

/// Writes `jobs` now: the images not yet stored (to a temporary name, then renamed), then the
/// list, replaced atomically; images no job names any more go last.
fn write(history_root: &Path, jobs: &[Job]) -> Result<(), Box<dyn std::error::Error>> {
    let d = dir(history_root);
    if jobs.is_empty() {
        return match std::fs::remove_dir_all(&d) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        };
    }
    std::fs::create_dir_all(&d)?;
    let mut keep = vec!["queue.json".to_owned()];
    let mut store = |image: &RgbImage| -> Result<String, Box<dyn std::error::Error>> {
        let name = image_name(image);
        if !d.join(&name).exists() {
            let tmp = d.join(format!("{name}.tmp.png"));
            image.save(&tmp)?;
            std::fs::rename(&tmp, d.join(&name))?;
        }
        keep.push(name.clone());
        Ok(name)
    };
    let mut stored = Vec::with_capacity(jobs.len());
    for j in jobs {
        stored.push(Stored {
            settings: j.settings.clone(),
            fit: j.fit,
            input_hash: j.input_hash.clone(),
            vae_preview_every: j.vae_preview_every,
            image: store(j.image.as_ref())?,
            image2: j.image2.as_deref().map(&mut store).transpose()?,
            sweep: j.sweep.clone(),
            part: j.part.clone(),
        });
    }
    std::fs::write(d.join("queue.json.tmp"), serde_json::to_vec_pretty(&stored)?)?;
    std::fs::rename(d.join("queue.json.tmp"), d.join("queue.json"))?;
    for e in std::fs::read_dir(&d)?.filter_map(Result::ok) {
        if !keep.iter().any(|k| e.file_name().to_string_lossy() == k.as_str()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
    Ok(())
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
                part: s.part,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::config::Variant;

    fn job(id: u64, shade: u8) -> Job {
        Job {
            id,
            settings: Settings::defaults(Variant::V512),
            image: Arc::new(RgbImage::from_pixel(8, 4, image::Rgb([shade, 0, 255 - shade]))),
            image2: None,
            fit: FitMode::default(),
            input_hash: format!("hash-{shade}"),
            cancel: Default::default(),
            vae_preview_every: 0,
            sweep: None,
            part: None,
        }
    }

    /// Jobs 1, 2, 3 queued; job 1 finishes, the app closes; across two restarts (fresh ids
    /// from 1 each time, one more job finishing) every restored job keeps its own image and
    /// hash. Named by job id, old job 3 ran on old job 2's image after the second restart.
    #[test]
    fn restored_jobs_keep_their_own_images_across_restarts() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let originals = [job(1, 10), job(2, 20), job(3, 30)];
        let own = |j: &Job| {
            let o = originals.iter().find(|o| o.input_hash == j.input_hash).expect("a known job");
            assert_eq!(*j.image, *o.image, "{} runs on another job's image", j.input_hash);
        };
        write(root, &originals[1..]).unwrap(); // job 1 finished before closing
        let mut next = 1;
        let first = load(root, &mut next);
        assert_eq!(first.iter().map(|j| j.id).collect::<Vec<_>>(), vec![1, 2]);
        first.iter().for_each(own);
        write(root, &first).unwrap(); // saved again after the restart, then closed
        let mut next = 1;
        let second = load(root, &mut next);
        assert_eq!(second.len(), 2);
        second.iter().for_each(own);
        write(root, &second[1..]).unwrap(); // old job 2 finishes
        let mut next = 1;
        let third = load(root, &mut next);
        assert_eq!(third.len(), 1);
        assert_eq!(third[0].input_hash, "hash-30");
        own(&third[0]);
        let files = std::fs::read_dir(dir(root)).unwrap().count();
        assert_eq!(files, 2, "the list and the one image still queued");
        write(root, &[]).unwrap();
        assert!(!dir(root).exists());
    }

    #[test]
    fn two_jobs_on_one_image_share_its_file() {
        let tmp = tempfile::tempdir().unwrap();
        let mut b = job(2, 10);
        b.image2 = Some(Arc::new(RgbImage::from_pixel(4, 8, image::Rgb([1, 2, 3]))));
        write(tmp.path(), &[job(1, 10), b]).unwrap();
        assert_eq!(std::fs::read_dir(dir(tmp.path())).unwrap().count(), 3);
        let mut next = 7;
        let back = load(tmp.path(), &mut next);
        assert_eq!(back.iter().map(|j| j.id).collect::<Vec<_>>(), vec![7, 8]);
        assert_eq!(back[1].image2.as_deref().map(|i| i.dimensions()), Some((4, 8)));
    }
}
