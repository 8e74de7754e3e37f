//! Full sampling cases (`s0` … `s7`, fixtures README §2.9 and §3): the case becomes the
//! app's [`Settings`] and runs through the same [`generate`] the CLI and the worker call,
//! with the reference's noise injected; every intermediate it reports is checked.

use std::ops::ControlFlow;

use burn::tensor::{Tensor, TensorData};
use serde_json::Value;

use super::metrics::{host, rel_l2};
use super::{CaseRunner, Check};
use crate::imaging::load::{LoadOptions, load_image};
use crate::model::tokenizer::ClipTokenizer;
use crate::pipeline::conditioning::{CondCache, Mode};
use crate::pipeline::ddim::{Conditioning, Execution, Guidance, sample};
use crate::pipeline::generate::{Progress, Settings, generate};
use crate::pipeline::preprocess::{FitMode, prepare_frame};
use crate::pipeline::rng::FixedNoise;
use crate::pipeline::schedule::{DdimSchedule, Spacing};
use crate::pipeline::solver::SamplerKind;

/// The larger error, NaN as soon as either is NaN (`f64::max` would drop a NaN).
fn worst(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }
}

fn chunks(v: Vec<f32>, n: usize) -> Vec<Vec<f32>> {
    if n == 0 {
        return Vec::new();
    }
    let len = v.len() / n;
    v.chunks(len.max(1)).map(<[f32]>::to_vec).collect()
}

