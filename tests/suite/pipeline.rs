//! The model and pipeline against the reference: every parity case of the tiny fixture on
//! the CPU backend, `animate` end to end, and the NaN clamp of the DDIM step.

use std::ops::ControlFlow;

use burn::tensor::{DType, Tensor, TensorData};
use dynamicrafter_studio::cli::animate::{AnimateArgs, run as animate};
use dynamicrafter_studio::cli::export_args::ExportArgs;
use dynamicrafter_studio::device::{Backend, Precision};
use dynamicrafter_studio::model::DynamiCrafter;
use dynamicrafter_studio::model::config::ModelConfig;
use dynamicrafter_studio::parity::{self, ParityOptions};
use dynamicrafter_studio::pipeline::ddim::{Conditioning, Execution, Guidance, sample};
use dynamicrafter_studio::pipeline::memory::MemoryMode;
use dynamicrafter_studio::pipeline::rng::{NoiseSource, SeededSource};
use dynamicrafter_studio::pipeline::schedule::{DdimSchedule, Spacing};
use dynamicrafter_studio::pipeline::solver::SamplerKind;
use dynamicrafter_studio::weights::import::open_checkpoint;

#[test]
fn every_tiny_parity_case_passes_on_cpu() {
    let dir = crate::common::tiny_fixture();
    let mut out = Vec::new();
    let summary = parity::run(&dir, ParityOptions::f32(Backend::Cpu), &mut out).unwrap();
    let text = String::from_utf8_lossy(&out);
    println!("{text}");
    assert_eq!(summary.failed, 0, "parity failures:\n{text}");
    assert_eq!(summary.not_implemented, 0, "cases not implemented:\n{text}");
    assert!(summary.passed >= 150, "only {} checks ran:\n{text}", summary.passed);
    assert!(text.trim_end().ends_with(&format!("parity: {} passed, 0 failed", summary.passed)));
}

pub fn tiny_model(device: &burn::tensor::Device) -> DynamiCrafter {
    let dir = crate::common::tiny_fixture();
    let cfg = ModelConfig::from_fixture_file(&dir.join("config.json")).unwrap();
    let ckpt = open_checkpoint(&dir.join("model.ckpt")).unwrap();
    DynamiCrafter::load(&ckpt, &cfg, device, DType::F32).unwrap()
}

/// The model's trailing DDIM schedule with η = 1.
fn trailing(m: &DynamiCrafter, steps: usize) -> DdimSchedule {
    DdimSchedule::from_tables(
        &m.schedule.alphas_cumprod,
        m.schedule.scale_arr.as_deref(),
        Spacing::UniformTrailing,
        steps,
        1.0,
    )
}

