//! Backend selection: the product runs on wgpu (Vulkan, Metal, DX12); tests also run on
//! the pure-Rust CPU backend (`flex`).

use std::fmt;
use std::str::FromStr;

use burn::tensor::{DType, Device, DeviceKind};

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

/// The wgpu adapter burn's default device runs on, found the way burn finds it (a real GPU
/// before a software one).
fn default_adapter() -> Option<wgpu::Adapter> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    let rank = |t: wgpu::DeviceType| match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    };
    adapters.into_iter().min_by_key(|a| {
        let i = a.get_info();
        (rank(i.device_type), i.backend as u8)
    })
}

/// The adapter a backend runs on, for people: for wgpu the GPU's name, its graphics API and
/// driver (`NVIDIA GeForce RTX 4070 · Vulkan · NVIDIA 550.54`); for the CPU backend, the CPU.
pub fn adapter_label(backend: Backend) -> String {
    match backend {
        Backend::Cpu => "CPU backend (burn-flex, f32)".into(),
        Backend::Wgpu => match default_adapter().map(|a| a.get_info()) {
            Some(i) => {
                let driver = [i.driver.as_str(), i.driver_info.as_str()]
                    .iter()
                    .filter(|s| !s.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" ");
                let software = if i.device_type == wgpu::DeviceType::Cpu { " (software, slow)" } else { "" };
                format!(
                    "{}{software} · {:?} · {}",
                    i.name,
                    i.backend,
                    if driver.is_empty() { "driver ?" } else { &driver }
                )
            }
            None => "no GPU adapter found (install a Vulkan driver, or use the CPU backend)".into(),
        },
    }
}

/// The largest buffer one kernel can bind on the backend's adapter, in bytes: the smaller
/// of its storage-binding and buffer limits, which cubecl also uses as its page size (a
/// tensor larger than this cannot exist on the device). `None` for the CPU backend or
/// when no adapter is found. lavapipe: 128 MiB; desktop GPUs: 2-4 GiB. Looked up once.
pub fn max_binding(backend: Backend) -> Option<u64> {
    static WGPU: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    match backend {
        Backend::Cpu => None,
        Backend::Wgpu => *WGPU.get_or_init(|| {
            default_adapter().map(|a| {
                let l = a.limits();
                l.max_storage_buffer_binding_size.min(l.max_buffer_size)
            })
        }),
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

/// Numeric precision of the model on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
pub enum Precision {
    /// f16 on a wgpu adapter that supports it, f32 otherwise.
    #[default]
    Auto,
    /// Weights and activations in f16; statistics and the sampler in f32.
    #[value(alias = "fp16", alias = "half")]
    F16,
    /// Everything in f32 (reference-exact).
    #[value(alias = "fp32", alias = "float")]
    F32,
}

impl Precision {
    /// The dtype the UNet computes in on `device` of `backend`. `Auto` picks f16 only on
    /// wgpu where the adapter supports it (the CPU backend computes f16 slower than f32).
    pub fn resolve(self, backend: Backend, device: &Device) -> DType {
        match self {
            Self::F32 => DType::F32,
            Self::F16 => DType::F16,
            Self::Auto if backend == Backend::Wgpu && device.supports_dtype(DType::F16) => DType::F16,
            Self::Auto => DType::F32,
        }
    }

    /// Checks that `device` can compute in this precision.
    pub fn check(self, device: &Device) -> Result<(), String> {
        if self == Self::F16 && !device.supports_dtype(DType::F16) {
            return Err("this device does not support f16 (shaderFloat16); use --precision f32 or auto".into());
        }
        Ok(())
    }

    /// All settings, for menus.
    pub const ALL: [Self; 3] = [Self::Auto, Self::F16, Self::F32];
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The names the command line takes (`clap::ValueEnum`), shown the same in the app.
        let value = clap::ValueEnum::to_possible_value(self);
        f.write_str(value.as_ref().map_or("?", clap::builder::PossibleValue::get_name))
    }
}

/// A short name of a dtype for reports.
pub fn dtype_name(d: DType) -> &'static str {
    match d {
        DType::F16 => "f16",
        DType::BF16 => "bf16",
        DType::F64 => "f64",
        _ => "f32",
    }
}