pub(super) fn run(r: &CaseRunner, name: &str, case: &Value) -> Result<Vec<Check>, String> {
    let tol_f32 = case.pointer("/tolerance/rel_l2").and_then(Value::as_f64).unwrap_or(1e-3);
    // Conditioning tensors are stage outputs; trajectories and the video are sampling results.
    let (tol_cond, tol) = (r.stage_bound(tol_f32), r.sampling_bound(tol_f32));
    let m = r.model()?;
    let fx = r.fx;
    let e = |x: super::fixture::FixtureError| x.to_string();
    let (frames, h, w) = (fx.size("frames").map_err(e)?, fx.size("height").map_err(e)?, fx.size("width").map_err(e)?);
    let s = |k: &str| case.get(k).cloned().unwrap_or(Value::Null);
    let mode = s("mode").as_str().and_then(Mode::parse).ok_or("case has no known `mode`")?;
    let images: Vec<String> = s("images")
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let load = |file: &str| -> Result<_, String> {
        let img = load_image(&fx.dir.join(file), &LoadOptions::default()).map_err(|e| e.to_string())?;
        Ok(prepare_frame(&img, h, w, FitMode::Reference, [0, 0, 0]))
    };
    let img1 = load(images.first().map_or("input.png", String::as_str))?;
    let img2 = match images.get(1) {
        Some(f) => Some(load(f)?),
        None => None,
    };
    let cfg = s("cfg").as_f64().unwrap_or(1.0) as f32;
    let multi = s("multiple_cond_cfg").as_bool().unwrap_or(false);
    let weight = |k: &str| case.pointer(&format!("/weights/{k}")).and_then(Value::as_f64).unwrap_or(1.0) as f32;
    // The case as an artist's settings: the parity runs the app's and the CLI's `generate`.
    let settings = Settings {
        mode,
        prompt: s("prompt").as_str().unwrap_or("").to_owned(),
        negative_prompt: s("uncond_prompt").as_str().unwrap_or("").to_owned(),
        steps: s("steps").as_u64().ok_or("case lacks `steps`")? as usize,
        cfg,
        cfg_img: multi.then(|| s("cfg_img").as_f64().map_or(cfg, |v| v as f32)),
        eta: s("eta").as_f64().unwrap_or(1.0) as f32,
        fs: s("fs").as_i64().unwrap_or(m.config.unet.default_fs),
        guidance_rescale: s("guidance_rescale").as_f64().unwrap_or(0.0) as f32,
        seed: 0, // unused: the reference's noise is injected
        text_weight: weight("w_text"),
        image_weight: weight("w_img"),
        frames,
        height: h,
        width: w,
        spacing: s("spacing").as_str().and_then(Spacing::parse).ok_or("case lacks a known `spacing`")?.into(),
        sampler: crate::pipeline::solver::SamplerKind::Ddim,
    };
    let n_steps = settings.schedule(m).len();
    let mut noise = FixedNoise {
        initial: fx.f32(&format!("{name}.x_T")).map_err(e)?.data,
        steps: chunks(fx.f32(&format!("{name}.noise")).map_err(e)?.data, n_steps),
        vae: chunks(fx.f32(&format!("{name}.vae_noise")).map_err(e)?.data, frames),
    };
    let tok = ClipTokenizer::new().map_err(|e| e.to_string())?;
    let exec = r.runtime()?.execution();

    // Everything `generate` reports, read back to the host as it goes.
    let mut seen: Option<(Conditioning, DdimSchedule)> = None;
    let (mut traj_x, mut traj_x0, mut first_calls) = (Vec::new(), Vec::new(), Vec::new());
    let (mut latent, mut video) = (None, None);
    let mut read_err = None;
    let mut keep = |v: Result<Vec<f32>, String>| match v {
        Ok(v) => Some(v),
        Err(e) => {
            read_err.get_or_insert(e);
            None
        }
    };
    let mut cache = CondCache::new();
    generate(m, &tok, &settings, &img1, img2.as_ref(), Some(&mut noise), exec, &mut cache, &|| false, |p| {
        match p {
            Progress::Conditioned { cond, schedule } => seen = Some((cond.clone(), schedule.clone())),
            Progress::Step { step, x, x0, unet_out, .. } => {
                if step == 0 {
                    first_calls = unet_out.iter().filter_map(|t| keep(host(t.clone()))).collect();
                }
                traj_x.extend(keep(host(x.clone())));
                traj_x0.extend(keep(host(x0.clone())));
            }
            Progress::Decoded { latent: l, video: v } => {
                latent = keep(host(l.clone()));
                video = keep(host(v.clone()));
            }
            Progress::Phase(_) => {}
        }
        ControlFlow::Continue(())
    })
    .map_err(|e| e.to_string())?;
    if let Some(e) = read_err {
        return Err(e);
    }
    let (cond, schedule) = seen.ok_or("generate reported no conditioning")?;

    let mut checks = Vec::new();
    let cmp = |checks: &mut Vec<Check>, suffix: &str, out: &[f32], bound: f64| -> Result<(), String> {
        let g = fx.f32(&format!("{name}.{suffix}")).map_err(e)?;
        checks.push(Check::le(format!("{name}.{suffix}"), "rel_l2", rel_l2(out, &g.data), bound));
        Ok(())
    };
    cmp(&mut checks, "c_crossattn", &host(cond.cond.clone())?, tol_cond)?;
    if let Some(uc) = &cond.uncond {
        if fx.has(&format!("{name}.uc_crossattn")) {
            cmp(&mut checks, "uc_crossattn", &host(uc.clone())?, tol_cond)?;
        }
    }
    if let Some(uc2) = &cond.uncond_img {
        if fx.has(&format!("{name}.uc2_crossattn")) {
            cmp(&mut checks, "uc2_crossattn", &host(uc2.clone())?, tol_cond)?;
        }
    }
    cmp(&mut checks, "c_concat", &host(cond.c_concat.clone())?, tol_cond)?;

    let want_t = fx.i64(&format!("{name}.timesteps")).map_err(e)?.data;
    let mut ours_t: Vec<i64> = schedule.timesteps.clone();
    ours_t.reverse();
    let mism = if ours_t.len() == want_t.len() {
        ours_t.iter().zip(&want_t).filter(|(a, b)| a != b).count()
    } else {
        want_t.len().max(1)
    };
    checks.push(Check::le(format!("{name}.timesteps"), "mismatch", mism as f64, 0.0));

    // The first step's UNet calls see the reference's exact inputs: their error is the
    // UNet's own, before the trajectory amplifies it (a stage bound).
    let golden_calls = fx.f32(&format!("{name}.unet_out")).map_err(e)?;
    let calls = golden_calls.shape.get(1).copied().unwrap_or(1);
    let per = golden_calls.data.len() / (n_steps * calls).max(1);
    for (c, ours) in first_calls.iter().enumerate().take(calls) {
        let want = &golden_calls.data[c * per..(c + 1) * per];
        checks.push(Check::le(format!("{name}.unet_out (step 0, call {c})"), "rel_l2", rel_l2(ours, want), tol_cond));
    }
    for (suffix, traj) in [("traj_x", &traj_x), ("traj_x0", &traj_x0)] {
        let g = fx.f32(&format!("{name}.{suffix}")).map_err(e)?;
        let per = chunks(g.data, n_steps);
        let worst = if per.len() == traj.len() {
            per.iter().zip(traj.iter()).map(|(g, o)| rel_l2(o, g)).fold(0.0f64, worst)
        } else {
            f64::INFINITY
        };
        checks.push(Check::le(format!("{name}.{suffix} (worst step)"), "rel_l2", worst, tol));
    }
    let exec = settings.execution(exec);
    checks.extend(teacher_forced(r, name, &cond, &schedule, settings.guidance(), exec, tol)?);
    cmp(&mut checks, "latent", &latent.ok_or("generate reported no latent")?, tol)?;
    cmp(&mut checks, "video", &video.ok_or("generate reported no video")?, tol)?;
    Ok(checks)
}

