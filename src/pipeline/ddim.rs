//! The DDIM sampler (`lvdm/models/samplers/ddim.py`, spec §6, fixtures README §3.2) with
//! single-scale CFG, the three-call text-and-image guidance, guidance rescale, dynamic x0
//! rescale and the square-root clamp that keeps every step count finite.

use std::ops::ControlFlow;

use burn::tensor::{Tensor, TensorData};

use crate::model::StoredSchedule;
use crate::model::config::Parameterization;
use crate::model::unet::attention::CallOptions;
use crate::model::unet::{UNet, UNetInputError};
use crate::pipeline::rng::NoiseSource;
use crate::pipeline::schedule::DdimSchedule;
use crate::pipeline::solver::{Multistep, SamplerKind};

/// Guidance settings of one generation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Guidance {
    /// Text (or joint) guidance scale; 1 means one UNet call per step.
    pub cfg: f32,
    /// Image guidance scale: `Some` turns on the three-call guidance.
    pub cfg_img: Option<f32>,
    /// Guidance rescale r (0 = off).
    pub rescale: f32,
}

impl Guidance {
    /// UNet calls per step: 1 without guidance (cfg = 1), 3 with separate image guidance, else 2.
    pub fn unet_calls(&self) -> usize {
        match (self.cfg == 1.0, self.cfg_img.is_some()) {
            (true, _) => 1,
            (false, true) => 3,
            (false, false) => 2,
        }
    }
}

/// How the UNet calls of a step execute (never changes the numbers beyond float noise).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Execution {
    /// Branch weights and activation chunking of every call.
    pub call: CallOptions,
    /// Run the guidance branches of a step as one UNet batch (fewer, larger kernels; more
    /// memory) instead of one call each.
    pub batch_cfg: bool,
}

/// The contexts of the guidance branches.
///
/// # Shapes
/// every context: `[1, 77 + 16·t, d]`; `c_concat`: `[1, 4, t, h, w]`
#[derive(Debug, Clone)]
pub struct Conditioning {
    pub cond: Tensor<3>,
    /// Negative text + zero image (needed when `cfg != 1`).
    pub uncond: Option<Tensor<3>>,
    /// Empty text + the image (the three-call guidance).
    pub uncond_img: Option<Tensor<3>>,
    pub c_concat: Tensor<5>,
    pub fs: i64,
}

/// What the progress callback sees after every step.
#[derive(Debug)]
pub struct StepReport<'a> {
    /// 0-based step index in sampling order.
    pub step: usize,
    pub total: usize,
    pub timestep: i64,
    /// Predicted clean latent `[1, 4, t, h, w]` (after dynamic rescale).
    pub x0: &'a Tensor<5>,
    /// The latent after this step.
    pub x: &'a Tensor<5>,
    /// Raw UNet outputs of this step, in call order (cond, uncond, uncond_img).
    pub unet_out: &'a [Tensor<5>],
}

/// The result of a sampling run.
#[derive(Debug, Clone)]
pub struct Sampled {
    /// The final latent, or the last predicted x0 when cancelled.
    pub latent: Tensor<5>,
    pub steps_done: usize,
    pub cancelled: bool,
}

/// Sampling failures.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error(transparent)]
    Input(#[from] UNetInputError),
    #[error("guidance needs an unconditional context (cfg = {0})")]
    MissingUncond(f32),
    #[error("the schedule has no step")]
    EmptySchedule,
    #[error(
        "the latent became NaN or infinite at step {step} of {total} (t = {timestep}); no frames were made from it. \
         Try f32 precision (f16 can overflow), a lower guidance scale or guidance rescale, or fewer steps"
    )]
    NonFinite { step: usize, total: usize, timestep: i64 },
    #[error("reading the latent back from the device failed: {0}")]
    Device(#[from] crate::pipeline::device_read::DeviceRead),
}

/// The partial result of a run cancelled during step `step`: the last predicted x0, or the
/// current latent when no step has finished.
fn cancelled(last_x0: Option<Tensor<5>>, x: Tensor<5>, step: usize) -> Sampled {
    Sampled { latent: last_x0.unwrap_or(x), steps_done: step, cancelled: true }
}

/// Unbiased standard deviation over all elements, as a broadcastable `[1,1,1,1,1]`.
fn std_all(x: &Tensor<5>) -> Tensor<5> {
    let n: usize = x.dims().iter().product();
    x.clone().reshape([n]).var(0).sqrt().reshape([1, 1, 1, 1, 1])
}

