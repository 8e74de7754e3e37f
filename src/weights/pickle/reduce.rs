//! Structural evaluation (`REDUCE`, `BUILD` of allowed globals: dicts, sets, torch's tensor
//! rebuilders) and turning the arena into a [`Value`] tree within the limits.

use std::collections::{HashMap, HashSet};

use super::globals::{Known, classify_global, storage_class_dtype, torch_dtype};
use super::machine::{Id, MAX_TENSOR_ARG_VALUES, Machine, Node, Res};
use super::{StorageType, TensorRef, Value};
use crate::weights::index::ElementType;

impl Machine<'_> {
    pub(super) fn describe(&self, id: Id) -> String {
        match self.node(id) {
            Some(Node::Leaf(Value::Global { module, name })) => format!("{module}.{name}"),
            Some(Node::Leaf(Value::Opaque(what))) => what.chars().take(200).collect(),
            _ => "an object".into(),
        }
    }

    /// REDUCE: `func(*args)`, evaluated structurally for allowed functions only.
    pub(super) fn reduce(&mut self, func: Id, args: Id, depth: usize) -> Res<Id> {
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
    pub(super) fn ordered_dict_from(&self, items: &[Id]) -> Node {
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
    pub(super) fn small_value(&mut self, id: Id) -> Res<Value> {
        let cap = self.work.min(MAX_TENSOR_ARG_VALUES);
        let mut budget = cap;
        let result = self.materialize(id, 0, &mut budget, &mut HashSet::new());
        self.work -= cap - budget;
        result.or_else(|e| self.err(format!("tensor arguments: {}", e.msg)))
    }

    /// Charges `n` values of copying against the work budget.
    pub(super) fn charge(&mut self, n: usize) -> Res<()> {
        match self.work.checked_sub(n) {
            Some(left) => {
                self.work = left;
                Ok(())
            }
            None => self.err(format!("more than {} values copied while evaluating", self.limits.max_values)),
        }
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, …)`.
    pub(super) fn rebuild_tensor(&self, args: &Value) -> Res<TensorRef> {
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
    pub(super) fn storage_of(&self, v: &Value) -> Res<(String, StorageType, String, u64)> {
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
    pub(super) fn materialize(
        &self,
        id: Id,
        depth: usize,
        budget: &mut usize,
        visiting: &mut HashSet<Id>,
    ) -> Res<Value> {
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

    pub(super) fn materialize_container(
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
pub(super) struct DictBuilder {
    entries: Vec<(Value, Value)>,
    str_index: HashMap<String, usize>,
    int_index: HashMap<i64, usize>,
}

impl DictBuilder {
    pub(super) fn insert(&mut self, k: Value, v: Value) {
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
pub(super) fn storage_dtype(kind: &Value, pid: &[Value]) -> Option<StorageType> {
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

pub(super) fn non_negative(v: &Value) -> Option<u64> {
    match v {
        Value::Int(i) => u64::try_from(*i).ok(),
        _ => None,
    }
}

pub(super) fn int_seq(v: &Value) -> Option<Vec<u64>> {
    match v {
        Value::Tuple(items) | Value::List(items) => items.iter().map(non_negative).collect(),
        _ => None,
    }
}
