//! Checkpoint formats end to end: PyTorch zip checkpoints written by a tiny pickle and
//! zip writer that mimic `torch.save`, safetensors files, and damaged or hostile files.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use dynamicrafter_studio::weights::pickle::{self, Value};
use dynamicrafter_studio::weights::{Checkpoint, CheckpointFormat, ElementType, Entry, WeightsError};

// ---------------------------------------------------------------------------------------
// A tiny pickle writer (protocol 2, as torch.save writes it).
// ---------------------------------------------------------------------------------------

/// A tensor as `torch.save` pickles it.
#[derive(Clone)]
struct T {
    storage_class: &'static str,
    key: &'static str,
    numel: u64,
    offset: u64,
    size: Vec<u64>,
    stride: Vec<u64>,
}

/// Row-major contiguous tensor over a whole storage.
fn t(storage_class: &'static str, key: &'static str, size: &[u64]) -> T {
    let mut stride = vec![1u64; size.len()];
    let mut acc = 1;
    for (s, &d) in stride.iter_mut().zip(size).rev() {
        *s = acc;
        acc *= d;
    }
    T { storage_class, key, numel: acc, offset: 0, size: size.to_vec(), stride }
}

/// A value to pickle.
#[derive(Clone)]
enum P {
    Int(i64),
    Float(f64),
    Str(&'static str),
    Tensor(T),
    /// A plain `{}` dict.
    Dict(Vec<(&'static str, P)>),
    /// `collections.OrderedDict`, as state dicts are.
    Ordered(Vec<(&'static str, P)>),
    List(Vec<P>),
    /// An instance of an arbitrary class: `cls.__new__(cls)` + `__setstate__(state)`.
    Object(&'static str, &'static str, Box<P>),
    /// `module.name(*args)`.
    Call(&'static str, &'static str, Vec<P>),
}

#[derive(Default)]
struct Pickler {
    out: Vec<u8>,
    memo: u32,
}

impl Pickler {
    fn op(&mut self, b: u8) {
        self.out.push(b);
    }

    fn put(&mut self) {
        if self.memo < 256 {
            self.out.extend_from_slice(&[b'q', self.memo as u8]);
        } else {
            self.op(b'r');
            self.out.extend_from_slice(&self.memo.to_le_bytes());
        }
        self.memo += 1;
    }

    fn int(&mut self, v: i64) {
        if (0..256).contains(&v) {
            self.out.extend_from_slice(&[b'K', v as u8]);
        } else if (0..65536).contains(&v) {
            self.op(b'M');
            self.out.extend_from_slice(&(v as u16).to_le_bytes());
        } else if i32::try_from(v).is_ok() {
            self.op(b'J');
            self.out.extend_from_slice(&(v as i32).to_le_bytes());
        } else {
            self.out.extend_from_slice(&[0x8a, 8]);
            self.out.extend_from_slice(&v.to_le_bytes());
        }
    }

    fn str(&mut self, s: &str) {
        self.op(b'X');
        self.out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.out.extend_from_slice(s.as_bytes());
        self.put();
    }

    fn global(&mut self, module: &str, name: &str) {
        self.op(b'c');
        self.out.extend_from_slice(format!("{module}\n{name}\n").as_bytes());
        self.put();
    }

    fn int_tuple(&mut self, v: &[u64]) {
        self.op(b'(');
        for &x in v {
            self.int(x as i64);
        }
        self.op(b't');
        self.put();
    }

    fn items(&mut self, items: &[(&str, P)]) {
        if items.is_empty() {
            return;
        }
        self.op(b'(');
        for (k, v) in items {
            self.str(k);
            self.value(v);
        }
        self.op(b'u');
    }

    fn ordered_dict(&mut self) {
        self.global("collections", "OrderedDict");
        self.op(b')');
        self.op(b'R');
        self.put();
    }

    fn tensor(&mut self, t: &T) {
        self.global("torch._utils", "_rebuild_tensor_v2");
        self.op(b'(');
        self.op(b'(');
        self.str("storage");
        self.global("torch", t.storage_class);
        self.str(t.key);
        self.str("cpu");
        self.int(t.numel as i64);
        self.op(b't');
        self.put();
        self.op(b'Q');
        self.int(t.offset as i64);
        self.int_tuple(&t.size);
        self.int_tuple(&t.stride);
        self.op(0x89);
        self.ordered_dict();
        self.op(b't');
        self.put();
        self.op(b'R');
        self.put();
    }

    fn value(&mut self, v: &P) {
        match v {
            P::Int(i) => self.int(*i),
            P::Float(f) => {
                self.op(b'G');
                self.out.extend_from_slice(&f.to_be_bytes());
            }
            P::Str(s) => self.str(s),
            P::Tensor(t) => self.tensor(t),
            P::Dict(items) => {
                self.op(b'}');
                self.put();
                self.items(items);
            }
            P::Ordered(items) => {
                self.ordered_dict();
                self.items(items);
            }
            P::List(items) => {
                self.op(b']');
                self.put();
                if !items.is_empty() {
                    self.op(b'(');
                    for i in items {
                        self.value(i);
                    }
                    self.op(b'e');
                }
            }
            P::Object(module, name, state) => {
                self.global(module, name);
                self.op(b')');
                self.op(0x81);
                self.put();
                self.value(state);
                self.op(b'b');
            }
            P::Call(module, name, args) => {
                self.global(module, name);
                self.op(b'(');
                for a in args {
                    self.value(a);
                }
                self.op(b't');
                self.op(b'R');
                self.put();
            }
        }
    }
}

/// `torch.save`-style pickle of `root`.
fn pickle(root: &P) -> Vec<u8> {
    let mut p = Pickler::default();
    p.out.extend_from_slice(&[0x80, 2]);
    p.value(root);
    p.op(b'.');
    p.out
}

// ---------------------------------------------------------------------------------------
// A tiny zip writer (stored entries, as torch.save writes them).
// ---------------------------------------------------------------------------------------

fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

fn zip_stored(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in files {
        let offset = out.len() as u32;
        let crc = crc32(data);
        let size = data.len() as u32;
        // Local header; torch pads the extra field so data is 64-byte aligned.
        let pad = (64 - (out.len() + 30 + name.len() + 4) % 64) % 64;
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&((pad + 4) as u16).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"FB");
        out.extend_from_slice(&(pad as u16).to_le_bytes());
        out.extend(std::iter::repeat_n(b'Z', pad));
        out.extend_from_slice(data);
        // Central directory header.
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&(name.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0; 12]);
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

/// A torch.save-style archive: `archive/data.pkl`, `byteorder`, `data/<key>`, `version`.
fn torch_zip_with(root: &P, storages: &[(&str, Vec<u8>)], byteorder: &str) -> Vec<u8> {
    let mut files = vec![
        ("archive/data.pkl".to_owned(), pickle(root)),
        ("archive/byteorder".to_owned(), byteorder.as_bytes().to_vec()),
    ];
    for (key, bytes) in storages {
        files.push((format!("archive/data/{key}"), bytes.clone()));
    }
    files.push(("archive/version".to_owned(), b"3\n".to_vec()));
    zip_stored(&files)
}

fn torch_zip(root: &P, storages: &[(&str, Vec<u8>)]) -> Vec<u8> {
    torch_zip_with(root, storages, "little")
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn write_file(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

// ---------------------------------------------------------------------------------------
// Sample checkpoints
// ---------------------------------------------------------------------------------------

const W: [f32; 6] = [0.5, -1.0, 2.0, 3.25, -4.5, 5.0];
const B: [f32; 3] = [0.1, 0.2, 0.3];

fn sample_storages() -> Vec<(&'static str, Vec<u8>)> {
    vec![("0", f32_bytes(&W)), ("1", f32_bytes(&B))]
}

fn state_dict() -> P {
    P::Ordered(vec![
        ("model.w", P::Tensor(t("FloatStorage", "0", &[2, 3]))),
        ("model.b", P::Tensor(t("FloatStorage", "1", &[3]))),
    ])
}

/// `{'epoch', 'global_step', 'state_dict', 'hyper_parameters', 'optimizer_states', 'callbacks'}`.
fn lightning() -> P {
    P::Dict(vec![
        ("epoch", P::Int(3)),
        ("global_step", P::Int(10)),
        ("pytorch-lightning_version", P::Str("1.9.3")),
        ("state_dict", state_dict()),
        (
            "hyper_parameters",
            P::Object(
                "omegaconf.dictconfig",
                "DictConfig",
                Box::new(P::Dict(vec![("lr", P::Float(1e-4)), ("name", P::Str("dc"))])),
            ),
        ),
        (
            "optimizer_states",
            P::List(vec![P::Dict(vec![
                ("state", P::Dict(vec![("exp_avg", P::Tensor(t("FloatStorage", "1", &[3])))])),
                (
                    "param_groups",
                    P::List(vec![P::Dict(vec![
                        ("lr", P::Float(1e-4)),
                        ("params", P::List(vec![P::Int(0), P::Int(1)])),
                    ])]),
                ),
            ])]),
        ),
        (
            "callbacks",
            P::Dict(vec![(
                "ModelCheckpoint",
                P::Object("pytorch_lightning.callbacks", "ModelCheckpoint", Box::new(P::Dict(vec![]))),
            )]),
        ),
    ])
}

fn open_bytes(bytes: &[u8]) -> (tempfile::TempDir, Result<Checkpoint, WeightsError>) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "model.ckpt", bytes);
    let ck = Checkpoint::open(&path);
    (dir, ck)
}

fn assert_close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= 1e-6 * y.abs().max(1.0), "{a:?} vs {b:?}");
    }
}

// ---------------------------------------------------------------------------------------
// (a)–(f): PyTorch zip checkpoints
// ---------------------------------------------------------------------------------------

#[test]
fn lightning_checkpoint() {
    let (_dir, ck) = open_bytes(&torch_zip(&lightning(), &sample_storages()));
    let ck = ck.unwrap();
    assert_eq!(ck.format(), CheckpointFormat::Lightning);
    assert_eq!(ck.len(), 2);
    assert_eq!(ck.names().collect::<Vec<_>>(), vec!["model.b", "model.w"]);
    let w = ck.info("model.w").unwrap();
    assert_eq!(w.dtype, ElementType::F32);
    assert_eq!(w.shape, vec![2, 3]);
    assert_eq!(w.strides, vec![3, 1]);
    assert_eq!(w.storage, "archive/data/0");
    assert_eq!(w.storage_len, 24);
    assert_eq!(w.data_offset % 64, 0, "torch aligns storages to 64 bytes");
    assert_eq!(ck.read_f32("model.w").unwrap(), W.to_vec());
    assert_eq!(ck.read_f32("model.b").unwrap(), B.to_vec());
    let (dtype, raw) = ck.read_raw("model.w").unwrap();
    assert_eq!(dtype, ElementType::F32);
    assert_eq!(raw, f32_bytes(&W));
    // Top-level metadata is not part of the state dict.
    assert!(ck.info("epoch").is_none());
    assert!(matches!(ck.read_f32("epoch"), Err(WeightsError::Missing { .. })));
    assert_eq!(ck.skipped_non_tensors(), 0);
}

#[test]
fn plain_state_dict() {
    let root = P::Ordered(vec![
        ("w", P::Tensor(t("FloatStorage", "0", &[2, 3]))),
        ("b", P::Tensor(t("FloatStorage", "1", &[3]))),
        ("num_batches_tracked", P::Int(7)),
    ]);
    let (_dir, ck) = open_bytes(&torch_zip(&root, &sample_storages()));
    let ck = ck.unwrap();
    assert_eq!(ck.format(), CheckpointFormat::Plain);
    assert_eq!(ck.names().collect::<Vec<_>>(), vec!["b", "w"]);
    assert_eq!(ck.skipped_non_tensors(), 1);
    assert!(matches!(ck.entry("num_batches_tracked"), Some(Entry::NotATensor { .. })));
    assert!(matches!(ck.read_f32("num_batches_tracked"), Err(WeightsError::NotATensor { .. })));
    assert_eq!(ck.read_f32("w").unwrap(), W.to_vec());
}

#[test]
fn deepspeed_checkpoint() {
    let root = P::Dict(vec![
        (
            "module",
            P::Ordered(vec![
                ("_forward_module.model.x", P::Tensor(t("FloatStorage", "0", &[6]))),
                ("_forward_module.model.y", P::Tensor(t("FloatStorage", "1", &[3, 1]))),
            ]),
        ),
        ("global_steps", P::Int(5)),
    ]);
    let (_dir, ck) = open_bytes(&torch_zip(&root, &sample_storages()));
    let ck = ck.unwrap();
    assert_eq!(ck.format(), CheckpointFormat::DeepSpeed);
    assert_eq!(ck.names().collect::<Vec<_>>(), vec!["model.x", "model.y"]);
    assert_eq!(ck.read_f32("model.x").unwrap(), W.to_vec());
    assert_eq!(ck.info("model.y").unwrap().shape, vec![3, 1]);
}

#[test]
fn half_precision_storages() {
    let halves = [0.5f32, -1.25, 3.0, 65504.0, -0.0, 1.0 / 1024.0];
    let f16: Vec<u8> = halves.iter().flat_map(|&x| half::f16::from_f32(x).to_le_bytes()).collect();
    let bf16: Vec<u8> = halves.iter().flat_map(|&x| half::bf16::from_f32(x).to_le_bytes()).collect();
    let root = P::Ordered(vec![
        ("h", P::Tensor(t("HalfStorage", "0", &[2, 3]))),
        ("bf", P::Tensor(t("BFloat16Storage", "1", &[6]))),
    ]);
    let (_dir, ck) = open_bytes(&torch_zip(&root, &[("0", f16.clone()), ("1", bf16.clone())]));
    let ck = ck.unwrap();
    assert_eq!(ck.info("h").unwrap().dtype, ElementType::F16);
    assert_eq!(ck.info("bf").unwrap().dtype, ElementType::BF16);
    assert_eq!(ck.read_f32("h").unwrap(), halves.to_vec());
    let expected_bf: Vec<f32> = halves.iter().map(|&x| half::bf16::from_f32(x).to_f32()).collect();
    assert_eq!(ck.read_f32("bf").unwrap(), expected_bf);
    assert_eq!(ck.read_raw("h").unwrap(), (ElementType::F16, f16));
    assert_eq!(ck.read_raw("bf").unwrap(), (ElementType::BF16, bf16));
}

#[test]
fn other_dtypes_convert_to_f32() {
    let d: Vec<u8> = [1.5f64, -2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    let l: Vec<u8> = [7i64, -9].iter().flat_map(|x| x.to_le_bytes()).collect();
    let root = P::Ordered(vec![
        ("d", P::Tensor(t("DoubleStorage", "0", &[2]))),
        ("l", P::Tensor(t("LongStorage", "1", &[2]))),
        ("u", P::Tensor(t("ByteStorage", "2", &[2]))),
        ("z", P::Tensor(t("BoolStorage", "3", &[2]))),
    ]);
    let storages = [("0", d), ("1", l), ("2", vec![200, 3]), ("3", vec![1, 0])];
    let (_dir, ck) = open_bytes(&torch_zip(&root, &storages));
    let ck = ck.unwrap();
    assert_eq!(ck.read_f32("d").unwrap(), vec![1.5, -2.0]);
    assert_eq!(ck.read_f32("l").unwrap(), vec![7.0, -9.0]);
    assert_eq!(ck.read_f32("u").unwrap(), vec![200.0, 3.0]);
    assert_eq!(ck.read_f32("z").unwrap(), vec![1.0, 0.0]);
}

#[test]
fn strided_and_shared_storage_tensors() {
    let storage: Vec<f32> = (0..12).map(|i| i as f32).collect();
    let transposed =
        T { storage_class: "FloatStorage", key: "0", numel: 12, offset: 0, size: vec![3, 2], stride: vec![1, 3] };
    let tail =
        T { storage_class: "FloatStorage", key: "0", numel: 12, offset: 8, size: vec![2, 2], stride: vec![2, 1] };
    let every_other_row =
        T { storage_class: "FloatStorage", key: "0", numel: 12, offset: 1, size: vec![2, 2], stride: vec![6, 1] };
    let broadcast =
        T { storage_class: "FloatStorage", key: "0", numel: 12, offset: 5, size: vec![2, 3], stride: vec![0, 1] };
    let root = P::Ordered(vec![
        ("t", P::Tensor(transposed)),
        ("tail", P::Tensor(tail)),
        ("rows", P::Tensor(every_other_row)),
        ("bc", P::Tensor(broadcast)),
        ("whole", P::Tensor(t("FloatStorage", "0", &[12]))),
    ]);
    let (_dir, ck) = open_bytes(&torch_zip(&root, &[("0", f32_bytes(&storage))]));
    let ck = ck.unwrap();
    assert!(!ck.info("t").unwrap().is_contiguous());
    assert_eq!(ck.read_f32("t").unwrap(), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    assert_eq!(ck.info("tail").unwrap().storage_offset, 8);
    assert_eq!(ck.read_f32("tail").unwrap(), vec![8.0, 9.0, 10.0, 11.0]);
    assert_eq!(ck.read_f32("rows").unwrap(), vec![1.0, 2.0, 7.0, 8.0]);
    assert_eq!(ck.read_f32("bc").unwrap(), vec![5.0, 6.0, 7.0, 5.0, 6.0, 7.0]);
    assert_eq!(ck.read_f32("whole").unwrap(), storage);
    let (_, raw) = ck.read_raw("t").unwrap();
    assert_eq!(raw, f32_bytes(&[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]));
    // Both views share one storage entry.
    assert_eq!(ck.info("t").unwrap().data_offset, ck.info("tail").unwrap().data_offset);
}

#[test]
fn parameters_and_typed_storage_variants() {
    // nn.Parameter: _rebuild_parameter(tensor, requires_grad, hooks); and a storage whose
    // type is given by a dtype global in the persistent id.
    let mut p = Pickler::default();
    p.out.extend_from_slice(&[0x80, 2]);
    p.ordered_dict();
    p.op(b'(');
    p.str("param");
    p.global("torch._utils", "_rebuild_parameter");
    p.op(b'(');
    p.tensor(&t("HalfStorage", "0", &[2]));
    p.op(0x88);
    p.ordered_dict();
    p.op(b't');
    p.op(b'R');
    p.str("typed");
    p.global("torch._utils", "_rebuild_tensor_v2");
    p.op(b'(');
    p.op(b'(');
    p.str("storage");
    p.global("torch.storage", "TypedStorage");
    p.str("1");
    p.str("cuda:0");
    p.int(2);
    p.global("torch", "bfloat16");
    p.op(b't');
    p.op(b'Q');
    p.int(0);
    p.int_tuple(&[2]);
    p.int_tuple(&[1]);
    p.op(0x89);
    p.ordered_dict();
    p.op(b't');
    p.op(b'R');
    p.op(b'u');
    p.op(b'.');
    let h: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|&x| half::f16::from_f32(x).to_le_bytes()).collect();
    let b: Vec<u8> = [3.0f32, 4.0].iter().flat_map(|&x| half::bf16::from_f32(x).to_le_bytes()).collect();
    let files = vec![
        ("archive/data.pkl".to_owned(), p.out),
        ("archive/data/0".to_owned(), h),
        ("archive/data/1".to_owned(), b),
    ];
    let (_dir, ck) = open_bytes(&zip_stored(&files));
    let ck = ck.unwrap();
    assert_eq!(ck.read_f32("param").unwrap(), vec![1.0, 2.0]);
    assert_eq!(ck.info("typed").unwrap().dtype, ElementType::BF16);
    assert_eq!(ck.read_f32("typed").unwrap(), vec![3.0, 4.0]);
}

#[test]
fn archive_prefix_can_have_any_name() {
    let files = vec![
        ("my_model-v2/data.pkl".to_owned(), pickle(&state_dict())),
        ("my_model-v2/data/0".to_owned(), f32_bytes(&W)),
        ("my_model-v2/data/1".to_owned(), f32_bytes(&B)),
    ];
    let (_dir, ck) = open_bytes(&zip_stored(&files));
    let ck = ck.unwrap();
    assert_eq!(ck.info("model.w").unwrap().storage, "my_model-v2/data/0");
    assert_eq!(ck.read_f32("model.b").unwrap(), B.to_vec());
}

#[test]
fn unsupported_storage_dtype_is_reported_on_read() {
    let root = P::Ordered(vec![
        ("c", P::Tensor(t("ComplexFloatStorage", "0", &[1]))),
        ("w", P::Tensor(t("FloatStorage", "1", &[3]))),
    ]);
    let (_dir, ck) = open_bytes(&torch_zip(&root, &[("0", vec![0; 8]), ("1", f32_bytes(&B))]));
    let ck = ck.unwrap();
    assert_eq!(ck.names().collect::<Vec<_>>(), vec!["w"]);
    let err = ck.read_f32("c").unwrap_err();
    assert!(matches!(err, WeightsError::UnsupportedDType { .. }), "{err}");
    assert!(err.to_string().contains("ComplexFloatStorage"), "{err}");
}

#[test]
fn remap_keys_renames_and_drops() {
    let (_dir, ck) = open_bytes(&torch_zip(&lightning(), &sample_storages()));
    let mut ck = ck.unwrap();
    let collisions = ck.remap_keys(|k| k.strip_prefix("model.").filter(|k| *k != "b").map(|k| format!("unet.{k}")));
    assert!(collisions.is_empty());
    assert_eq!(ck.names().collect::<Vec<_>>(), vec!["unet.w"]);
    assert_eq!(ck.read_f32("unet.w").unwrap(), W.to_vec());
    let collisions = ck.remap_keys(|_| Some("same".to_owned()));
    assert!(collisions.is_empty());
    let (_dir2, ck2) = open_bytes(&torch_zip(&lightning(), &sample_storages()));
    let mut ck2 = ck2.unwrap();
    let collisions = ck2.remap_keys(|_| Some("same".to_owned()));
    assert_eq!(collisions, vec!["model.w"]);
    assert_eq!(ck2.len(), 1);
}

#[test]
fn concurrent_reads_from_threads() {
    let (_dir, ck) = open_bytes(&torch_zip(&lightning(), &sample_storages()));
    let ck = ck.unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..50 {
                    assert_eq!(ck.read_f32("model.w").unwrap(), W.to_vec());
                    assert_eq!(ck.read_f32("model.b").unwrap(), B.to_vec());
                }
            });
        }
    });
}

