//! One function per fixture stage. Each reads its inputs and tolerances from the case
//! entry and returns one [`Check`] per compared tensor.

use burn::tensor::{Tensor, TensorData};
use serde_json::Value;

use super::metrics::{host, max_abs, rel_l2};
use super::{CaseRunner, Check, Verdict};
use crate::imaging::load::{LoadOptions, load_image};
use crate::imaging::tensor::ImageTensor;
use crate::model::clip_preprocess::clip_preprocess;
use crate::model::tokenizer::ClipTokenizer;
use crate::model::unet::attention::BranchWeights;
use crate::pipeline::generate::ddim_schedule;
use crate::pipeline::preprocess::{FitMode, prepare_frame};
use crate::pipeline::schedule::Spacing;

type Res = Result<Vec<Check>, String>;

fn tol(case: &Value, key: &str, default: f64) -> f64 {
    case.pointer(&format!("/tolerance/{key}")).and_then(Value::as_f64).unwrap_or(default)
}

fn strs(case: &Value, key: &str) -> Vec<String> {
    case.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Dispatches a case by its `stage`.
pub(super) fn run_case(r: &CaseRunner, name: &str, stage: &str, case: &Value) -> Res {
    match stage {
        "tokenizer" => tokenizer(r, case),
        "text_encoder" => text(r, case),
        "preprocessing" => prep(r, case),
        "clip_image" => clip(r, case),
        "clip_preprocess" => clipprep(r, case),
        "resampler" => resampler(r, case),
        "vae" => vae(r, case),
        "schedule" => schedule(r, case),
        "ddim_schedule" => ddim(r, name, case),
        "unet" => unet(r, name, case),
        "sampling" => super::sampling::run(r, name, case),
        "rife" => super::rife::run(r, name, case),
        other => Ok(vec![Check {
            name: name.into(),
            metric: "-",
            value: f64::NAN,
            bound: f64::NAN,
            verdict: Verdict::NotImplemented,
            note: Some(format!("unknown stage `{other}`")),
        }]),
    }
}

fn compare(r: &CaseRunner, name: &str, out: &[f32], tol_rel: f64) -> Result<Check, String> {
    let g = r.fx.f32(name).map_err(|e| e.to_string())?;
    Ok(Check::le(name, "rel_l2", rel_l2(out, &g.data), tol_rel))
}

fn compare_abs(r: &CaseRunner, name: &str, out: &[f32], bound: f64) -> Result<Check, String> {
    let g = r.fx.f32(name).map_err(|e| e.to_string())?;
    Ok(Check::le(name, "max_abs", max_abs(out, &g.data), bound))
}

fn tokenizer(r: &CaseRunner, case: &Value) -> Res {
    let tok = ClipTokenizer::new().map_err(|e| e.to_string())?;
    let mut checks = Vec::new();
    for (i, prompt) in strs(case, "prompts").iter().enumerate() {
        let name = format!("tok.{i}");
        let want = r.fx.i64(&name).map_err(|e| e.to_string())?.data;
        let got = tok.encode(prompt);
        let mismatches = if got.len() == want.len() {
            got.iter().zip(&want).filter(|(a, b)| a != b).count()
        } else {
            want.len().max(1)
        };
        checks.push(Check::le(name, "mismatch", mismatches as f64, 0.0));
    }
    Ok(checks)
}

fn text(r: &CaseRunner, case: &Value) -> Res {
    let m = r.model()?;
    let tokens = r.fx.int_tensor::<2>("text.tokens", &r.encoder_device()?).map_err(|e| e.to_string())?;
    let out = host(m.text.forward(tokens))?;
    Ok(vec![compare(r, "text.out", &out, r.stage_bound(tol(case, "rel_l2", 1e-4)))?])
}

/// The fixture's input image `file`, prepared at `h`×`w` as the reference CLI does.
fn prepared(r: &CaseRunner, file: &str, h: usize, w: usize) -> Result<ImageTensor, String> {
    let img = load_image(&r.fx.dir.join(file), &LoadOptions::default()).map_err(|e| e.to_string())?;
    Ok(prepare_frame(&img, h, w, FitMode::Reference, [0, 0, 0]))
}

fn prep(r: &CaseRunner, case: &Value) -> Res {
    let h = case
        .get("height")
        .and_then(Value::as_u64)
        .map(|v| v as usize)
        .unwrap_or(r.fx.size("height").map_err(|e| e.to_string())?);
    let w = case
        .get("width")
        .and_then(Value::as_u64)
        .map(|v| v as usize)
        .unwrap_or(r.fx.size("width").map_err(|e| e.to_string())?);
    let bound = tol(case, "max_abs", 4.0 / 255.0);
    let images = case.get("images").and_then(Value::as_object).cloned().unwrap_or_default();
    let mut checks = Vec::new();
    for (golden, file) in images {
        let file = file.as_str().unwrap_or("input.png");
        let t = prepared(r, file, h, w)?;
        checks.push(compare_abs(r, &golden, &t.data, bound)?);
    }
    Ok(checks)
}

fn to_tensor4(t: &ImageTensor, device: &burn::tensor::Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(t.data.clone(), [1, t.channels, t.height, t.width]), device)
}

