//! The same parity cases on burn's wgpu backend (lavapipe in CI, a real GPU elsewhere).
//!
//! Its own test binary: it sets `CUBECL_AUTOTUNE_LEVEL` before the device starts, because
//! each autotuned shape costs 20-30 s on lavapipe and the tiny model has many shapes.
#![allow(unsafe_code, clippy::unwrap_used)]

use std::path::PathBuf;

use dynamicrafter_studio::device::Backend;
use dynamicrafter_studio::device::Precision;
use dynamicrafter_studio::model::conv::{self, ConvPath};
use dynamicrafter_studio::parity::{self, ParityOptions};
use dynamicrafter_studio::pipeline::memory::MemoryMode;

#[test]
fn wgpu_parity_and_main_screen_snapshot() {
    // The main screen lists the user's imported models: point the data directory at an empty
    // folder so the snapshot does not depend on this machine's models.
    let data = tempfile::tempdir().unwrap();
    // SAFETY: the only test of this binary, before any other thread exists.
    unsafe { std::env::set_var("XDG_DATA_HOME", data.path()) };
    tiny_parity_on_wgpu();
    rife_parity_on_wgpu();
    main_screen_snapshot();
}

/// Both RIFE fixtures on wgpu, f16 (stated bound) with every case also in f32 (1e-4), from
/// their `.pth` files.
fn rife_parity_on_wgpu() {
    for v in ["4.7", "4.9"] {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/rife-{v}"));
        let mut out = Vec::new();
        let opts = ParityOptions {
            backend: Backend::Wgpu,
            precision: Precision::F16,
            memory: MemoryMode::Balanced,
            model: None,
        };
        let summary = parity::run(&dir, opts, &mut out).unwrap();
        let text = String::from_utf8_lossy(&out);
        println!("{text}");
        assert_eq!((summary.passed, summary.failed), (84, 0), "RIFE {v} wgpu parity:\n{text}");
    }
}

/// The main screen rendered by egui-wgpu (lavapipe in CI), compared with
/// `tests/snapshots/main_screen.png` (refresh with `UPDATE_SNAPSHOTS=1`).
fn main_screen_snapshot() {
    use dynamicrafter_studio::app::{AppOptions, StudioApp};
    let tmp = tempfile::tempdir().unwrap();
    let opts = AppOptions {
        backend: Some(Backend::Cpu),
        model: None,
        history_dir: Some(tmp.path().to_path_buf()),
        fresh: true,
        image: None,
        files: Vec::new(),
        models_dir: None,
        in_app_file_browser: false,
    };
    let mut h = egui_kittest::Harness::builder()
        .with_size([1280.0, 820.0])
        .wgpu()
        .build_eframe(move |cc| StudioApp::new(cc, opts));
    // Let the worker report its device, then settle.
    for _ in 0..20 {
        h.step();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    h.run_steps(4);
    h.snapshot("main_screen");
}

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
    // The convolutions on the tiled-matmul path here (the parity of the direct path on wgpu is
    // older than it and unchanged; the self-check below runs it), not `auto`, whose one-off
    // measurement of both paths per shape would double the shaders lavapipe compiles.
    conv::set_path(ConvPath::Gemm);
    // f16 with the stated bounds; every case also runs in f32 on wgpu against the fixture's
    // own bounds (a failure of either fails the test).
    let opts =
        ParityOptions { backend: Backend::Wgpu, precision: Precision::F16, memory: MemoryMode::Balanced, model: None };
    let summary = parity::run(&dir, opts, &mut out).unwrap_or_else(|e| {
        panic!("wgpu parity could not run (is a Vulkan driver such as mesa-vulkan-drivers installed?): {e}")
    });
    let text = String::from_utf8_lossy(&out);
    println!("{text}");
    assert_eq!(summary.failed, 0, "wgpu parity failures:\n{text}");
    assert_eq!(summary.not_implemented, 0);
    // The user-facing self-check on the same device (same shapes: no new autotuning), with
    // burn's direct convolution kernel.
    conv::set_path(ConvPath::Direct);
    let report = dynamicrafter_studio::selfcheck::run(Backend::Wgpu, Precision::F32).unwrap();
    println!("{}", report.table());
    assert!(report.ok(), "{}", report.table());
}