#[test]
fn big_endian_is_refused() {
    let (_dir, ck) = open_bytes(&torch_zip_with(&state_dict(), &sample_storages(), "big"));
    let err = ck.unwrap_err();
    assert!(matches!(err, WeightsError::BigEndian { .. }), "{err}");
    assert!(err.to_string().contains("big-endian checkpoints are not supported"), "{err}");
}

// ---------------------------------------------------------------------------------------
// (g): safetensors
// ---------------------------------------------------------------------------------------

fn safetensors_sample() -> Vec<u8> {
    use safetensors::tensor::TensorView;
    let w = f32_bytes(&W);
    let h: Vec<u8> = W.iter().flat_map(|&x| half::f16::from_f32(x).to_le_bytes()).collect();
    let b: Vec<u8> = W.iter().flat_map(|&x| half::bf16::from_f32(x).to_le_bytes()).collect();
    let tensors = vec![
        ("w32", TensorView::new(safetensors::Dtype::F32, vec![2, 3], &w).unwrap()),
        ("w16", TensorView::new(safetensors::Dtype::F16, vec![3, 2], &h).unwrap()),
        ("wbf", TensorView::new(safetensors::Dtype::BF16, vec![6], &b).unwrap()),
    ];
    safetensors::serialize(tensors, None).unwrap()
}