fn golden_image(r: &CaseRunner, name: &str) -> Result<ImageTensor, String> {
    let g = r.fx.f32(name).map_err(|e| e.to_string())?;
    match g.shape.as_slice() {
        [1, c, h, w] => Ok(ImageTensor { channels: *c, height: *h, width: *w, data: g.data }),
        s => Err(format!("`{name}` has shape {s:?}, expected [1, c, h, w]")),
    }
}

fn clip(r: &CaseRunner, case: &Value) -> Res {
    let t = tol(case, "rel_l2", 1e-4);
    let m = r.model()?;
    let input = golden_image(r, "clip.in")?;
    let prep = clip_preprocess(&input).map_err(|e| e.to_string())?;
    let mut checks = vec![compare(r, "clip.prep", &prep.data, t)?];
    // The encoder is checked on the golden preprocessed input, so stages stay separate.
    let gprep = golden_image(r, "clip.prep")?;
    let enc = r.encoder_device()?;
    let tm = r.stage_bound(t);
    checks.push(compare(r, "clip.out", &host(m.vision.forward(to_tensor4(&gprep, &enc)))?, tm)?);
    let zeros =
        ImageTensor { channels: 3, height: input.height, width: input.width, data: vec![0.0; input.data.len()] };
    let zprep = clip_preprocess(&zeros).map_err(|e| e.to_string())?;
    checks.push(compare(r, "clip.zero_out", &host(m.vision.forward(to_tensor4(&zprep, &enc)))?, tm)?);
    Ok(checks)
}

fn clipprep(r: &CaseRunner, case: &Value) -> Res {
    let t = tol(case, "rel_l2", 1e-4);
    let tin = tol(case, "in_max_abs", 4.0 / 255.0);
    let sizes = case.get("sizes").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut checks = Vec::new();
    for (k, s) in sizes.iter().enumerate() {
        let (h, w) = match s.as_array().map(|a| a.iter().filter_map(Value::as_u64).collect::<Vec<_>>()).as_deref() {
            Some([h, w]) => (*h as usize, *w as usize),
            _ => return Err(format!("clipprep size {k} is not [h, w]")),
        };
        let ours = prepared(r, "input.png", h, w)?;
        checks.push(compare_abs(r, &format!("clipprep.{k}.in"), &ours.data, tin)?);
        let gin = golden_image(r, &format!("clipprep.{k}.in"))?;
        checks.push(compare(
            r,
            &format!("clipprep.{k}.out"),
            &clip_preprocess(&gin).map_err(|e| e.to_string())?.data,
            t,
        )?);
    }
    Ok(checks)
}

fn resampler(r: &CaseRunner, case: &Value) -> Res {
    let t = r.stage_bound(tol(case, "rel_l2", 1e-4));
    let m = r.model()?;
    let enc = r.encoder_device()?;
    let x = r.fx.tensor::<3>("resampler.in", &enc).map_err(|e| e.to_string())?;
    let z = r.fx.tensor::<3>("clip.zero_out", &enc).map_err(|e| e.to_string())?;
    Ok(vec![
        compare(r, "resampler.out", &host(m.resampler.forward(x))?, t)?,
        compare(r, "resampler.zero_out", &host(m.resampler.forward(z))?, t)?,
    ])
}

fn vae(r: &CaseRunner, case: &Value) -> Res {
    // The VAE runs in f32 whatever the precision: the f32 bounds apply, unless the file's
    // weights themselves are f16 (a pruned fp16 file).
    let t = if r.weights_f16 { r.stage_bound(tol(case, "rel_l2", 1e-4)) } else { tol(case, "rel_l2", 1e-4) };
    let m = r.model()?;
    let sf = case.get("scale_factor").and_then(Value::as_f64).unwrap_or(m.config.diffusion.scale_factor);
    let enc = r.encoder_device()?;
    let dev = r.device()?;
    let g = |n: &str| r.fx.tensor::<4>(n, &enc).map_err(|e| e.to_string());
    let post = m.vae.encode(g("vae.in")?);
    let z = post.sample(g("vae.noise")?) * sf;
    let mut checks = vec![
        compare(r, "vae.mean", &host(post.mean)?, t)?,
        compare(r, "vae.logvar", &host(post.logvar)?, t)?,
        compare(r, "vae.z", &host(z)?, t)?,
    ];
    if r.fx.has("vae.mean2") && r.fx.has("prep.frame2") {
        let p2 = m.vae.encode(g("prep.frame2")?);
        checks.push(compare(r, "vae.mean2", &host(p2.mean)?, t)?);
        checks.push(compare(r, "vae.logvar2", &host(p2.logvar)?, t)?);
    }
    let dec = m.vae.decode(r.fx.tensor::<4>("vae.dec_in", &dev).map_err(|e| e.to_string())? / sf);
    checks.push(compare(r, "vae.dec_out", &host(dec)?, t)?);
    Ok(checks)
}

