//! Strict, path-based weight loading (the candle `VarBuilder` idea, made strict).
//!
//! Every module builds itself from a [`Vars`] handle: `vars.pp("in_layers").pp(0)` names
//! the sub-module exactly as the checkpoint does, and `vars.tensor("weight", shape)` asks
//! for one tensor. The checkpoint's names are the contract: there is no per-tensor loader.
//!
//! Loading runs in two passes over the same constructors:
//! 1. [`LoadMode::DryRun`]: nothing is read and no real tensor is made (a 1-element
//!    placeholder is returned). Every request is recorded as `(name, shape)`. The list is
//!    compared with the checkpoint: missing tensors, shape mismatches and unused tensors are
//!    all reported by name, **before any tensor exists**. The same pass proves in tests that
//!    the module tree expects exactly the keys of each official release.
//! 2. [`LoadMode::Load`]: the tensors are read and uploaded to the device.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use burn::tensor::{DType, Device, Tensor, TensorData};

use crate::weights::error::WeightsError;

/// Anything that can hand out named f32 tensors: a checkpoint, random weights, a test map.
pub trait TensorSource: Sync {
    /// Shape of the tensor `name`, if present.
    fn shape_of(&self, name: &str) -> Option<Vec<usize>>;
    /// Reads the tensor as contiguous row-major f32 values.
    fn read_f32(&self, name: &str) -> Result<Vec<f32>, WeightsError>;
    /// Every tensor name in the source.
    fn tensor_names(&self) -> Vec<String>;

    /// Whether the tensor is stored in f16 (an import never widens such weights: their
    /// f16 rounding is part of the model, and parity judges the cache by it).
    fn stored_f16(&self, _name: &str) -> bool {
        false
    }

    /// Reads the tensor as burn data of `dtype` (`F32` or `F16`), one tensor at a time.
    ///
    /// The default widens through [`Self::read_f32`]; sources that store `dtype` override it
    /// to hand their bytes over as they are (an f16 cache is never widened on the host).
    fn read_data(&self, name: &str, dtype: DType) -> Result<TensorData, WeightsError> {
        let shape = self.shape_of(name).ok_or_else(|| WeightsError::Missing { name: name.to_owned() })?;
        let values = self.read_f32(name)?;
        Ok(narrow_f32(values, shape, dtype))
    }
}

/// f32 host values as burn data of `dtype` (converted element by element; no second copy
/// survives the call).
pub fn narrow_f32(values: Vec<f32>, shape: Vec<usize>, dtype: DType) -> TensorData {
    match dtype {
        DType::F16 => TensorData::new(values.into_iter().map(half::f16::from_f32).collect::<Vec<_>>(), shape),
        _ => TensorData::new(values, shape).convert_dtype(dtype),
    }
}

/// Transposes a row-major `[rows, cols]` matrix of `elem`-byte elements.
fn transpose_bytes(src: &[u8], rows: usize, cols: usize, elem: usize) -> Vec<u8> {
    let mut out = vec![0u8; src.len()];
    for r in 0..rows {
        for c in 0..cols {
            let from = (r * cols + c) * elem;
            let to = (c * rows + r) * elem;
            out[to..to + elem].copy_from_slice(&src[from..from + elem]);
        }
    }
    out
}

/// Whether constructors read real weights or only declare what they need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadMode {
    /// Record names and shapes; return placeholders.
    DryRun,
    /// Read every tensor from the source.
    Load,
}

/// One tensor the module tree asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// Full checkpoint key.
    pub name: String,
    /// Shape as stored in the checkpoint (PyTorch layout).
    pub shape: Vec<usize>,
    /// `false` for tensors that exist in the official files but inference never uses
    /// (e.g. `ln_post`, `text_projection`): they are expected, never read.
    pub used: bool,
}

/// A mismatch between the module tree and a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    /// The model needs this tensor and the file lacks it.
    Missing { name: String, shape: Vec<usize> },
    /// Present, but with another shape.
    ShapeMismatch { name: String, expected: Vec<usize>, found: Vec<usize> },
    /// In the file (under a loaded prefix) but not part of the model.
    Unused { name: String, shape: Vec<usize> },
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { name, shape } => write!(f, "missing tensor `{name}` {shape:?}"),
            Self::ShapeMismatch { name, expected, found } => {
                write!(f, "tensor `{name}` has shape {found:?}, the model expects {expected:?}")
            }
            Self::Unused { name, shape } => write!(f, "unexpected tensor `{name}` {shape:?}"),
        }
    }
}

/// Shared state of one loading pass.
pub struct LoadContext<'s> {
    source: &'s dyn TensorSource,
    device: Device,
    dtype: DType,
    mode: LoadMode,
    expected: RefCell<Vec<Expected>>,
    first_error: RefCell<Option<WeightsError>>,
}

impl fmt::Debug for LoadContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadContext")
            .field("mode", &self.mode)
            .field("expected", &self.expected.borrow().len())
            .finish()
    }
}