#[test]
fn safetensors_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "model.safetensors", &safetensors_sample());
    let ck = Checkpoint::open(&path).unwrap();
    assert_eq!(ck.format(), CheckpointFormat::Safetensors);
    assert_eq!(ck.names().collect::<Vec<_>>(), vec!["w16", "w32", "wbf"]);
    assert_eq!(ck.info("w16").unwrap().shape, vec![3, 2]);
    assert_eq!(ck.info("w16").unwrap().strides, vec![2, 1]);
    assert_eq!(ck.read_f32("w32").unwrap(), W.to_vec());
    assert_eq!(ck.read_f32("w16").unwrap(), W.to_vec());
    let expected_bf: Vec<f32> = W.iter().map(|&x| half::bf16::from_f32(x).to_f32()).collect();
    assert_close(&ck.read_f32("wbf").unwrap(), &expected_bf);
    assert_eq!(ck.read_raw("w32").unwrap(), (ElementType::F32, f32_bytes(&W)));
}

// ---------------------------------------------------------------------------------------
// (h)–(l): damaged, hostile and foreign files
// ---------------------------------------------------------------------------------------

/// Opens every truncation of `bytes` (and reads all tensors when it opens).
fn check_truncations(bytes: &[u8], label: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut");
    // Every length near both ends (headers, directory), every 13th in between.
    let n = bytes.len();
    let mut lens: Vec<usize> = (0..n.min(100)).chain((0..n).step_by(13)).chain(n.saturating_sub(100)..n).collect();
    lens.sort_unstable();
    lens.dedup();
    for len in lens {
        std::fs::write(&path, &bytes[..len]).unwrap();
        match Checkpoint::open(&path) {
            Err(e) => assert!(!e.to_string().is_empty()),
            Ok(ck) => {
                let names: Vec<String> = ck.names().map(str::to_owned).collect();
                let all_read = names.iter().all(|n| ck.read_f32(n).is_ok());
                panic!("{label}: truncated to {len} of {} bytes opened (reads ok: {all_read})", bytes.len());
            }
        }
    }
    // The common case, a download cut in the middle, says so.
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = Checkpoint::open(&path).unwrap_err();
    assert!(matches!(err, WeightsError::Truncated { .. }), "{label}: {err}");
    assert!(err.to_string().contains("download may be incomplete"), "{err}");
}

