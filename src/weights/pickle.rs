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

use std::collections::{HashMap, HashSet};

use crate::weights::index::ElementType;

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

mod op {
    pub const MARK: u8 = b'(';
    pub const STOP: u8 = b'.';
    pub const POP: u8 = b'0';
    pub const POP_MARK: u8 = b'1';
    pub const DUP: u8 = b'2';
    pub const FLOAT: u8 = b'F';
    pub const INT: u8 = b'I';
    pub const BININT: u8 = b'J';
    pub const BININT1: u8 = b'K';
    pub const LONG: u8 = b'L';
    pub const BININT2: u8 = b'M';
    pub const NONE: u8 = b'N';
    pub const PERSID: u8 = b'P';
    pub const BINPERSID: u8 = b'Q';
    pub const REDUCE: u8 = b'R';
    pub const STRING: u8 = b'S';
    pub const BINSTRING: u8 = b'T';
    pub const SHORT_BINSTRING: u8 = b'U';
    pub const UNICODE: u8 = b'V';
    pub const BINUNICODE: u8 = b'X';
    pub const APPEND: u8 = b'a';
    pub const BUILD: u8 = b'b';
    pub const GLOBAL: u8 = b'c';
    pub const DICT: u8 = b'd';
    pub const EMPTY_DICT: u8 = b'}';
    pub const APPENDS: u8 = b'e';
    pub const GET: u8 = b'g';
    pub const BINGET: u8 = b'h';
    pub const INST: u8 = b'i';
    pub const LONG_BINGET: u8 = b'j';
    pub const LIST: u8 = b'l';
    pub const EMPTY_LIST: u8 = b']';
    pub const OBJ: u8 = b'o';
    pub const PUT: u8 = b'p';
    pub const BINPUT: u8 = b'q';
    pub const LONG_BINPUT: u8 = b'r';
    pub const SETITEM: u8 = b's';
    pub const TUPLE: u8 = b't';
    pub const EMPTY_TUPLE: u8 = b')';
    pub const SETITEMS: u8 = b'u';
    pub const BINFLOAT: u8 = b'G';
    pub const BINBYTES: u8 = b'B';
    pub const SHORT_BINBYTES: u8 = b'C';
    pub const PROTO: u8 = 0x80;
    pub const NEWOBJ: u8 = 0x81;
    pub const EXT1: u8 = 0x82;
    pub const EXT2: u8 = 0x83;
    pub const EXT4: u8 = 0x84;
    pub const TUPLE1: u8 = 0x85;
    pub const TUPLE2: u8 = 0x86;
    pub const TUPLE3: u8 = 0x87;
    pub const NEWTRUE: u8 = 0x88;
    pub const NEWFALSE: u8 = 0x89;
    pub const LONG1: u8 = 0x8a;
    pub const LONG4: u8 = 0x8b;
    pub const SHORT_BINUNICODE: u8 = 0x8c;
    pub const BINUNICODE8: u8 = 0x8d;
    pub const BINBYTES8: u8 = 0x8e;
    pub const EMPTY_SET: u8 = 0x8f;
    pub const ADDITEMS: u8 = 0x90;
    pub const FROZENSET: u8 = 0x91;
    pub const NEWOBJ_EX: u8 = 0x92;
    pub const STACK_GLOBAL: u8 = 0x93;
    pub const MEMOIZE: u8 = 0x94;
    pub const FRAME: u8 = 0x95;
    pub const BYTEARRAY8: u8 = 0x96;
    pub const NEXT_BUFFER: u8 = 0x97;
    pub const READONLY_BUFFER: u8 = 0x98;
}

/// Most values in the arguments of one tensor constructor (a real one has a few dozen).
const MAX_TENSOR_ARG_VALUES: usize = 4096;

/// Index of an object in the arena.
type Id = usize;

/// An object under construction. Containers refer to other objects by [`Id`], so that
/// mutations are seen through every reference, as in Python.
#[derive(Debug)]
enum Node {
    Leaf(Value),
    Tuple(Vec<Id>),
    List(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    Set(Vec<Id>),
    PersistentId(Id),
    Reduce { func: Id, args: Id },
}

#[derive(Debug, Clone, Copy)]
enum Item {
    Mark,
    Obj(Id),
}

/// What an allowed global means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    OrderedDict,
    RebuildTensorV2,
    RebuildTensor,
    RebuildParameter,
    RebuildFromTypeV2,
    TorchSize,
    Set,
    /// A storage class or dtype: meaningful as data, not as a callable.
    Descriptor,
}

/// Classifies a global; `None` means "not allowed" (it becomes [`Value::Opaque`]).
fn classify_global(module: &str, name: &str) -> Option<Known> {
    let known = match (module, name) {
        ("collections", "OrderedDict") => Known::OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2") => Known::RebuildTensorV2,
        ("torch._utils", "_rebuild_tensor") => Known::RebuildTensor,
        ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => Known::RebuildParameter,
        ("torch._tensor", "_rebuild_from_type_v2") => Known::RebuildFromTypeV2,
        ("torch", "Size") => Known::TorchSize,
        ("builtins" | "__builtin__", "set" | "frozenset") => Known::Set,
        ("torch.storage", "UntypedStorage" | "TypedStorage") => Known::Descriptor,
        ("torch", n) if storage_class_dtype(n).is_some() || torch_dtype(n).is_some() => Known::Descriptor,
        _ => return None,
    };
    Some(known)
}

/// Element type of a legacy typed storage class such as `torch.HalfStorage`.
fn storage_class_dtype(name: &str) -> Option<StorageType> {
    let base = name.strip_suffix("Storage")?;
    if base.is_empty() || !base.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let dtype = match base {
        "Float" => ElementType::F32,
        "Half" => ElementType::F16,
        "BFloat16" => ElementType::BF16,
        "Double" => ElementType::F64,
        "Long" => ElementType::I64,
        "Int" => ElementType::I32,
        "Short" => ElementType::I16,
        "Char" => ElementType::I8,
        "Byte" | "Untyped" => ElementType::U8,
        "Bool" => ElementType::Bool,
        other => return Some(StorageType::Unsupported(format!("{other}Storage"))),
    };
    Some(StorageType::Known(dtype))
}

