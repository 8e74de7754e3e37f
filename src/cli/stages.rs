//! The stages `bench` times (its table and its GPU report run the same code): the encoders,
//! the VAE, one UNet call, one guidance step and the decode, on random inputs of a
//! generation's real shapes, each with wall time, device time and the device memory it took.
//!
//! Timings wait for the device (`sync`) so they count finished work, not queued work. Device
//! time comes from the backend's profiler (GPU timestamps where the adapter has them; `None`
//! where the backend only has a clock, where it would equal the wall time). Memory: before
//! each stage the pools are trimmed (`memory_cleanup`); the bytes the runtime has reserved
//! after the stage approximate its peak (pools do not shrink on their own).

use std::time::Instant;

use anyhow::bail;
use burn::tensor::{Device, Distribution, ProfileOptions, Tensor, TimingMethod};

use crate::model::conv::{self, ConvPath};
use crate::model::flops;
use crate::pipeline::runtime::Runtime;

/// The stages `--stages` can pick.
pub const STAGES: [&str; 6] = ["text", "image", "vae-encode", "unet", "cfg-step", "decode"];

/// One measured stage at one precision.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub stage: String,
    pub precision: &'static str,
    /// Wall time per run, seconds (between two device syncs).
    pub seconds: f64,
    /// Device time per run from GPU timestamps, seconds (`None`: the backend has none).
    pub device_seconds: Option<f64>,
    /// Device bytes reserved after the stage (its peak), if the backend reports it.
    pub peak_reserved: Option<u64>,
    /// Floating-point operations per run of the matmul-shaped layers ([`flops`]).
    pub flops: u64,
}

impl Row {
    /// Achieved TFLOP/s, by device time where there is one, else wall time.
    pub fn tflops(&self) -> Option<f64> {
        let s = self.device_seconds.unwrap_or(self.seconds);
        (self.flops > 0 && s > 0.0).then(|| self.flops as f64 / s / 1e12)
    }
}

/// One stage's measurement.
pub(super) struct Measured {
    pub(super) seconds: f64,
    pub(super) device_seconds: Option<f64>,
    pub(super) peak_reserved: Option<u64>,
    pub(super) flops: u64,
}

pub fn sync(device: &Device) -> anyhow::Result<()> {
    device.sync().map_err(|e| anyhow::anyhow!("device error: {e:?}"))
}

/// Times `f` (`reps` runs after `warmup`), waiting for the device; reads the pool peak and
/// counts the work of one run.
pub(super) fn measure(
    device: &Device,
    warmup: usize,
    reps: usize,
    f: &mut (impl FnMut() + Send),
) -> anyhow::Result<Measured> {
    device.memory_cleanup();
    for _ in 0..warmup {
        f();
    }
    sync(device)?;
    let reps = reps.max(1);
    let start = Instant::now();
    let run_all = || flops::count(|| (0..reps).for_each(|_| f())).1;
    let (flops, device_seconds) = match device.profile_with(ProfileOptions::default().flush(), run_all) {
        Ok((flops, window)) => {
            sync(device)?;
            let device_time = (window.timing_method() == TimingMethod::Device)
                .then(|| pollster::block_on(window.resolve()))
                .flatten()
                .map(|t| t.duration().as_secs_f64() / reps as f64);
            (flops, device_time)
        }
        Err(e) => bail!("device error: {e:?}"),
    };
    let seconds = start.elapsed().as_secs_f64() / reps as f64;
    let peak_reserved = device.memory_pool_usage().map(|u| u.bytes_reserved);
    Ok(Measured { seconds, device_seconds, peak_reserved, flops: flops / reps as u64 })
}

/// The generation shape the stages run at.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub frames: usize,
    pub h: usize,
    pub w: usize,
}

/// How the stages run.
#[derive(Debug, Clone)]
pub struct StageOptions {
    pub warmup: usize,
    pub reps: usize,
    /// The UNet call once per path listed (labelled with it); empty: once, as `--conv` says.
    pub conv_paths: Vec<ConvPath>,
}

