//! A seeded, reproducible noise source, identical on every backend (noise is drawn on
//! the host), and the injection point the parity cases use to feed the reference's noise.

/// Where every random tensor of a generation comes from.
pub trait NoiseSource {
    /// The initial latent `x_T` (`n` values of N(0, 1)).
    fn initial(&mut self, n: usize) -> Vec<f32>;
    /// The noise of sampling step `i` (drawn even when σ = 0, as the reference does).
    fn step(&mut self, i: usize, n: usize) -> Vec<f32>;
    /// The posterior noise of the VAE encode of frame `k`.
    fn vae(&mut self, k: usize, n: usize) -> Vec<f32>;
}

/// xoshiro256++ seeded through SplitMix64, with Box–Muller normals.
#[derive(Debug, Clone)]
pub struct SeededNoise {
    s: [u64; 4],
    spare: Option<f32>,
    seed: u64,
}

impl SeededNoise {
    /// A stream for `seed`.
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Self { s: [next(), next(), next(), next()], spare: None, seed }
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = (s[0].wrapping_add(s[3])).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in (0, 1].
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// One N(0, 1) value.
    pub fn normal(&mut self) -> f32 {
        if let Some(v) = self.spare.take() {
            return v;
        }
        let (u1, u2) = (self.uniform(), self.uniform());
        let r = (-2.0 * u1.ln()).sqrt();
        let th = std::f64::consts::TAU * u2;
        self.spare = Some((r * th.sin()) as f32);
        (r * th.cos()) as f32
    }

    /// `n` N(0, 1) values.
    pub fn normals(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.normal()).collect()
    }

    /// An independent stream derived from this seed (so that the VAE noise does not
    /// depend on the number of sampling steps).
    fn fork(&self, salt: u64) -> Self {
        Self::new(self.seed ^ salt.wrapping_mul(0xD1B5_4A32_D192_ED03))
    }
}

/// The generation's streams: `x_T` and steps from one stream, the VAE from another.
#[derive(Debug, Clone)]
pub struct SeededSource {
    main: SeededNoise,
    vae: SeededNoise,
}

impl SeededSource {
    /// All noise of a generation from `seed`.
    pub fn new(seed: u64) -> Self {
        let main = SeededNoise::new(seed);
        let vae = main.fork(0x5641_45);
        Self { main, vae }
    }
}

impl NoiseSource for SeededSource {
    fn initial(&mut self, n: usize) -> Vec<f32> {
        self.main.normals(n)
    }
    fn step(&mut self, _i: usize, n: usize) -> Vec<f32> {
        self.main.normals(n)
    }
    fn vae(&mut self, _k: usize, n: usize) -> Vec<f32> {
        self.vae.normals(n)
    }
}

/// Noise given in advance (parity cases: the reference's stored tensors).
#[derive(Debug, Clone, Default)]
pub struct FixedNoise {
    pub initial: Vec<f32>,
    /// One entry per step.
    pub steps: Vec<Vec<f32>>,
    /// One entry per frame.
    pub vae: Vec<Vec<f32>>,
}

impl NoiseSource for FixedNoise {
    fn initial(&mut self, n: usize) -> Vec<f32> {
        fit(&self.initial, n)
    }
    fn step(&mut self, i: usize, n: usize) -> Vec<f32> {
        fit(self.steps.get(i).map_or(&[][..], |v| v), n)
    }
    fn vae(&mut self, k: usize, n: usize) -> Vec<f32> {
        fit(self.vae.get(k).map_or(&[][..], |v| v), n)
    }
}

fn fit(v: &[f32], n: usize) -> Vec<f32> {
    let mut out = v.iter().copied().take(n).collect::<Vec<_>>();
    out.resize(n, 0.0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_noise_is_reproducible_and_normal() {
        let a = SeededSource::new(123).initial(20_000);
        let b = SeededSource::new(123).initial(20_000);
        assert_eq!(a, b);
        assert_ne!(a, SeededSource::new(124).initial(20_000));
        let mean = a.iter().map(|v| *v as f64).sum::<f64>() / a.len() as f64;
        let var = a.iter().map(|v| (*v as f64 - mean).powi(2)).sum::<f64>() / a.len() as f64;
        assert!(mean.abs() < 0.03 && (var - 1.0).abs() < 0.05, "mean {mean}, var {var}");
    }
}