/// Element type named by a torch dtype global such as `torch.float16`.
fn torch_dtype(name: &str) -> Option<StorageType> {
    let dtype = match name {
        "float32" | "float" => ElementType::F32,
        "float16" | "half" => ElementType::F16,
        "bfloat16" => ElementType::BF16,
        "float64" | "double" => ElementType::F64,
        "int64" | "long" => ElementType::I64,
        "int32" | "int" => ElementType::I32,
        "int16" | "short" => ElementType::I16,
        "int8" => ElementType::I8,
        "uint8" => ElementType::U8,
        "bool" => ElementType::Bool,
        "complex32" | "complex64" | "complex128" | "cfloat" | "cdouble" | "chalf" | "uint16" | "uint32" | "uint64"
        | "float8_e4m3fn" | "float8_e5m2" | "float8_e4m3fnuz" | "float8_e5m2fnuz" | "qint8" | "quint8" | "qint32"
        | "quint4x2" => {
            return Some(StorageType::Unsupported(name.to_owned()));
        }
        _ => return None,
    };
    Some(StorageType::Known(dtype))
}

/// The stack machine.
struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    op_pos: usize,
    nodes: Vec<Node>,
    stack: Vec<Item>,
    memo: HashMap<u64, Id>,
    limits: Limits,
    /// Remaining copy/evaluation work (in values) for structural REDUCE evaluation, so
    /// that re-evaluating shared arguments cannot make parsing quadratic.
    work: usize,
}

type Res<T> = Result<T, PickleError>;

impl<'a> Machine<'a> {
    fn err<T>(&self, msg: impl Into<String>) -> Res<T> {
        Err(PickleError { pos: self.op_pos as u64, msg: msg.into() })
    }

    // ---- input ----

