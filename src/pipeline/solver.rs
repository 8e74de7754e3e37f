//! Multistep solvers beside DDIM: DPM-Solver++(2M) and its SDE variant (Lu et al. 2022,
//! "DPM-Solver++"; the update rules of diffusers' `DPMSolverMultistepScheduler`, data
//! prediction, midpoint second order). They advance the latent between the same timesteps
//! DDIM uses, from the same guided x0 prediction; only the update differs. DDIM stays the
//! default and the only reference-exact sampler.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// The update rule of a sampling run (history stores it with the settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SamplerKind {
    /// The reference's DDIM (η from the settings).
    #[default]
    Ddim,
    /// DPM-Solver++(2M), deterministic: second order, fewer steps for the same clip.
    DpmPp2m,
    /// DPM-Solver++(2M) SDE: second order with fresh noise each step.
    DpmPp2mSde,
}

impl SamplerKind {
    pub const ALL: [SamplerKind; 3] = [Self::Ddim, Self::DpmPp2m, Self::DpmPp2mSde];

    /// The name users see (and `--sampler` takes).
    pub fn name(self) -> &'static str {
        match self {
            Self::Ddim => "ddim",
            Self::DpmPp2m => "dpmpp-2m",
            Self::DpmPp2mSde => "dpmpp-2m-sde",
        }
    }

    /// A label for the app.
    pub fn label(self) -> &'static str {
        match self {
            Self::Ddim => "DDIM (reference)",
            Self::DpmPp2m => "DPM-Solver++ 2M (not reference-exact)",
            Self::DpmPp2mSde => "DPM-Solver++ 2M SDE (not reference-exact)",
        }
    }

    /// From [`Self::name`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s.to_ascii_lowercase().replace('_', "-"))
    }
}

/// The smallest ᾱ the solvers work with. Zero-terminal-SNR schedules end at ᾱ_T = 0, where
/// the log-SNR λ is −∞; like diffusers (`alphas_cumprod[-1] = 2**-24` when
/// `rescale_betas_zero_snr`), the first noise level is clamped.
pub const MIN_ALPHA_CUMPROD: f64 = 1.0 / (1u64 << 24) as f64;

/// α, σ and λ = ln(α/σ) of a noise level ᾱ (clamped to [`MIN_ALPHA_CUMPROD`]).
fn level(abar: f64) -> (f64, f64, f64) {
    let a = abar.clamp(MIN_ALPHA_CUMPROD, 1.0);
    let (alpha, sigma) = (a.sqrt(), (1.0 - a).max(0.0).sqrt());
    (alpha, sigma, alpha.ln() - sigma.max(f64::MIN_POSITIVE).ln())
}

/// The state a multistep solver carries between steps: the previous x0 prediction and its λ.
#[derive(Debug, Default)]
pub struct Multistep {
    prev: Option<(Tensor<5>, f64)>,
}

impl Multistep {
    /// One step from noise level `abar_s` to `abar_t` given the x0 prediction at `abar_s`.
    /// `first_order` forces the first-order update (the first and the last step, as
    /// diffusers' `lower_order_final`); `noise` is drawn only by the SDE variant.
    ///
    /// # Shapes
    /// - x, x0: `[1, 4, t, h, w]` → `[1, 4, t, h, w]`
    pub fn step(
        &mut self,
        kind: SamplerKind,
        x: &Tensor<5>,
        x0: Tensor<5>,
        abar_s: f64,
        abar_t: f64,
        first_order: bool,
        noise: impl FnOnce() -> Tensor<5>,
    ) -> Tensor<5> {
        let (_, sigma_s, lambda_s) = level(abar_s);
        let (alpha_t, sigma_t, lambda_t) = level(abar_t);
        let h = lambda_t - lambda_s;
        // The second-order correction D1 = (x0 − x0_prev) / r with r = h_prev / h.
        let d1 = match (&self.prev, first_order) {
            (Some((prev, lambda_prev)), false) if h != 0.0 && lambda_s != *lambda_prev => {
                let r = (lambda_s - lambda_prev) / h;
                Some((x0.clone() - prev.clone()) / r)
            }
            _ => None,
        };
        self.prev = Some((x0.clone(), lambda_s));
        let ratio = (sigma_t / sigma_s) as f32;
        match kind {
            SamplerKind::Ddim | SamplerKind::DpmPp2m => {
                let c = (alpha_t * (1.0 - (-h).exp())) as f32; // −α_t (e^{−h} − 1)
                let d = match d1 {
                    Some(d1) => x0 + d1 * 0.5,
                    None => x0,
                };
                x.clone() * ratio + d * c
            }
            SamplerKind::DpmPp2mSde => {
                let e2h = (-2.0 * h).exp();
                let c = (alpha_t * (1.0 - e2h)) as f32;
                let d = match d1 {
                    Some(d1) => x0 + d1 * 0.5,
                    None => x0,
                };
                let keep = ratio * (-h).exp() as f32;
                x.clone() * keep + d * c + noise() * (sigma_t * (1.0 - e2h).max(0.0).sqrt()) as f32
            }
        }
    }
}
