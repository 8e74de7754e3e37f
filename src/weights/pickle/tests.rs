#![allow(clippy::unwrap_used)]

use super::opcodes as op;
use super::ops::long_from_bytes;
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
    w.raw(&[op::PROTO, 2]).global("evil._utils", "_rebuild_tensor_v2").op(op::EMPTY_TUPLE).op(op::REDUCE).op(op::STOP);
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
    assert_eq!(v, Value::Dict(vec![(Value::Str("a".into()), Value::Int(3)), (Value::Str("b".into()), Value::Int(2))]));
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
