//! IFNet of the RIFE 4.7 architecture (4.7, 4.8, 4.9 share it; `rife_arch.py` arch "4.7",
//! vs-rife `IFNet_HDv3_v4_7.py`): an encoder of 4 feature channels per frame and four
//! IFBlocks that refine a bidirectional flow and a blend mask from coarse (1/8) to full
//! resolution. No context or refinement network (those are 4.0–4.3 only).

use burn::tensor::activation::{leaky_relu, sigmoid};
use burn::tensor::module::conv_transpose2d;
use burn::tensor::ops::ConvTransposeOptions;
use burn::tensor::{DType, Tensor};

use crate::model::conv::Conv2d;
use crate::model::flops;
use crate::rife::warp::{pad_multiple, pad_to, resize, warp};
use crate::weights::vars::Vars;

/// `(in_planes, c)` of block0..block3.
pub const BLOCKS: [(usize, usize); 4] = [(15, 192), (20, 128), (20, 96), (20, 64)];

/// How one intermediate frame is made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Position between the two frames, in (0, 1) (any value: it is an input channel).
    pub timestep: f32,
    /// Flow resolution: blocks run at `[8, 4, 2, 1] / scale` (one of [`super::SCALES`]).
    pub scale: f32,
    /// Also run every block on the swapped pair and average (vs-rife / Practical-RIFE
    /// `ensemble`; ComfyUI's node never turns it on for 4.7).
    pub ensemble: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self { timestep: 0.5, scale: 1.0, ensemble: false }
    }
}

/// `nn.ConvTranspose2d(cin, cout, 4, 2, 1)`.
#[derive(Debug, Clone)]
struct ConvTranspose2d {
    /// `[in, out, 4, 4]` (torch's layout for transposed convolutions).
    weight: Tensor<4>,
    bias: Tensor<1>,
}

impl ConvTranspose2d {
    fn load(vars: &Vars, cin: usize, cout: usize) -> Self {
        Self { weight: vars.tensor("weight", [cin, cout, 4, 4]), bias: vars.tensor("bias", [cout]) }
    }

    /// # Shapes
    /// - x: `[n, in, h, w]` → `[n, out, 2h, 2w]`
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [n, cin, h, w] = x.dims();
        let cout = self.weight.dims()[1];
        flops::add(2 * (n * cin * h * w * cout * 16) as u64);
        let opts = ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1);
        conv_transpose2d(x, self.weight.clone(), Some(self.bias.clone()), opts)
    }
}

/// `nn.PixelShuffle(2)`.
///
/// # Shapes
/// - x: `[n, 4c, h, w]` → `[n, c, 2h, 2w]`
fn pixel_shuffle(x: Tensor<4>) -> Tensor<4> {
    let [n, c4, h, w] = x.dims();
    let c = c4 / 4;
    x.reshape([n, c, 2, 2, h, w]).permute([0, 1, 4, 2, 5, 3]).reshape([n, c, 2 * h, 2 * w])
}

/// `lrelu(conv(x)·beta + x)`.
#[derive(Debug, Clone)]
struct ResConv {
    conv: Conv2d,
    /// `[1, c, 1, 1]`.
    beta: Tensor<4>,
}

impl ResConv {
    fn load(vars: &Vars, c: usize) -> Self {
        Self { conv: Conv2d::load(&vars.pp("conv"), c, c, 3, 1, 1, true), beta: vars.tensor("beta", [1, c, 1, 1]) }
    }

    /// # Shapes
    /// - x: `[n, c, h, w]` → same
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        leaky_relu(self.conv.forward(x.clone()) * self.beta.clone() + x, 0.2)
    }
}

/// One refinement level.
#[derive(Debug, Clone)]
struct IFBlock {
    conv0: [Conv2d; 2],
    convblock: Vec<ResConv>,
    lastconv: ConvTranspose2d,
}

impl IFBlock {
    fn load(vars: &Vars, cin: usize, c: usize) -> Self {
        let conv0 = vars.pp("conv0");
        Self {
            conv0: [
                Conv2d::load(&conv0.pp("0.0"), cin, c / 2, 3, 2, 1, true),
                Conv2d::load(&conv0.pp("1.0"), c / 2, c, 3, 2, 1, true),
            ],
            convblock: (0..8).map(|i| ResConv::load(&vars.pp(format!("convblock.{i}")), c)).collect(),
            lastconv: ConvTranspose2d::load(&vars.pp("lastconv.0"), c, 24),
        }
    }

