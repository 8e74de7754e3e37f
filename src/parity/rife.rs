//! RIFE fixtures (`config.json` → `"kind": "rife"`, `tests/fixtures/rife-*`): every case runs
//! the network on the case's two frames and checks the encoder features, each block's flow,
//! mask, accumulated flow and warps, and the merged frame against the reference's tensors.
//! The weights are loaded from the fixture's `.pth` through [`load_rife`], the path a user's
//! file takes.

use burn::tensor::{DType, Tensor};
use serde_json::Value;

use super::{CaseRunner, Check};
use crate::parity::metrics::rel_l2;
use crate::rife::{IFNet, Options, Trace, load_rife};

/// The stated f16 bound (README, "Testing"): rel. L2 of every stage when the network computes
/// in f16 (the warps sample in f32; the flows are f16).
pub const F16_BOUND: f64 = 1e-2;

/// The fixture's network, loaded once per run.
pub(super) fn network<'r>(r: &'r CaseRunner) -> Result<&'r IFNet, String> {
    r.rife
        .get_or_init(|| {
            let file = r.fx.config_json.get("checkpoint").and_then(Value::as_str).unwrap_or("rife47.pth");
            let path = r.weights.clone().unwrap_or_else(|| r.fx.dir.join(file));
            load_rife(&path, &r.run.backend.device(), r.dtype).map(|(net, _)| net).map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn host(x: Tensor<4>) -> Result<Vec<f32>, String> {
    x.cast(DType::F32)
        .try_into_data()
        .map_err(|e| format!("{e:?}"))?
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| format!("{e:?}"))
}

/// One `rife` case.
pub(super) fn run(r: &CaseRunner, name: &str, case: &Value) -> Result<Vec<Check>, String> {
    let net = network(r)?;
    let device = net.device();
    let f = |k: &str| case.get(k).and_then(Value::as_f64).ok_or_else(|| format!("case lacks `{k}`"));
    let opts = Options {
        timestep: f("timestep")? as f32,
        scale: f("scale")? as f32,
        ensemble: case.get("ensemble").and_then(Value::as_bool).unwrap_or(false),
    };
    let f32_bound = case.pointer("/tolerance/rel_l2").and_then(Value::as_f64).unwrap_or(1e-4);
    let bound = if r.dtype == DType::F32 { f32_bound } else { F16_BOUND.max(f32_bound) };
    let input = |k: &str| r.fx.tensor::<4>(&format!("{name}.{k}"), &device).map_err(|e| e.to_string());
    let mut trace = Trace::default();
    let merged = net.forward(input("img0")?, input("img1")?, opts, Some(&mut trace));
    let mut outputs: Vec<(String, Tensor<4>)> = vec![("merged".into(), merged)];
    outputs.extend(trace.f0.map(|t| ("encode.f0".into(), t)));
    outputs.extend(trace.f1.map(|t| ("encode.f1".into(), t)));
    for (i, b) in trace.blocks.into_iter().enumerate() {
        for (what, t) in [
            ("flow", b.flow),
            ("mask", b.mask),
            ("flow_sum", b.flow_sum),
            ("warped0", b.warped0),
            ("warped1", b.warped1),
        ] {
            outputs.push((format!("block{i}.{what}"), t));
        }
    }
    let mut checks = Vec::new();
    for (what, t) in outputs {
        let golden = format!("{name}.{what}");
        // The ensemble case holds only what vs-rife's forward exposes (no per-block outputs).
        if !r.fx.has(&golden) {
            continue;
        }
        let g = r.fx.f32(&golden).map_err(|e| e.to_string())?;
        if g.shape != t.dims() {
            checks.push(Check::error(&golden, format!("shape {:?}, golden {:?}", t.dims(), g.shape)));
            continue;
        }
        checks.push(Check::le(golden, "rel_l2", rel_l2(&host(t)?, &g.data), bound));
    }
    let wanted = case.get("tensors").and_then(Value::as_array).map_or(0, Vec::len);
    // Every golden but the two inputs must have been checked.
    if checks.len() + 2 != wanted {
        checks
            .push(Check::error(name, format!("checked {} of the case's {} output tensors", checks.len(), wanted - 2)));
    }
    Ok(checks)
}