#[test]
fn truncated_files_fail_cleanly() {
    check_truncations(&torch_zip(&lightning(), &sample_storages()), "lightning");
    check_truncations(&torch_zip(&state_dict(), &sample_storages()), "plain");
    check_truncations(&safetensors_sample(), "safetensors");
}

#[test]
fn file_truncated_after_open_fails_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "st.safetensors", &safetensors_sample());
    let ck = Checkpoint::open(&path).unwrap();
    let bytes = safetensors_sample();
    std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
    let last = ck.tensors().max_by_key(|(_, info)| info.data_offset).unwrap().0;
    let err = ck.read_f32(last).unwrap_err();
    assert!(matches!(err, WeightsError::Truncated { .. }), "{err}");
}

/// Offset of the central directory, from the EOCD of a zip without comment.
fn cd_offset(zip: &[u8]) -> usize {
    let eocd = zip.len() - 22;
    u32::from_le_bytes(zip[eocd + 16..eocd + 20].try_into().unwrap()) as usize
}

#[test]
fn corrupted_zip_fails_cleanly() {
    let good = torch_zip(&lightning(), &sample_storages());
    let cd = cd_offset(&good);
    let eocd = good.len() - 22;

    // Garbage central directory.
    let mut bad = good.clone();
    for (i, b) in bad[cd..eocd].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37).wrapping_add(11);
    }
    let (_d, ck) = open_bytes(&bad);
    assert!(matches!(ck, Err(WeightsError::Zip { .. })), "{:?}", ck.err());

    // Central directory offset pointing past the end.
    let mut bad = good.clone();
    bad[eocd + 16..eocd + 20].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(open_bytes(&bad).1.is_err());

    // Corrupted pickle bytes: the CRC check catches it.
    let mut bad = good.clone();
    let pkl_start = 64; // the first entry's data is padded to 64 bytes
    bad[pkl_start] ^= 0x55;
    let (_d, ck) = open_bytes(&bad);
    assert!(matches!(ck, Err(WeightsError::Corrupt { .. }) | Err(WeightsError::Pickle { .. })), "{:?}", ck.err());

    // Many single-byte corruptions anywhere: Ok or Err, never a panic.
    for i in (0..good.len()).step_by(7) {
        let mut bad = good.clone();
        bad[i] ^= 0xA5;
        if let (_d, Ok(ck)) = open_bytes(&bad) {
            for n in ck.names().map(str::to_owned).collect::<Vec<_>>() {
                let _ = ck.read_f32(&n);
            }
        }
    }
}

