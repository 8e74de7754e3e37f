//! Diffusion schedules (spec §5) and DDIM timesteps and coefficients (spec §6).
//!
//! Everything is computed in f64 and cast to f32 where the reference casts, so the tables
//! equal the reference's buffers to the last bit or within 1e-7.

use crate::model::config::DiffusionConfig;

/// The per-timestep buffers of the reference (`register_schedule`), as f32.
#[derive(Debug, Clone, PartialEq)]
pub struct NoiseSchedule {
    pub betas: Vec<f32>,
    pub alphas_cumprod: Vec<f32>,
    pub sqrt_alphas_cumprod: Vec<f32>,
    pub sqrt_one_minus_alphas_cumprod: Vec<f32>,
    /// `concat(linspace(1, base_scale, turning_step), full(timesteps, base_scale))` when
    /// dynamic rescale is on.
    pub scale_arr: Option<Vec<f32>>,
}

/// numpy `linspace` (endpoint included, last value exact).
fn linspace(start: f64, stop: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![start];
    }
    let step = (stop - start) / (n - 1) as f64;
    let mut v: Vec<f64> = (0..n).map(|i| i as f64 * step + start).collect();
    if let Some(last) = v.last_mut() {
        *last = stop;
    }
    v
}

/// `torch.linspace` in float64 (symmetric: the second half counts back from `stop`).
fn torch_linspace(start: f64, stop: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![start];
    }
    let step = (stop - start) / (n - 1) as f64;
    let half = n / 2;
    (0..n).map(|i| if i < half { start + step * i as f64 } else { stop - step * (n - 1 - i) as f64 }).collect()
}

/// `rescale_zero_terminal_snr` (utils_diffusion.py:112-143), in f64.
fn rescale_zero_terminal_snr(betas: &[f64]) -> Vec<f64> {
    let mut bar = Vec::with_capacity(betas.len());
    let mut acc = 1.0;
    for b in betas {
        acc *= 1.0 - b;
        bar.push(f64::sqrt(acc));
    }
    let (a0, at) = (bar[0], bar[bar.len() - 1]);
    let bar: Vec<f64> = bar.iter().map(|s| ((s - at) * (a0 / (a0 - at))).powi(2)).collect();
    let mut alphas = vec![bar[0]];
    alphas.extend(bar.windows(2).map(|w| w[1] / w[0]));
    alphas.iter().map(|a| 1.0 - a).collect()
}

impl NoiseSchedule {
    /// Builds the schedule of `cfg` (linear betas in sqrt space, optional zero-SNR).
    pub fn new(cfg: &DiffusionConfig) -> Self {
        let n = cfg.timesteps;
        let mut betas: Vec<f64> =
            torch_linspace(cfg.linear_start.sqrt(), cfg.linear_end.sqrt(), n).iter().map(|b| b * b).collect();
        if cfg.rescale_betas_zero_snr {
            betas = rescale_zero_terminal_snr(&betas);
        }
        let mut acp = Vec::with_capacity(n);
        let mut acc = 1.0f64;
        for b in &betas {
            acc *= 1.0 - b;
            acp.push(acc);
        }
        let f = |v: &[f64]| v.iter().map(|x| *x as f32).collect::<Vec<f32>>();
        let scale_arr = cfg.dynamic_rescale.map(|base| {
            let mut s = linspace(1.0, base, cfg.turning_step);
            s.extend(std::iter::repeat_n(base, n));
            f(&s)
        });
        Self {
            betas: f(&betas),
            alphas_cumprod: f(&acp),
            sqrt_alphas_cumprod: acp.iter().map(|a| a.sqrt() as f32).collect(),
            sqrt_one_minus_alphas_cumprod: acp.iter().map(|a| (1.0 - a).sqrt() as f32).collect(),
            scale_arr,
        }
    }

    /// Number of training timesteps.
    pub fn len(&self) -> usize {
        self.alphas_cumprod.len()
    }

    /// Whether the schedule is empty.
    pub fn is_empty(&self) -> bool {
        self.alphas_cumprod.is_empty()
    }
}

