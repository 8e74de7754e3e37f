//! The memory plan changes how the model runs, never what it computes: batched guidance
//! equals one call per branch, chunked attention and feed-forward equal one piece, the
//! conditioning cache gives bit-identical clips, and an f16 cache loads as stored.

use std::ops::ControlFlow;

use burn::tensor::{DType, Tensor, TensorData};
use dynamicrafter_studio::device::Backend;
use dynamicrafter_studio::imaging::load::{LoadOptions, load_image};
use dynamicrafter_studio::model::DynamiCrafter;
use dynamicrafter_studio::model::config::ModelConfig;
use dynamicrafter_studio::model::conv::{self, ConvPath};
use dynamicrafter_studio::model::tokenizer::ClipTokenizer;
use dynamicrafter_studio::model::unet::attention::{BranchWeights, CallOptions};
use dynamicrafter_studio::parity::rel_l2;
use dynamicrafter_studio::pipeline::conditioning::CondCache;
use dynamicrafter_studio::pipeline::ddim::{Conditioning, Execution, Guidance, sample};
use dynamicrafter_studio::pipeline::generate::{Settings, generate};
use dynamicrafter_studio::pipeline::preprocess::{FitMode, prepare_frame};
use dynamicrafter_studio::pipeline::rng::{NoiseSource, SeededSource};
use dynamicrafter_studio::pipeline::schedule::{DdimSchedule, Spacing};
use dynamicrafter_studio::pipeline::solver::SamplerKind;
use dynamicrafter_studio::weights::import::{CachePrecision, import_with_config, open_checkpoint};
use dynamicrafter_studio::weights::vars::TensorSource;

use crate::pipeline::tiny_model;

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
}

/// Random contexts for every guidance branch of the tiny model.
fn conditioning(m: &DynamiCrafter, noise: &mut SeededSource) -> Conditioning {
    let device = m.device();
    let (t, d) = (m.config.resampler.video_length, m.config.unet.context_dim);
    let l = 77 + 16 * t;
    let mut ctx = || Tensor::<3>::from_data(TensorData::new(noise.initial(l * d), [1, l, d]), &device);
    let (cond, uncond, uncond_img) = (ctx(), Some(ctx()), Some(ctx()));
    let c_concat = Tensor::<5>::from_data(TensorData::new(noise.initial(4 * t * 64), [1, 4, t, 8, 8]), &device);
    Conditioning { cond, uncond, uncond_img, c_concat, fs: 24 }
}

fn run_sampler(m: &DynamiCrafter, guidance: Guidance, exec: Execution) -> Vec<f32> {
    let mut noise = SeededSource::new(11);
    let cond = conditioning(m, &mut noise);
    let t = m.config.resampler.video_length;
    let x_t = Tensor::<5>::from_data(TensorData::new(noise.initial(4 * t * 64), [1, 4, t, 8, 8]), &m.device());
    let sched = DdimSchedule::from_tables(
        &m.schedule.alphas_cumprod,
        m.schedule.scale_arr.as_deref(),
        Spacing::UniformTrailing,
        3,
        1.0,
    );
    let p = m.config.diffusion.parameterization;
    let out = sample(
        SamplerKind::Ddim,
        &m.unet,
        &sched,
        &m.schedule,
        p,
        x_t,
        &cond,
        guidance,
        exec,
        &mut noise,
        &|| false,
        |_| ControlFlow::Continue(()),
    )
    .unwrap();
    host(out.latent)
}

/// Two- and three-branch guidance as one UNet batch equals one call per branch.
#[test]
fn batched_guidance_equals_separate_calls() {
    let m = tiny_model(&Backend::Cpu.device());
    let weights = BranchWeights { text: 0.8, image: 1.3 };
    for guidance in
        [Guidance { cfg: 7.5, cfg_img: None, rescale: 0.7 }, Guidance { cfg: 7.5, cfg_img: Some(3.0), rescale: 0.7 }]
    {
        let call = CallOptions { weights, chunk_elems: None };
        // One convolution path on both sides (`auto` may choose per batch size).
        let run =
            |batch_cfg| conv::with_path(ConvPath::Direct, || run_sampler(&m, guidance, Execution { call, batch_cfg }));
        let (separate, batched) = (run(false), run(true));
        let err = rel_l2(&batched, &separate);
        assert!(err <= 1e-6, "{guidance:?}: batched vs separate rel_l2 {err:e}");
    }
}