#[test]
fn malformed_pickle_reports_position() {
    let mut pkl = pickle(&state_dict());
    let n = pkl.len();
    pkl[n - 1] = 0xFF; // replace STOP with an unknown opcode
    let files = vec![("archive/data.pkl".to_owned(), pkl), ("archive/data/0".to_owned(), f32_bytes(&W))];
    let (_d, ck) = open_bytes(&zip_stored(&files));
    match ck {
        Err(WeightsError::Pickle { pos, msg, .. }) => {
            assert_eq!(pos, n as u64 - 1);
            assert!(msg.contains("0xff"), "{msg}");
        }
        other => panic!("{:?}", other.err()),
    }
}

#[test]
fn hostile_pickle_is_parsed_not_executed() {
    let marker = std::env::temp_dir().join(format!("dc-pwned-{}", std::process::id()));
    let cmd: &'static str = Box::leak(format!("touch {}", marker.display()).into_boxed_str());
    let root = P::Dict(vec![
        ("evil_top", P::Call("os", "system", vec![P::Str(cmd)])),
        (
            "state_dict",
            P::Ordered(vec![
                ("model.w", P::Tensor(t("FloatStorage", "0", &[2, 3]))),
                ("evil", P::Call("os", "system", vec![P::Str(cmd)])),
                ("evil2", P::Call("builtins", "eval", vec![P::Str("__import__('os').system('true')")])),
                ("evil3", P::Call("__builtin__", "exec", vec![P::Str("import os")])),
                ("ns", P::Call("argparse", "Namespace", vec![])),
                ("np", P::Call("numpy.core.multiarray", "_reconstruct", vec![P::Int(0)])),
            ]),
        ),
    ]);
    // At the pickle level the call is an opaque value, never a tensor.
    let parsed = pickle::parse(&pickle(&root)).unwrap();
    let evil = parsed.get("state_dict").and_then(|sd| sd.get("evil")).unwrap();
    assert!(matches!(evil, Value::Opaque(what) if what.contains("os.system")), "{evil:?}");
    assert!(evil.as_tensor().is_none());
    assert!(matches!(parsed.get("evil_top"), Some(Value::Opaque(_))));

    let (_dir, ck) = open_bytes(&torch_zip(&root, &sample_storages()));
    let ck = ck.unwrap();
    assert!(!marker.exists(), "the pickle was executed");
    assert_eq!(ck.names().collect::<Vec<_>>(), vec!["model.w"]);
    assert_eq!(ck.skipped_non_tensors(), 5);
    match ck.entry("evil") {
        Some(Entry::NotATensor { kind }) => assert!(kind.contains("os.system"), "{kind}"),
        other => panic!("{other:?}"),
    }
    for name in ["evil", "evil2", "evil3", "ns", "np"] {
        assert!(ck.info(name).is_none());
        let err = ck.read_f32(name).unwrap_err();
        assert!(matches!(err, WeightsError::NotATensor { .. }), "{name}: {err}");
        assert!(matches!(ck.read_raw(name), Err(WeightsError::NotATensor { .. })));
    }
    assert_eq!(ck.read_f32("model.w").unwrap(), W.to_vec());
}