/// DDIM timestep spacing (`make_ddim_timesteps`, utils_diffusion.py:56-76).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spacing {
    /// `range(0, T, T // S) + 1`: more than S steps when S does not divide T.
    Uniform,
    /// `flip(round(arange(T, 0, −T/S))) − 1`.
    UniformTrailing,
}

impl Spacing {
    /// The reference's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Uniform => "uniform",
            Self::UniformTrailing => "uniform_trailing",
        }
    }

    /// Parses `uniform`, `uniform_trailing` (or `trailing`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "uniform" => Some(Self::Uniform),
            "uniform_trailing" | "trailing" => Some(Self::UniformTrailing),
            _ => None,
        }
    }
}

/// Python/numpy round half to even.
pub fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 { 2.0 * (x / 2.0).round() } else { r }
}

/// DDIM timesteps in ascending order.
pub fn ddim_timesteps(spacing: Spacing, steps: usize, train_steps: usize) -> Vec<i64> {
    let steps = steps.max(1);
    match spacing {
        Spacing::Uniform => {
            let c = (train_steps / steps).max(1);
            (0..train_steps).step_by(c).map(|t| t as i64 + 1).collect()
        }
        Spacing::UniformTrailing => {
            let c = train_steps as f64 / steps as f64;
            // numpy arange(T, 0, −c): ceil(T / c) values T − i·c.
            let n = (train_steps as f64 / c).ceil() as usize;
            let mut v: Vec<i64> =
                (0..n).map(|i| round_half_even(train_steps as f64 - i as f64 * c) as i64 - 1).collect();
            v.reverse();
            // A value below 0 would index the reference's table from the end; never use it.
            v.retain(|t| *t >= 0);
            v
        }
    }
}

impl NoiseSchedule {
    /// The buffers the sampler reads, by their checkpoint names (for sources that have no
    /// trustworthy schedule of their own: random weights, files with fp16 buffers).
    pub fn buffers(self) -> Vec<(&'static str, Vec<f32>)> {
        let mut v = vec![
            ("betas", self.betas),
            ("alphas_cumprod", self.alphas_cumprod),
            ("sqrt_alphas_cumprod", self.sqrt_alphas_cumprod),
            ("sqrt_one_minus_alphas_cumprod", self.sqrt_one_minus_alphas_cumprod),
        ];
        if let Some(sa) = self.scale_arr {
            v.push(("scale_arr", sa));
        }
        v
    }
}

/// The DDIM coefficients of one sampling run, ascending like the timesteps.
#[derive(Debug, Clone, PartialEq)]
pub struct DdimSchedule {
    pub timesteps: Vec<i64>,
    pub alphas: Vec<f32>,
    pub alphas_prev: Vec<f32>,
    pub sigmas: Vec<f32>,
    pub alphas_prev_f64: Vec<f64>,
    pub sigmas_f64: Vec<f64>,
    pub sqrt_one_minus_alphas: Vec<f32>,
    pub scale_arr: Option<Vec<f32>>,
    pub scale_arr_prev: Option<Vec<f32>>,
}

impl DdimSchedule {
    /// The one-step schedule of element `index` (ascending order), e.g. to run one step
    /// from a given latent (teacher forcing in `parity`).
    pub fn single(&self, index: usize) -> Self {
        let pick = |v: &[f32]| vec![v[index]];
        Self {
            timesteps: vec![self.timesteps[index]],
            alphas: pick(&self.alphas),
            alphas_prev: pick(&self.alphas_prev),
            sigmas: pick(&self.sigmas),
            alphas_prev_f64: vec![self.alphas_prev_f64[index]],
            sigmas_f64: vec![self.sigmas_f64[index]],
            sqrt_one_minus_alphas: pick(&self.sqrt_one_minus_alphas),
            scale_arr: self.scale_arr.as_deref().map(pick),
            scale_arr_prev: self.scale_arr_prev.as_deref().map(pick),
        }
    }

