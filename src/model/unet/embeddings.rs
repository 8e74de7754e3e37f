//! Sinusoidal embeddings of the timestep and of `fs` (utils_diffusion.py:8-27).

use burn::tensor::{Device, Tensor, TensorData};

/// `timestep_embedding(t, dim)`: **cos first**, then sin, frequencies
/// `exp(−ln(10000)·i/half)`, computed in f32 as the reference does.
///
/// # Shapes
/// - t: `n` values → `[n, dim]`
pub fn timestep_embedding(t: &[i64], dim: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(timestep_embedding_host(t, dim), [t.len(), dim]), device)
}

/// Host version of [`timestep_embedding`], row-major `[n, dim]`.
pub fn timestep_embedding_host(t: &[i64], dim: usize) -> Vec<f32> {
    let half = dim / 2;
    let ln = -(10000f64.ln()) as f32;
    let freqs: Vec<f32> = (0..half).map(|i| (ln * i as f32 / half as f32).exp()).collect();
    let mut out = Vec::with_capacity(t.len() * dim);
    for &ti in t {
        let args: Vec<f32> = freqs.iter().map(|f| ti as f32 * f).collect();
        out.extend(args.iter().map(|a| a.cos()));
        out.extend(args.iter().map(|a| a.sin()));
        if dim % 2 == 1 {
            out.push(0.0);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cos_comes_first() {
        let e = timestep_embedding_host(&[0, 5], 8);
        assert_eq!(&e[0..4], &[1.0, 1.0, 1.0, 1.0]);
        assert_eq!(&e[4..8], &[0.0, 0.0, 0.0, 0.0]);
        assert!((e[8] - 5f32.cos()).abs() < 1e-6);
        assert!((e[12] - 5f32.sin()).abs() < 1e-6);
    }
}
