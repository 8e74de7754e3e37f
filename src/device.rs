//! Backend selection: the product runs on wgpu (Vulkan, Metal, DX12); tests also run on
//! the pure-Rust CPU backend (`flex`).

use std::fmt;
use std::str::FromStr;

use burn::tensor::{Device, DeviceKind};

/// Which burn backend runs the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Backend {
    /// burn's wgpu runtime on the default adapter (a GPU, or lavapipe without one).
    #[default]
    Wgpu,
    /// burn-flex, pure Rust on the CPU.
    Cpu,
}

impl Backend {
    /// The burn device of this backend.
    pub fn device(self) -> Device {
        match self {
            Self::Wgpu => Device::wgpu(DeviceKind::DefaultDevice),
            Self::Cpu => Device::flex(),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Wgpu => "wgpu",
            Self::Cpu => "cpu",
        })
    }
}

impl FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "wgpu" | "gpu" | "vulkan" => Ok(Self::Wgpu),
            "cpu" | "flex" => Ok(Self::Cpu),
            other => Err(format!("unknown backend `{other}` (use `cpu` or `wgpu`)")),
        }
    }
}
