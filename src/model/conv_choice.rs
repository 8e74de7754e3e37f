//! `--conv auto`: for each convolution shape on each device, both paths are measured once (as
//! an autotune would: one untimed run to compile, one timed run, each waiting for the
//! device) and the faster is used from then on. The choices are remembered per adapter in
//! `conv-choices.json` in the data folder (`DYNAMICRAFTER_CONV_CHOICES` names another file;
//! `none` keeps them in memory only), so a shape is measured once per adapter, not per run.
//! A choice that cannot be measured (a device error) is not remembered: the direct path runs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor};

use super::conv::ConvPath;
use crate::device::dtype_name;

/// One measured shape: both paths' seconds and the choice.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Measured {
    pub adapter: String,
    pub shape: String,
    pub direct_s: f64,
    pub gemm_s: f64,
    pub chosen: ConvPath,
}

#[derive(Default)]
struct Choices {
    loaded: bool,
    /// adapter → shape → path.
    remembered: BTreeMap<String, BTreeMap<String, ConvPath>>,
    /// What this process measured, in order.
    measured: Vec<Measured>,
}

fn choices() -> &'static Mutex<Choices> {
    static CHOICES: OnceLock<Mutex<Choices>> = OnceLock::new();
    CHOICES.get_or_init(Mutex::default)
}

/// Where the choices are kept (`None`: in memory only).
fn file() -> Option<PathBuf> {
    match std::env::var_os("DYNAMICRAFTER_CONV_CHOICES") {
        Some(v) if v == "none" => None,
        Some(v) => Some(PathBuf::from(v)),
        None => crate::identity::data_dir().map(|d| d.join("conv-choices.json")),
    }
}

/// The adapter a device runs on, as the choices are keyed.
fn adapter(device: &Device) -> String {
    static WGPU: OnceLock<String> = OnceLock::new();
    if *device == Device::flex() {
        return "cpu (burn-flex)".into();
    }
    WGPU.get_or_init(|| crate::device::adapter_label(crate::device::Backend::Wgpu)).clone()
}

/// `f16 n2 320→320 k3 s1 p1 40×64`: everything the speed of one convolution depends on.
fn shape(x: &Tensor<4>, weight: &Tensor<4>, opts: &ConvOptions<2>) -> String {
    let [n, cin, h, w] = x.dims();
    let [cout, _, k, _] = weight.dims();
    let pad = opts.padding.map(|(a, b)| format!("{a}{b}")).join(",");
    format!("{} n{n} {cin}→{cout} k{k} s{} p{pad} {h}×{w}", dtype_name(x.dtype()), opts.stride[0])
}

/// The remembered or newly measured path for this convolution; `run` runs it one way.
pub fn choose(
    x: &Tensor<4>,
    weight: &Tensor<4>,
    opts: &ConvOptions<2>,
    run: impl Fn(ConvPath) -> Tensor<4>,
) -> ConvPath {
    let device = x.device();
    let (adapter, shape) = (adapter(&device), shape(x, weight, opts));
    {
        let mut c = choices().lock().unwrap_or_else(|p| p.into_inner());
        if !c.loaded {
            c.loaded = true;
            c.remembered = read();
        }
        if let Some(p) = c.remembered.get(&adapter).and_then(|m| m.get(&shape)) {
            return *p;
        }
    }
    let Some((direct_s, gemm_s)) = time(&device, &run) else { return ConvPath::Direct };
    let chosen = if gemm_s < direct_s { ConvPath::Gemm } else { ConvPath::Direct };
    let mut c = choices().lock().unwrap_or_else(|p| p.into_inner());
    c.remembered.entry(adapter.clone()).or_default().insert(shape.clone(), chosen);
    c.measured.push(Measured { adapter, shape, direct_s, gemm_s, chosen });
    write(&c.remembered);
    chosen
}

/// Seconds of one run of each path after one untimed run (kernel compilation, autotune).
fn time(device: &Device, run: &impl Fn(ConvPath) -> Tensor<4>) -> Option<(f64, f64)> {
    let mut secs = [0.0; 2];
    for (i, p) in [ConvPath::Direct, ConvPath::Gemm].into_iter().enumerate() {
        drop(run(p));
        device.sync().ok()?;
        let start = Instant::now();
        drop(run(p));
        device.sync().ok()?;
        secs[i] = start.elapsed().as_secs_f64();
    }
    Some((secs[0], secs[1]))
}

/// The shapes this process measured (for `bench`'s report).
pub fn measured() -> Vec<Measured> {
    choices().lock().unwrap_or_else(|p| p.into_inner()).measured.clone()
}

/// Measures every shape again from now on (the report's fresh comparison); the file is
/// rewritten with the new measurements.
pub fn forget() {
    let mut c = choices().lock().unwrap_or_else(|p| p.into_inner());
    *c = Choices { loaded: true, ..Choices::default() };
}

fn read() -> BTreeMap<String, BTreeMap<String, ConvPath>> {
    let Some(path) = file() else { return BTreeMap::new() };
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            eprintln!("note: {} is unreadable ({e}); convolution paths will be measured again", path.display());
            BTreeMap::new()
        }),
        Err(_) => BTreeMap::new(),
    }
}

/// Writes the choices (to a temporary file renamed over the old one); a failure only costs
/// measuring again in the next run, so it is reported and otherwise ignored.
fn write(remembered: &BTreeMap<String, BTreeMap<String, ConvPath>>) {
    let Some(path) = file() else { return };
    let result = (|| -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
        let json = serde_json::to_vec_pretty(remembered).map_err(std::io::Error::other)?;
        crate::durable::write_with(&tmp, |w| std::io::Write::write_all(w, &json))?;
        std::fs::rename(&tmp, &path)
    })();
    if let Err(e) = result {
        eprintln!("note: cannot remember the convolution choices in {}: {e}", path.display());
    }
}
