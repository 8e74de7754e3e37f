//! A pickle *parser* for the index (`data.pkl`) of PyTorch checkpoints.
//!
//! Checkpoints are untrusted data: a pickle is a program for a stack machine that may call
//! any Python function (`os.system`, `eval`, …). This module never calls anything. It
//! builds a tree of [`Value`]s and evaluates only a short allow-list of *structural*
//! constructors the way `torch.load` would:
//!
//! * `collections.OrderedDict` → [`Value::Dict`],
//! * `torch._utils._rebuild_tensor_v2` / `_rebuild_tensor` → [`Value::TensorRef`],
//! * `torch._utils._rebuild_parameter(_with_state)` and
//!   `torch._tensor._rebuild_from_type_v2` → the wrapped tensor,
//! * `torch.Size` → [`Value::Tuple`], `builtins.set` / `frozenset` → [`Value::Set`],
//! * storage classes (`torch.FloatStorage`, …) and dtypes (`torch.float16`, …) stay
//!   [`Value::Global`]s that describe tensor storages.
//!
//! Every other global becomes [`Value::Opaque`]; calling, instantiating or building an
//! opaque value yields another opaque value. A Lightning checkpoint with hyper-parameters,
//! optimizer states and callbacks therefore parses, and those parts are simply opaque.
//!
//! Objects live in an arena while parsing, so the memo shares objects exactly like
//! Python does (an object filled after it was memoized is seen filled through `GET`).
//! The arena is turned into a tree at the end, with limits on depth and total size that
//! stop "billion laughs"-style sharing. Every read is bounds-checked; no input panics.
//!
//! Hand-rolled, with reason: burn-store's `PytorchStore` reads these checkpoints into a
//! model but keeps the file's dtype (an fp16 `.ckpt` aborted the process on the CPU backend,
//! 0.22.1: see `notes/stack.md`) and does not list tensors for the streaming import, which
//! narrows them one by one; general pickle crates (`serde-pickle`) do not evaluate torch's
//! rebuild functions. Files: `opcodes.rs` (the protocol's opcodes), `globals.rs` (the
//! allow-list), `machine.rs` (the stack machine and its arena), `ops.rs` (what each opcode
//! does), `reduce.rs` (structural evaluation and turning the arena into a tree).

use std::collections::{HashMap, HashSet};

use machine::Machine;

use crate::weights::index::ElementType;

mod globals;
mod machine;
mod opcodes;
mod ops;
mod reduce;
#[cfg(test)]
mod tests;

/// Resource limits for [`parse_with_limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most opcodes executed.
    pub max_ops: u64,
    /// Most items (objects and marks) on the stack at once.
    pub max_stack: usize,
    /// Most memo entries.
    pub max_memo: usize,
    /// Most objects created while parsing.
    pub max_objects: usize,
    /// Most values in the final tree (shared objects count once per reference).
    pub max_values: usize,
    /// Deepest nesting of containers in the final tree.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_ops: 200_000_000,
            max_stack: 1 << 20,
            max_memo: 1 << 24,
            max_objects: 20_000_000,
            max_values: 20_000_000,
            max_depth: 256,
        }
    }
}

/// A value built from a pickle. Nothing in it was executed.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// A float.
    Float(f64),
    /// A text string.
    Str(String),
    /// A byte string or bytearray.
    Bytes(Vec<u8>),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A list.
    List(Vec<Value>),
    /// A dict or OrderedDict, in insertion order, keys unique.
    Dict(Vec<(Value, Value)>),
    /// A set or frozenset.
    Set(Vec<Value>),
    /// An allowed global (a storage class, a dtype, an allowed function) not called.
    Global {
        /// Module, e.g. `torch`.
        module: String,
        /// Name, e.g. `FloatStorage`.
        name: String,
    },
    /// A call of an allowed global whose result has no structural meaning.
    Reduce {
        /// The callable.
        func: Box<Value>,
        /// Its arguments.
        args: Box<Value>,
    },
    /// A persistent id (a storage reference) that no tensor constructor consumed.
    PersistentId(Box<Value>),
    /// A tensor: where its storage is and how it is viewed.
    TensorRef(Box<TensorRef>),
    /// Something not understood or not allowed (a custom class, `os.system`, a huge
    /// integer…), described for diagnostics. Never instantiated.
    Opaque(String),
}

impl Value {
    /// The string, if this is a [`Value::Str`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The tensor, if this is a [`Value::TensorRef`].
    pub fn as_tensor(&self) -> Option<&TensorRef> {
        match self {
            Value::TensorRef(t) => Some(t.as_ref()),
            _ => None,
        }
    }

    /// The entries, if this is a [`Value::Dict`].
    pub fn as_dict(&self) -> Option<&[(Value, Value)]> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// The value stored under the string key `key`, if this is a dict.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_dict()?.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v)
    }

    /// A short description of the kind of value, for messages.
    pub fn kind(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Float(_) => "float".into(),
            Value::Str(_) => "str".into(),
            Value::Bytes(_) => "bytes".into(),
            Value::Tuple(_) => "tuple".into(),
            Value::List(_) => "list".into(),
            Value::Dict(_) => "dict".into(),
            Value::Set(_) => "set".into(),
            Value::Global { module, name } => format!("{module}.{name}"),
            Value::Reduce { .. } => "object".into(),
            Value::PersistentId(_) => "storage reference".into(),
            Value::TensorRef(_) => "tensor".into(),
            Value::Opaque(what) => what.clone(),
        }
    }
}

/// Element type of a tensor storage, as named in the pickle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageType {
    /// A type we can read.
    Known(ElementType),
    /// A type we cannot read (complex, float8, quantized…), by its torch name.
    Unsupported(String),
}

/// A tensor as described by `torch._utils._rebuild_tensor_v2`: a view of a storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorRef {
    /// Storage key: the tensor's bytes are in the archive entry `<prefix>/data/<key>`.
    pub storage_key: String,
    /// Element type of the storage.
    pub dtype: StorageType,
    /// Device the storage was saved from (`cpu`, `cuda:0`…), informational.
    pub location: String,
    /// Number of elements the persistent id claims the storage holds.
    pub storage_numel: u64,
    /// Offset of the first element of the view, in elements.
    pub storage_offset: u64,
    /// Shape.
    pub size: Vec<u64>,
    /// Strides in elements.
    pub stride: Vec<u64>,
}

/// Why a pickle could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{msg} (at byte {pos})")]
pub struct PickleError {
    /// Byte offset of the opcode being executed.
    pub pos: u64,
    /// What went wrong.
    pub msg: String,
}

/// Parses a pickle with the default [`Limits`].
pub fn parse(data: &[u8]) -> Result<Value, PickleError> {
    parse_with_limits(data, &Limits::default())
}

/// Parses a pickle, never executing code, within `limits`.
pub fn parse_with_limits(data: &[u8], limits: &Limits) -> Result<Value, PickleError> {
    let mut m = Machine {
        data,
        pos: 0,
        op_pos: 0,
        nodes: Vec::new(),
        stack: Vec::new(),
        memo: HashMap::new(),
        limits: *limits,
        work: limits.max_values,
    };
    let root = m.run()?;
    // Real pickles reference each object about once; allow generous sharing, no more.
    let mut budget = limits.max_values.min(m.nodes.len().saturating_mul(8).saturating_add(1 << 20));
    m.materialize(root, 0, &mut budget, &mut HashSet::new())
}