    /// The flow (correction) and mask logits at the input's resolution.
    ///
    /// # Shapes
    /// - x: `[n, in − 4·flow?, h, w]`, flow: `[n, 4, h, w]` → (`[n, 4, h, w]`, `[n, 1, h, w]`)
    fn forward(&self, x: Tensor<4>, flow: Option<Tensor<4>>, scale: f64) -> (Tensor<4>, Tensor<4>) {
        let mut x = resize(x, 1.0 / scale);
        if let Some(flow) = flow {
            let flow = resize(flow, 1.0 / scale).div_scalar(scale);
            x = Tensor::cat(vec![x, flow], 1);
        }
        let mut feat = x;
        for conv in &self.conv0 {
            feat = leaky_relu(conv.forward(feat), 0.2);
        }
        for res in &self.convblock {
            feat = res.forward(feat);
        }
        let tmp = resize(pixel_shuffle(self.lastconv.forward(feat)), scale);
        let flow = tmp.clone().narrow(1, 0, 4).mul_scalar(scale);
        let mask = tmp.narrow(1, 4, 1);
        (flow, mask)
    }
}

/// What one block produced (the intermediates the goldens hold).
#[derive(Debug, Clone)]
pub struct BlockTrace {
    /// The block's own flow output (block 0: the flow; later: the correction), padded size.
    pub flow: Tensor<4>,
    /// Its mask logits.
    pub mask: Tensor<4>,
    /// The accumulated flow after the block.
    pub flow_sum: Tensor<4>,
    /// Both frames warped by it.
    pub warped0: Tensor<4>,
    pub warped1: Tensor<4>,
}

/// The intermediates of one forward pass, at the padded size.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    /// Encoder features of each frame `[n, 4, h, w]`.
    pub f0: Option<Tensor<4>>,
    pub f1: Option<Tensor<4>>,
    pub blocks: Vec<BlockTrace>,
}

/// The network.
#[derive(Debug, Clone)]
pub struct IFNet {
    encode0: Conv2d,
    encode1: ConvTranspose2d,
    blocks: Vec<IFBlock>,
}

/// `cat(flow[:, 2:4], flow[:, 0:2])`: the flow seen from the other frame.
fn swap_flow(flow: Tensor<4>) -> Tensor<4> {
    Tensor::cat(vec![flow.clone().narrow(1, 2, 2), flow.narrow(1, 0, 2)], 1)
}

impl IFNet {
    /// Loads the 124 tensors of a 4.7-architecture state dict (keys as in `rife47.pth`).
    pub fn load(vars: &Vars) -> Self {
        Self {
            encode0: Conv2d::load(&vars.pp("encode.0"), 3, 16, 3, 2, 1, true),
            encode1: ConvTranspose2d::load(&vars.pp("encode.1"), 16, 4),
            blocks: BLOCKS
                .iter()
                .enumerate()
                .map(|(i, &(cin, c))| IFBlock::load(&vars.pp(format!("block{i}")), cin, c))
                .collect(),
        }
    }

    /// The dtype of the weights.
    pub fn dtype(&self) -> DType {
        self.encode0.dtype()
    }

    /// The device of the weights.
    pub fn device(&self) -> burn::tensor::Device {
        self.encode0.device()
    }

    /// `encode`: `Conv2d(3, 16, 3, s2, p1)` then `ConvTranspose2d(16, 4, 4, s2, p1)`, no
    /// activation between.
    ///
    /// # Shapes
    /// - x: `[n, 3, h, w]` (h, w even) → `[n, 4, h, w]`
    fn encode(&self, x: Tensor<4>) -> Tensor<4> {
        self.encode1.forward(self.encode0.forward(x))
    }

