//! The stack machine: reads opcodes, keeps objects in an arena (so the memo shares them as
//! Python does), and evaluates nothing but the allow-list.

use std::collections::HashMap;

use super::opcodes as op;
use super::{Limits, PickleError, Value};

/// Most values in the arguments of one tensor constructor (a real one has a few dozen).
pub(super) const MAX_TENSOR_ARG_VALUES: usize = 4096;

/// Index of an object in the arena.
pub(super) type Id = usize;

/// An object under construction. Containers refer to other objects by [`Id`], so that
/// mutations are seen through every reference, as in Python.
#[derive(Debug)]
pub(super) enum Node {
    Leaf(Value),
    Tuple(Vec<Id>),
    List(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    Set(Vec<Id>),
    PersistentId(Id),
    Reduce { func: Id, args: Id },
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Item {
    Mark,
    Obj(Id),
}

/// The stack machine.
pub(super) struct Machine<'a> {
    pub(super) data: &'a [u8],
    pub(super) pos: usize,
    pub(super) op_pos: usize,
    pub(super) nodes: Vec<Node>,
    pub(super) stack: Vec<Item>,
    pub(super) memo: HashMap<u64, Id>,
    pub(super) limits: Limits,
    /// Remaining copy/evaluation work (in values) for structural REDUCE evaluation, so
    /// that re-evaluating shared arguments cannot make parsing quadratic.
    pub(super) work: usize,
}

pub(super) type Res<T> = Result<T, PickleError>;

impl<'a> Machine<'a> {
    pub(super) fn err<T>(&self, msg: impl Into<String>) -> Res<T> {
        Err(PickleError { pos: self.op_pos as u64, msg: msg.into() })
    }

    // ---- input ----

    pub(super) fn take(&mut self, n: usize) -> Res<&'a [u8]> {
        let data = self.data;
        match self.pos.checked_add(n).and_then(|end| data.get(self.pos..end)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => self.err("unexpected end of data: the pickle is truncated"),
        }
    }

    pub(super) fn array<const N: usize>(&mut self) -> Res<[u8; N]> {
        let s = self.take(N)?;
        match s.try_into() {
            Ok(a) => Ok(a),
            Err(_) => self.err("internal length mismatch"),
        }
    }

    pub(super) fn u8(&mut self) -> Res<u8> {
        Ok(self.array::<1>()?[0])
    }

    /// Converts a length read from the input, refusing lengths beyond the remaining input.
    pub(super) fn len(&self, n: u64) -> Res<usize> {
        let remaining = self.data.len().saturating_sub(self.pos);
        match usize::try_from(n) {
            Ok(n) if n <= remaining => Ok(n),
            _ => self.err(format!("length {n} exceeds the {remaining} bytes left: the pickle is truncated or corrupt")),
        }
    }

    pub(super) fn line(&mut self) -> Res<&'a [u8]> {
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

    pub(super) fn line_str(&mut self) -> Res<&'a str> {
        let line = self.line()?;
        match std::str::from_utf8(line) {
            Ok(s) => Ok(s.trim_end_matches('\r')),
            Err(_) => self.err("text argument is not valid UTF-8"),
        }
    }

    // ---- stack, arena, memo ----

    pub(super) fn alloc(&mut self, node: Node) -> Res<Id> {
        if self.nodes.len() >= self.limits.max_objects {
            return self.err(format!("more than {} objects", self.limits.max_objects));
        }
        self.nodes.push(node);
        Ok(self.nodes.len() - 1)
    }

    pub(super) fn push_id(&mut self, id: Id) -> Res<()> {
        if self.stack.len() >= self.limits.max_stack {
            return self.err(format!("stack exceeds {} items", self.limits.max_stack));
        }
        self.stack.push(Item::Obj(id));
        Ok(())
    }

    pub(super) fn push(&mut self, node: Node) -> Res<()> {
        let id = self.alloc(node)?;
        self.push_id(id)
    }

    pub(super) fn leaf(&mut self, v: Value) -> Res<()> {
        self.push(Node::Leaf(v))
    }

    pub(super) fn pop(&mut self) -> Res<Id> {
        match self.stack.pop() {
            Some(Item::Obj(id)) => Ok(id),
            Some(Item::Mark) => self.err("stack underflow: found a MARK where an object was expected"),
            None => self.err("stack underflow"),
        }
    }

    pub(super) fn top(&self) -> Res<Id> {
        match self.stack.last() {
            Some(Item::Obj(id)) => Ok(*id),
            _ => self.err("stack underflow"),
        }
    }

    /// Pops everything down to and including the topmost MARK.
    pub(super) fn pop_mark(&mut self) -> Res<Vec<Id>> {
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

    pub(super) fn memo_put(&mut self, key: u64) -> Res<()> {
        let id = self.top()?;
        if self.memo.len() >= self.limits.max_memo && !self.memo.contains_key(&key) {
            return self.err(format!("memo exceeds {} entries", self.limits.max_memo));
        }
        self.memo.insert(key, id);
        Ok(())
    }

    pub(super) fn memo_get(&mut self, key: u64) -> Res<()> {
        match self.memo.get(&key) {
            Some(&id) => self.push_id(id),
            None => self.err(format!("memo index {key} was never stored")),
        }
    }

    pub(super) fn node(&self, id: Id) -> Option<&Node> {
        self.nodes.get(id)
    }

    pub(super) fn node_mut(&mut self, id: Id) -> Res<&mut Node> {
        match self.nodes.get_mut(id) {
            Some(n) => Ok(n),
            None => Err(PickleError { pos: self.op_pos as u64, msg: "bad object reference".into() }),
        }
    }

    /// The global (module, name) this object is, if any.
    pub(super) fn global_of(&self, id: Id) -> Option<(&str, &str)> {
        match self.node(id)? {
            Node::Leaf(Value::Global { module, name }) => Some((module, name)),
            _ => None,
        }
    }

    pub(super) fn is_opaque(&self, id: Id) -> bool {
        matches!(self.node(id), Some(Node::Leaf(Value::Opaque(_))))
    }

    /// The items of a tuple or list object.
    pub(super) fn seq_items(&self, id: Id) -> Option<&[Id]> {
        match self.node(id)? {
            Node::Tuple(v) | Node::List(v) => Some(v),
            _ => None,
        }
    }

    // ---- main loop ----

    pub(super) fn run(&mut self) -> Res<Id> {
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

    pub(super) fn step(&mut self, code: u8) -> Res<()> {
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
}
