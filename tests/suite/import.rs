//! Importing a checkpoint into the fast-loading cache: exact in f32, close in f16, loadable
//! strictly, cancellable without leftovers, and refused for the wrong model.

use burn::tensor::DType;
use dynamicrafter_studio::device::Backend;
use dynamicrafter_studio::model::DynamiCrafter;
use dynamicrafter_studio::model::config::{ModelConfig, Variant};
use dynamicrafter_studio::weights::import::{
    CachePrecision, ImportError, import_checkpoint, import_with_config, list_imported, open_checkpoint,
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
    let m = import_with_config(&dir.join("model.ckpt"), &cfg, "tiny", tmp.path(), CachePrecision::F32, |p| {
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
    let m =
        import_with_config(&dir.join("model.ckpt"), &cfg, "tiny", tmp.path(), CachePrecision::F16, |_| true).unwrap();
    let cached = open_checkpoint(&tmp.path().join(&m.weights_file)).unwrap();
    let original = open_checkpoint(&dir.join("model.ckpt")).unwrap();
    let name = "model.diffusion_model.input_blocks.0.0.weight";
    let (a, b) = (cached.read_f32(name).unwrap(), original.read_f32(name).unwrap());
    let worst = a.iter().zip(&b).map(|(x, y)| ((x - y) / y.abs().max(1e-3)).abs()).fold(0f32, f32::max);
    assert!(worst < 1e-3, "f16 relative error {worst}");
    // The noise schedule is a buffer, not a weight: it stays exact in an f16 cache.
    for buffer in ["alphas_cumprod", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod", "scale_arr"] {
        let (dt, _) = cached.read_raw(buffer).unwrap();
        assert_eq!(dt, dynamicrafter_studio::weights::ElementType::F32, "{buffer}");
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
    let err = import_with_config(&dir.join("model.ckpt"), &cfg, "tiny", tmp.path(), CachePrecision::F16, |_| {
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
    let err = import_checkpoint(&dir.join("model.ckpt"), Variant::V512, tmp.path(), CachePrecision::F16, |_| true)
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("does not match DynamiCrafter 512"), "{msg}");
    assert!(matches!(err, ImportError::Keys { count, .. } if count > 100));
    assert!(std::fs::read_dir(tmp.path()).map(|d| d.count()).unwrap_or(0) == 0);
}

/// Two denoising steps of the tiny model with the fixture's settings.
fn two_steps(m: &DynamiCrafter) -> Result<Vec<Vec<u8>>, dynamicrafter_studio::pipeline::generate::GenerateError> {
    use dynamicrafter_studio::imaging::load::{LoadOptions, load_image};
    use dynamicrafter_studio::model::tokenizer::ClipTokenizer;
    use dynamicrafter_studio::pipeline::conditioning::CondCache;
    use dynamicrafter_studio::pipeline::ddim::Execution;
    use dynamicrafter_studio::pipeline::generate::{Settings, generate};
    use dynamicrafter_studio::pipeline::preprocess::{FitMode, prepare_frame};
    let dir = crate::common::tiny_fixture();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let mut s = Settings::for_fixture(&m.config, &json);
    s.prompt = "a cat".into();
    s.steps = 2;
    let img = load_image(&dir.join("input.png"), &LoadOptions::default()).unwrap();
    let frame = prepare_frame(&img, s.height, s.width, FitMode::Reference, [0, 0, 0]);
    let tok = ClipTokenizer::new().unwrap();
    let mut cache = CondCache::new();
    generate(m, &tok, &s, &frame, None, None, Execution::default(), &mut cache, &|| false, |_| {
        std::ops::ControlFlow::Continue(())
    })
    .map(|g| g.frames)
}

/// Import → cache → generate is the reference's path: an f32 cache gives exactly the frames
/// of the checkpoint it came from.
#[test]
fn f32_cache_generates_the_checkpoints_frames() {
    let (dir, cfg) = tiny();
    let tmp = tempfile::tempdir().unwrap();
    let m =
        import_with_config(&dir.join("model.ckpt"), &cfg, "tiny", tmp.path(), CachePrecision::F32, |_| true).unwrap();
    let dev = Backend::Cpu.device();
    let cached = open_checkpoint(&tmp.path().join(&m.weights_file)).unwrap();
    let original = open_checkpoint(&dir.join("model.ckpt")).unwrap();
    let a = two_steps(&DynamiCrafter::load(&cached, &cfg, &dev, DType::F32).unwrap()).unwrap();
    let b = two_steps(&DynamiCrafter::load(&original, &cfg, &dev, DType::F32).unwrap()).unwrap();
    assert!(a == b, "frames from the f32 cache differ from the checkpoint's");
}

/// A NaN in the UNet's output (here: a NaN bias in its last convolution) stops the run with
/// an error naming the step; it never becomes (black) frames.
#[test]
fn nan_in_the_unet_output_is_an_error_not_frames() {
    use safetensors::tensor::{SafeTensors, TensorView};
    let (dir, cfg) = tiny();
    let tmp = tempfile::tempdir().unwrap();
    let m =
        import_with_config(&dir.join("model.ckpt"), &cfg, "tiny", tmp.path(), CachePrecision::F32, |_| true).unwrap();
    let bytes = std::fs::read(tmp.path().join(&m.weights_file)).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let poisoned = "model.diffusion_model.out.2.bias";
    let nan_bias: Vec<u8> = (0..st.tensor(poisoned).unwrap().shape()[0]).flat_map(|_| f32::NAN.to_le_bytes()).collect();
    let views: Vec<(String, TensorView<'_>)> = st
        .tensors()
        .into_iter()
        .map(|(name, v)| {
            let data = if name == poisoned { &nan_bias[..] } else { v.data() };
            (name.clone(), TensorView::new(v.dtype(), v.shape().to_vec(), data).unwrap())
        })
        .collect();
    let path = tmp.path().join("poisoned.safetensors");
    safetensors::serialize_to_file(views, None, &path).unwrap();
    let ckpt = open_checkpoint(&path).unwrap();
    let model = DynamiCrafter::load(&ckpt, &cfg, &Backend::Cpu.device(), DType::F32).unwrap();
    let err = two_steps(&model).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("NaN or infinite at step 1 of 2"), "{msg}");
    assert!(msg.contains("f32 precision"), "{msg}");
}

/// One flipped byte inside a tensor's data: the import stops and names the tensor.
#[test]
fn corrupted_tensor_byte_is_reported_by_name() {
    let (dir, cfg) = tiny();
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("model.ckpt");
    let mut bytes = std::fs::read(dir.join("model.ckpt")).unwrap();
    let name = "model.diffusion_model.input_blocks.0.0.weight";
    let info =
        dynamicrafter_studio::weights::Checkpoint::open(&dir.join("model.ckpt")).unwrap().info(name).unwrap().clone();
    let at = usize::try_from(info.data_offset).unwrap() + info.byte_len() / 2;
    bytes[at] ^= 0x10;
    std::fs::write(&bad, &bytes).unwrap();
    let out = tmp.path().join("cache");
    let err = import_with_config(&bad, &cfg, "tiny", &out, CachePrecision::F16, |_| true).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(name) && msg.contains("CRC-32"), "{msg}");
    assert_eq!(std::fs::read_dir(&out).map(|d| d.count()).unwrap_or(0), 0, "a partial cache was left behind");
}

/// The product path on a fixture: `import --config` makes a cache like an official import,
/// and `parity --model` checks that cache against the fixture's goldens. An f32 cache passes
/// every case as the fixture's own checkpoint does; an f16 cache keeps the schedule exact
/// and meets the f16 bounds elsewhere.
#[test]
fn imported_caches_pass_the_fixture_parity() {
    use dynamicrafter_studio::device::Precision;
    use dynamicrafter_studio::parity::{self, ParityOptions};
    let (dir, cfg) = tiny();
    let tmp = tempfile::tempdir().unwrap();
    for (dtype, precision) in [(CachePrecision::F32, Precision::F32), (CachePrecision::F16, Precision::F16)] {
        let m = import_with_config(&dir.join("model.ckpt"), &cfg, "tiny", tmp.path(), dtype, |_| true).unwrap();
        let opts = ParityOptions {
            precision,
            model: Some(tmp.path().join(&m.weights_file)),
            ..ParityOptions::f32(Backend::Cpu)
        };
        let mut out = Vec::new();
        let summary = parity::run(&dir, opts, &mut out).unwrap();
        let text = String::from_utf8_lossy(&out);
        assert_eq!(summary.failed, 0, "{dtype:?} cache:\n{text}");
        assert!(summary.passed >= 150, "{dtype:?} cache: only {} checks:\n{text}", summary.passed);
        // The schedule the sampler uses is exact in both caches (max_abs 0).
        for line in text.lines().filter(|l| l.starts_with("sched.") || l.contains(".alphas")) {
            let value: f64 = line.split_whitespace().nth(2).unwrap().parse().unwrap();
            assert_eq!(value, 0.0, "{dtype:?} cache: {line}");
        }
    }
}

/// What the file can tell decides the variant (spec §0, §5), then the name; otherwise the
/// user is asked. Never the currently selected variant.
#[test]
fn variant_is_detected_from_the_file_then_the_name() {
    use dynamicrafter_studio::weights::import::{Detection, detect_variant};
    use dynamicrafter_studio::weights::vars::MemorySource;
    use std::path::Path;
    let source = |base: Option<f32>, alpha: bool| {
        let mut s = MemorySource::new();
        s.insert("model.diffusion_model.input_blocks.0.0.weight", vec![320, 8, 3, 3], vec![0.0; 320 * 72]);
        if let Some(b) = base {
            // concat(linspace(1, base, 400), full(1000, base))
            let v: Vec<f32> = (0..1400).map(|i| if i < 400 { 1.0 + (b - 1.0) * i as f32 / 399.0 } else { b }).collect();
            s.insert("scale_arr", vec![1400], v);
        }
        if alpha {
            s.insert("model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.alpha", vec![1], vec![0.0]);
        }
        s
    };
    let known = |d: Detection| match d {
        Detection::Known { variant, .. } => Some(variant),
        Detection::Ambiguous { .. } => None,
    };
    let p = Path::new("/downloads/model.ckpt");
    assert_eq!(known(detect_variant(&source(Some(0.3), false), p).unwrap()), Some(Variant::V1024));
    assert_eq!(known(detect_variant(&source(None, true), p).unwrap()), Some(Variant::V256));
    // 512 and 512_Interp share every tensor: the name decides, or the user does.
    match detect_variant(&source(Some(0.7), false), p).unwrap() {
        Detection::Ambiguous { candidates, .. } => assert_eq!(candidates, vec![Variant::V512, Variant::V512Interp]),
        d => panic!("a 512-family model.ckpt must be ambiguous, got {d:?}"),
    }
    let interp = Path::new("/hf/DynamiCrafter_512_Interp/model.ckpt");
    assert_eq!(known(detect_variant(&source(Some(0.7), false), interp).unwrap()), Some(Variant::V512Interp));
    // The file wins over a name that contradicts it.
    let misnamed = Path::new("/x/dynamicrafter_1024.ckpt");
    assert_eq!(known(detect_variant(&source(Some(0.7), false), misnamed).unwrap()), None);
    assert_eq!(
        known(detect_variant(&source(Some(0.3), false), Path::new("/x/dc_512.ckpt")).unwrap()),
        Some(Variant::V1024)
    );
    let err = detect_variant(&source(Some(0.7), false), p).unwrap().require().unwrap_err();
    assert!(err.contains("--variant 512 or --variant 512_interp"), "{err}");
    // Not a DynamiCrafter at all.
    assert!(detect_variant(&MemorySource::new(), p).is_err());
}

/// Models assembled from the files ComfyUI users have (`../shared/fixtures/comfy-layouts`,
/// made from the tiny fixture's own weights) import like an official checkpoint and pass the
/// fixture's parity: the text and image stages at f32 level (those files are fp32), the
/// stages whose weights came from an fp16 file within the f16 bounds, the schedule exact.
#[test]
fn assembled_comfy_files_pass_the_fixture_parity() {
    use dynamicrafter_studio::device::Precision;
    use dynamicrafter_studio::parity::{self, ParityOptions};
    use dynamicrafter_studio::weights::assemble::{AssembleError, Assembled, Parts};
    use dynamicrafter_studio::weights::import::import_source;
    let (dir, cfg) = tiny();
    let comfy = crate::common::shared_dir().join("fixtures/comfy-layouts");
    let tmp = tempfile::tempdir().unwrap();
    let assemblies = [
        (
            "kijai",
            Parts {
                unet: comfy.join("kijai_pruned_fp16.safetensors"),
                text_encoder: comfy.join("sd21_text_encoder_hf.safetensors"),
                image_encoder: comfy.join("openclip_vith_visual.safetensors"),
                vae: None,
            },
        ),
        (
            "exponentialml",
            Parts {
                unet: comfy.join("exponentialml_unet.safetensors"),
                text_encoder: comfy.join("openclip_vith_full.safetensors"),
                image_encoder: comfy.join("clip_vision_hf.safetensors"),
                vae: Some(comfy.join("sd_vae.safetensors")),
            },
        ),
    ];
    for (label, parts) in assemblies {
        let source = Assembled::open(&parts, &cfg).unwrap();
        let m = import_source(&source, &parts.unet, &cfg, label, tmp.path(), CachePrecision::F32, |_| true).unwrap();
        let opts = ParityOptions {
            precision: Precision::F32,
            model: Some(tmp.path().join(&m.weights_file)),
            ..ParityOptions::f32(Backend::Cpu)
        };
        let mut out = Vec::new();
        let summary = parity::run(&dir, opts, &mut out).unwrap();
        let text = String::from_utf8_lossy(&out);
        assert_eq!(summary.failed, 0, "{label}:\n{text}");
        let value = |case: &str| -> f64 {
            let line = text.lines().find(|l| l.starts_with(case)).unwrap_or_else(|| panic!("{label}: no {case}"));
            line.split_whitespace().nth(2).unwrap().parse().unwrap()
        };
        assert!(value("text.out") < 1e-5 && value("clip.out") < 1e-5, "{label}: fp32 towers not exact:\n{text}");
        assert_eq!(value("sched.alphas_cumprod"), 0.0, "{label}: schedule not exact");
        assert!(value("unet.u0.out") < 1e-2, "{label}");
    }
    // A file of the wrong kind is refused, naming the layout expected.
    let wrong = Parts {
        text_encoder: comfy.join("sd_vae.safetensors"),
        ..Parts {
            unet: comfy.join("kijai_pruned_fp16.safetensors"),
            text_encoder: Default::default(),
            image_encoder: comfy.join("clip_vision_hf.safetensors"),
            vae: None,
        }
    };
    let err = Assembled::open(&wrong, &cfg).unwrap_err();
    assert!(matches!(err, AssembleError::WrongKind { .. }) && err.to_string().contains("SD 2.1 text encoder"), "{err}");
    let no_vae = Parts { unet: comfy.join("exponentialml_unet.safetensors"), vae: None, ..wrong };
    let no_vae = Parts { text_encoder: comfy.join("sd21_text_encoder_hf.safetensors"), ..no_vae };
    assert!(matches!(Assembled::open(&no_vae, &cfg).unwrap_err(), AssembleError::NeedsVae(_)));
}

/// The "files I already have" form fills itself from a ComfyUI `models/` folder.
#[test]
fn comfy_models_folder_is_scanned_for_the_parts() {
    use dynamicrafter_studio::weights::assemble::find_in_comfy;
    let tmp = tempfile::tempdir().unwrap();
    let m = tmp.path().join("ComfyUI/models");
    for (dir, file) in [
        ("checkpoints", "dynamicrafter_512_fp16_pruned.safetensors"),
        ("checkpoints", "sd_xl_base.safetensors"),
        ("clip", "stable-diffusion-2-1-clip.safetensors"),
        ("clip_vision", "CLIP-ViT-H-fp16.safetensors"),
        ("vae", "vae-ft-mse-840000-ema-pruned.safetensors"),
    ] {
        std::fs::create_dir_all(m.join(dir)).unwrap();
        std::fs::write(m.join(dir).join(file), b"x").unwrap();
    }
    let found = find_in_comfy(&tmp.path().join("ComfyUI"));
    assert_eq!(found.unets, vec![m.join("checkpoints/dynamicrafter_512_fp16_pruned.safetensors")]);
    assert_eq!(found.text_encoder, Some(m.join("clip/stable-diffusion-2-1-clip.safetensors")));
    assert_eq!(found.image_encoder, Some(m.join("clip_vision/CLIP-ViT-H-fp16.safetensors")));
    assert_eq!(found.vae, Some(m.join("vae/vae-ft-mse-840000-ema-pruned.safetensors")));
}
