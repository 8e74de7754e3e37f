//! Test helpers: where the shared fixtures live.
#![allow(dead_code)]

use std::path::PathBuf;

/// `../shared` next to the checkout, or `$DC_SHARED`. Fails with a clear message if absent.
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("DC_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    assert!(
        dir.join("fixtures").is_dir(),
        "shared fixtures not found at {} (set DC_SHARED to the folder holding fixtures/ and reference-keys/)",
        dir.display()
    );
    dir
}

/// The tiny fixture directory.
pub fn tiny_fixture() -> PathBuf {
    shared_dir().join("fixtures/tiny")
}

/// A RIFE fixture made by `tests/fixtures/generate_rife.py` (`version`: `4.7` or `4.9`).
pub fn rife_fixture(version: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/rife-{version}"))
}