#[test]
fn oversized_tensor_is_refused_before_reading() {
    let huge = T {
        storage_class: "FloatStorage",
        key: "0",
        numel: 6,
        offset: 0,
        size: vec![1_000_000_000_000],
        stride: vec![1],
    };
    let root = P::Ordered(vec![("huge", P::Tensor(huge))]);
    let (_dir, ck) = open_bytes(&torch_zip(&root, &sample_storages()));
    match ck {
        Err(WeightsError::TensorOutOfBounds { name, needed, available }) => {
            assert_eq!(name, "huge");
            assert_eq!(needed, 4_000_000_000_000);
            assert_eq!(available, 24);
        }
        other => panic!("{:?}", other.err()),
    }
    // An offset past the end of the storage is caught the same way.
    let past = T { offset: 6, ..t("FloatStorage", "0", &[1]) };
    let (_dir, ck) = open_bytes(&torch_zip(&P::Ordered(vec![("p", P::Tensor(past))]), &sample_storages()));
    assert!(matches!(ck, Err(WeightsError::TensorOutOfBounds { .. })));
    // A huge broadcast view (stride 0) fits its storage but is refused when read.
    let bc = T { size: vec![1 << 40], stride: vec![0], ..t("FloatStorage", "0", &[1]) };
    let (_dir, ck) = open_bytes(&torch_zip(&P::Ordered(vec![("bc", P::Tensor(bc))]), &sample_storages()));
    let ck = ck.unwrap();
    assert!(matches!(ck.read_f32("bc"), Err(WeightsError::TooLarge { .. })));
}

