//! Opening a checkpoint from arbitrary bytes: the format sniffing, the zip directory, the
//! pickle machine, the safetensors header, the key check against a preset, and reading
//! every tensor. Any input must give `Ok` or a typed error, never a panic or a huge
//! allocation.
#![no_main]

use std::io::Write;

use dynamicrafter_studio::model::DynamiCrafter;
use dynamicrafter_studio::model::config::{ModelConfig, Variant};
use dynamicrafter_studio::weights::import::{detect_variant, open_checkpoint};
use dynamicrafter_studio::weights::vars::{TensorSource, check_keys};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut file = tempfile_in_shm();
    if file.1.write_all(data).is_err() {
        return;
    }
    if let Ok(ckpt) = open_checkpoint(&file.0) {
        let _ = detect_variant(&ckpt, &file.0);
        let expected = DynamiCrafter::expected_keys(&ModelConfig::preset(Variant::V512));
        let _ = check_keys(&expected, &ckpt, &[""]);
        for name in ckpt.tensor_names() {
            let _ = ckpt.read_f32(&name);
        }
    }
    let _ = std::fs::remove_file(&file.0);
});

/// A fresh file in memory-backed storage (the checkpoint reader takes a path).
fn tempfile_in_shm() -> (std::path::PathBuf, std::fs::File) {
    let dir = if std::path::Path::new("/dev/shm").is_dir() { "/dev/shm".into() } else { std::env::temp_dir() };
    let path = dir.join(format!("dc-fuzz-ckpt-{}", std::process::id()));
    let file = std::fs::File::create(&path).expect("temp file");
    (path, file)
}