impl<'s> LoadContext<'s> {
    /// A context over `source` that makes tensors of `dtype` on `device`.
    pub fn new(source: &'s dyn TensorSource, device: &Device, dtype: DType, mode: LoadMode) -> Self {
        Self {
            source,
            device: device.clone(),
            dtype,
            mode,
            expected: RefCell::new(Vec::new()),
            first_error: RefCell::new(None),
        }
    }

    /// The root path handle.
    pub fn root(&self) -> Vars<'_, 's> {
        Vars { ctx: self, path: String::new() }
    }

    /// The device tensors are made on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Every tensor the module tree asked for, in request order.
    pub fn expected(&self) -> Vec<Expected> {
        self.expected.borrow().clone()
    }

    /// Finishes a pass: returns the first read error, if any.
    pub fn finish(self) -> Result<Vec<Expected>, WeightsError> {
        if let Some(e) = self.first_error.into_inner() {
            return Err(e);
        }
        Ok(self.expected.into_inner())
    }

    fn record(&self, name: &str, shape: &[usize], used: bool) {
        self.expected.borrow_mut().push(Expected { name: name.to_owned(), shape: shape.to_vec(), used });
    }

    fn fail(&self, e: WeightsError) {
        let mut slot = self.first_error.borrow_mut();
        if slot.is_none() {
            *slot = Some(e);
        }
    }
}

/// Compares what the model expects under `prefixes` with what `source` holds.
///
/// Tensors of the source outside every prefix are ignored (another component owns them).
pub fn check_keys(expected: &[Expected], source: &dyn TensorSource, prefixes: &[&str]) -> Vec<KeyProblem> {
    let mut problems = Vec::new();
    let mut wanted = BTreeMap::new();
    for e in expected {
        wanted.insert(e.name.as_str(), e);
        match source.shape_of(&e.name) {
            // Tensors inference never reads may be absent (e.g. in the trimmed cache).
            None if !e.used => {}
            None => problems.push(KeyProblem::Missing { name: e.name.clone(), shape: e.shape.clone() }),
            Some(found) if found != e.shape => {
                problems.push(KeyProblem::ShapeMismatch { name: e.name.clone(), expected: e.shape.clone(), found })
            }
            Some(_) => {}
        }
    }
    let names: BTreeSet<String> = source.tensor_names().into_iter().collect();
    for name in &names {
        let owned = prefixes.iter().any(|p| name.starts_with(p));
        if owned && !wanted.contains_key(name.as_str()) {
            let shape = source.shape_of(name).unwrap_or_default();
            problems.push(KeyProblem::Unused { name: name.clone(), shape });
        }
    }
    problems
}

/// A path into the checkpoint's name space.
#[derive(Clone)]
pub struct Vars<'c, 's> {
    ctx: &'c LoadContext<'s>,
    path: String,
}

impl fmt::Debug for Vars<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Vars({})", self.path)
    }
}

impl<'c, 's> Vars<'c, 's> {
    /// The sub-path `self.name`.
    pub fn pp(&self, name: impl fmt::Display) -> Self {
        let path = if self.path.is_empty() { name.to_string() } else { format!("{}.{name}", self.path) };
        Self { ctx: self.ctx, path }
    }

    /// The current path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The device of the pass.
    pub fn device(&self) -> &Device {
        &self.ctx.device
    }

    /// Whether this is a dry run.
    pub fn is_dry_run(&self) -> bool {
        self.ctx.mode == LoadMode::DryRun
    }

    fn key(&self, name: &str) -> String {
        if self.path.is_empty() { name.to_owned() } else { format!("{}.{name}", self.path) }
    }

    /// Records `name` and checks its shape; `Some(key)` when it should be read now.
    fn request(&self, name: &str, shape: &[usize]) -> Option<String> {
        let key = self.key(name);
        self.ctx.record(&key, shape, true);
        if self.ctx.mode == LoadMode::DryRun {
            return None;
        }
        match self.ctx.source.shape_of(&key) {
            None => {
                self.ctx.fail(WeightsError::Missing { name: key });
                None
            }
            Some(found) if found != shape => {
                self.ctx.fail(WeightsError::ShapeMismatch { name: key, expected: shape.to_vec(), found });
                None
            }
            Some(_) => Some(key),
        }
    }

    fn ok<T>(&self, r: Result<T, WeightsError>) -> Option<T> {
        r.map_err(|e| self.ctx.fail(e)).ok()
    }

    /// Reads `name` with the given PyTorch-layout shape as f32 values on the host.
    /// Returns `None` in a dry run or after an error (recorded in the context).
    pub fn host_f32(&self, name: &str, shape: &[usize]) -> Option<Vec<f32>> {
        let key = self.request(name, shape)?;
        self.ok(self.ctx.source.read_f32(&key))
    }

