//! The same parity cases on burn's wgpu backend (lavapipe in CI, a real GPU elsewhere).
//!
//! Its own test binary: it sets `CUBECL_AUTOTUNE_LEVEL` before the device starts, because
//! each autotuned shape costs 20-30 s on lavapipe and the tiny model has many shapes.
#![allow(unsafe_code, clippy::unwrap_used)]

use std::path::PathBuf;

use dynamicrafter_studio::device::Backend;
use dynamicrafter_studio::parity;

#[test]
fn tiny_parity_on_wgpu() {
    if std::env::var_os("CUBECL_AUTOTUNE_LEVEL").is_none() {
        // SAFETY: the only test of this binary, before any thread of the runtime exists.
        unsafe { std::env::set_var("CUBECL_AUTOTUNE_LEVEL", "minimal") };
    }
    let shared = std::env::var_os("DC_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let dir = shared.join("fixtures/tiny");
    assert!(dir.is_dir(), "fixture {} not found (set DC_SHARED)", dir.display());
    let mut out = Vec::new();
    let summary = parity::run(&dir, Backend::Wgpu, &mut out).unwrap_or_else(|e| {
        panic!("wgpu parity could not run (is a Vulkan driver such as mesa-vulkan-drivers installed?): {e}")
    });
    let text = String::from_utf8_lossy(&out);
    println!("{text}");
    assert_eq!(summary.failed, 0, "wgpu parity failures:\n{text}");
    assert_eq!(summary.not_implemented, 0);
}