/// Runs the chosen stages on one loaded model, after a baseline matmul of the model's dtype.
pub fn run(
    rt: &Runtime,
    opts: &StageOptions,
    shape: &Shape,
    wanted: &[String],
    p: &'static str,
) -> anyhow::Result<Vec<Row>> {
    let m = &rt.model;
    let (dev, enc) = (m.device(), m.encoder_device());
    let exec = rt.execution();
    let (frames, lh, lw) = (shape.frames, shape.h / 8, shape.w / 8);
    let d = m.config.unet.context_dim;
    let ctx_len = 77 + 16 * frames;
    let (warm, reps) = (opts.warmup, opts.reps);
    let mut rows = Vec::new();
    let mut rec = |stage: &str, r: Measured| {
        let gb = r.peak_reserved.map_or(String::from("-"), |b| format!("{:.2} GB", b as f64 / 1e9));
        let dev_s = r.device_seconds.map(|s| format!(" (device {s:.3} s)")).unwrap_or_default();
        eprintln!("  [{p}] {stage}: {:.3} s{dev_s}, device reserved {gb}", r.seconds);
        rows.push(Row {
            stage: stage.to_owned(),
            precision: p,
            seconds: r.seconds,
            device_seconds: r.device_seconds,
            peak_reserved: r.peak_reserved,
            flops: r.flops,
        });
    };
    let want = |s: &str| wanted.iter().any(|w| w == s);

    let n = 2048;
    let ma = Tensor::<2>::random([n, n], Distribution::Default, &dev).cast(m.dtype());
    let mb = Tensor::<2>::random([n, n], Distribution::Default, &dev).cast(m.dtype());
    let mut base = || {
        flops::matmul(n, n, n);
        drop(ma.clone().matmul(mb.clone()));
    };
    rec("baseline: matmul 2048²", measure(&dev, warm, reps, &mut base)?);
    drop((ma, mb));

    if want("text") {
        let mut ids = vec![49406i64, 320, 1215, 49407];
        ids.resize(77, 0);
        rec("text encoder (1 prompt)", measure(&enc, warm, reps, &mut || drop(m.text.encode_ids(&[ids.clone()])))?);
    }
    if want("image") {
        let img = Tensor::<4>::random([1, 3, 224, 224], Distribution::Default, &enc);
        let mut run = || {
            let tokens = m.vision.forward(img.clone());
            crate::pipeline::conditioning::settle(&enc);
            drop(m.resampler.forward(tokens));
        };
        rec("image encoder + Resampler", measure(&enc, warm, reps, &mut run)?);
    }
    if want("vae-encode") {
        let frame = Tensor::<4>::random([1, 3, shape.h, shape.w], Distribution::Default, &enc);
        rec("VAE encode (1 frame)", measure(&enc, warm, reps, &mut || drop(m.vae.encode(frame.clone())))?);
    }
    let x = Tensor::<5>::random([1, 8, frames, lh, lw], Distribution::Default, &dev);
    let ctx = Tensor::<3>::random([1, ctx_len, d], Distribution::Default, &dev);
    let mut failure = None;
    if want("unet") {
        let paths: Vec<Option<ConvPath>> =
            if opts.conv_paths.is_empty() { vec![None] } else { opts.conv_paths.iter().copied().map(Some).collect() };
        let before = conv::path();
        for path in paths {
            if let Some(p) = path {
                conv::set_path(p);
            }
            let mut call = || {
                if let Err(e) = m.unet.forward(x.clone(), &[500], ctx.clone(), Some(&[24]), exec.call) {
                    failure = Some(e);
                }
            };
            let r = measure(&dev, warm, reps, &mut call);
            conv::set_path(before);
            let label = path.map(|p| format!(", conv {}", p.name())).unwrap_or_default();
            rec(&format!("UNet call ({frames}×{lh}×{lw} latent{label})"), r?);
        }
    }
    if want("cfg-step") {
        // The guidance branches exactly as the sampler runs them under this plan.
        let mut step = || {
            let outs = if exec.batch_cfg {
                let xb = Tensor::cat(vec![x.clone(), x.clone()], 0);
                let cb = Tensor::cat(vec![ctx.clone(), ctx.clone()], 0);
                m.unet
                    .forward(xb, &[500, 500], cb, Some(&[24, 24]), exec.call)
                    .map(|o| vec![o.clone().narrow(0, 0, 1), o.narrow(0, 1, 1)])
            } else {
                (0..2).map(|_| m.unet.forward(x.clone(), &[500], ctx.clone(), Some(&[24]), exec.call)).collect()
            };
            match outs {
                Ok(o) if o.len() == 2 => drop(o[1].clone() + (o[0].clone() - o[1].clone()) * 7.5),
                Ok(_) => {}
                Err(e) => failure = Some(e),
            }
        };
        let r = measure(&dev, warm, reps, &mut step)?;
        let how = if exec.batch_cfg { "batched" } else { "2 calls" };
        rec(&format!("CFG step ({how})"), r);
    }
    if let Some(e) = failure {
        bail!(e);
    }
    if want("decode") {
        let z = Tensor::<4>::random([1, 4, lh, lw], Distribution::Default, &dev);
        let where_ = if rt.plan.decoder_on_host { " on the CPU" } else { "" };
        let r = measure(&m.vae.decoder_device(), warm, reps, &mut || drop(m.vae.decode(z.clone())))?;
        rec(&format!("VAE decode (1 frame{where_})"), r);
    }
    Ok(rows)
}
