//! `bench --stages interpolate`: RIFE on a clip (default 16 frames of 320×512, the 512
//! model's output) ×2 and ×4, against one in-between frame measured in the same run; the
//! device's pool peak shows that the upsampled frames are not kept there (they go to the
//! host one by one).

use std::process::ExitCode;

use anyhow::Context;

use super::bench::{BenchArgs, parse_size, precisions};
use super::stages::{measure, sync};
use crate::device::dtype_name;
use crate::export::Clip;
use crate::pipeline::generate::Settings;
use crate::pipeline::runtime::RunConfig;
use crate::rife::sequence::upload;
use crate::rife::{IFNet, Options, interpolate_clip, output_frames};
use crate::weights::vars::{LoadContext, LoadMode, RandomSource};

/// A clip whose content moves: a smooth colour pattern shifted 3 px right and 1 px down per
/// frame (RIFE's cost does not depend on the content; its flows should be non-trivial).
fn moving_clip(frames: usize, h: usize, w: usize) -> Clip {
    let frame = |k: usize| {
        let mut v = Vec::with_capacity(h * w * 3);
        for y in 0..h {
            for x in 0..w {
                let (xf, yf) = ((x + 3 * k) as f32, (y + k) as f32);
                v.push((127.0 + 120.0 * (xf / 17.0).sin() * (yf / 23.0).cos()) as u8);
                v.push((127.0 + 120.0 * ((xf + yf) / 31.0).sin()) as u8);
                v.push((127.0 + 120.0 * (yf / 13.0).sin()) as u8);
            }
        }
        v
    };
    Clip { width: w, height: h, frames: (0..frames).map(frame).collect() }
}

/// Runs the RIFE benchmark and prints its table.
pub fn run(a: &BenchArgs) -> anyhow::Result<ExitCode> {
    let frames = a.frames.unwrap_or(16);
    if frames < 2 {
        anyhow::bail!("--frames must be 2 or more: interpolation needs a pair");
    }
    let (h, w) = match &a.size {
        Some(_) => parse_size(&a.size, &Settings::defaults(crate::model::config::Variant::V512))?,
        None => (320, 512),
    };
    let clip = moving_clip(frames, h, w);
    let from = a.model.as_ref().map_or("random weights (4.7 layout)".to_owned(), |m| m.display().to_string());
    println!(
        "bench: RIFE (IFNet 4.7/4.9) from {from} on {}, {frames} frames of {h}x{w}, {} timed reps after {} warm-up",
        a.backend, a.steps, a.warmup
    );
    println!(
        "{:<36} {:>5} {:>10} {:>9} {:>12} {:>10} {:>10}",
        "stage", "prec", "s", "x base", "s / frame", "frames", "dev. peak"
    );
    let mut flops_per_frame = None;
    for precision in precisions(&a.precision)? {
        let run = RunConfig { backend: a.backend, precision, memory: a.memory, budget_gb: None };
        let dtype = run.dtype()?;
        let device = a.backend.device();
        let net: IFNet = match &a.model {
            Some(path) => crate::rife::load_rife(path, &device, dtype)?.0,
            None => {
                let source = RandomSource::new(&crate::rife::weights::expected_keys(), 47, 0.05);
                let ctx = LoadContext::new(&source, &device, dtype, LoadMode::Load);
                let net = IFNet::load(&ctx.root());
                ctx.finish()?;
                net
            }
        };
        sync(&device)?;
        let p = dtype_name(dtype);
        let (f0, f1) = (upload(&clip.frames[0], w, h, &device), upload(&clip.frames[1], w, h, &device));
        let base = measure(&device, a.warmup, a.steps, &mut || {
            let out = net.forward(f0.clone(), f1.clone(), Options::default(), None);
            let _ = out.into_data();
        })?;
        flops_per_frame = Some(base.flops);
        let peak = |b: Option<u64>| b.map_or("-".to_owned(), |b| format!("{:.2} GB", b as f64 / 1e9));
        println!(
            "{:<36} {p:>5} {:>10.3} {:>9} {:>12.3} {:>10} {:>10}",
            "one in-between frame (baseline)",
            base.seconds,
            "1.0",
            base.seconds,
            1,
            peak(base.peak_reserved)
        );
        for factor in [2usize, 4] {
            let n_out = output_frames(frames, factor);
            let mut failed = None;
            let m = measure(&device, 0, 1, &mut || {
                if let Err(e) = interpolate_clip(&net, &clip, factor, Options::default(), |_, _| true) {
                    failed = Some(e);
                }
            })?;
            if let Some(e) = failed {
                return Err(e).context("interpolation failed");
            }
            let made = n_out - frames;
            println!(
                "{:<36} {p:>5} {:>10.3} {:>9.1} {:>12.3} {:>10} {:>10}",
                format!("×{factor} clip ({frames} → {n_out} frames)"),
                m.seconds,
                m.seconds / base.seconds,
                m.seconds / made as f64,
                n_out,
                peak(m.peak_reserved)
            );
        }
    }
    if let Some(f) = flops_per_frame {
        println!("one in-between frame is {:.1} GFLOP (convolutions, counted from the layer shapes)", f as f64 / 1e9);
    }
    println!(
        "frames are read back one at a time: the ×4 clip ({} frames) is {:.1} MB on the host",
        output_frames(frames, 4),
        (output_frames(frames, 4) * h * w * 3) as f64 / 1e6
    );
    if let Some(rss) = super::soak::process_memory("VmHWM") {
        println!("peak process memory (RSS): {:.2} GB", rss as f64 / 1e9);
    }
    Ok(ExitCode::SUCCESS)
}
