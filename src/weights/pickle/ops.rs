//! What each opcode does to the stack, the memo and the arena (the handlers that
//! `Machine::step` dispatches to), and the lexing of text-protocol arguments.

use super::Value;
use super::globals::{Known, classify_global};
use super::machine::{Id, Machine, Node, Res};
use super::opcodes as op;

impl Machine<'_> {
    pub(super) fn step_values(&mut self, code: u8) -> Res<()> {
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

    pub(super) fn step_strings(&mut self, code: u8) -> Res<()> {
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

    pub(super) fn step_containers(&mut self, code: u8) -> Res<()> {
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

    pub(super) fn step_memo(&mut self, code: u8) -> Res<()> {
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

    pub(super) fn step_objects(&mut self, code: u8) -> Res<()> {
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

    pub(super) fn op_str(&mut self, n: u64) -> Res<()> {
        let n = self.len(n)?;
        let bytes = self.take(n)?;
        self.leaf(Value::Str(String::from_utf8_lossy(bytes).into_owned()))
    }

    pub(super) fn op_bytes(&mut self, n: u64) -> Res<()> {
        let n = self.len(n)?;
        let bytes = self.take(n)?;
        self.leaf(Value::Bytes(bytes.to_vec()))
    }

    pub(super) fn op_int_text(&mut self) -> Res<()> {
        let s = self.line_str()?.trim();
        match s {
            "01" => self.leaf(Value::Bool(true)),
            "00" => self.leaf(Value::Bool(false)),
            _ => self.push_int_text(s),
        }
    }

    pub(super) fn op_long_text(&mut self) -> Res<()> {
        let s = self.line_str()?.trim();
        let s = s.strip_suffix('L').unwrap_or(s);
        self.push_int_text(s)
    }

    pub(super) fn push_int_text(&mut self, s: &str) -> Res<()> {
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
    pub(super) fn op_long_bytes(&mut self, n: u64) -> Res<()> {
        let n = self.len(n)?;
        let bytes = self.take(n)?;
        match long_from_bytes(bytes) {
            Some(v) => self.leaf(Value::Int(v)),
            None => self.leaf(Value::Opaque("integer too large".into())),
        }
    }

    /// Decimal memo index from a text line (PUT / GET).
    pub(super) fn text_index(&mut self) -> Res<u64> {
        let s = self.line_str()?;
        match s.trim().parse::<u64>() {
            Ok(k) => Ok(k),
            Err(_) => self.err("memo index is not a non-negative number"),
        }
    }

    /// Decodes the quoted argument of STRING (a Python `repr` of a byte string).
    pub(super) fn unquote(&self, line: &[u8]) -> Res<String> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let inner = match (line.first(), line.last()) {
            (Some(&q @ (b'\'' | b'"')), Some(&e)) if line.len() >= 2 && q == e => {
                line.get(1..line.len() - 1).unwrap_or(&[])
            }
            _ => return self.err("STRING argument is not quoted"),
        };
        Ok(String::from_utf8_lossy(&unescape(inner)).into_owned())
    }

    pub(super) fn str_of(&self, id: Id) -> Option<String> {
        match self.node(id)? {
            Node::Leaf(Value::Str(s)) => Some(s.clone()),
            _ => None,
        }
    }

    pub(super) fn push_global(&mut self, module: String, name: String) -> Res<()> {
        let v = if classify_global(&module, &name).is_some() {
            Value::Global { module, name }
        } else {
            Value::Opaque(format!("{module}.{name}"))
        };
        self.leaf(v)
    }

    pub(super) fn pairs(&self, items: Vec<Id>) -> Res<Vec<(Id, Id)>> {
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

    pub(super) fn extend_list(&mut self, items: Vec<Id>) -> Res<()> {
        let target = self.top()?;
        match self.node_mut(target)? {
            Node::List(v) | Node::Set(v) => v.extend(items),
            Node::Leaf(Value::Opaque(_)) => {}
            _ => return self.err("APPEND to an object that is not a list"),
        }
        Ok(())
    }

    pub(super) fn set_items(&mut self, pairs: Vec<(Id, Id)>) -> Res<()> {
        let target = self.top()?;
        match self.node_mut(target)? {
            Node::Dict(v) => v.extend(pairs),
            Node::Leaf(Value::Opaque(_)) => {}
            _ => return self.err("SETITEM on an object that is not a dict"),
        }
        Ok(())
    }

    pub(super) fn add_to_set(&mut self, items: Vec<Id>) -> Res<()> {
        let target = self.top()?;
        match self.node_mut(target)? {
            Node::Set(v) => v.extend(items),
            Node::Leaf(Value::Opaque(_)) => {}
            _ => return self.err("ADDITEMS on an object that is not a set"),
        }
        Ok(())
    }

    /// NEWOBJ / NEWOBJ_EX: `cls.__new__(cls, …)`, for allowed classes only.
    pub(super) fn new_object(&mut self, cls: Id) -> Res<()> {
        let node = match self.global_of(cls).and_then(|(m, n)| classify_global(m, n)) {
            Some(Known::OrderedDict) => Node::Dict(Vec::new()),
            Some(Known::Set) => Node::Set(Vec::new()),
            _ => Node::Leaf(Value::Opaque(format!("instance of {}", self.describe(cls)))),
        };
        self.push(node)
    }
}

/// Little-endian two's-complement integer of any length, if it fits in an `i64`.
pub(super) fn long_from_bytes(bytes: &[u8]) -> Option<i64> {
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
pub(super) fn unescape(s: &[u8]) -> Vec<u8> {
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