    /// `make_ddim_sampling_parameters` (utils_diffusion.py:79-91): `a_prev[0] = ᾱ[0]`,
    /// σ from f32 ᾱ values in f64.
    pub fn new(noise: &NoiseSchedule, spacing: Spacing, steps: usize, eta: f64) -> Self {
        Self::from_tables(&noise.alphas_cumprod, noise.scale_arr.as_deref(), spacing, steps, eta)
    }

    /// The same from the model's stored `alphas_cumprod` and `scale_arr` buffers (which
    /// the reference loads from the checkpoint, overwriting its own).
    pub fn from_tables(acp: &[f32], scale_arr: Option<&[f32]>, spacing: Spacing, steps: usize, eta: f64) -> Self {
        let timesteps = ddim_timesteps(spacing, steps, acp.len());
        let at = |t: i64| acp[(t.max(0) as usize).min(acp.len() - 1)];
        let alphas: Vec<f32> = timesteps.iter().map(|&t| at(t)).collect();
        let mut alphas_prev_f64 = vec![acp[0] as f64];
        alphas_prev_f64.extend(timesteps.iter().take(timesteps.len().saturating_sub(1)).map(|&t| at(t) as f64));
        let sigmas_f64: Vec<f64> = alphas
            .iter()
            .zip(&alphas_prev_f64)
            .map(|(&a, &ap)| {
                let a = a as f64;
                eta * ((1.0 - ap) / (1.0 - a) * (1.0 - a / ap)).sqrt()
            })
            .collect();
        let scale_arr =
            scale_arr.map(|s| timesteps.iter().map(|&t| s[(t.max(0) as usize).min(s.len() - 1)]).collect::<Vec<f32>>());
        let scale_arr_prev = scale_arr.as_ref().map(|s| {
            let mut p = vec![s[0]];
            p.extend(s.iter().take(s.len().saturating_sub(1)));
            p
        });
        Self {
            sqrt_one_minus_alphas: alphas.iter().map(|a| (1.0 - a).sqrt()).collect(),
            alphas_prev: alphas_prev_f64.iter().map(|v| *v as f32).collect(),
            sigmas: sigmas_f64.iter().map(|v| *v as f32).collect(),
            timesteps,
            alphas,
            alphas_prev_f64,
            sigmas_f64,
            scale_arr,
            scale_arr_prev,
        }
    }

    /// Steps actually run (can exceed the requested count with `uniform`).
    pub fn len(&self) -> usize {
        self.timesteps.len()
    }

    /// Whether there is no step.
    pub fn is_empty(&self) -> bool {
        self.timesteps.is_empty()
    }

    /// Schedule indices at which `1 − a_prev − σ²` is negative in f32 (the reference's NaN,
    /// fixtures README §3.3).
    pub fn negative_radicand_indices(&self) -> Vec<usize> {
        (0..self.len()).filter(|&i| 1.0 - self.alphas_prev[i] - self.sigmas[i] * self.sigmas[i] < 0.0).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_has_extra_steps() {
        assert_eq!(ddim_timesteps(Spacing::Uniform, 30, 1000).len(), 31);
        assert_eq!(ddim_timesteps(Spacing::Uniform, 7, 1000).len(), 8);
        let t = ddim_timesteps(Spacing::Uniform, 50, 1000);
        assert_eq!((t[0], t[49]), (1, 981));
    }

    #[test]
    fn trailing_ends_at_999() {
        for s in 1..=60 {
            let t = ddim_timesteps(Spacing::UniformTrailing, s, 1000);
            assert_eq!(*t.last().unwrap(), 999, "S = {s}");
            assert!(t.windows(2).all(|w| w[0] < w[1]), "S = {s}: {t:?}");
            assert!(t[0] >= 0);
        }
        let t = ddim_timesteps(Spacing::UniformTrailing, 50, 1000);
        assert_eq!((t[0], t.len()), (19, 50));
    }

    #[test]
    fn half_even() {
        assert_eq!(round_half_even(10.5), 10.0);
        assert_eq!(round_half_even(11.5), 12.0);
        assert_eq!(round_half_even(-0.5), -0.0);
        assert_eq!(round_half_even(2.4), 2.0);
    }
}