    fn take(&mut self, n: usize) -> Res<&'a [u8]> {
        let data = self.data;
        match self.pos.checked_add(n).and_then(|end| data.get(self.pos..end)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => self.err("unexpected end of data: the pickle is truncated"),
        }
    }

    fn array<const N: usize>(&mut self) -> Res<[u8; N]> {
        let s = self.take(N)?;
        match s.try_into() {
            Ok(a) => Ok(a),
            Err(_) => self.err("internal length mismatch"),
        }
    }

    fn u8(&mut self) -> Res<u8> {
        Ok(self.array::<1>()?[0])
    }

    /// Converts a length read from the input, refusing lengths beyond the remaining input.
    fn len(&self, n: u64) -> Res<usize> {
        let remaining = self.data.len().saturating_sub(self.pos);
        match usize::try_from(n) {
            Ok(n) if n <= remaining => Ok(n),
            _ => self.err(format!("length {n} exceeds the {remaining} bytes left: the pickle is truncated or corrupt")),
        }
    }

    fn line(&mut self) -> Res<&'a [u8]> {
        let rest = self.data.get(self.pos..).unwrap_or(&[]);
        match rest.iter().position(|&b| b == b'\n') {
            Some(n) => {
                let line = rest.get(..n).unwrap_or(&[]);
                self.pos += n + 1;
                Ok(line)
            }
            None => self.err("unexpected end of data in a text argument: the pickle is truncated"),
        }
    }

    fn line_str(&mut self) -> Res<&'a str> {
        let line = self.line()?;
        match std::str::from_utf8(line) {
            Ok(s) => Ok(s.trim_end_matches('\r')),
            Err(_) => self.err("text argument is not valid UTF-8"),
        }
    }

    // ---- stack, arena, memo ----

    fn alloc(&mut self, node: Node) -> Res<Id> {
        if self.nodes.len() >= self.limits.max_objects {
            return self.err(format!("more than {} objects", self.limits.max_objects));
        }
        self.nodes.push(node);
        Ok(self.nodes.len() - 1)
    }

    fn push_id(&mut self, id: Id) -> Res<()> {
        if self.stack.len() >= self.limits.max_stack {
            return self.err(format!("stack exceeds {} items", self.limits.max_stack));
        }
        self.stack.push(Item::Obj(id));
        Ok(())
    }

    fn push(&mut self, node: Node) -> Res<()> {
        let id = self.alloc(node)?;
        self.push_id(id)
    }

    fn leaf(&mut self, v: Value) -> Res<()> {
        self.push(Node::Leaf(v))
    }

    fn pop(&mut self) -> Res<Id> {
        match self.stack.pop() {
            Some(Item::Obj(id)) => Ok(id),
            Some(Item::Mark) => self.err("stack underflow: found a MARK where an object was expected"),
            None => self.err("stack underflow"),
        }
    }

    fn top(&self) -> Res<Id> {
        match self.stack.last() {
            Some(Item::Obj(id)) => Ok(*id),
            _ => self.err("stack underflow"),
        }
    }

    /// Pops everything down to and including the topmost MARK.
    fn pop_mark(&mut self) -> Res<Vec<Id>> {
        let Some(mark) = self.stack.iter().rposition(|i| matches!(i, Item::Mark)) else {
            return self.err("MARK missing");
        };
        let items = self
            .stack
            .split_off(mark)
            .into_iter()
            .filter_map(|i| match i {
                Item::Obj(id) => Some(id),
                Item::Mark => None,
            })
            .collect();
        Ok(items)
    }

    fn memo_put(&mut self, key: u64) -> Res<()> {
        let id = self.top()?;
        if self.memo.len() >= self.limits.max_memo && !self.memo.contains_key(&key) {
            return self.err(format!("memo exceeds {} entries", self.limits.max_memo));
        }
        self.memo.insert(key, id);
        Ok(())
    }

    fn memo_get(&mut self, key: u64) -> Res<()> {
        match self.memo.get(&key) {
            Some(&id) => self.push_id(id),
            None => self.err(format!("memo index {key} was never stored")),
        }
    }

    fn node(&self, id: Id) -> Option<&Node> {
        self.nodes.get(id)
    }

    fn node_mut(&mut self, id: Id) -> Res<&mut Node> {
        match self.nodes.get_mut(id) {
            Some(n) => Ok(n),
            None => Err(PickleError { pos: self.op_pos as u64, msg: "bad object reference".into() }),
        }
    }

    /// The global (module, name) this object is, if any.
    fn global_of(&self, id: Id) -> Option<(&str, &str)> {
        match self.node(id)? {
            Node::Leaf(Value::Global { module, name }) => Some((module, name)),
            _ => None,
        }
    }

    fn is_opaque(&self, id: Id) -> bool {
        matches!(self.node(id), Some(Node::Leaf(Value::Opaque(_))))
    }

    /// The items of a tuple or list object.
    fn seq_items(&self, id: Id) -> Option<&[Id]> {
        match self.node(id)? {
            Node::Tuple(v) | Node::List(v) => Some(v),
            _ => None,
        }
    }

    // ---- main loop ----

    fn run(&mut self) -> Res<Id> {
        let mut ops: u64 = 0;
        loop {
            ops += 1;
            self.op_pos = self.pos;
            if ops > self.limits.max_ops {
                return self.err(format!("more than {} opcodes", self.limits.max_ops));
            }
            if self.pos >= self.data.len() {
                return self.err("the pickle ends without a STOP opcode: it is truncated");
            }
            let code = self.u8()?;
            if code == op::STOP {
                return self.pop();
            }
            self.step(code)?;
        }
    }

    fn step(&mut self, code: u8) -> Res<()> {
        match code {
            op::PROTO => {
                let v = self.u8()?;
                if v > 5 {
                    return self.err(format!("unsupported pickle protocol {v}"));
                }
            }
            op::FRAME => {
                self.array::<8>()?;
            }
            op::MARK => {
                if self.stack.len() >= self.limits.max_stack {
                    return self.err(format!("stack exceeds {} items", self.limits.max_stack));
                }
                self.stack.push(Item::Mark);
            }
            op::POP => match self.stack.pop() {
                Some(_) => {}
                None => return self.err("stack underflow"),
            },
            op::POP_MARK => {
                self.pop_mark()?;
            }
            op::DUP => {
                let id = self.top()?;
                self.push_id(id)?;
            }
            _ => return self.step_values(code),
        }
        Ok(())
    }

    fn step_values(&mut self, code: u8) -> Res<()> {
        match code {
            op::NONE => self.leaf(Value::None),
            op::NEWTRUE => self.leaf(Value::Bool(true)),
            op::NEWFALSE => self.leaf(Value::Bool(false)),
            op::INT => self.op_int_text(),
            op::LONG => self.op_long_text(),
            op::BININT => {
                let v = i32::from_le_bytes(self.array()?);
                self.leaf(Value::Int(i64::from(v)))
            }
            op::BININT1 => {
                let v = self.u8()?;
                self.leaf(Value::Int(i64::from(v)))
            }
            op::BININT2 => {
                let v = u16::from_le_bytes(self.array()?);
                self.leaf(Value::Int(i64::from(v)))
            }
            op::LONG1 => {
                let n = u64::from(self.u8()?);
                self.op_long_bytes(n)
            }
            op::LONG4 => {
                let n = i32::from_le_bytes(self.array()?);
                match u64::try_from(n) {
                    Ok(n) => self.op_long_bytes(n),
                    Err(_) => self.err("negative LONG4 length"),
                }
            }
            op::BINFLOAT => {
                let v = f64::from_be_bytes(self.array()?);
                self.leaf(Value::Float(v))
            }
            op::FLOAT => {
                let s = self.line_str()?;
                match s.trim().parse::<f64>() {
                    Ok(v) => self.leaf(Value::Float(v)),
                    Err(_) => self.err("FLOAT argument is not a number"),
                }
            }
            _ => self.step_strings(code),
        }
    }

    fn step_strings(&mut self, code: u8) -> Res<()> {
        match code {
            op::STRING => {
                let line = self.line()?;
                let s = self.unquote(line)?;
                self.leaf(Value::Str(s))
            }
            op::BINSTRING => {
                let n = i32::from_le_bytes(self.array()?);
                let n = u64::try_from(n).or_else(|_| self.err("negative BINSTRING length"))?;
                self.op_str(n)
            }
            op::SHORT_BINSTRING | op::SHORT_BINUNICODE => {
                let n = u64::from(self.u8()?);
                self.op_str(n)
            }
            op::UNICODE => {
                let line = self.line()?;
                self.leaf(Value::Str(String::from_utf8_lossy(line).into_owned()))
            }
            op::BINUNICODE => {
                let n = u64::from(u32::from_le_bytes(self.array()?));
                self.op_str(n)
            }
            op::BINUNICODE8 => {
                let n = u64::from_le_bytes(self.array()?);
                self.op_str(n)
            }
            op::BINBYTES => {
                let n = u64::from(u32::from_le_bytes(self.array()?));
                self.op_bytes(n)
            }
            op::SHORT_BINBYTES => {
                let n = u64::from(self.u8()?);
                self.op_bytes(n)
            }
            op::BINBYTES8 | op::BYTEARRAY8 => {
                let n = u64::from_le_bytes(self.array()?);
                self.op_bytes(n)
            }
            _ => self.step_containers(code),
        }
    }

    fn step_containers(&mut self, code: u8) -> Res<()> {
        match code {
            op::EMPTY_TUPLE => self.push(Node::Tuple(Vec::new())),
            op::TUPLE => {
                let items = self.pop_mark()?;
                self.push(Node::Tuple(items))
            }
            op::TUPLE1 | op::TUPLE2 | op::TUPLE3 => {
                let n = usize::from(code - op::TUPLE1) + 1;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.pop()?);
                }
                items.reverse();
                self.push(Node::Tuple(items))
            }
            op::EMPTY_LIST => self.push(Node::List(Vec::new())),
            op::LIST => {
                let items = self.pop_mark()?;
                self.push(Node::List(items))
            }
            op::APPEND => {
                let item = self.pop()?;
                self.extend_list(vec![item])
            }
            op::APPENDS => {
                let items = self.pop_mark()?;
                self.extend_list(items)
            }
            op::EMPTY_DICT => self.push(Node::Dict(Vec::new())),
            op::DICT => {
                let items = self.pop_mark()?;
                let pairs = self.pairs(items)?;
                self.push(Node::Dict(pairs))
            }
            op::SETITEM => {
                let value = self.pop()?;
                let key = self.pop()?;
                self.set_items(vec![(key, value)])
            }
            op::SETITEMS => {
                let items = self.pop_mark()?;
                let pairs = self.pairs(items)?;
                self.set_items(pairs)
            }
            op::EMPTY_SET => self.push(Node::Set(Vec::new())),
            op::ADDITEMS => {
                let items = self.pop_mark()?;
                self.add_to_set(items)
            }
            op::FROZENSET => {
                let items = self.pop_mark()?;
                self.push(Node::Set(items))
            }
            _ => self.step_memo(code),
        }
    }

    fn step_memo(&mut self, code: u8) -> Res<()> {
        match code {
            op::BINPUT => {
                let k = u64::from(self.u8()?);
                self.memo_put(k)
            }
            op::LONG_BINPUT => {
                let k = u64::from(u32::from_le_bytes(self.array()?));
                self.memo_put(k)
            }
            op::PUT => {
                let k = self.text_index()?;
                self.memo_put(k)
            }
            op::MEMOIZE => {
                let k = self.memo.len() as u64;
                self.memo_put(k)
            }
            op::BINGET => {
                let k = u64::from(self.u8()?);
                self.memo_get(k)
            }
            op::LONG_BINGET => {
                let k = u64::from(u32::from_le_bytes(self.array()?));
                self.memo_get(k)
            }
            op::GET => {
                let k = self.text_index()?;
                self.memo_get(k)
            }
            _ => self.step_objects(code),
        }
    }

    fn step_objects(&mut self, code: u8) -> Res<()> {
        match code {
            op::GLOBAL => {
                let module = self.line_str()?.to_owned();
                let name = self.line_str()?.to_owned();
                self.push_global(module, name)
            }
            op::STACK_GLOBAL => {
                let name = self.pop()?;
                let module = self.pop()?;
                let (Some(module), Some(name)) = (self.str_of(module), self.str_of(name)) else {
                    return self.err("STACK_GLOBAL needs two strings");
                };
                self.push_global(module, name)
            }
            op::REDUCE => {
                let args = self.pop()?;
                let func = self.pop()?;
                let id = self.reduce(func, args, 0)?;
                self.push_id(id)
            }
            op::BUILD => {
                // obj.__setstate__(state) is never run: the state is dropped. Dicts keep
                // their items (a dict's state only holds attributes); opaque stays opaque.
                self.pop()?;
                self.top()?;
                Ok(())
            }
            op::NEWOBJ => {
                let _args = self.pop()?;
                let cls = self.pop()?;
                self.new_object(cls)
            }
            op::NEWOBJ_EX => {
                let _kwargs = self.pop()?;
                let _args = self.pop()?;
                let cls = self.pop()?;
                self.new_object(cls)
            }
            op::INST => {
                let module = self.line_str()?.to_owned();
                let name = self.line_str()?.to_owned();
                self.pop_mark()?;
                self.leaf(Value::Opaque(format!("instance of {module}.{name}")))
            }
            op::OBJ => {
                self.pop_mark()?;
                self.leaf(Value::Opaque("instance of a class".into()))
            }
            op::BINPERSID => {
                let pid = self.pop()?;
                self.push(Node::PersistentId(pid))
            }
            op::PERSID => {
                let line = self.line()?;
                let id = self.alloc(Node::Leaf(Value::Str(String::from_utf8_lossy(line).into_owned())))?;
                self.push(Node::PersistentId(id))
            }
            op::NEXT_BUFFER | op::READONLY_BUFFER => {
                self.err("out-of-band buffers (pickle protocol 5) are not supported")
            }
            op::EXT1 | op::EXT2 | op::EXT4 => self.err("extension registry opcodes are not supported"),
            other => self.err(format!("unknown opcode 0x{other:02x}")),
        }
    }

    // ---- opcode helpers ----

    fn op_str(&mut self, n: u64) -> Res<()> {
        let n = self.len(n)?;
        let bytes = self.take(n)?;
        self.leaf(Value::Str(String::from_utf8_lossy(bytes).into_owned()))
    }

    fn op_bytes(&mut self, n: u64) -> Res<()> {
        let n = self.len(n)?;
        let bytes = self.take(n)?;
        self.leaf(Value::Bytes(bytes.to_vec()))
    }

    fn op_int_text(&mut self) -> Res<()> {
        let s = self.line_str()?.trim();
        match s {
            "01" => self.leaf(Value::Bool(true)),
            "00" => self.leaf(Value::Bool(false)),
            _ => self.push_int_text(s),
        }
    }

    fn op_long_text(&mut self) -> Res<()> {
        let s = self.line_str()?.trim();
        let s = s.strip_suffix('L').unwrap_or(s);
        self.push_int_text(s)
    }

    fn push_int_text(&mut self, s: &str) -> Res<()> {
        if let Ok(v) = s.parse::<i64>() {
            return self.leaf(Value::Int(v));
        }
        let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return self.leaf(Value::Opaque("integer too large".into()));
        }
        self.err("integer argument is not a number")
    }

    /// LONG1 / LONG4: `n` bytes of little-endian two's complement.
    fn op_long_bytes(&mut self, n: u64) -> Res<()> {
        let n = self.len(n)?;
        let bytes = self.take(n)?;
        match long_from_bytes(bytes) {
            Some(v) => self.leaf(Value::Int(v)),
            None => self.leaf(Value::Opaque("integer too large".into())),
        }
    }

    /// Decimal memo index from a text line (PUT / GET).
    fn text_index(&mut self) -> Res<u64> {
        let s = self.line_str()?;
        match s.trim().parse::<u64>() {
            Ok(k) => Ok(k),
            Err(_) => self.err("memo index is not a non-negative number"),
        }
    }

    /// Decodes the quoted argument of STRING (a Python `repr` of a byte string).
    fn unquote(&self, line: &[u8]) -> Res<String> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let inner = match (line.first(), line.last()) {
            (Some(&q @ (b'\'' | b'"')), Some(&e)) if line.len() >= 2 && q == e => {
                line.get(1..line.len() - 1).unwrap_or(&[])
            }
            _ => return self.err("STRING argument is not quoted"),
        };
        Ok(String::from_utf8_lossy(&unescape(inner)).into_owned())
    }

    fn str_of(&self, id: Id) -> Option<String> {
        match self.node(id)? {
            Node::Leaf(Value::Str(s)) => Some(s.clone()),
            _ => None,
        }
    }

    fn push_global(&mut self, module: String, name: String) -> Res<()> {
        let v = if classify_global(&module, &name).is_some() {
            Value::Global { module, name }
        } else {
            Value::Opaque(format!("{module}.{name}"))
        };
        self.leaf(v)
    }

    fn pairs(&self, items: Vec<Id>) -> Res<Vec<(Id, Id)>> {
        if !items.len().is_multiple_of(2) {
            return self.err("odd number of items for a dict");
        }
        Ok(items
            .chunks_exact(2)
            .filter_map(|c| match c {
                [k, v] => Some((*k, *v)),
                _ => None,
            })
            .collect())
    }

    fn extend_list(&mut self, items: Vec<Id>) -> Res<()> {
        let target = self.top()?;
        match self.node_mut(target)? {
            Node::List(v) | Node::Set(v) => v.extend(items),
            Node::Leaf(Value::Opaque(_)) => {}
            _ => return self.err("APPEND to an object that is not a list"),
        }
        Ok(())
    }

    fn set_items(&mut self, pairs: Vec<(Id, Id)>) -> Res<()> {
        let target = self.top()?;
        match self.node_mut(target)? {
            Node::Dict(v) => v.extend(pairs),
            Node::Leaf(Value::Opaque(_)) => {}
            _ => return self.err("SETITEM on an object that is not a dict"),
        }
        Ok(())
    }

    fn add_to_set(&mut self, items: Vec<Id>) -> Res<()> {
        let target = self.top()?;
        match self.node_mut(target)? {
            Node::Set(v) => v.extend(items),
            Node::Leaf(Value::Opaque(_)) => {}
            _ => return self.err("ADDITEMS on an object that is not a set"),
        }
        Ok(())
    }

    /// NEWOBJ / NEWOBJ_EX: `cls.__new__(cls, …)`, for allowed classes only.
    fn new_object(&mut self, cls: Id) -> Res<()> {
        let node = match self.global_of(cls).and_then(|(m, n)| classify_global(m, n)) {
            Some(Known::OrderedDict) => Node::Dict(Vec::new()),
            Some(Known::Set) => Node::Set(Vec::new()),
            _ => Node::Leaf(Value::Opaque(format!("instance of {}", self.describe(cls)))),
        };
        self.push(node)
    }

    fn describe(&self, id: Id) -> String {
        match self.node(id) {
            Some(Node::Leaf(Value::Global { module, name })) => format!("{module}.{name}"),
            Some(Node::Leaf(Value::Opaque(what))) => what.chars().take(200).collect(),
            _ => "an object".into(),
        }
    }

    /// REDUCE: `func(*args)`, evaluated structurally for allowed functions only.
    fn reduce(&mut self, func: Id, args: Id, depth: usize) -> Res<Id> {
        if depth > 8 {
            return self.err("tensor rebuild calls nested too deeply");
        }
        let known = self.global_of(func).and_then(|(m, n)| classify_global(m, n));
        let Some(known) = known else {
            let what = if self.is_opaque(func) {
                format!("result of calling {}", self.describe(func))
            } else {
                "result of calling a non-callable object".into()
            };
            return self.alloc(Node::Leaf(Value::Opaque(what)));
        };
        let items: Vec<Id> = match self.seq_items(args) {
            Some(items) => items.to_vec(),
            None => return self.err("REDUCE arguments are not a tuple"),
        };
        self.charge(items.len())?;
        let node = match known {
            Known::OrderedDict => {
                let n = items.first().and_then(|&f| self.seq_items(f)).map_or(0, <[Id]>::len);
                self.charge(n)?;
                self.ordered_dict_from(&items)
            }
            Known::TorchSize | Known::Set => {
                let elems = match items.first() {
                    Some(&first) => self.seq_items(first).map(<[Id]>::to_vec).unwrap_or_default(),
                    None => Vec::new(),
                };
                self.charge(elems.len())?;
                if known == Known::Set { Node::Set(elems) } else { Node::Tuple(elems) }
            }
            Known::RebuildTensorV2 | Known::RebuildTensor => {
                let args_value = self.small_value(args)?;
                Node::Leaf(Value::TensorRef(Box::new(self.rebuild_tensor(&args_value)?)))
            }
            Known::RebuildParameter => match items.first() {
                Some(&tensor) => return Ok(tensor),
                None => return self.err("_rebuild_parameter without arguments"),
            },
            Known::RebuildFromTypeV2 => match (items.first(), items.get(2)) {
                (Some(&f), Some(&a)) => return self.reduce(f, a, depth + 1),
                _ => return self.err("_rebuild_from_type_v2 needs (func, type, args, state)"),
            },
            Known::Descriptor => Node::Reduce { func, args },
        };
        self.alloc(node)
    }

    /// `OrderedDict()` or `OrderedDict([(k, v), …])`.
    fn ordered_dict_from(&self, items: &[Id]) -> Node {
        let Some(&first) = items.first() else {
            return Node::Dict(Vec::new());
        };
        let Some(entries) = self.seq_items(first) else {
            return Node::Leaf(Value::Opaque("OrderedDict with unsupported arguments".into()));
        };
        let mut pairs = Vec::with_capacity(entries.len());
        for &e in entries {
            match self.seq_items(e) {
                Some(&[k, v]) => pairs.push((k, v)),
                _ => {
                    return Node::Leaf(Value::Opaque("OrderedDict with unsupported arguments".into()));
                }
            }
        }
        Node::Dict(pairs)
    }

    /// Materializes a (small) argument tuple for structural evaluation.
    fn small_value(&mut self, id: Id) -> Res<Value> {
        let cap = self.work.min(MAX_TENSOR_ARG_VALUES);
        let mut budget = cap;
        let result = self.materialize(id, 0, &mut budget, &mut HashSet::new());
        self.work -= cap - budget;
        result.or_else(|e| self.err(format!("tensor arguments: {}", e.msg)))
    }

    /// Charges `n` values of copying against the work budget.
    fn charge(&mut self, n: usize) -> Res<()> {
        match self.work.checked_sub(n) {
            Some(left) => {
                self.work = left;
                Ok(())
            }
            None => self.err(format!("more than {} values copied while evaluating", self.limits.max_values)),
        }
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, …)`.
    fn rebuild_tensor(&self, args: &Value) -> Res<TensorRef> {
        let Value::Tuple(a) = args else {
            return self.err("tensor arguments are not a tuple");
        };
        let (Some(storage), Some(offset), Some(size), Some(stride)) = (a.first(), a.get(1), a.get(2), a.get(3)) else {
            return self.err("tensor needs (storage, offset, size, stride)");
        };
        let (storage_key, dtype, location, storage_numel) = self.storage_of(storage)?;
        let Some(storage_offset) = non_negative(offset) else {
            return self.err("tensor storage offset is not a non-negative integer");
        };
        let (Some(size), Some(stride)) = (int_seq(size), int_seq(stride)) else {
            return self.err("tensor size or stride is not a sequence of non-negative integers");
        };
        if size.len() != stride.len() {
            return self.err(format!("tensor has {} dimensions but {} strides", size.len(), stride.len()));
        }
        Ok(TensorRef { storage_key, dtype, location, storage_numel, storage_offset, size, stride })
    }

    /// Decodes `('storage', storage_type, key, location, numel)`.
    fn storage_of(&self, v: &Value) -> Res<(String, StorageType, String, u64)> {
        let Value::PersistentId(pid) = v else {
            return self.err(format!("tensor storage is a {}, not a storage reference", v.kind()));
        };
        let Value::Tuple(t) = pid.as_ref() else {
            return self.err("storage reference is not a tuple");
        };
        let (Some(tag), Some(kind), Some(key), Some(location), Some(numel)) =
            (t.first(), t.get(1), t.get(2), t.get(3), t.get(4))
        else {
            return self.err("storage reference needs 5 fields");
        };
        if tag.as_str() != Some("storage") {
            return self.err("storage reference does not start with 'storage'");
        }
        let Some(dtype) = storage_dtype(kind, t) else {
            return self.err(format!("unknown storage type {}", kind.kind()));
        };
        let key = match key {
            Value::Str(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            _ => return self.err("storage key is not a string"),
        };
        let location = location.as_str().unwrap_or("unknown").to_owned();
        let Some(numel) = non_negative(numel) else {
            return self.err("storage size is not a non-negative integer");
        };
        Ok((key, dtype, location, numel))
    }

    // ---- arena → tree ----

    /// Builds the value tree rooted at `id`.
    fn materialize(&self, id: Id, depth: usize, budget: &mut usize, visiting: &mut HashSet<Id>) -> Res<Value> {
        if depth > self.limits.max_depth {
            return self.err(format!("values nested deeper than {}", self.limits.max_depth));
        }
        if *budget == 0 {
            return self.err(format!(
                "more than {} values (shared objects referenced too many times)",
                self.limits.max_values
            ));
        }
        *budget -= 1;
        let Some(node) = self.node(id) else {
            return self.err("bad object reference");
        };
        if let Node::Leaf(v) = node {
            return Ok(v.clone());
        }
        if !visiting.insert(id) {
            return Ok(Value::Opaque("recursive reference".into()));
        }
        let result = self.materialize_container(node, depth, budget, visiting);
        visiting.remove(&id);
        result
    }

    fn materialize_container(
        &self,
        node: &Node,
        depth: usize,
        budget: &mut usize,
        visiting: &mut HashSet<Id>,
    ) -> Res<Value> {
        let d = depth + 1;
        let seq = |ids: &[Id], budget: &mut usize, visiting: &mut HashSet<Id>| -> Res<Vec<Value>> {
            ids.iter().map(|&i| self.materialize(i, d, budget, visiting)).collect()
        };
        Ok(match node {
            Node::Leaf(v) => v.clone(),
            Node::Tuple(ids) => Value::Tuple(seq(ids, budget, visiting)?),
            Node::List(ids) => Value::List(seq(ids, budget, visiting)?),
            Node::Set(ids) => Value::Set(seq(ids, budget, visiting)?),
            Node::PersistentId(pid) => Value::PersistentId(Box::new(self.materialize(*pid, d, budget, visiting)?)),
            Node::Reduce { func, args } => Value::Reduce {
                func: Box::new(self.materialize(*func, d, budget, visiting)?),
                args: Box::new(self.materialize(*args, d, budget, visiting)?),
            },
            Node::Dict(pairs) => {
                let mut out = DictBuilder::default();
                for &(k, v) in pairs {
                    let k = self.materialize(k, d, budget, visiting)?;
                    let v = self.materialize(v, d, budget, visiting)?;
                    out.insert(k, v);
                }
                Value::Dict(out.entries)
            }
        })
    }
}

/// Builds a dict with Python semantics: a repeated key keeps its first position and takes
/// the last value.
#[derive(Default)]
struct DictBuilder {
    entries: Vec<(Value, Value)>,
    str_index: HashMap<String, usize>,
    int_index: HashMap<i64, usize>,
}

impl DictBuilder {
    fn insert(&mut self, k: Value, v: Value) {
        let slot = match &k {
            Value::Str(s) => self.str_index.get(s).copied(),
            Value::Int(i) => self.int_index.get(i).copied(),
            _ => None,
        };
        if let Some(entry) = slot.and_then(|i| self.entries.get_mut(i)) {
            entry.1 = v;
            return;
        }
        let index = self.entries.len();
        match &k {
            Value::Str(s) => {
                self.str_index.insert(s.clone(), index);
            }
            Value::Int(i) => {
                self.int_index.insert(*i, index);
            }
            _ => {}
        }
        self.entries.push((k, v));
    }
}

/// The element type of a storage reference, from its storage-type field (or, for untyped
/// and typed storages, from a dtype global elsewhere in the tuple).
fn storage_dtype(kind: &Value, pid: &[Value]) -> Option<StorageType> {
    let Value::Global { module, name } = kind else {
        return None;
    };
    match module.as_str() {
        "torch" => storage_class_dtype(name).or_else(|| torch_dtype(name)),
        "torch.storage" => {
            let from_tuple = pid.iter().find_map(|v| match v {
                Value::Global { module, name } if module == "torch" => torch_dtype(name),
                _ => None,
            });
            match (from_tuple, name.as_str()) {
                (Some(d), _) => Some(d),
                (None, "UntypedStorage") => Some(StorageType::Known(ElementType::U8)),
                (None, _) => None,
            }
        }
        _ => None,
    }
}

fn non_negative(v: &Value) -> Option<u64> {
    match v {
        Value::Int(i) => u64::try_from(*i).ok(),
        _ => None,
    }
}

fn int_seq(v: &Value) -> Option<Vec<u64>> {
    match v {
        Value::Tuple(items) | Value::List(items) => items.iter().map(non_negative).collect(),
        _ => None,
    }
}

/// Little-endian two's-complement integer of any length, if it fits in an `i64`.
fn long_from_bytes(bytes: &[u8]) -> Option<i64> {
    let Some(&last) = bytes.last() else {
        return Some(0);
    };
    let negative = last & 0x80 != 0;
    let fill = if negative { 0xFF } else { 0x00 };
    let mut buf = [fill; 8];
    for (i, &b) in bytes.iter().enumerate() {
        match buf.get_mut(i) {
            Some(slot) => *slot = b,
            None if b == fill => {}
            None => return None,
        }
    }
    let v = i64::from_le_bytes(buf);
    // Bytes beyond the 8th were pure sign extension; the sign must still agree.
    if bytes.len() > 8 && (v < 0) != negative {
        return None;
    }
    Some(v)
}

/// Undoes the common backslash escapes of a Python bytes `repr`.
fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        i += 1;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let Some(&e) = s.get(i) else {
            out.push(b'\\');
            break;
        };
        i += 1;
        match e {
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'\\' | b'\'' | b'"' => out.push(e),
            b'x' => {
                let hex = s.get(i..i + 2).and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.extend_from_slice(b"\\x"),
                }
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A tiny pickle writer for the tests.
    #[derive(Default)]
    struct W(Vec<u8>);

    impl W {
        fn op(&mut self, b: u8) -> &mut Self {
            self.0.push(b);
            self
        }
        fn raw(&mut self, b: &[u8]) -> &mut Self {
            self.0.extend_from_slice(b);
            self
        }
        fn s(&mut self, s: &str) -> &mut Self {
            self.op(op::BINUNICODE).raw(&(s.len() as u32).to_le_bytes()).raw(s.as_bytes())
        }
        fn int(&mut self, v: i32) -> &mut Self {
            self.op(op::BININT).raw(&v.to_le_bytes())
        }
        fn global(&mut self, m: &str, n: &str) -> &mut Self {
            self.op(op::GLOBAL).raw(format!("{m}\n{n}\n").as_bytes())
        }
        fn tensor(&mut self, key: &str, storage: &str, size: &[i32], stride: &[i32]) -> &mut Self {
            self.global("torch._utils", "_rebuild_tensor_v2").op(op::MARK);
            self.op(op::MARK).s("storage").global("torch", storage).s(key).s("cpu");
            self.int(size.iter().product::<i32>().max(1)).op(op::TUPLE).op(op::BINPERSID);
            self.int(0);
            self.op(op::MARK);
            for &d in size {
                self.int(d);
            }
            self.op(op::TUPLE).op(op::MARK);
            for &d in stride {
                self.int(d);
            }
            self.op(op::TUPLE).op(op::NEWFALSE);
            self.global("collections", "OrderedDict").op(op::EMPTY_TUPLE).op(op::REDUCE);
            self.op(op::TUPLE).op(op::REDUCE)
        }
    }

    /// `{'state_dict': OrderedDict(w=tensor, b=tensor), 'epoch': 3}` plus hostile bits.
    fn sample() -> Vec<u8> {
        let mut w = W::default();
        w.raw(&[op::PROTO, 2]).op(op::EMPTY_DICT).op(op::BINPUT).op(0).op(op::MARK);
        w.s("state_dict");
        w.global("collections", "OrderedDict").op(op::EMPTY_TUPLE).op(op::REDUCE);
        w.op(op::BINPUT).op(1).op(op::MARK);
        w.s("w").tensor("0", "FloatStorage", &[2, 3], &[3, 1]);
        w.op(op::BINPUT).op(2);
        w.s("b").tensor("1", "HalfStorage", &[3], &[1]);
        w.s("tied").op(op::BINGET).op(2);
        w.op(op::SETITEMS);
        w.s("epoch").op(op::BININT1).op(3);
        w.s("lr").op(op::BINFLOAT).raw(&0.5f64.to_be_bytes());
        w.s("big").op(op::LONG1).op(9).raw(&[0, 0, 0, 0, 0, 0, 0, 0, 1]);
        w.s("neg").op(op::LONG1).op(2).raw(&[0xFE, 0xFF]);
        w.s("evil").global("os", "system").s("echo pwned").op(op::TUPLE1).op(op::REDUCE);
        w.s("hp").global("omegaconf.dictconfig", "DictConfig").op(op::EMPTY_TUPLE).op(op::NEWOBJ);
        w.op(op::EMPTY_DICT).s("x").int(1).op(op::SETITEM).op(op::BUILD);
        w.s("again").op(op::BINGET).op(1);
        w.op(op::SETITEMS).op(op::STOP);
        w.0
    }

    #[test]
    fn parses_a_checkpoint_like_pickle() {
        let v = parse(&sample()).unwrap();
        let sd = v.get("state_dict").unwrap();
        let w = sd.get("w").unwrap().as_tensor().unwrap();
        assert_eq!(w.size, vec![2, 3]);
        assert_eq!(w.stride, vec![3, 1]);
        assert_eq!(w.dtype, StorageType::Known(ElementType::F32));
        assert_eq!(w.storage_key, "0");
        assert_eq!(w.storage_numel, 6);
        let b = sd.get("b").unwrap().as_tensor().unwrap();
        assert_eq!(b.dtype, StorageType::Known(ElementType::F16));
        assert_eq!(sd.get("tied").unwrap().as_tensor(), Some(w));
        assert_eq!(v.get("epoch"), Some(&Value::Int(3)));
        assert_eq!(v.get("lr"), Some(&Value::Float(0.5)));
        assert!(matches!(v.get("big"), Some(Value::Opaque(_))));
        assert_eq!(v.get("neg"), Some(&Value::Int(-2)));
        // The memoized OrderedDict was filled after BINPUT: GET sees it filled.
        assert_eq!(v.get("again"), Some(sd));
    }

    #[test]
    fn forbidden_globals_are_opaque_and_never_called() {
        let v = parse(&sample()).unwrap();
        match v.get("evil") {
            Some(Value::Opaque(what)) => assert!(what.contains("os.system"), "{what}"),
            other => panic!("expected opaque, got {other:?}"),
        }
        assert!(matches!(v.get("hp"), Some(Value::Opaque(_))));
    }

    #[test]
    fn forbidden_global_cannot_forge_a_tensor() {
        // A tensor whose storage type is an arbitrary global is refused.
        let mut w = W::default();
        w.raw(&[op::PROTO, 2]);
        w.global("torch._utils", "_rebuild_tensor_v2").op(op::MARK);
        w.op(op::MARK).s("storage").global("os", "system").s("0").s("cpu").int(1).op(op::TUPLE);
        w.op(op::BINPERSID).int(0).int(1).op(op::TUPLE1).int(1).op(op::TUPLE1);
        w.op(op::TUPLE).op(op::REDUCE).op(op::STOP);
        assert!(parse(&w.0).is_err());
        // And a "tensor rebuild" under another module name is just opaque.
        let mut w = W::default();
        w.raw(&[op::PROTO, 2])
            .global("evil._utils", "_rebuild_tensor_v2")
            .op(op::EMPTY_TUPLE)
            .op(op::REDUCE)
            .op(op::STOP);
        assert!(matches!(parse(&w.0), Ok(Value::Opaque(_))));
    }

    #[test]
    fn stack_global_memoize_frame_and_protocol4() {
        let mut w = W::default();
        w.raw(&[op::PROTO, 4, op::FRAME]).raw(&100u64.to_le_bytes());
        w.op(op::SHORT_BINUNICODE).op(11).raw(b"collections").op(op::MEMOIZE);
        w.op(op::SHORT_BINUNICODE).op(11).raw(b"OrderedDict").op(op::MEMOIZE);
        w.op(op::STACK_GLOBAL).op(op::MEMOIZE).op(op::EMPTY_TUPLE).op(op::REDUCE);
        w.op(op::SHORT_BINUNICODE).op(1).raw(b"k").op(op::BINGET).op(0).op(op::SETITEM);
        w.op(op::STOP);
        let v = parse(&w.0).unwrap();
        assert_eq!(v, Value::Dict(vec![(Value::Str("k".into()), Value::Str("collections".into()))]));
    }

    #[test]
    fn text_opcodes() {
        let mut w = W::default();
        w.op(op::MARK);
        w.raw(b"I01\nI00\nI-42\nL123L\nF1.5\nS'a\\'b'\nVhi\n");
        w.op(op::NONE).op(op::NEWTRUE);
        w.op(op::SHORT_BINBYTES).op(2).raw(b"xy");
        w.op(op::EMPTY_SET).op(op::MARK).int(1).op(op::ADDITEMS);
        w.raw(b"p7\n").raw(b"g7\n").op(op::POP);
        w.op(op::LIST).op(op::STOP);
        let v = parse(&w.0).unwrap();
        assert_eq!(
            v,
            Value::List(vec![
                Value::Bool(true),
                Value::Bool(false),
                Value::Int(-42),
                Value::Int(123),
                Value::Float(1.5),
                Value::Str("a'b".into()),
                Value::Str("hi".into()),
                Value::None,
                Value::Bool(true),
                Value::Bytes(b"xy".to_vec()),
                Value::Set(vec![Value::Int(1)]),
            ])
        );
    }

    #[test]
    fn duplicate_keys_keep_last_value() {
        let mut w = W::default();
        w.op(op::MARK).s("a").int(1).s("b").int(2).s("a").int(3).op(op::DICT).op(op::STOP);
        let v = parse(&w.0).unwrap();
        assert_eq!(
            v,
            Value::Dict(vec![(Value::Str("a".into()), Value::Int(3)), (Value::Str("b".into()), Value::Int(2))])
        );
    }

    #[test]
    fn errors_carry_position() {
        let e = parse(&[op::PROTO, 2, 0xFF]).unwrap_err();
        assert_eq!(e.pos, 2);
        assert!(e.msg.contains("0xff"), "{e}");
        assert!(parse(&[op::PROTO, 2, op::POP, op::STOP]).unwrap_err().msg.contains("underflow"));
        assert!(parse(&[op::TUPLE, op::STOP]).unwrap_err().msg.contains("MARK"));
        assert!(parse(&[op::BINGET, 5, op::STOP]).unwrap_err().msg.contains("memo"));
        assert!(parse(&[op::NONE]).unwrap_err().msg.contains("STOP"));
        assert!(parse(&[op::BINUNICODE, 0xFF, 0xFF, 0xFF, 0x7F, b'a']).unwrap_err().msg.contains("truncated"));
        assert!(parse(&[op::NEXT_BUFFER]).is_err());
        assert!(parse(&[op::EXT1, 1]).is_err());
        assert!(parse(&[op::PROTO, 6]).is_err());
    }

    #[test]
    fn recursive_and_shared_structures_are_bounded() {
        // l = []; l.append(l)
        let mut w = W::default();
        w.op(op::EMPTY_LIST).op(op::BINPUT).op(0).op(op::BINGET).op(0).op(op::APPEND).op(op::STOP);
        assert_eq!(parse(&w.0).unwrap(), Value::List(vec![Value::Opaque("recursive reference".into())]));

        // Each level doubles the tree: 64 levels would be 2^64 values.
        let mut w = W::default();
        w.op(op::NONE);
        for _ in 0..64 {
            w.op(op::DUP).op(op::TUPLE2);
        }
        w.op(op::STOP);
        let e = parse(&w.0).unwrap_err();
        assert!(e.msg.contains("values"), "{e}");

        // Deep nesting is refused rather than overflowing the native stack.
        let mut w = W::default();
        w.op(op::NONE);
        for _ in 0..100_000 {
            w.op(op::TUPLE1);
        }
        w.op(op::STOP);
        assert!(parse(&w.0).unwrap_err().msg.contains("nested"));
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits { max_stack: 10, ..Limits::default() };
        let data = [op::NONE; 20];
        assert!(parse_with_limits(&data, &limits).unwrap_err().msg.contains("stack"));
        let limits = Limits { max_ops: 5, ..Limits::default() };
        assert!(parse_with_limits(&data, &limits).unwrap_err().msg.contains("opcodes"));
        let limits = Limits { max_memo: 2, ..Limits::default() };
        let data = [op::NONE, op::MEMOIZE, op::MEMOIZE, op::MEMOIZE, op::STOP];
        assert!(parse_with_limits(&data, &limits).unwrap_err().msg.contains("memo"));
    }

    #[test]
    fn repeated_evaluation_of_shared_arguments_is_bounded() {
        // A 100-item list passed to torch.Size 50 times would copy 5000 values.
        let mut w = W::default();
        w.op(op::EMPTY_LIST).op(op::BINPUT).op(0).op(op::MARK);
        for _ in 0..100 {
            w.op(op::NONE);
        }
        w.op(op::APPENDS);
        for _ in 0..50 {
            w.global("torch", "Size").op(op::BINGET).op(0).op(op::TUPLE1).op(op::REDUCE).op(op::POP);
        }
        w.op(op::STOP);
        assert!(parse(&w.0).is_ok());
        let limits = Limits { max_values: 1000, ..Limits::default() };
        let e = parse_with_limits(&w.0, &limits).unwrap_err();
        assert!(e.msg.contains("copied"), "{e}");
    }

    #[test]
    fn long_decoding() {
        assert_eq!(long_from_bytes(&[]), Some(0));
        assert_eq!(long_from_bytes(&[0xFF]), Some(-1));
        assert_eq!(long_from_bytes(&[0x80, 0x00]), Some(128));
        assert_eq!(long_from_bytes(&[0xFF; 12]), Some(-1));
        assert_eq!(long_from_bytes(&[0, 0, 0, 0, 0, 0, 0, 0x80, 0]), None);
        assert_eq!(long_from_bytes(&[0, 0, 0, 0, 0, 0, 0, 0x80]), Some(i64::MIN));
    }

    /// Deterministic fuzzing: truncations, byte flips and random garbage must give
    /// `Ok` or `Err`, never a panic.
    #[test]
    fn fuzz_never_panics() {
        let good = sample();
        for len in 0..good.len() {
            let _ = parse(&good[..len]);
        }
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for pos in 0..good.len() {
            for _ in 0..4 {
                let mut b = good.clone();
                b[pos] ^= (next() % 255 + 1) as u8;
                let _ = parse(&b);
            }
        }
        for _ in 0..2000 {
            let mut b = good.clone();
            for _ in 0..(next() % 6 + 1) {
                let i = (next() as usize) % b.len();
                b[i] = next() as u8;
            }
            let _ = parse(&b);
        }
        for _ in 0..2000 {
            let len = (next() % 64) as usize;
            let b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let _ = parse(&b);
        }
    }
}
