//! `ResBlock` with its `temopral_conv` (openaimodel3d.py:109-279).

use burn::tensor::Tensor;

use crate::model::conv::Conv2d;
use crate::model::nn::{GroupNorm, Linear, TemporalConv, silu};
use crate::weights::vars::Vars;

/// ResBlock and `out` GroupNorms: 32 groups, eps 1e-5 (`GroupNormSpecific`, basics.py:76-87).
const GN_EPS: f64 = 1e-5;

/// One stage of the temporal conv: GroupNorm over all frames, SiLU, Conv3d (3, 1, 1).
#[derive(Debug, Clone)]
struct TemporalConvStage {
    norm: GroupNorm,
    conv: TemporalConv,
}

impl TemporalConvStage {
    /// `conv_index` is 2 for `conv1` (no dropout) and 3 for `conv2..4`.
    fn load(vars: &Vars, ch: usize, conv_index: usize) -> Self {
        Self {
            norm: GroupNorm::load(&vars.pp(0), ch, 32, GN_EPS),
            conv: TemporalConv::load(&vars.pp(conv_index), ch, ch, 3),
        }
    }

    /// # Shapes
    /// - x: `[b, c, t, h, w]` → `[b, c, t, h, w]` (zero padding in time)
    fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        self.conv.forward(silu(self.norm.forward(x)))
    }
}

/// `TemporalConvBlock` (spatial_aware = False): four stages and a residual.
#[derive(Debug, Clone)]
struct TemporalConvBlock {
    stages: Vec<TemporalConvStage>,
}

impl TemporalConvBlock {
    fn load(vars: &Vars, ch: usize) -> Self {
        let stages = (1..=4)
            .map(|i| TemporalConvStage::load(&vars.pp(format!("conv{i}")), ch, if i == 1 { 2 } else { 3 }))
            .collect();
        Self { stages }
    }

    /// # Shapes
    /// - x: `[b, c, t, h, w]` → `[b, c, t, h, w]`
    fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let mut h = x.clone();
        for s in &self.stages {
            h = s.forward(h);
        }
        x + h
    }
}

/// The UNet's residual block with time embedding and temporal convolution.
#[derive(Debug, Clone)]
pub struct ResBlock {
    in_norm: GroupNorm,
    in_conv: Conv2d,
    emb: Linear,
    out_norm: GroupNorm,
    out_conv: Conv2d,
    skip: Option<Conv2d>,
    temporal: Option<TemporalConvBlock>,
}

impl ResBlock {
    /// Loads `in_layers.{0,2}`, `emb_layers.1`, `out_layers.{0,3}`, `skip_connection`,
    /// `temopral_conv` (the checkpoint's spelling).
    pub fn load(vars: &Vars, cin: usize, cout: usize, emb_dim: usize, temporal_conv: bool) -> Self {
        Self {
            in_norm: GroupNorm::load(&vars.pp("in_layers").pp(0), cin, 32, GN_EPS),
            in_conv: Conv2d::load(&vars.pp("in_layers").pp(2), cin, cout, 3, 1, 1, true),
            emb: Linear::load(&vars.pp("emb_layers").pp(1), emb_dim, cout, true),
            out_norm: GroupNorm::load(&vars.pp("out_layers").pp(0), cout, 32, GN_EPS),
            out_conv: Conv2d::load(&vars.pp("out_layers").pp(3), cout, cout, 3, 1, 1, true),
            skip: (cin != cout).then(|| Conv2d::load(&vars.pp("skip_connection"), cin, cout, 1, 1, 0, true)),
            temporal: temporal_conv.then(|| TemporalConvBlock::load(&vars.pp("temopral_conv"), cout)),
        }
    }

    /// # Shapes
    /// - x: `[(b t), cin, h, w]`, emb: `[(b t), emb_dim]` → `[(b t), cout, h, w]`
    pub fn forward(&self, x: Tensor<4>, emb: &Tensor<2>, frames: usize) -> Tensor<4> {
        let h = self.in_conv.forward(silu(self.in_norm.forward(x.clone())));
        let e = self.emb.forward(silu(emb.clone())); // [(b t), cout]
        let [n, c] = e.dims();
        let h = h + e.reshape([n, c, 1, 1]);
        let h = self.out_conv.forward(silu(self.out_norm.forward(h)));
        let skip = match &self.skip {
            Some(s) => s.forward(x),
            None => x,
        };
        let h = skip + h;
        match &self.temporal {
            Some(tc) => {
                let [n, c, hh, ww] = h.dims();
                let b = n / frames;
                let v = h.reshape([b, frames, c, hh, ww]).swap_dims(1, 2); // [b, c, t, h, w]
                tc.forward(v).swap_dims(1, 2).reshape([n, c, hh, ww])
            }
            None => h,
        }
    }
}