#[test]
fn missing_storage_entry_is_corrupt() {
    let files =
        vec![("archive/data.pkl".to_owned(), pickle(&state_dict())), ("archive/data/0".to_owned(), f32_bytes(&W))];
    let (_d, ck) = open_bytes(&zip_stored(&files));
    let err = ck.unwrap_err();
    assert!(matches!(err, WeightsError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("archive/data/1"), "{err}");
}

#[test]
fn no_state_dict() {
    let root = P::Dict(vec![("epoch", P::Int(1)), ("note", P::Str("hi"))]);
    let (_d, ck) = open_bytes(&torch_zip(&root, &[]));
    match ck {
        Err(WeightsError::NoStateDict { top_level_keys, .. }) => {
            assert_eq!(top_level_keys, vec!["epoch", "note"])
        }
        other => panic!("{:?}", other.err()),
    }
    let files = vec![("archive/other.txt".to_owned(), b"x".to_vec())];
    let (_d, ck) = open_bytes(&zip_stored(&files));
    assert!(matches!(ck, Err(WeightsError::NotACheckpoint { .. })));
}

#[test]
fn foreign_files_are_not_checkpoints() {
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89".to_vec();
    let mut seed = 12345u32;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (seed >> 16) as u8
        })
        .collect();
    let legacy = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03.".to_vec();
    for (label, bytes) in
        [("png", png), ("empty", vec![]), ("random", random), ("legacy", legacy), ("text", b"hello".to_vec())]
    {
        let (_d, ck) = open_bytes(&bytes);
        let err = ck.unwrap_err();
        assert!(matches!(err, WeightsError::NotACheckpoint { .. }), "{label}: {err}");
        if label != "empty" {
            assert!(err.to_string().contains("not a PyTorch zip checkpoint"), "{err}");
        }
    }
    let err = Checkpoint::open(Path::new("/definitely/not/here.ckpt")).unwrap_err();
    assert!(matches!(err, WeightsError::Io { .. }), "{err}");
}

