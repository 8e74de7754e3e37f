//! Full sampling cases (`s0` … `s7`, fixtures README §2.9 and §3): images + prompt +
//! the reference's noise → conditioning → DDIM with our UNet → VAE decode.

use std::ops::ControlFlow;

use burn::tensor::{Tensor, TensorData};
use serde_json::Value;

use super::metrics::rel_l2;
use super::stages::host;
use super::{Check, Runner};
use crate::model::tokenizer::ClipTokenizer;
use crate::model::unet::attention::BranchWeights;
use crate::pipeline::conditioning::{self, CondInputs, Mode};
use crate::pipeline::ddim::{Guidance, sample};
use crate::pipeline::decode_video;
use crate::pipeline::preprocess::{FitMode, LoadOptions, load_image, prepare_frame};
use crate::pipeline::rng::{FixedNoise, NoiseSource};
use crate::pipeline::schedule::{DdimSchedule, Spacing};

fn chunks(v: Vec<f32>, n: usize) -> Vec<Vec<f32>> {
    if n == 0 {
        return Vec::new();
    }
    let len = v.len() / n;
    v.chunks(len.max(1)).map(<[f32]>::to_vec).collect()
}

pub(super) fn run(r: &Runner, name: &str, case: &Value) -> Result<Vec<Check>, String> {
    let tol = case.pointer("/tolerance/rel_l2").and_then(Value::as_f64).unwrap_or(1e-3);
    let m = r.model()?;
    let dev = &r.device;
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
    let cfg_img = s("cfg_img").as_f64().map(|v| v as f32);
    let steps = s("steps").as_u64().ok_or("case lacks `steps`")? as usize;
    let spacing = s("spacing").as_str().and_then(Spacing::parse).ok_or("case lacks a known `spacing`")?;
    let eta = s("eta").as_f64().unwrap_or(1.0);
    let fs = s("fs").as_i64().unwrap_or(m.config.unet.default_fs);
    let weights = BranchWeights {
        text: case.pointer("/weights/w_text").and_then(Value::as_f64).unwrap_or(1.0) as f32,
        image: case.pointer("/weights/w_img").and_then(Value::as_f64).unwrap_or(1.0) as f32,
    };
    let guidance = Guidance {
        cfg,
        cfg_img: multi.then_some(cfg_img.unwrap_or(cfg)),
        rescale: s("guidance_rescale").as_f64().unwrap_or(0.0) as f32,
    };

    let schedule =
        DdimSchedule::from_tables(&m.schedule.alphas_cumprod, m.schedule.scale_arr.as_deref(), spacing, steps, eta);
    let n_steps = schedule.len();
    let mut noise = FixedNoise {
        initial: fx.f32(&format!("{name}.x_T")).map_err(e)?.data,
        steps: chunks(fx.f32(&format!("{name}.noise")).map_err(e)?.data, n_steps),
        vae: chunks(fx.f32(&format!("{name}.vae_noise")).map_err(e)?.data, frames),
    };

    let tok = ClipTokenizer::new().map_err(|e| e.to_string())?;
    let prompt = s("prompt").as_str().unwrap_or("").to_owned();
    let negative = s("uncond_prompt").as_str().unwrap_or("").to_owned();
    let inputs = CondInputs {
        mode,
        image: &img1,
        image2: img2.as_ref(),
        prompt: &prompt,
        negative_prompt: &negative,
        frames,
        fs,
        with_uncond: cfg != 1.0,
        with_uncond_img: multi,
    };
    let cond = conditioning::build(m, &tok, &inputs, &mut noise, dev).map_err(|e| e.to_string())?;
    let mut checks = Vec::new();
    let cmp = |checks: &mut Vec<Check>, suffix: &str, out: Vec<f32>| -> Result<(), String> {
        let g = fx.f32(&format!("{name}.{suffix}")).map_err(e)?;
        checks.push(Check::le(format!("{name}.{suffix}"), "rel_l2", rel_l2(&out, &g.data), tol));
        Ok(())
    };
    cmp(&mut checks, "c_crossattn", host(cond.cond.clone())?)?;
    if let Some(uc) = &cond.uncond {
        if fx.has(&format!("{name}.uc_crossattn")) {
            cmp(&mut checks, "uc_crossattn", host(uc.clone())?)?;
        }
    }
    if let Some(uc2) = &cond.uncond_img {
        if fx.has(&format!("{name}.uc2_crossattn")) {
            cmp(&mut checks, "uc2_crossattn", host(uc2.clone())?)?;
        }
    }
    cmp(&mut checks, "c_concat", host(cond.c_concat.clone())?)?;

    let want_t = fx.i64(&format!("{name}.timesteps")).map_err(e)?.data;
    let mut ours_t: Vec<i64> = schedule.timesteps.clone();
    ours_t.reverse();
    let mism = if ours_t.len() == want_t.len() {
        ours_t.iter().zip(&want_t).filter(|(a, b)| a != b).count()
    } else {
        want_t.len().max(1)
    };
    checks.push(Check::le(format!("{name}.timesteps"), "mismatch", mism as f64, 0.0));

    let dims = cond.c_concat.dims();
    let x_t = Tensor::<5>::from_data(TensorData::new(noise.initial(dims.iter().product()), dims), dev);
    let mut traj_x = Vec::new();
    let mut traj_x0 = Vec::new();
    let mut read_err = None;
    let sampled = sample(
        &m.unet,
        &schedule,
        &m.schedule,
        m.config.diffusion.parameterization,
        x_t,
        &cond,
        guidance,
        weights,
        &mut noise,
        &|| false,
        |rep| match (host(rep.x.clone()), host(rep.x0.clone())) {
            (Ok(a), Ok(b)) => {
                traj_x.push(a);
                traj_x0.push(b);
                ControlFlow::Continue(())
            }
            (Err(e), _) | (_, Err(e)) => {
                read_err = Some(e);
                ControlFlow::Break(())
            }
        },
    )
    .map_err(|e| e.to_string())?;
    if let Some(e) = read_err {
        return Err(e);
    }
    for (suffix, traj) in [("traj_x", &traj_x), ("traj_x0", &traj_x0)] {
        let g = fx.f32(&format!("{name}.{suffix}")).map_err(e)?;
        let per = chunks(g.data, n_steps);
        let worst = if per.len() == traj.len() {
            per.iter()
                .zip(traj.iter())
                .map(|(g, o)| rel_l2(o, g))
                .fold(0.0f64, |a, b| if b.is_nan() { f64::NAN } else { a.max(b) })
        } else {
            f64::INFINITY
        };
        checks.push(Check::le(format!("{name}.{suffix} (worst step)"), "rel_l2", worst, tol));
    }
    cmp(&mut checks, "latent", host(sampled.latent.clone())?)?;
    cmp(&mut checks, "video", host(decode_video(m, sampled.latent))?)?;
    Ok(checks)
}