/// Stops the run when the latent holds a NaN or an infinity (the sum of a tensor is finite
/// only if every element is): clamping would turn it into black frames without a word.
fn check_finite(x: &Tensor<5>, step: usize, total: usize, timestep: i64) -> Result<(), SampleError> {
    if let Some(fault) = crate::pipeline::device_read::injected() {
        return Err(SampleError::Device(fault));
    }
    let n: usize = x.dims().iter().product();
    let sum = x.clone().reshape([n]).sum().try_into_scalar::<f32>().map_err(|e| SampleError::Device(e.into()))?;
    if sum.is_finite() { Ok(()) } else { Err(SampleError::NonFinite { step: step + 1, total, timestep }) }
}

/// Samples from `x_T` with `solver` (DDIM, the reference's, or a multistep solver) between
/// the timesteps of `schedule`. `on_step` is called after every step; `Break` cancels, and
/// the last predicted x0 becomes the result.
///
/// # Shapes
/// - x_t: `[1, 4, t, h, w]` → latent `[1, 4, t, h, w]`
#[allow(clippy::too_many_arguments)]
pub fn sample(
    solver: SamplerKind,
    unet: &UNet,
    schedule: &DdimSchedule,
    stored: &StoredSchedule,
    parameterization: Parameterization,
    x_t: Tensor<5>,
    cond: &Conditioning,
    guidance: Guidance,
    exec: Execution,
    noise: &mut dyn NoiseSource,
    cancel: &dyn Fn() -> bool,
    on_step: impl FnMut(StepReport<'_>) -> ControlFlow<()>,
) -> Result<Sampled, SampleError> {
    let calls = guidance.unet_calls();
    if calls > 1 && cond.uncond.is_none() {
        return Err(SampleError::MissingUncond(guidance.cfg));
    }
    // The guided model: the step's UNet outputs (call order cond, uncond, uncond_img) and
    // their guided combination; `None` when cancelled before a call.
    let mut denoise = |t: i64, x: &Tensor<5>| -> Result<Option<(Vec<Tensor<5>>, Tensor<5>)>, SampleError> {
        let input = Tensor::cat(vec![x.clone(), cond.c_concat.clone()], 1); // [1, 8, t, h, w]
        let mut contexts = vec![&cond.cond];
        if calls >= 2 {
            contexts.push(cond.uncond.as_ref().ok_or(SampleError::MissingUncond(guidance.cfg))?);
        }
        if calls == 3 {
            contexts.push(cond.uncond_img.as_ref().ok_or(SampleError::MissingUncond(guidance.cfg))?);
        }
        // Cancellation is checked before every UNet call.
        let outs: Vec<Tensor<5>> = if exec.batch_cfg && calls > 1 {
            if cancel() {
                return Ok(None);
            }
            let batch = Tensor::cat(vec![input; calls], 0); // [calls, 8, t, h, w]
            let ctx = Tensor::cat(contexts.iter().map(|c| (*c).clone()).collect(), 0); // [calls, l, d]
            let out = unet.forward(batch, &vec![t; calls], ctx, Some(&vec![cond.fs; calls]), exec.call)?;
            (0..calls).map(|i| out.clone().narrow(0, i, 1)).collect()
        } else {
            let mut outs = Vec::with_capacity(calls);
            for ctx in contexts {
                if cancel() {
                    return Ok(None);
                }
                outs.push(unet.forward(input.clone(), &[t], ctx.clone(), Some(&[cond.fs]), exec.call)?);
            }
            outs
        };
        let m = guide(&outs, guidance);
        Ok(Some((outs, m)))
    };
    integrate(solver, schedule, stored, parameterization, x_t, noise, &mut denoise, on_step)
}

/// Guidance: `m_u + cfg·(m_c − m_u)`, or the three-branch form, then guidance rescale.
fn guide(outs: &[Tensor<5>], guidance: Guidance) -> Tensor<5> {
    let m_c = outs[0].clone();
    if outs.len() < 2 {
        return m_c;
    }
    let m_u = outs[1].clone();
    let mut m = if outs.len() == 3 {
        let m_ui = outs[2].clone();
        let ci = guidance.cfg_img.unwrap_or(guidance.cfg);
        m_u.clone() + (m_ui.clone() - m_u) * ci + (m_c.clone() - m_ui) * guidance.cfg
    } else {
        m_u.clone() + (m_c.clone() - m_u) * guidance.cfg
    };
    if guidance.rescale > 0.0 {
        let r = guidance.rescale;
        let ratio = std_all(&m_c) / std_all(&m);
        m = m.clone() * ratio * r + m * (1.0 - r);
    }
    m
}

/// A denoiser for [`integrate`]: timestep and latent → the model calls' outputs and the
/// guided model output (in the model's parameterization), or `None` to cancel.
pub type Denoise<'a> = dyn FnMut(i64, &Tensor<5>) -> Result<Option<(Vec<Tensor<5>>, Tensor<5>)>, SampleError> + 'a;

/// The sampling loop shared by every model and solver: the model output becomes x0 and ε
/// (parameterization, dynamic rescale), then `solver` advances the latent to the next
/// timestep of `schedule`. Public so the solvers can be proven on a denoiser with a known
/// answer.
///
/// # Shapes
/// - x_t: `[1, 4, t, h, w]` → latent `[1, 4, t, h, w]`
#[allow(clippy::too_many_arguments)]
pub fn integrate(
    solver: SamplerKind,
    schedule: &DdimSchedule,
    stored: &StoredSchedule,
    parameterization: Parameterization,
    x_t: Tensor<5>,
    noise: &mut dyn NoiseSource,
    denoise: &mut Denoise<'_>,
    mut on_step: impl FnMut(StepReport<'_>) -> ControlFlow<()>,
) -> Result<Sampled, SampleError> {
    if schedule.is_empty() {
        return Err(SampleError::EmptySchedule);
    }
    let device = x_t.device();
    let dims = x_t.dims();
    let numel: usize = dims.iter().product();
    let total = schedule.len();
    let mut x = x_t;
    let mut last_x0: Option<Tensor<5>> = None;
    let mut multistep = Multistep::default();
    for step in 0..total {
        let index = total - 1 - step;
        let t = schedule.timesteps[index];
        let Some((outs, m)) = denoise(t, &x)? else {
            return Ok(cancelled(last_x0, x, step));
        };
        let (e_t, x0) = match parameterization {
            Parameterization::V => {
                let ti = (t.max(0) as usize).min(stored.sqrt_alphas_cumprod.len().saturating_sub(1));
                let a = stored.sqrt_alphas_cumprod[ti];
                let b = stored.sqrt_one_minus_alphas_cumprod[ti];
                (m.clone() * a + x.clone() * b, x.clone() * a - m * b)
            }
            Parameterization::Eps => {
                let s1m = schedule.sqrt_one_minus_alphas[index];
                let sa = schedule.alphas[index].sqrt();
                (m.clone(), (x.clone() - m * s1m) / sa)
            }
        };
        let x0 = match (&schedule.scale_arr, &schedule.scale_arr_prev) {
            (Some(s), Some(p)) => x0 * (p[index] / s[index]),
            _ => x0,
        };
        let a_prev = schedule.alphas_prev[index];
        let mut draw = || Tensor::<5>::from_data(TensorData::new(noise.step(step, numel), dims), &device);
        x = match solver {
            SamplerKind::Ddim => {
                let sigma = schedule.sigmas[index];
                // sqrt(max(·, 0)): the reference takes the sqrt of −5.96e-8 for some step
                // counts and returns an all-NaN video (fixtures README §3.3).
                let dir = (1.0 - a_prev - sigma * sigma).max(0.0).sqrt();
                x0.clone() * a_prev.sqrt() + e_t * dir + draw() * sigma
            }
            kind => {
                let first_order = step == 0 || step + 1 == total;
                let (abar_s, abar_t) = (f64::from(schedule.alphas[index]), schedule.alphas_prev_f64[index]);
                multistep.step(kind, &x, x0.clone(), abar_s, abar_t, first_order, draw)
            }
        };
        check_finite(&x, step, total, t)?;
        let flow = on_step(StepReport { step, total, timestep: t, x0: &x0, x: &x, unet_out: &outs });
        if flow.is_break() {
            return Ok(Sampled { latent: x0, steps_done: step + 1, cancelled: true });
        }
        last_x0 = Some(x0);
    }
    Ok(Sampled { latent: x, steps_done: total, cancelled: false })
}