    /// Reads `name` as host data in this pass's dtype.
    fn host_data(&self, name: &str, shape: &[usize]) -> Option<TensorData> {
        let key = self.request(name, shape)?;
        self.ok(self.ctx.source.read_data(&key, self.ctx.dtype))
    }

    /// Declares a tensor that the official checkpoints carry but inference never reads.
    pub fn unused(&self, name: &str, shape: &[usize]) {
        self.ctx.record(&self.key(name), shape, false);
    }

    /// Reads a scalar (shape `[]`) on the host; 0 in a dry run.
    pub fn scalar(&self, name: &str) -> f32 {
        self.host_f32(name, &[]).and_then(|v| v.first().copied()).unwrap_or(0.0)
    }

    /// Loads `name` as a tensor of `shape` (the checkpoint's layout).
    pub fn tensor<const D: usize>(&self, name: &str, shape: [usize; D]) -> Tensor<D> {
        match self.host_data(name, &shape) {
            Some(data) => Tensor::<D>::from_data(data, (&self.ctx.device, self.ctx.dtype)),
            None => self.placeholder(),
        }
    }

    /// Loads a PyTorch `Linear` weight `[out, in]` and returns it transposed to burn's
    /// `[in, out]` layout.
    pub fn linear_weight(&self, name: &str, out_features: usize, in_features: usize) -> Tensor<2> {
        self.linear_weight_stored(name, &[out_features, in_features], out_features, in_features)
    }

    /// Like [`Self::linear_weight`] for a weight stored with another shape of the same
    /// layout, e.g. a `Conv1d` with kernel 1 stored as `[out, in, 1]`.
    pub fn linear_weight_stored(
        &self,
        name: &str,
        stored: &[usize],
        out_features: usize,
        in_features: usize,
    ) -> Tensor<2> {
        match self.host_data(name, stored) {
            Some(data) => {
                let (bytes, _, dtype) = data.into_parts();
                let t = transpose_bytes(&bytes, out_features, in_features, dtype.size());
                drop(bytes);
                let data = TensorData::from_bytes_vec(t, [in_features, out_features], dtype);
                Tensor::<2>::from_data(data, (&self.ctx.device, self.ctx.dtype))
            }
            None => self.placeholder(),
        }
    }

    fn placeholder<const D: usize>(&self) -> Tensor<D> {
        Tensor::<D>::zeros([1; D], (&self.ctx.device, self.ctx.dtype))
    }
}

/// A [`TensorSource`] over an in-memory map (tests, random weights).
#[derive(Debug, Default, Clone)]
pub struct MemorySource {
    tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl MemorySource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tensor.
    pub fn insert(&mut self, name: impl Into<String>, shape: Vec<usize>, values: Vec<f32>) {
        self.tensors.insert(name.into(), (shape, values));
    }
}

impl TensorSource for MemorySource {
    fn shape_of(&self, name: &str) -> Option<Vec<usize>> {
        self.tensors.get(name).map(|(s, _)| s.clone())
    }

    fn read_f32(&self, name: &str) -> Result<Vec<f32>, WeightsError> {
        self.tensors.get(name).map(|(_, v)| v.clone()).ok_or_else(|| WeightsError::Missing { name: name.to_owned() })
    }

    fn tensor_names(&self) -> Vec<String> {
        self.tensors.keys().cloned().collect()
    }
}

/// Deterministic pseudo-random weights for every expected tensor, generated when read
/// (never all in memory at once): benchmarks and shape tests without a checkpoint.
#[derive(Debug, Clone)]
pub struct RandomSource {
    shapes: BTreeMap<String, Vec<usize>>,
    seed: u64,
    scale: f32,
}

impl RandomSource {
    /// Random weights of uniform spread `scale` (norm weights around 1) for `expected`.
    pub fn new(expected: &[Expected], seed: u64, scale: f32) -> Self {
        let shapes = expected.iter().filter(|e| e.used).map(|e| (e.name.clone(), e.shape.clone())).collect();
        Self { shapes, seed, scale }
    }
}

impl TensorSource for RandomSource {
    fn shape_of(&self, name: &str) -> Option<Vec<usize>> {
        self.shapes.get(name).cloned()
    }

    fn read_f32(&self, name: &str) -> Result<Vec<f32>, WeightsError> {
        let shape = self.shapes.get(name).ok_or_else(|| WeightsError::Missing { name: name.to_owned() })?;
        let n: usize = shape.iter().product();
        let mut state =
            name.bytes().fold(self.seed ^ 0xCBF2_9CE4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01B3))
                | 1;
        let is_norm_weight = (name.contains("norm") || name.contains("ln_")) && name.ends_with("weight");
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let u = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            v.push(if is_norm_weight { 1.0 + u * 0.2 } else { u * self.scale });
        }
        Ok(v)
    }

    fn tensor_names(&self) -> Vec<String> {
        self.shapes.keys().cloned().collect()
    }
}
