//! How the model runs on this machine: backend, precision and memory plan, resolved once
//! per loaded model. The worker, `animate`, `bench` and `parity` all load through
//! [`load`], so the tested path is the path users take.

use burn::tensor::DType;
use serde::{Deserialize, Serialize};

use crate::device::{Backend, Precision, dtype_name};
use crate::model::config::ModelConfig;
use crate::model::unet::attention::CallOptions;
use crate::model::{DynamiCrafter, ModelLoadError, Placement};
use crate::pipeline::ddim::Execution;
use crate::pipeline::memory::{self, MemoryEstimate, MemoryMode, MemoryPlan, WontFit};
use crate::weights::vars::TensorSource;

/// The user's choices (app settings, CLI flags).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub backend: Backend,
    pub precision: Precision,
    pub memory: MemoryMode,
    /// GPU memory the user says the card has, in GB (`None`: unknown, no check).
    pub budget_gb: Option<f32>,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self { backend: Backend::Wgpu, precision: Precision::Auto, memory: MemoryMode::Auto, budget_gb: None }
    }
}

/// A loaded model with the plan it runs under.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub model: DynamiCrafter,
    pub plan: MemoryPlan,
    pub config: RunConfig,
}

/// Why a model could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Adapter(#[from] crate::device::AdapterError),
    #[error("{0}")]
    Precision(String),
    #[error(transparent)]
    Load(#[from] ModelLoadError),
    #[error(transparent)]
    WontFit(#[from] WontFit),
}

impl RunConfig {
    fn budget(&self) -> Option<u64> {
        self.budget_gb.filter(|g| *g > 0.0).map(|g| (f64::from(g) * 1e9) as u64)
    }

    /// The dtype the UNet will compute in.
    pub fn dtype(&self) -> Result<DType, RuntimeError> {
        if self.backend == Backend::Wgpu {
            crate::device::check_wgpu()?;
        }
        let device = self.backend.device();
        self.precision.check(&device).map_err(RuntimeError::Precision)?;
        Ok(self.precision.resolve(self.backend, &device))
    }

    /// Resolves the memory plan for generations of `frames` × `height` × `width`.
    pub fn plan(
        &self,
        cfg: &ModelConfig,
        frames: usize,
        height: usize,
        width: usize,
    ) -> Result<MemoryPlan, RuntimeError> {
        let dtype = self.dtype()?;
        let need = |p: &MemoryPlan| memory::estimate(cfg, frames, height, width, dtype, p, 2).total();
        let max_binding = crate::device::max_binding(self.backend);
        let plan = MemoryPlan::resolve(self.memory, self.backend, self.budget(), max_binding, need);
        Ok(plan.place_decoder(cfg, height, width))
    }

    /// The estimate of one generation under `plan` with `calls` UNet calls per step.
    #[allow(clippy::too_many_arguments)]
    pub fn estimate(
        &self,
        cfg: &ModelConfig,
        plan: &MemoryPlan,
        frames: usize,
        height: usize,
        width: usize,
        calls: usize,
    ) -> Result<MemoryEstimate, RuntimeError> {
        Ok(memory::estimate(cfg, frames, height, width, self.dtype()?, plan, calls))
    }

    /// Refuses a generation that will not fit the stated budget, before it starts.
    pub fn check_fits(&self, est: &MemoryEstimate, plan: &MemoryPlan) -> Result<(), RuntimeError> {
        Ok(memory::check_fits(est, self.budget(), plan, self.dtype()?)?)
    }

    /// Where the components go under `plan`.
    pub fn placement(&self, plan: &MemoryPlan) -> Result<Placement, RuntimeError> {
        let device = self.backend.device();
        let dtype = self.dtype()?;
        let placement = if plan.encoders_on_host {
            Placement::encoders_on_host(&device, dtype)
        } else {
            Placement::single(&device, dtype)
        };
        Ok(if plan.decoder_on_host { placement.decoder_on_host() } else { placement })
    }

    /// One line for logs and the app: `wgpu f16, memory low (encoders on the CPU)`.
    pub fn describe(&self, plan: &MemoryPlan) -> String {
        let dtype = self.dtype().map(dtype_name).unwrap_or("?");
        let enc = plan.on_host().map(|h| format!(", {h}")).unwrap_or_default();
        let cfg = if plan.batch_cfg { ", batched guidance" } else { "" };
        format!("{} {dtype}, memory {}{enc}{cfg}", self.backend, plan.mode)
    }
}

/// Loads `source` as `cfg` under `run`, planning for generations of `frames` × `height`
/// × `width`.
pub fn load(
    source: &dyn TensorSource,
    cfg: &ModelConfig,
    run: RunConfig,
    frames: usize,
    height: usize,
    width: usize,
) -> Result<Runtime, RuntimeError> {
    let plan = run.plan(cfg, frames, height, width)?;
    let placement = run.placement(&plan)?;
    let model = DynamiCrafter::load_placed(source, cfg, &placement)?;
    Ok(Runtime { model, plan, config: run })
}

impl Runtime {
    /// How the UNet calls run under this plan.
    pub fn execution(&self) -> Execution {
        Execution {
            call: CallOptions { chunk_elems: Some(self.plan.chunk_elems), ..Default::default() },
            batch_cfg: self.plan.batch_cfg,
        }
    }
}
