//! Crash safety of the history: a process killed while saving leaves only complete
//! entries, and no finished result is lost.

use std::process::Command;
use std::time::{Duration, Instant};

use dynamicrafter_studio::history::{History, HistoryRecord};
use dynamicrafter_studio::model::config::Variant;
use dynamicrafter_studio::pipeline::generate::Settings;
use image::RgbImage;

const WRITER_ENV: &str = "DC_HISTORY_WRITER_DIR";

/// A plain record with this seed (also used by the UI tests).
pub(crate) fn record(seed: u64) -> HistoryRecord {
    let mut settings = Settings::defaults(Variant::V512);
    settings.seed = seed;
    HistoryRecord {
        settings,
        model: "test".into(),
        input_hash: "0".into(),
        fit: "Reference".into(),
        cancelled: false,
        steps_done: 50,
        created_unix_ms: 0,
        frames: 0,
        width: 0,
        height: 0,
        sweep: None,
        part: None,
        joined: None,
    }
}

fn frames(seed: u64) -> Vec<RgbImage> {
    (0..16)
        .map(|k| {
            RgbImage::from_fn(512, 320, |x, y| image::Rgb([(x as u64 + seed) as u8, (y + k) as u8, (x ^ y) as u8]))
        })
        .collect()
}

/// Not a test on its own: the child process of `killed_writer_leaves_consistent_history`.
#[test]
#[ignore = "run as a child process by killed_writer_leaves_consistent_history"]
fn history_writer_process() {
    let Some(dir) = std::env::var_os(WRITER_ENV) else { return };
    let h = History::new(dir);
    for seed in 0.. {
        h.save(record(seed), &frames(seed)).unwrap();
        println!("saved {seed}");
    }
}

#[test]
fn killed_writer_leaves_consistent_history() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "history::history_writer_process", "--ignored", "--nocapture", "--test-threads=1"])
        .env(WRITER_ENV, tmp.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let h = History::new(tmp.path());
    let start = Instant::now();
    // Wait for at least two complete entries, then kill mid-write.
    while h.list().len() < 2 {
        assert!(start.elapsed() < Duration::from_secs(120), "the writer saved nothing");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(137));
    child.kill().unwrap();
    child.wait().unwrap();

    let entries = h.list();
    assert!(entries.len() >= 2);
    for e in &entries {
        let f = h.load_frames(e).unwrap_or_else(|err| panic!("entry {} is incomplete: {err}", e.id));
        assert_eq!(f.len(), 16);
        assert_eq!(f[15], frames(e.record.settings.seed)[15], "entry {} has wrong pixels", e.id);
    }
    // A partial entry from the kill may remain on disk, but never in the list; it is cleaned.
    h.clean_partial();
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().filter_map(Result::ok).collect();
    assert_eq!(left.len(), entries.len(), "leftovers after clean_partial");
}

#[test]
fn delete_and_restore_roundtrip() {
    let tmp = tempfile::tempdir().unwrap();
    let h = History::new(tmp.path());
    let e = h.save(record(7), &frames(7)[..2]).unwrap();
    assert_eq!(h.list()[0].record.settings.seed, 7);
    assert!(h.delete("../etc").is_err());
    h.delete(&e.id).unwrap();
    assert!(h.list().is_empty());
}

/// An entry whose settings cannot be read is listed as damaged (not hidden), and deletes.
#[test]
fn a_damaged_entry_is_listed_and_can_be_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let history = History::new(tmp.path());
    let good = history.save(record(1), &frames(1)[..2]).unwrap();
    let bad = history.save(record(2), &frames(2)[..2]).unwrap();
    std::fs::write(bad.dir.join("settings.json"), b"{ not json").unwrap();
    let listing = history.scan();
    assert_eq!(listing.entries.iter().map(|e| &e.id).collect::<Vec<_>>(), vec![&good.id]);
    assert_eq!(listing.damaged.len(), 1);
    assert_eq!(listing.damaged[0].id, bad.id);
    assert!(listing.damaged[0].problem.contains("settings.json"), "{:?}", listing.damaged[0]);
    history.delete(&bad.id).unwrap();
    assert!(history.scan().damaged.is_empty());
    assert_eq!(history.list().len(), 1);
}