/// The whole UNet with every attention and feed-forward chunked, on the reference's own
/// input (`unet.u3`, with the UniVid weights). Each chunked layer equals its one-piece
/// form within 1e-6 (unit tests in `model::nn`); through the 30-odd random-weight layers
/// the CPU backend's matmul blocking (which depends on the row count) adds up to 2.2e-6.
#[test]
fn chunked_attention_and_feed_forward_equal_unchunked() {
    let dir = crate::common::tiny_fixture();
    let device = Backend::Cpu.device();
    let m = tiny_model(&device);
    let fx = dynamicrafter_studio::parity::fixture::Fixture::open(&dir).unwrap();
    let x = fx.tensor::<5>("unet.u3.x", &device).unwrap();
    let ctx = fx.tensor::<3>("unet.u3.context", &device).unwrap();
    let t = fx.i64("unet.u3.t").unwrap().data;
    let fs = fx.i64("unet.u3.fs").unwrap().data;
    let weights = BranchWeights { text: 0.6, image: 1.4 };
    let whole = m.unet.forward(x.clone(), &t, ctx.clone(), Some(&fs), CallOptions { weights, chunk_elems: None });
    let whole = host(whole.unwrap());
    // 2,048 elements: every spatial attention (4 frames · heads · 64 keys per query row) and
    // every feed-forward (8·dim per row) is split into several pieces.
    let chunked = m.unet.forward(x, &t, ctx, Some(&fs), CallOptions { weights, chunk_elems: Some(2048) });
    let chunked = host(chunked.unwrap());
    let err = rel_l2(&chunked, &whole);
    assert!(err <= 1e-5, "chunked vs unchunked rel_l2 {err:e}");
    let golden = fx.f32("unet.u3.out").unwrap().data;
    assert!(rel_l2(&whole, &golden) <= 1e-4, "the unchunked UNet must match the reference");
    assert!(rel_l2(&chunked, &golden) <= 1e-4, "the chunked UNet must match the reference");
}

/// A second generation with the same image and prompt reuses the encoders' results and
/// gives exactly the frames a fresh computation gives.
#[test]
fn conditioning_cache_reuse_is_bit_identical() {
    let dir = crate::common::tiny_fixture();
    let m = tiny_model(&Backend::Cpu.device());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let cfg = ModelConfig::from_fixture_json(&json).unwrap();
    let mut s = Settings::for_fixture(&cfg, &json);
    s.prompt = "a cat".into();
    s.steps = 2;
    let img = load_image(&dir.join("input.png"), &LoadOptions::default()).unwrap();
    let frame = prepare_frame(&img, s.height, s.width, FitMode::Reference, [0, 0, 0]);
    let tok = ClipTokenizer::new().unwrap();
    let run = |s: &Settings, cache: &mut CondCache| {
        let g = generate(&m, &tok, s, &frame, None, None, Execution::default(), cache, &|| false, |_| {
            ControlFlow::Continue(())
        });
        g.unwrap().frames
    };
    let mut warm = CondCache::new();
    let first = run(&s, &mut warm);
    let misses = warm.misses;
    assert_eq!(warm.hits, 0);
    // Only sampler settings change: seed, guidance, weights.
    let mut s2 = s.clone();
    s2.seed = 999;
    s2.cfg = 5.0;
    s2.text_weight = 0.7;
    let reused = run(&s2, &mut warm);
    assert_eq!(warm.misses, misses, "the second run recomputed an encoder");
    assert!(warm.hits >= misses, "hits {} misses {}", warm.hits, misses);
    let fresh = run(&s2, &mut CondCache::new());
    assert!(reused == fresh, "cached conditioning changed the frames");
    assert!(reused != first, "the settings change had no effect");
}

/// An f16 cache is handed over as stored (no widening on the host) and loads into an f16
/// UNet; an fp32 checkpoint read as f16 is narrowed tensor by tensor.
#[test]
fn f16_cache_loads_as_stored() {
    let dir = crate::common::tiny_fixture();
    let cfg = ModelConfig::from_fixture_file(&dir.join("config.json")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let m =
        import_with_config(&dir.join("model.ckpt"), &cfg, "tiny", tmp.path(), CachePrecision::F16, |_| true).unwrap();
    let cache = open_checkpoint(&tmp.path().join(&m.weights_file)).unwrap();
    let name = "model.diffusion_model.out.2.weight";
    let (stored, bytes) = cache.read_raw(name).unwrap();
    assert_eq!(stored, dynamicrafter_studio::weights::ElementType::F16);
    let data = cache.read_data(name, DType::F16).unwrap();
    assert_eq!(data.dtype(), DType::F16);
    assert_eq!(data.as_bytes(), &bytes[..], "f16 bytes must be handed over unchanged");

    let device = Backend::Cpu.device();
    let model = DynamiCrafter::load(&cache, &cfg, &device, DType::F16).unwrap();
    assert_eq!(model.dtype(), DType::F16);
    let ckpt = open_checkpoint(&dir.join("model.ckpt")).unwrap();
    let narrowed = ckpt.read_data(name, DType::F16).unwrap();
    assert_eq!(narrowed.as_bytes(), &bytes[..], "fp32 → f16 while loading equals the f16 cache");
}