/// The schedule buffers the sampler actually uses: read from the model's checkpoint (or
/// cache) as loaded, so a cache that quantised them fails here.
fn schedule(r: &CaseRunner, case: &Value) -> Res {
    let bound = tol(case, "max_abs", 1e-6);
    let s = &r.model()?.schedule;
    let mut checks = vec![
        compare_abs(r, "sched.betas", &s.betas, bound)?,
        compare_abs(r, "sched.alphas_cumprod", &s.alphas_cumprod, bound)?,
        compare_abs(r, "sched.sqrt_alphas_cumprod", &s.sqrt_alphas_cumprod, bound)?,
        compare_abs(r, "sched.sqrt_one_minus_alphas_cumprod", &s.sqrt_one_minus_alphas_cumprod, bound)?,
    ];
    if r.fx.has("sched.scale_arr") {
        let sa = s.scale_arr.as_deref().ok_or("the model has no `scale_arr` but the fixture does")?;
        checks.push(compare_abs(r, "sched.scale_arr", sa, bound)?);
    }
    Ok(checks)
}

/// The DDIM schedule as `generate` builds it (from the model's stored buffers).
fn ddim(r: &CaseRunner, name: &str, case: &Value) -> Res {
    let bound = tol(case, "max_abs", 1e-6);
    let steps = case.get("steps").and_then(Value::as_u64).ok_or("case lacks `steps`")? as usize;
    let spacing =
        case.get("spacing").and_then(Value::as_str).and_then(Spacing::parse).ok_or("case lacks a known `spacing`")?;
    let eta = case.get("eta").and_then(Value::as_f64).unwrap_or(1.0);
    let d = ddim_schedule(r.model()?, spacing, steps, eta);
    let want_t = r.fx.i64(&format!("{name}.timesteps")).map_err(|e| e.to_string())?.data;
    let mism = if want_t.len() == d.timesteps.len() {
        want_t.iter().zip(&d.timesteps).filter(|(a, b)| a != b).count()
    } else {
        want_t.len().max(d.len())
    };
    let mut checks = vec![Check::le(format!("{name}.timesteps"), "mismatch", mism as f64, 0.0)];
    let f64s = |v: &[f64]| v.iter().map(|x| *x as f32).collect::<Vec<f32>>();
    let mut push = |suffix: &str, v: &[f32]| -> Result<(), String> {
        let n = format!("{name}.{suffix}");
        if r.fx.has(&n) {
            checks.push(compare_abs(r, &n, v, bound)?);
        }
        Ok(())
    };
    push("alphas", &d.alphas)?;
    push("alphas_prev", &d.alphas_prev)?;
    push("sigmas", &d.sigmas)?;
    push("sqrt_one_minus_alphas", &d.sqrt_one_minus_alphas)?;
    push("alphas_prev_f64", &f64s(&d.alphas_prev_f64))?;
    push("sigmas_f64", &f64s(&d.sigmas_f64))?;
    if let (Some(a), Some(p)) = (&d.scale_arr, &d.scale_arr_prev) {
        push("scale_arr", a)?;
        push("scale_arr_prev", p)?;
    }
    if let Some(want) = case.get("negative_radicand_indices").and_then(Value::as_array) {
        let want: Vec<usize> = want.iter().filter_map(Value::as_u64).map(|v| v as usize).collect();
        let got = d.negative_radicand_indices();
        let diff = want.iter().filter(|i| !got.contains(i)).count() + got.iter().filter(|i| !want.contains(i)).count();
        checks.push(Check::le(format!("{name}.negative_radicand"), "mismatch", diff as f64, 0.0));
    }
    Ok(checks)
}

fn unet(r: &CaseRunner, name: &str, case: &Value) -> Res {
    let t = r.stage_bound(tol(case, "rel_l2", 1e-4));
    let m = r.model()?;
    let dev = &r.device()?;
    let x = r.fx.tensor::<5>(&format!("{name}.x"), dev).map_err(|e| e.to_string())?;
    let ctx = r.fx.tensor::<3>(&format!("{name}.context"), dev).map_err(|e| e.to_string())?;
    let ts = r.fx.i64(&format!("{name}.t")).map_err(|e| e.to_string())?.data;
    let fs = r.fx.i64(&format!("{name}.fs")).map_err(|e| e.to_string())?.data;
    let weights = BranchWeights {
        text: case.get("w_text").and_then(Value::as_f64).unwrap_or(1.0) as f32,
        image: case.get("w_img").and_then(Value::as_f64).unwrap_or(1.0) as f32,
    };
    let call = crate::model::unet::attention::CallOptions { weights, ..r.runtime()?.execution().call };
    let out = m.unet.forward(x, &ts, ctx, Some(&fs), call).map_err(|e| e.to_string())?;
    Ok(vec![compare(r, &format!("{name}.out"), &host(out)?, t)?])
}