// ---------------------------------------------------------------------------------------
// The real fixture
// ---------------------------------------------------------------------------------------

#[test]
fn real_tiny_fixture_opens() {
    let path = crate::common::tiny_fixture().join("model.ckpt");
    assert!(path.exists(), "fixture {} is missing: set DC_SHARED to the shared folder", path.display());
    let ck = Checkpoint::open(&path).unwrap();
    assert_eq!(ck.format(), CheckpointFormat::Lightning);
    assert_eq!(ck.len(), 757);
    let info = ck.info("model.diffusion_model.input_blocks.0.0.weight").unwrap();
    assert_eq!(info.shape, vec![32, 8, 3, 3]);
    assert_eq!(info.dtype, ElementType::F32);
    let mut total = 0usize;
    for name in ck.names() {
        let v = ck.read_f32(name).unwrap();
        assert_eq!(v.len(), ck.info(name).unwrap().numel(), "{name}");
        assert!(v.iter().all(|x| x.is_finite()), "{name} has non-finite values");
        total += v.len();
    }
    assert!(total > 1_000_000, "only {total} values");
}

/// Writes the seed corpora of the fuzz targets (`fuzz/README.md`) from this file's
/// generators: checkpoints of every layout, images of every format, history entries.
#[test]
#[ignore = "writes fuzz/corpus/*; run it before fuzzing (fuzz/README.md)"]
fn write_fuzz_seed_corpora() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let put = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    put("checkpoint_open", "lightning.ckpt", &torch_zip(&lightning(), &sample_storages()));
    put("checkpoint_open", "plain.pt", &torch_zip(&state_dict(), &sample_storages()));
    put("checkpoint_open", "sample.safetensors", &safetensors_sample());
    let mut img = image::RgbImage::new(12, 7);
    for (x, y, p) in img.enumerate_pixels_mut() {
        *p = image::Rgb([(x * 20) as u8, (y * 30) as u8, 128]);
    }
    for (name, fmt) in [
        ("a.png", image::ImageFormat::Png),
        ("a.jpg", image::ImageFormat::Jpeg),
        ("a.gif", image::ImageFormat::Gif),
        ("a.bmp", image::ImageFormat::Bmp),
        ("a.tif", image::ImageFormat::Tiff),
        ("a.webp", image::ImageFormat::WebP),
    ] {
        let mut bytes = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(img.clone()).write_to(&mut bytes, fmt).unwrap();
        put("image_decode", name, bytes.get_ref());
    }
    let record = serde_json::to_string(&dynamicrafter_studio::history::HistoryRecord {
        settings: dynamicrafter_studio::pipeline::generate::Settings::defaults(
            dynamicrafter_studio::model::config::Variant::V512,
        ),
        model: "512".into(),
        input_hash: "0".into(),
        fit: "Reference".into(),
        cancelled: false,
        steps_done: 1,
        created_unix_ms: 1,
        frames: 1,
        width: 12,
        height: 7,
        sweep: None,
        part: None,
        joined: None,
    })
    .unwrap();
    let mut png = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img).write_to(&mut png, image::ImageFormat::Png).unwrap();
    let mut entry = record.as_bytes().to_vec();
    entry.push(0);
    entry.extend_from_slice(png.get_ref());
    put("history_entry", "entry", &entry);
}
