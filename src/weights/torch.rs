//! PyTorch zip checkpoints (`torch.save` with `_use_new_zipfile_serialization=True`, the
//! default since torch 1.6): `.ckpt`, `.pt`, `.pth`.
//!
//! Layout: `<prefix>/data.pkl` (the pickled object), `<prefix>/byteorder`,
//! `<prefix>/data/<key>` (one stored entry per tensor storage), `<prefix>/version`.
//! The prefix is the archive's top folder and may have any name.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::Path;

use crate::weights::error::WeightsError;
use crate::weights::index::{CheckpointFormat, Entry, Index, MAX_DIMS, TensorInfo};
use crate::weights::pickle::{self, StorageType, TensorRef, Value};
use crate::weights::zip::{DataRange, ZipArchive};

/// Largest `data.pkl` we load (real ones are a few hundred KiB to a few MiB).
pub const MAX_PICKLE_BYTES: u64 = 256 << 20;

/// DeepSpeed wraps the model; the reference loader drops these 16 characters.
const DEEPSPEED_PREFIX: &str = "_forward_module.";

/// Reads the directory of the PyTorch zip checkpoint in `file`.
pub(crate) fn open(path: &Path, file: &mut File) -> Result<Index, WeightsError> {
    let archive = ZipArchive::read(path, file)?;
    let prefix = find_prefix(&archive)?;
    check_byteorder(&archive, file, &prefix)?;
    let pkl_name = format!("{prefix}data.pkl");
    let pkl_entry = archive.find(&pkl_name).ok_or_else(|| not_checkpoint(path, "data.pkl disappeared"))?.clone();
    let pkl = archive.read_entry(file, &pkl_entry, MAX_PICKLE_BYTES)?;
    let root =
        pickle::parse(&pkl).map_err(|e| WeightsError::Pickle { path: path.to_path_buf(), pos: e.pos, msg: e.msg })?;
    let (format, dict) = locate_state_dict(path, &root)?;
    let mut storages = StorageTable { archive: &archive, file, prefix: &prefix, ranges: HashMap::new() };
    let mut entries = BTreeMap::new();
    for (key, value) in dict {
        let Some(name) = key_name(key) else { continue };
        let entry = match value {
            Value::TensorRef(t) => storages.tensor_entry(&name, t)?,
            other => Entry::NotATensor { kind: other.kind() },
        };
        entries.insert(name, entry);
    }
    if format == CheckpointFormat::DeepSpeed {
        entries = strip_deepspeed_prefix(entries);
    }
    Ok(Index { format, entries })
}

/// The archive's top folder (with a trailing `/`), where `data.pkl` is.
fn find_prefix(archive: &ZipArchive) -> Result<String, WeightsError> {
    let found = archive.entries().iter().find_map(|e| {
        let folder = e.name.strip_suffix("data.pkl")?;
        let inner = folder.strip_suffix('/').unwrap_or(folder);
        (!inner.contains('/') && (folder.is_empty() || folder.ends_with('/'))).then(|| folder.to_owned())
    });
    found.ok_or_else(|| not_checkpoint(archive.path(), "a zip archive without data.pkl (not a PyTorch checkpoint)"))
}

/// Refuses big-endian checkpoints. A missing `byteorder` entry means little-endian.
fn check_byteorder(archive: &ZipArchive, file: &mut File, prefix: &str) -> Result<(), WeightsError> {
    let Some(entry) = archive.find(&format!("{prefix}byteorder")) else {
        return Ok(());
    };
    let bytes = archive.read_entry(file, &entry.clone(), 64)?;
    match String::from_utf8_lossy(&bytes).trim() {
        "little" => Ok(()),
        "big" => Err(WeightsError::BigEndian { path: archive.path().to_path_buf() }),
        other => Err(WeightsError::Corrupt {
            path: archive.path().to_path_buf(),
            what: format!("unknown byte order {other:?}"),
        }),
    }
}

/// The key/value pairs of a pickled dict.
type DictItems<'v> = &'v [(Value, Value)];

/// Finds the dictionary of tensors: `state_dict` (Lightning), `module` (DeepSpeed), or
/// the top level itself.
fn locate_state_dict<'v>(path: &Path, root: &'v Value) -> Result<(CheckpointFormat, DictItems<'v>), WeightsError> {
    let Some(top) = root.as_dict() else {
        return Err(WeightsError::NoStateDict {
            path: path.to_path_buf(),
            top_level_keys: vec![format!("<the top level is a {}, not a dict>", root.kind())],
        });
    };
    if let Some(sd) = root.get("state_dict").and_then(Value::as_dict) {
        return Ok((CheckpointFormat::Lightning, sd));
    }
    if let Some(sd) = root.get("module").and_then(Value::as_dict) {
        return Ok((CheckpointFormat::DeepSpeed, sd));
    }
    if top.iter().any(|(_, v)| matches!(v, Value::TensorRef(_))) {
        return Ok((CheckpointFormat::Plain, top));
    }
    let top_level_keys =
        top.iter().take(50).map(|(k, _)| key_name(k).unwrap_or_else(|| format!("<{}>", k.kind()))).collect();
    Err(WeightsError::NoStateDict { path: path.to_path_buf(), top_level_keys })
}

