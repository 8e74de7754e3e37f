//! Loading a history entry from an arbitrary `settings.json` and first frame: the listing,
//! the record's fields (frame count, sizes) and the bounded frame decoding. The input is
//! split at the first NUL: JSON before it, the frame's PNG bytes after it.
#![no_main]

use dynamicrafter_studio::history::History;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (json, png) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let base = if std::path::Path::new("/dev/shm").is_dir() { "/dev/shm".into() } else { std::env::temp_dir() };
    let root = base.join(format!("dc-fuzz-history-{}", std::process::id()));
    let entry = root.join("entry");
    if std::fs::create_dir_all(&entry).is_err() {
        return;
    }
    let _ = std::fs::write(entry.join("settings.json"), json);
    let _ = std::fs::write(entry.join("frame_0001.png"), png);
    let history = History::new(&root);
    for e in history.list() {
        let _ = history.load_frames(&e);
    }
    let _ = std::fs::remove_dir_all(&root);
});
