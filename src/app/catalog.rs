//! The four official models as the first-run panel offers them: what each makes, its
//! download size, and the memory plan's estimate of the device memory it needs (the app
//! joins the downloader's facts with the pipeline's estimate; neither reaches the other).

use crate::model::config::Variant;

/// One official model as the first-run panel shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct OfficialModel {
    pub variant: Variant,
    /// Size of `model.ckpt` (all four are fp32 PyTorch-Lightning files of 2.6 B parameters).
    pub download_gb: f64,
    pub output: &'static str,
    pub purpose: &'static str,
    /// Estimated peak device memory in f16 with the `low` plan, and with `balanced`.
    pub memory_gb: (f64, f64),
}

/// The four official models, with the memory plan's estimate of what each needs.
pub fn catalog() -> Vec<OfficialModel> {
    use crate::model::config::ModelConfig;
    use crate::pipeline::generate::Settings;
    use crate::pipeline::memory::{MemoryMode, MemoryPlan, estimate};

    Variant::ALL
        .iter()
        .map(|&v| {
            let (cfg, s) = (ModelConfig::preset(v), Settings::defaults(v));
            let need = |mode| {
                let plan = MemoryPlan::resolve(mode, crate::device::Backend::Wgpu, None, None, |_| 0);
                estimate(&cfg, s.frames, s.height, s.width, burn::tensor::DType::F16, &plan, 2).total() as f64 / 1e9
            };
            let (output, purpose) = match v {
                Variant::V256 => ("256×256", "the original model: square clips, frame-stride motion control"),
                Variant::V512 => ("320×512", "image to video, the usual choice"),
                Variant::V1024 => ("576×1024", "image to video at the highest resolution (slowest)"),
                Variant::V512Interp => ("320×512", "interpolation between two images, and seamless loops"),
            };
            OfficialModel {
                variant: v,
                download_gb: 10.4,
                output,
                purpose,
                memory_gb: (need(MemoryMode::Low), need(MemoryMode::Balanced)),
            }
        })
        .collect()
}