/// A state-dict key as a string (ints are accepted and printed).
fn key_name(key: &Value) -> Option<String> {
    match key {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// Drops `_forward_module.` from every key when every key has it.
fn strip_deepspeed_prefix(entries: BTreeMap<String, Entry>) -> BTreeMap<String, Entry> {
    if entries.is_empty() || !entries.keys().all(|k| k.starts_with(DEEPSPEED_PREFIX)) {
        return entries;
    }
    entries.into_iter().map(|(k, v)| (k.get(DEEPSPEED_PREFIX.len()..).unwrap_or_default().to_owned(), v)).collect()
}

fn not_checkpoint(path: &Path, what: &str) -> WeightsError {
    WeightsError::NotACheckpoint { path: path.to_path_buf(), what: what.to_owned() }
}

/// Resolves storage keys to byte ranges of the archive, once per storage.
struct StorageTable<'a> {
    archive: &'a ZipArchive,
    file: &'a mut File,
    prefix: &'a str,
    /// Storage key → (zip entry name, byte range, CRC-32).
    ranges: HashMap<String, (String, DataRange, u32)>,
}

impl StorageTable<'_> {
    /// Turns a pickled tensor into a validated entry.
    fn tensor_entry(&mut self, name: &str, t: &TensorRef) -> Result<Entry, WeightsError> {
        let dtype = match &t.dtype {
            StorageType::Known(d) => *d,
            StorageType::Unsupported(s) => {
                return Ok(Entry::UnsupportedDType { dtype: s.clone() });
            }
        };
        let (storage, range, crc) = self.range(name, &t.storage_key)?;
        let info = TensorInfo {
            dtype,
            shape: to_usizes(name, &t.size)?,
            strides: to_usizes(name, &t.stride)?,
            storage_offset: usize::try_from(t.storage_offset)
                .map_err(|_| self.out_of_bounds(name, u64::MAX, range.len))?,
            storage,
            data_offset: range.offset,
            storage_len: range.len,
            storage_crc32: Some(crc),
        };
        if info.shape.len() > MAX_DIMS {
            return Err(WeightsError::Corrupt {
                path: self.archive.path().to_path_buf(),
                what: format!("tensor '{name}' has {} dimensions", info.shape.len()),
            });
        }
        info.check_bounds(name)?;
        Ok(Entry::Tensor(info))
    }

    fn range(&mut self, name: &str, key: &str) -> Result<(String, DataRange, u32), WeightsError> {
        if let Some(found) = self.ranges.get(key) {
            return Ok(found.clone());
        }
        let entry_name = format!("{}data/{key}", self.prefix);
        let Some(entry) = self.archive.find(&entry_name) else {
            return Err(WeightsError::Corrupt {
                path: self.archive.path().to_path_buf(),
                what: format!("tensor '{name}' refers to storage '{entry_name}', which is not in the archive"),
            });
        };
        let range = self.archive.data_range(&mut *self.file, entry)?;
        self.ranges.insert(key.to_owned(), (entry_name.clone(), range, entry.crc32));
        Ok((entry_name, range, entry.crc32))
    }

    fn out_of_bounds(&self, name: &str, needed: u64, available: u64) -> WeightsError {
        WeightsError::TensorOutOfBounds { name: name.to_owned(), needed, available }
    }
}

fn to_usizes(name: &str, v: &[u64]) -> Result<Vec<usize>, WeightsError> {
    v.iter()
        .map(|&x| {
            usize::try_from(x).map_err(|_| WeightsError::TensorOutOfBounds {
                name: name.to_owned(),
                needed: u64::MAX,
                available: 0,
            })
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn deepspeed_prefix_is_stripped_only_when_universal() {
        let e = || Entry::NotATensor { kind: "int".into() };
        let all: BTreeMap<_, _> =
            [("_forward_module.a".to_owned(), e()), ("_forward_module.b.c".to_owned(), e())].into();
        let keys: Vec<_> = strip_deepspeed_prefix(all).into_keys().collect();
        assert_eq!(keys, vec!["a", "b.c"]);
        let mixed: BTreeMap<_, _> = [("_forward_module.a".to_owned(), e()), ("b".to_owned(), e())].into();
        let keys: Vec<_> = strip_deepspeed_prefix(mixed).into_keys().collect();
        assert_eq!(keys, vec!["_forward_module.a", "b"]);
    }

    #[test]
    fn state_dict_location() {
        let p = Path::new("x");
        let s = |x: &str| Value::Str(x.into());
        let inner = Value::Dict(vec![(s("w"), s("not a tensor"))]);
        let lightning = Value::Dict(vec![(s("epoch"), Value::Int(1)), (s("state_dict"), inner.clone())]);
        assert_eq!(locate_state_dict(p, &lightning).unwrap().0, CheckpointFormat::Lightning);
        let ds = Value::Dict(vec![(s("module"), inner)]);
        assert_eq!(locate_state_dict(p, &ds).unwrap().0, CheckpointFormat::DeepSpeed);
        let none = Value::Dict(vec![(s("epoch"), Value::Int(1))]);
        match locate_state_dict(p, &none) {
            Err(WeightsError::NoStateDict { top_level_keys, .. }) => {
                assert_eq!(top_level_keys, vec!["epoch"])
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(locate_state_dict(p, &Value::None), Err(WeightsError::NoStateDict { .. })));
    }
}
