//! The fixtures' error metrics (fixtures README §5), computed in f64.

use burn::tensor::Tensor;

/// Reads a tensor back to the host.
pub(crate) fn host<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, String> {
    let data = t.try_into_data().map_err(|e| format!("device read failed: {e:?}"))?;
    data.convert::<f32>().try_into_vec::<f32>().map_err(|e| format!("{e:?}"))
}

/// ‖out − ref‖₂ / ‖ref‖₂ over the whole tensor; `inf` on a length mismatch, NaN if any
/// output is NaN.
pub fn rel_l2(out: &[f32], reference: &[f32]) -> f64 {
    if out.len() != reference.len() {
        return f64::INFINITY;
    }
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (a, b) in out.iter().zip(reference) {
        let d = *a as f64 - *b as f64;
        num += d * d;
        den += (*b as f64) * (*b as f64);
    }
    if den == 0.0 {
        return num.sqrt();
    }
    (num / den).sqrt()
}

/// max |out − ref|; `inf` on a length mismatch, NaN if any output is NaN.
pub fn max_abs(out: &[f32], reference: &[f32]) -> f64 {
    if out.len() != reference.len() {
        return f64::INFINITY;
    }
    let mut m = 0.0f64;
    for (a, b) in out.iter().zip(reference) {
        let d = (*a as f64 - *b as f64).abs();
        if d.is_nan() {
            return f64::NAN;
        }
        m = m.max(d);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_can_fail() {
        assert_eq!(rel_l2(&[1.0, 0.0], &[1.0, 0.0]), 0.0);
        assert!((rel_l2(&[1.1, 0.0], &[1.0, 0.0]) - 0.1).abs() < 1e-6);
        assert!(rel_l2(&[f32::NAN], &[1.0]).is_nan());
        assert_eq!(max_abs(&[1.0], &[1.0, 2.0]), f64::INFINITY);
        assert!(max_abs(&[f32::NAN], &[1.0]).is_nan());
    }
}
