//! Importing a checkpoint into the fast-loading cache: exact in f32, close in f16, loadable
//! strictly, cancellable without leftovers, and refused for the wrong model.

use burn::tensor::DType;
use dynamicrafter_studio::device::Backend;
use dynamicrafter_studio::model::DynamiCrafter;
use dynamicrafter_studio::model::config::{ModelConfig, Variant};
use dynamicrafter_studio::weights::import::{
    CacheDType, ImportError, import_checkpoint, import_with_config, list_imported, open_checkpoint,
};
use dynamicrafter_studio::weights::vars::TensorSource;

fn tiny() -> (std::path::PathBuf, ModelConfig) {
    let dir = crate::common::tiny_fixture();
    let cfg = ModelConfig::from_fixture_file(&dir.join("config.json")).unwrap();
    (dir, cfg)
}

#[test]
fn f32_cache_is_exact_and_loads_strictly() {
    let (dir, cfg) = tiny();
    let tmp = tempfile::tempdir().unwrap();
    let mut calls = 0;
    let m = import_with_config(&dir.join("model.ckpt"), &cfg, "tiny", tmp.path(), CacheDType::F32, |p| {
        calls += 1;
        assert!(p.bytes_written <= p.bytes_total);
        true
    })
    .unwrap();
    assert_eq!(calls, m.tensors);
    let cached = open_checkpoint(&tmp.path().join(&m.weights_file)).unwrap();
    let original = open_checkpoint(&dir.join("model.ckpt")).unwrap();
    for name in cached.tensor_names() {
        assert_eq!(cached.read_f32(&name).unwrap(), original.read_f32(&name).unwrap(), "{name}");
    }
    // Unused tensors (ln_post, the last text block, …) are left out of the cache.
    assert!(cached.tensor_names().len() < original.tensor_names().len());
    DynamiCrafter::load(&cached, &cfg, &Backend::Cpu.device(), DType::F32).unwrap();
    let listed = list_imported(tmp.path());
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].1, m);
    // Nothing temporary is left behind.
    let names: Vec<String> =
        std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| !n.contains("partial")), "{names:?}");
}

#[test]
fn f16_cache_is_close() {
    let (dir, cfg) = tiny();
    let tmp = tempfile::tempdir().unwrap();
    let m = import_with_config(&dir.join("model.ckpt"), &cfg, "tiny", tmp.path(), CacheDType::F16, |_| true).unwrap();
    let cached = open_checkpoint(&tmp.path().join(&m.weights_file)).unwrap();
    let original = open_checkpoint(&dir.join("model.ckpt")).unwrap();
    let name = "model.diffusion_model.input_blocks.0.0.weight";
    let (a, b) = (cached.read_f32(name).unwrap(), original.read_f32(name).unwrap());
    let worst = a.iter().zip(&b).map(|(x, y)| ((x - y) / y.abs().max(1e-3)).abs()).fold(0f32, f32::max);
    assert!(worst < 1e-3, "f16 relative error {worst}");
    // The noise schedule is a buffer, not a weight: it stays exact in an f16 cache.
    for buffer in ["alphas_cumprod", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod", "scale_arr"] {
        let (dt, _) = cached.read_raw(buffer).unwrap();
        assert_eq!(dt, dynamicrafter_studio::weights::DType::F32, "{buffer}");
        assert_eq!(cached.read_f32(buffer).unwrap(), original.read_f32(buffer).unwrap(), "{buffer}");
    }
    assert!(
        std::fs::metadata(tmp.path().join(&m.weights_file)).unwrap().len()
            < std::fs::metadata(dir.join("model.ckpt")).unwrap().len() / 2 + 1_000_000
    );
}

#[test]
fn cancelled_import_leaves_nothing() {
    let (dir, cfg) = tiny();
    let tmp = tempfile::tempdir().unwrap();
    let mut n = 0;
    let err = import_with_config(&dir.join("model.ckpt"), &cfg, "tiny", tmp.path(), CacheDType::F16, |_| {
        n += 1;
        n < 20
    })
    .unwrap_err();
    assert!(matches!(err, ImportError::Cancelled), "{err}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn wrong_model_is_refused_before_writing() {
    let (dir, _) = tiny();
    let tmp = tempfile::tempdir().unwrap();
    let err =
        import_checkpoint(&dir.join("model.ckpt"), Variant::V512, tmp.path(), CacheDType::F16, |_| true).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("does not match DynamiCrafter 512"), "{msg}");
    assert!(matches!(err, ImportError::Keys { count, .. } if count > 100));
    assert!(std::fs::read_dir(tmp.path()).map(|d| d.count()).unwrap_or(0) == 0);
}