/// Every step run alone from the reference's previous latent (`traj_x[i − 1]`, `x_T` for
/// the first), with the reference's noise: the error of one step, before the trajectory
/// amplifies it (fixtures README §3.5).
fn teacher_forced(
    r: &CaseRunner,
    name: &str,
    cond: &Conditioning,
    schedule: &DdimSchedule,
    guidance: Guidance,
    exec: Execution,
    tol: f64,
) -> Result<Vec<Check>, String> {
    let (m, fx) = (r.model()?, r.fx);
    let e = |x: super::fixture::FixtureError| x.to_string();
    let n = schedule.len();
    let x_t = fx.f32(&format!("{name}.x_T")).map_err(e)?;
    let dims: [usize; 5] = x_t.shape.clone().try_into().map_err(|_| format!("{name}.x_T is not 5-D"))?;
    let golden_x = chunks(fx.f32(&format!("{name}.traj_x")).map_err(e)?.data, n);
    let golden_x0 = chunks(fx.f32(&format!("{name}.traj_x0")).map_err(e)?.data, n);
    let noise = chunks(fx.f32(&format!("{name}.noise")).map_err(e)?.data, n);
    let (mut worst_x, mut worst_x0) = (0.0f64, 0.0f64);
    for step in 0..n {
        let start = if step == 0 { x_t.data.clone() } else { golden_x[step - 1].clone() };
        let mut one = FixedNoise { initial: Vec::new(), steps: vec![noise[step].clone()], vae: Vec::new() };
        let x = Tensor::<5>::from_data(TensorData::new(start, dims), &m.device());
        let single = schedule.single(n - 1 - step);
        let p = m.config.diffusion.parameterization;
        let mut x0 = None;
        let out = sample(
            SamplerKind::Ddim,
            &m.unet,
            &single,
            &m.schedule,
            p,
            x,
            cond,
            guidance,
            exec,
            &mut one,
            &|| false,
            |rep| {
                x0 = Some(rep.x0.clone());
                ControlFlow::Continue(())
            },
        )
        .map_err(|e| e.to_string())?;
        worst_x = worst(worst_x, rel_l2(&host(out.latent)?, &golden_x[step]));
        let x0 = x0.ok_or("the step reported no x0")?;
        worst_x0 = worst(worst_x0, rel_l2(&host(x0)?, &golden_x0[step]));
    }
    Ok(vec![
        Check::le(format!("{name}.traj_x (teacher-forced, worst)"), "rel_l2", worst_x, tol),
        Check::le(format!("{name}.traj_x0 (teacher-forced, worst)"), "rel_l2", worst_x0, tol),
    ])
}
