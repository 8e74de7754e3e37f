//! From user inputs to frames: image preparation, conditioning, DDIM sampling, decoding.

pub mod conditioning;
pub mod ddim;
pub mod device_read;
pub mod generate;
pub mod memory;
pub mod preprocess;
pub mod rng;
pub mod runtime;
pub mod schedule;
pub mod solver;
pub mod solver_check;
pub mod storyboard;

use burn::tensor::Tensor;

use crate::model::DynamiCrafter;

/// Decodes every frame of a diffusion latent, one frame at a time (`perframe_ae`: same
/// numbers, lower peak memory).
///
/// # Shapes
/// - latent: `[1, 4, t, h, w]` → `[1, 3, t, 8h, 8w]`, not clamped
pub fn decode_video(model: &DynamiCrafter, latent: Tensor<5>) -> Tensor<5> {
    let [b, c, t, h, w] = latent.dims();
    let sf = model.config.diffusion.scale_factor;
    let frames: Vec<Tensor<4>> = (0..t)
        .map(|k| {
            let z = latent.clone().narrow(2, k, 1).reshape([b, c, h, w]) / sf;
            model.vae.decode(z)
        })
        .collect();
    Tensor::stack::<5>(frames, 2)
}