    /// The frame at `opts.timestep` between `img0` and `img1` (values in [0, 1]; clamped as
    /// the reference does). Pads to [`pad_multiple`] and crops back. With `trace`, records
    /// the intermediates.
    ///
    /// # Shapes
    /// - img0, img1: `[n, 3, h, w]` (any h, w) → `[n, 3, h, w]`
    pub fn forward(&self, img0: Tensor<4>, img1: Tensor<4>, opts: Options, mut trace: Option<&mut Trace>) -> Tensor<4> {
        let [n, _, h, w] = img0.dims();
        let dtype = self.dtype();
        let multiple = pad_multiple(opts.scale);
        let img0 = pad_to(img0.cast(dtype).clamp(0.0, 1.0), multiple);
        let img1 = pad_to(img1.cast(dtype).clamp(0.0, 1.0), multiple);
        let [_, _, ph, pw] = img0.dims();
        let device = img0.device();
        let t = Tensor::<4>::full([n, 1, ph, pw], opts.timestep, &device).cast(dtype);
        let t_rev = Tensor::<4>::full([n, 1, ph, pw], 1.0 - opts.timestep, &device).cast(dtype);
        let f0 = self.encode(img0.clone());
        let f1 = self.encode(img1.clone());
        if let Some(tr) = trace.as_deref_mut() {
            tr.f0 = Some(f0.clone());
            tr.f1 = Some(f1.clone());
        }
        let scale = f64::from(opts.scale);
        let mut flow: Option<Tensor<4>> = None;
        let mut mask: Option<Tensor<4>> = None;
        let (mut warped0, mut warped1) = (img0.clone(), img1.clone());
        for (i, block) in self.blocks.iter().enumerate() {
            let level = f64::from(8u32 >> i) / scale;
            let (out, new_flow, new_mask) = match (flow.take(), mask.take()) {
                (Some(prev), Some(m)) => {
                    let wf0 = warp(f0.clone(), prev.clone().narrow(1, 0, 2));
                    let wf1 = warp(f1.clone(), prev.clone().narrow(1, 2, 2));
                    let x = Tensor::cat(
                        vec![warped0.clone(), warped1.clone(), wf0.clone(), wf1.clone(), t.clone(), m.clone()],
                        1,
                    );
                    let (fd, m0) = block.forward(x, Some(prev.clone()), level);
                    let (fd_used, mask) = if opts.ensemble {
                        let x = Tensor::cat(vec![warped1.clone(), warped0.clone(), wf1, wf0, t_rev.clone(), -m], 1);
                        let (f_, m_) = block.forward(x, Some(swap_flow(prev.clone())), level);
                        ((fd.clone() + swap_flow(f_)).div_scalar(2.0), (m0.clone() - m_).div_scalar(2.0))
                    } else {
                        (fd.clone(), m0.clone())
                    };
                    ((fd, m0), prev + fd_used, mask)
                }
                _ => {
                    let x = Tensor::cat(vec![img0.clone(), img1.clone(), f0.clone(), f1.clone(), t.clone()], 1);
                    let (fl, m) = block.forward(x, None, level);
                    let (fl_used, m_used) = if opts.ensemble {
                        let x = Tensor::cat(vec![img1.clone(), img0.clone(), f1.clone(), f0.clone(), t_rev.clone()], 1);
                        let (f_, m_) = block.forward(x, None, level);
                        ((fl.clone() + swap_flow(f_)).div_scalar(2.0), (m.clone() - m_).div_scalar(2.0))
                    } else {
                        (fl.clone(), m.clone())
                    };
                    ((fl, m), fl_used, m_used)
                }
            };
            warped0 = warp(img0.clone(), new_flow.clone().narrow(1, 0, 2));
            warped1 = warp(img1.clone(), new_flow.clone().narrow(1, 2, 2));
            if let Some(tr) = trace.as_deref_mut() {
                tr.blocks.push(BlockTrace {
                    flow: out.0,
                    mask: out.1,
                    flow_sum: new_flow.clone(),
                    warped0: warped0.clone(),
                    warped1: warped1.clone(),
                });
            }
            flow = Some(new_flow);
            mask = Some(new_mask);
        }
        let mask = sigmoid(mask.expect("four blocks ran"));
        let merged = warped0 * mask.clone() + warped1 * (mask.neg() + 1.0);
        merged.slice([0..n, 0..3, 0..h, 0..w])
    }
}
