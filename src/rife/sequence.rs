//! ×N frame interpolation of a clip: between every neighbouring pair, the frames at
//! `t = k/N` (k = 1…N−1), each straight from the pair (not by recursive halving), as
//! ComfyUI's *RIFE VFI* node makes them. Output order: frame 0, its N−1 in-betweens,
//! frame 1, …, the last frame: `(n − 1)·N + 1` frames. Only one pair and one result are on
//! the device at a time; every result goes to the host (and to `emit`) before the next.

use burn::tensor::{DType, Device, Tensor, TensorData};

use crate::export::clip::Clip;
use crate::pipeline::device_read::DeviceRead;
use crate::rife::net::{IFNet, Options};

/// Errors of a clip interpolation.
#[derive(Debug, thiserror::Error)]
pub enum InterpolateError {
    #[error("interpolation needs a factor of 2 or more (got {0})")]
    Factor(usize),
    #[error("interpolation needs at least two frames (the clip has {0})")]
    TooFewFrames(usize),
    #[error("frame {index} has {found} bytes, a {width}×{height} RGB frame has {expected}")]
    FrameSize { index: usize, width: usize, height: usize, expected: usize, found: usize },
    #[error("scale {0} is not one of 0.25, 0.5, 1, 2, 4")]
    Scale(f32),
    #[error(transparent)]
    Device(#[from] DeviceRead),
    #[error("cancelled")]
    Cancelled,
}

/// `(n − 1)·factor + 1` frames out of `n`.
pub fn output_frames(n: usize, factor: usize) -> usize {
    if n == 0 { 0 } else { (n - 1) * factor + 1 }
}

/// An 8-bit RGB frame as `[1, 3, h, w]` in [0, 1].
pub fn upload(frame: &[u8], width: usize, height: usize, device: &Device) -> Tensor<4> {
    let plane = width * height;
    let mut v = vec![0f32; 3 * plane];
    for (p, px) in frame.chunks_exact(3).enumerate() {
        for c in 0..3 {
            v[c * plane + p] = f32::from(px[c]) / 255.0;
        }
    }
    Tensor::from_data(TensorData::new(v, [1, 3, height, width]), device)
}

/// `[1, 3, h, w]` in [0, 1] to 8-bit RGB (clamped, rounded).
fn download(x: Tensor<4>) -> Result<Vec<u8>, DeviceRead> {
    if let Some(fault) = crate::pipeline::device_read::injected() {
        return Err(fault);
    }
    let [_, _, h, w] = x.dims();
    let data = x
        .cast(DType::F32)
        .try_into_data()?
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| DeviceRead::Failed(format!("{e:?}")))?;
    let plane = h * w;
    let mut out = vec![0u8; plane * 3];
    for p in 0..plane {
        for c in 0..3 {
            out[p * 3 + c] = (data[c * plane + p].clamp(0.0, 1.0) * 255.0).round() as u8;
        }
    }
    Ok(out)
}

/// Interpolates `clip` by `factor` with `opts.scale`/`opts.ensemble` (`opts.timestep` is
/// set per frame). `emit(k, frame)` receives output frame `k` (input frames are passed
/// through unchanged); returning `false` cancels.
pub fn interpolate_clip(
    net: &IFNet,
    clip: &Clip,
    factor: usize,
    opts: Options,
    mut emit: impl FnMut(usize, Vec<u8>) -> bool,
) -> Result<(), InterpolateError> {
    if factor < 2 {
        return Err(InterpolateError::Factor(factor));
    }
    if clip.frames.len() < 2 {
        return Err(InterpolateError::TooFewFrames(clip.frames.len()));
    }
    if !super::SCALES.contains(&opts.scale) {
        return Err(InterpolateError::Scale(opts.scale));
    }
    let (w, h) = (clip.width, clip.height);
    for (index, f) in clip.frames.iter().enumerate() {
        if f.len() != w * h * 3 {
            return Err(InterpolateError::FrameSize {
                index,
                width: w,
                height: h,
                expected: w * h * 3,
                found: f.len(),
            });
        }
    }
    let device = net.device();
    let mut k = 0;
    let mut next = upload(&clip.frames[0], w, h, &device);
    for pair in 0..clip.frames.len() - 1 {
        let a = next;
        next = upload(&clip.frames[pair + 1], w, h, &device);
        if !emit(k, clip.frames[pair].clone()) {
            return Err(InterpolateError::Cancelled);
        }
        k += 1;
        for step in 1..factor {
            let o = Options { timestep: step as f32 / factor as f32, ..opts };
            let frame = download(net.forward(a.clone(), next.clone(), o, None))?;
            if !emit(k, frame) {
                return Err(InterpolateError::Cancelled);
            }
            k += 1;
        }
    }
    if !emit(k, clip.frames[clip.frames.len() - 1].clone()) {
        return Err(InterpolateError::Cancelled);
    }
    Ok(())
}
