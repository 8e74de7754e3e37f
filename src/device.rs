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

/// The graphics APIs the model runs on.
const MODEL_APIS: wgpu::Backends = wgpu::Backends::VULKAN.union(wgpu::Backends::METAL).union(wgpu::Backends::DX12);

/// The wgpu adapters of this machine on `apis`.
fn adapters(apis: wgpu::Backends) -> Vec<wgpu::Adapter> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    pollster::block_on(instance.enumerate_adapters(apis))
}

/// The wgpu adapter burn's default device runs on, found the way burn finds it (a real GPU
/// before a software one), among the adapters the model can run on: Vulkan, Metal, DX12
/// (wgpu's OpenGL backend is not one: on it burn's runtime deadlocked here, see
/// [`AdapterError::OpenGlOnly`]).
fn default_adapter() -> Option<wgpu::Adapter> {
    let rank = |t: wgpu::DeviceType| match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    };
    adapters(MODEL_APIS).into_iter().min_by_key(|a| {
        let i = a.get_info();
        (rank(i.device_type), i.backend as u8)
    })
}

/// Why the wgpu backend cannot run here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdapterError {
    #[error(
        "no GPU adapter found: wgpu sees no Vulkan, Metal or DX12 device. Install your GPU's driver with \
         Vulkan support (Linux: the Vulkan loader `libvulkan1` and the driver's Vulkan ICD, e.g. \
         `mesa-vulkan-drivers`, or NVIDIA's driver), or use the CPU backend (`--backend cpu`)"
    )]
    None,
    #[error(
        "only an OpenGL adapter was found ({0}): the model needs Vulkan, Metal or DX12 (burn's runtime \
         deadlocks on wgpu's OpenGL backend). On Linux install the Vulkan loader `libvulkan1` and your \
         GPU's Vulkan driver, or use the CPU backend (`--backend cpu`)"
    )]
    OpenGlOnly(String),
    #[error(
        "this is the `vulkan-spirv` build, whose SPIR-V shaders crashed software Vulkan ({0}); \
         use the default build there, or the CPU backend (`--backend cpu`)"
    )]
    SpirvOnSoftware(String),
}

/// Checks once that burn's wgpu backend has an adapter it can run on, before anything touches
/// it (without one, burn's device initialisation panics or, on OpenGL, hangs).
pub fn check_wgpu() -> Result<(), AdapterError> {
    static CHECKED: std::sync::OnceLock<Result<(), AdapterError>> = std::sync::OnceLock::new();
    CHECKED
        .get_or_init(|| {
            if let Some(a) = default_adapter() {
                let i = a.get_info();
                // cubecl picks SPIR-V on any capable Vulkan adapter, lavapipe included, where it
                // crashed (README, "Tensor cores"); no API chooses WGSL for one adapter only.
                // `DYNAMICRAFTER_SPIRV_ON_SOFTWARE=1` lets it run there anyway, to investigate.
                let allowed = std::env::var_os("DYNAMICRAFTER_SPIRV_ON_SOFTWARE").is_some_and(|v| v == "1");
                if cfg!(feature = "vulkan-spirv") && i.device_type == wgpu::DeviceType::Cpu && !allowed {
                    return Err(AdapterError::SpirvOnSoftware(i.name));
                }
                return Ok(());
            }
            match adapters(wgpu::Backends::GL).into_iter().next() {
                Some(gl) => Err(AdapterError::OpenGlOnly(gl.get_info().name)),
                None => Err(AdapterError::None),
            }
        })
        .clone()
}

/// What the GPU report states about the adapter the model runs on.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AdapterInfo {
    pub name: String,
    /// `Vulkan`, `Metal`, `Dx12`.
    pub api: String,
    /// `DiscreteGpu`, `IntegratedGpu`, `Cpu` (software, e.g. lavapipe) …
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
    pub vendor_id: u32,
    pub device_id: u32,
    pub shader_f16: bool,
    /// Timestamp queries: device times in the report; without them, wall time between syncs.
    pub timestamp_query: bool,
    /// wgpu's experimental cooperative-matrix feature (what tensor cores need through wgpu).
    pub cooperative_matrix: bool,
    /// The largest storage binding (= cubecl's page size), bytes.
    pub max_binding: u64,
    /// burn's backend with its shader compiler, e.g. `dispatch<fusion<cubecl<wgpu<wgsl>>>>`.
    pub compiler: String,
}

/// The adapter burn's default wgpu device runs on, and the compiler burn uses for it.
pub fn adapter_info() -> Result<AdapterInfo, AdapterError> {
    check_wgpu()?;
    let a = default_adapter().ok_or(AdapterError::None)?;
    let (i, f, l) = (a.get_info(), a.features(), a.limits());
    Ok(AdapterInfo {
        name: i.name,
        api: format!("{:?}", i.backend),
        device_type: format!("{:?}", i.device_type),
        driver: i.driver,
        driver_info: i.driver_info,
        vendor_id: i.vendor,
        device_id: i.device,
        shader_f16: f.contains(wgpu::Features::SHADER_F16),
        timestamp_query: f.contains(wgpu::Features::TIMESTAMP_QUERY),
        cooperative_matrix: f.contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX),
        max_binding: l.max_storage_buffer_binding_size.min(l.max_buffer_size),
        compiler: compiler_name(&Backend::Wgpu.device()),
    })
}

/// burn's name for the backend of `device`, with the shader compiler it chose:
/// `…cubecl<wgpu<wgsl>>…` or `…<spirv>>…` (SPIR-V only in a `vulkan-spirv` build, on a Vulkan
/// adapter with the features it needs).
pub fn compiler_name(device: &Device) -> String {
    <burn_dispatch::Dispatch as burn_backend::Backend>::name(device.as_dispatch())
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