/// Zero-SNR trailing schedules with η = 1 make `1 − a_prev − σ²` negative in f32 for
/// S = 25; the reference's video is then all NaN. Ours must stay finite.
#[test]
fn ddim_clamp_keeps_25_steps_finite() {
    let device = Backend::Cpu.device();
    let m = tiny_model(&device);
    let sched = trailing(&m, 25);
    assert!(!sched.negative_radicand_indices().is_empty(), "the S = 25 schedule should hit the negative radicand");
    let c = &m.config;
    let (t, h, w) = (c.resampler.video_length, 8, 8);
    let d = c.unet.context_dim;
    let mut noise = SeededSource::new(5);
    let mk5 = |n: &mut SeededSource, dims: [usize; 5]| {
        Tensor::<5>::from_data(TensorData::new(n.initial(dims.iter().product()), dims), &device)
    };
    let ctx_len = 77 + 16 * t;
    let ctx = |n: &mut SeededSource| {
        Tensor::<3>::from_data(TensorData::new(n.initial(ctx_len * d), [1, ctx_len, d]), &device)
    };
    let cond = Conditioning {
        cond: ctx(&mut noise),
        uncond: Some(ctx(&mut noise)),
        uncond_img: None,
        c_concat: mk5(&mut noise, [1, 4, t, h, w]),
        fs: 24,
    };
    let x_t = mk5(&mut noise, [1, 4, t, h, w]);
    let guidance = Guidance { cfg: 7.5, cfg_img: None, rescale: 0.7 };
    let mut steps = 0;
    let out = sample(
        SamplerKind::Ddim,
        &m.unet,
        &sched,
        &m.schedule,
        c.diffusion.parameterization,
        x_t,
        &cond,
        guidance,
        Execution::default(),
        &mut noise,
        &|| false,
        |_| {
            steps += 1;
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    assert_eq!(steps, 25);
    let v = out.latent.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    assert!(v.iter().all(|x| x.is_finite()), "non-finite latent after 25 steps");
}

/// Cancelling returns the last predicted x0 after the step in progress.
#[test]
fn cancel_returns_partial_result() {
    let device = Backend::Cpu.device();
    let m = tiny_model(&device);
    let sched = trailing(&m, 10);
    let (t, d) = (m.config.resampler.video_length, m.config.unet.context_dim);
    let mut noise = SeededSource::new(1);
    let ctx_len = 77 + 16 * t;
    let cond = Conditioning {
        cond: Tensor::<3>::from_data(TensorData::new(noise.initial(ctx_len * d), [1, ctx_len, d]), &device),
        uncond: None,
        uncond_img: None,
        c_concat: Tensor::<5>::zeros([1, 4, t, 8, 8], &device),
        fs: 24,
    };
    let x_t = Tensor::<5>::from_data(TensorData::new(noise.initial(4 * t * 64), [1, 4, t, 8, 8]), &device);
    let g = Guidance { cfg: 1.0, cfg_img: None, rescale: 0.0 };
    let out = sample(
        SamplerKind::Ddim,
        &m.unet,
        &sched,
        &m.schedule,
        m.config.diffusion.parameterization,
        x_t,
        &cond,
        g,
        Execution::default(),
        &mut noise,
        &|| false,
        |r| {
            if r.step == 2 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        },
    )
    .unwrap();
    assert!(out.cancelled);
    assert_eq!(out.steps_done, 3);
    assert_eq!(out.latent.dims(), [1, 4, t, 8, 8]);
}

#[test]
fn animate_writes_a_gif_end_to_end() {
    let dir = crate::common::tiny_fixture();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("clip.gif");
    let args = AnimateArgs {
        model: dir.join("model.ckpt"),
        variant: None,
        config: Some(dir.join("config.json")),
        image: Some(dir.join("input.png")),
        image2: None,
        keyframes: Vec::new(),
        looped: false,
        segment_prompts: Vec::new(),
        continue_from: None,
        crossfade: 0,
        mode: "i2v".into(),
        prompt: "a cat sitting on the grass".into(),
        negative_prompt: String::new(),
        steps: Some(3),
        cfg: Some(7.5),
        cfg_img: None,
        eta: Some(1.0),
        fs: Some(24),
        guidance_rescale: Some(0.7),
        seed: Some(42),
        sampler: "ddim".into(),
        text_weight: 1.0,
        image_weight: 1.0,
        fit: "reference".into(),
        out: out.clone(),
        export: Default::default(),
        backend: Backend::Cpu,
        precision: Precision::Auto,
        memory: MemoryMode::Auto,
        vram_gb: None,
        interpolate: 1,
        rife: Default::default(),
    };
    animate(&args).unwrap();
    let file = std::fs::File::open(&out).unwrap();
    let mut opts = gif::DecodeOptions::new();
    opts.set_color_output(gif::ColorOutput::RGBA);
    let mut dec = opts.read_info(file).unwrap();
    let (w, h) = (dec.width(), dec.height());
    let (mut frames, mut delay) = (0, 0u32);
    while let Some(f) = dec.read_next_frame().unwrap() {
        assert!(f.delay == 12 || f.delay == 13, "delay {}", f.delay); // 8 fps: 12.5 cs on average
        delay += f.delay as u32;
        frames += 1;
    }
    assert_eq!(delay, 50);
    assert_eq!((w, h, frames), (64, 64, 4));
    // Refuses to overwrite without consent, and names the file.
    let err = animate(&args).unwrap_err().to_string();
    assert!(err.contains("already exists"), "{err}");
    // The export flags reach the file: 2× nearest upscaling, frames 1..3, ping-pong.
    let mut scaled = args;
    scaled.out = tmp.path().join("scaled.gif");
    scaled.export = ExportArgs {
        scale: 2,
        filter: "nearest".into(),
        range: Some("1..3".into()),
        ping_pong: true,
        sidecar: true,
        ..Default::default()
    };
    animate(&scaled).unwrap();
    let dec = gif::DecodeOptions::new().read_info(std::fs::File::open(&scaled.out).unwrap()).unwrap();
    assert_eq!((dec.width(), dec.height()), (128, 128));
    assert_eq!(dec.into_iter().count(), 2, "frames 1..3 ping-ponged are 1, 2 (no repeated ends)");
    assert!(tmp.path().join("scaled.gif.json").is_file(), "no sidecar");
    // A bad flag fails before any model work, naming the flag.
    scaled.export.dither = "sparkle".into();
    let err = animate(&scaled).unwrap_err().to_string();
    assert!(err.contains("--dither"), "{err}");
}

/// The self-check compares every stage the product runs: here f16 on the CPU against the f32
/// reference, so each stage differs a little (proving the comparison sees the stage) and
/// stays within the stated f16 bounds.
#[test]
fn selfcheck_compares_every_stage() {
    let report = dynamicrafter_studio::selfcheck::run(Backend::Cpu, Precision::F16).unwrap();
    let table = report.table();
    println!("{table}");
    assert_eq!(report.stages.len(), 6, "{table}");
    assert!(report.ok(), "{table}");
    for s in &report.stages {
        if s.stage == "VAE encode" {
            // The VAE computes in f32 in every precision: on the same backend it is exact.
            assert_eq!(s.rel_l2, 0.0, "{table}");
        } else {
            assert!(s.rel_l2 > 0.0 && s.rel_l2.is_finite(), "{} did not run in f16: {table}", s.stage);
        }
    }
}

/// The multistep samplers run through the product's `generate` on the model, and the
/// settings (which history stores) name them.
#[test]
fn multistep_samplers_generate_frames() {
    use dynamicrafter_studio::imaging::load::{LoadOptions, load_image};
    use dynamicrafter_studio::model::tokenizer::ClipTokenizer;
    use dynamicrafter_studio::pipeline::conditioning::CondCache;
    use dynamicrafter_studio::pipeline::generate::{Settings, generate};
    use dynamicrafter_studio::pipeline::preprocess::{FitMode, prepare_frame};
    let dir = crate::common::tiny_fixture();
    let m = tiny_model(&Backend::Cpu.device());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let img = load_image(&dir.join("input.png"), &LoadOptions::default()).unwrap();
    let tok = ClipTokenizer::new().unwrap();
    let mut outputs = Vec::new();
    for kind in SamplerKind::ALL {
        let mut s = Settings::for_fixture(&m.config, &json);
        s.prompt = "a cat".into();
        s.steps = 4;
        s.sampler = kind;
        let frame = prepare_frame(&img, s.height, s.width, FitMode::Reference, [0, 0, 0]);
        let g =
            generate(&m, &tok, &s, &frame, None, None, Execution::default(), &mut CondCache::new(), &|| false, |_| {
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(g.frames.len(), s.frames);
        assert!(serde_json::to_string(&s).unwrap().contains(&format!("{kind:?}")));
        outputs.push(g.frames);
    }
    assert!(outputs[0] != outputs[1] && outputs[1] != outputs[2], "the samplers gave identical clips");
}
