//! A checkpoint on disk: its tensor directory, and reads of single tensors.
//!
//! [`Checkpoint::open`] reads only the directory of the file (the zip central directory
//! and `data.pkl` of a PyTorch checkpoint, or the JSON header of a safetensors file).
//! Tensor bytes are read on demand, one tensor at a time, with a seek and a read of
//! exactly the bytes needed.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::weights::error::WeightsError;
pub use crate::weights::index::{CheckpointFormat, ElementType, Entry, MAX_DIMS, TensorInfo};
use crate::weights::safetensors_file;
use crate::weights::torch;
use crate::weights::zip::read_at;

/// The checkpoint file types the import and *Open model* read.
pub const MODEL_EXTENSIONS: &[&str] = &["ckpt", "pt", "pth", "safetensors"];

/// When a strided tensor's data is spread over at most this many bytes more than the
/// tensor itself, the whole span is read at once and gathered in memory; otherwise
/// each contiguous run is read separately.
const SPAN_SLACK_BYTES: u64 = 64 << 20;

/// A view whose logical size exceeds its stored bytes by this factor (plus 1 MiB) is
/// refused (stride-0 broadcasts are legal but must not become memory bombs).
const MAX_EXPANSION: u64 = 16;

/// An opened checkpoint. Cheap to share between threads; reads lock the file briefly.
#[derive(Debug)]
pub struct Checkpoint {
    path: PathBuf,
    format: CheckpointFormat,
    entries: BTreeMap<String, Entry>,
    file: Mutex<File>,
    /// Storages whose CRC-32 has been checked (a storage may back several tensors).
    verified: Mutex<HashSet<String>>,
}

/// The kind of file, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Magic {
    Zip,
    Safetensors,
}

impl Checkpoint {
    /// Opens a PyTorch zip checkpoint (`.ckpt`, `.pt`, `.pth`) or a `.safetensors` file,
    /// recognised by content, not by extension. Reads only the directory.
    pub fn open(path: &Path) -> Result<Checkpoint, WeightsError> {
        let mut file = File::open(path).map_err(|e| WeightsError::io(path, "open", e))?;
        let index = match sniff(path, &mut file)? {
            Magic::Zip => torch::open(path, &mut file)?,
            Magic::Safetensors => safetensors_file::open(path, &mut file)?,
        };
        Ok(Checkpoint {
            path: path.to_path_buf(),
            format: index.format,
            entries: index.entries,
            file: Mutex::new(file),
            verified: Mutex::new(HashSet::new()),
        })
    }

    /// The file this checkpoint was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the tensors were found.
    pub fn format(&self) -> CheckpointFormat {
        self.format
    }

    /// Number of readable tensors.
    pub fn len(&self) -> usize {
        self.tensors().count()
    }

    /// Whether there is no readable tensor.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Names of the readable tensors, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors().map(|(name, _)| name)
    }

    /// Names and layouts of the readable tensors, sorted by name.
    pub fn tensors(&self) -> impl Iterator<Item = (&str, &TensorInfo)> {
        self.entries.iter().filter_map(|(name, e)| match e {
            Entry::Tensor(info) => Some((name.as_str(), info)),
            _ => None,
        })
    }

    /// Layout of the tensor `name`, if it is a readable tensor.
    pub fn info(&self, name: &str) -> Option<&TensorInfo> {
        match self.entries.get(name)? {
            Entry::Tensor(info) => Some(info),
            _ => None,
        }
    }

    /// Any entry of the state dict, tensor or not.
    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.get(name)
    }

    /// Number of state-dict entries that were skipped because they are not tensors.
    pub fn skipped_non_tensors(&self) -> usize {
        self.entries.values().filter(|e| matches!(e, Entry::NotATensor { .. })).count()
    }

    /// Renames entries: `f(name)` gives the new name, or `None` to **drop** the entry
    /// (return `Some(name.to_owned())` to keep a name unchanged).
    ///
    /// If two entries map to the same new name, the first in sorted order of the old
    /// names wins; the old names that lost are returned.
    pub fn remap_keys(&mut self, f: impl Fn(&str) -> Option<String>) -> Vec<String> {
        let old = std::mem::take(&mut self.entries);
        let mut collisions = Vec::new();
        for (name, entry) in old {
            let Some(new_name) = f(&name) else { continue };
            match self.entries.entry(new_name) {
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(entry);
                }
                std::collections::btree_map::Entry::Occupied(_) => collisions.push(name),
            }
        }
        collisions
    }

    /// Reads the tensor `name` as contiguous row-major values converted to `f32`.
    pub fn read_f32(&self, name: &str) -> Result<Vec<f32>, WeightsError> {
        let (dtype, bytes) = self.read_raw(name)?;
        Ok(to_f32(dtype, &bytes))
    }

    /// Reads the tensor `name` as contiguous row-major little-endian bytes in its own
    /// element type.
    pub fn read_raw(&self, name: &str) -> Result<(ElementType, Vec<u8>), WeightsError> {
        self.read_raw_with(name, SPAN_SLACK_BYTES)
    }

    /// [`Checkpoint::read_raw`] with a chosen threshold between reading a strided
    /// tensor's whole span at once and reading it run by run.
    fn read_raw_with(&self, name: &str, span_slack: u64) -> Result<(ElementType, Vec<u8>), WeightsError> {
        let info = self.tensor(name)?;
        let out_len = self.output_len(name, info)?;
        let mut out = alloc_bytes(name, out_len)?;
        if out_len == 0 {
            return Ok((info.dtype, out));
        }
        let elem = info.dtype.size();
        let mut file = self.lock();
        if info.is_contiguous() {
            let start = info.data_offset.saturating_add((info.storage_offset as u64).saturating_mul(elem as u64));
            read_at(&mut *file, start, &mut out).map_err(|e| self.read_err(name, e))?;
            if info.storage_offset == 0 && out_len as u64 == info.storage_len {
                // The common case: the tensor is its whole storage, checked as it was read.
                self.check_crc(name, info, crc32fast::hash(&out))?;
            } else {
                self.verify_storage(&mut file, name, info)?;
            }
            return Ok((info.dtype, out));
        }
        self.verify_storage(&mut file, name, info)?;
        let span = span_elems(info);
        let span_bytes = span.len.saturating_mul(elem as u64);
        if span_bytes <= (out_len as u64).saturating_mul(4).saturating_add(span_slack) {
            let mut buf = alloc_bytes(name, usize::try_from(span_bytes).unwrap_or(usize::MAX))?;
            let start = info.data_offset.saturating_add(span.first.saturating_mul(elem as u64));
            read_at(&mut *file, start, &mut buf).map_err(|e| self.read_err(name, e))?;
            gather_from_buffer(info, span.first, &buf, &mut out).ok_or_else(|| self.corrupt(name))?;
        } else {
            self.gather_from_file(&mut file, name, info, &mut out)?;
        }
        Ok((info.dtype, out))
    }

    /// The tensor entry or the matching error.
    fn tensor(&self, name: &str) -> Result<&TensorInfo, WeightsError> {
        match self.entries.get(name) {
            Some(Entry::Tensor(info)) => Ok(info),
            Some(Entry::NotATensor { .. }) => Err(WeightsError::NotATensor { name: name.to_owned() }),
            Some(Entry::UnsupportedDType { dtype }) => {
                Err(WeightsError::UnsupportedDType { name: name.to_owned(), dtype: dtype.clone() })
            }
            None => Err(WeightsError::Missing { name: name.to_owned() }),
        }
    }

    /// Size of the contiguous copy, refusing views far larger than their stored bytes.
    fn output_len(&self, name: &str, info: &TensorInfo) -> Result<usize, WeightsError> {
        let logical = (info.numel() as u128).saturating_mul(info.dtype.size() as u128);
        let limit = u128::from(info.storage_len).saturating_mul(u128::from(MAX_EXPANSION)).saturating_add(1 << 20);
        match usize::try_from(logical) {
            Ok(n) if logical <= limit && n < usize::MAX => Ok(n),
            _ => Err(WeightsError::TooLarge {
                name: name.to_owned(),
                bytes: u64::try_from(logical).unwrap_or(u64::MAX),
                stored: info.storage_len,
            }),
        }
    }

    /// Reads each contiguous run of a strided tensor with its own seek.
    fn gather_from_file(
        &self,
        file: &mut File,
        name: &str,
        info: &TensorInfo,
        out: &mut [u8],
    ) -> Result<(), WeightsError> {
        let elem = info.dtype.size();
        let mut written = 0usize;
        for_each_run(info, |offset, run| {
            let bytes = run.saturating_mul(elem);
            let end = written.saturating_add(bytes);
            let dst = out.get_mut(written..end).ok_or_else(|| self.corrupt(name))?;
            let at = info.data_offset.saturating_add((offset as u64).saturating_mul(elem as u64));
            read_at(file, at, dst).map_err(|e| self.read_err(name, e))?;
            written += bytes;
            Ok(())
        })
    }

    /// Compares a storage's CRC-32 with the one the file records (once per storage).
    fn check_crc(&self, name: &str, info: &TensorInfo, crc: u32) -> Result<(), WeightsError> {
        match info.storage_crc32 {
            Some(want) if want != crc => Err(WeightsError::Corrupt {
                path: self.path.clone(),
                what: format!(
                    "the bytes of tensor '{name}' (storage '{}') fail their CRC-32 check: the file was damaged \
                     in transfer or on disk",
                    info.storage
                ),
            }),
            _ => {
                self.verified.lock().unwrap_or_else(|p| p.into_inner()).insert(info.storage.clone());
                Ok(())
            }
        }
    }

    /// Streams a whole storage through CRC-32 when the tensor read covers only part of it
    /// (views, transposed layouts); each storage is checked once.
    fn verify_storage(&self, file: &mut File, name: &str, info: &TensorInfo) -> Result<(), WeightsError> {
        if info.storage_crc32.is_none()
            || self.verified.lock().unwrap_or_else(|p| p.into_inner()).contains(&info.storage)
        {
            return Ok(());
        }
        let mut hasher = crc32fast::Hasher::new();
        let mut buf = vec![0u8; (8 << 20).min(usize::try_from(info.storage_len).unwrap_or(usize::MAX))];
        let mut done = 0u64;
        while done < info.storage_len {
            let n = usize::try_from((info.storage_len - done).min(buf.len() as u64)).unwrap_or(buf.len());
            read_at(file, info.data_offset.saturating_add(done), &mut buf[..n]).map_err(|e| self.read_err(name, e))?;
            hasher.update(&buf[..n]);
            done += n as u64;
        }
        self.check_crc(name, info, hasher.finalize())
    }

    fn lock(&self) -> MutexGuard<'_, File> {
        self.file.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn read_err(&self, name: &str, e: std::io::Error) -> WeightsError {
        WeightsError::io(&self.path, &format!("data of tensor '{name}'"), e)
    }

    fn corrupt(&self, name: &str) -> WeightsError {
        WeightsError::Corrupt {
            path: self.path.clone(),
            what: format!("tensor '{name}' addresses data outside its storage"),
        }
    }
}

/// Reads the first bytes of the file and tells the format.
fn sniff(path: &Path, file: &mut File) -> Result<Magic, WeightsError> {
    let mut head = [0u8; 9];
    let mut n = 0;
    while n < head.len() {
        let Some(rest) = head.get_mut(n..) else { break };
        match file.read(rest) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(WeightsError::io(path, "file header", e)),
        }
    }
    let head = head.get(..n).unwrap_or(&[]);
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Ok(Magic::Zip);
    }
    if let (Some(len), Some(b'{')) = (head.get(..8), head.get(8)) {
        let len = u64::from_le_bytes(len.try_into().unwrap_or([0; 8]));
        if len >= 2 {
            return Ok(Magic::Safetensors);
        }
    }
    let what = if head.is_empty() {
        "the file is empty".to_owned()
    } else if head.first() == Some(&0x80) {
        "not a PyTorch zip checkpoint (legacy torch format or not a checkpoint); \
         re-save it with a recent torch.save or convert it to safetensors"
            .to_owned()
    } else {
        "not a PyTorch zip checkpoint (legacy torch format or not a checkpoint)".to_owned()
    };
    Err(WeightsError::NotACheckpoint { path: path.to_path_buf(), what })
}

/// Allocates a zeroed buffer, reporting allocation failure instead of aborting.
fn alloc_bytes(name: &str, len: usize) -> Result<Vec<u8>, WeightsError> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| WeightsError::TooLarge {
        name: name.to_owned(),
        bytes: len as u64,
        stored: 0,
    })?;
    v.resize(len, 0);
    Ok(v)
}

/// Range of storage elements a view touches.
#[derive(Debug, Clone, Copy)]
struct Span {
    first: u64,
    len: u64,
}

fn span_elems(info: &TensorInfo) -> Span {
    let mut last = info.storage_offset as u64;
    for (&d, &s) in info.shape.iter().zip(&info.strides) {
        last = last.saturating_add((d.saturating_sub(1) as u64).saturating_mul(s as u64));
    }
    let first = info.storage_offset as u64;
    Span { first, len: last.saturating_sub(first).saturating_add(1) }
}

/// Calls `f(element offset, run length)` for each maximal contiguous run of the view, in
/// row-major order. Offsets are in elements from the start of the storage.
fn for_each_run<E>(info: &TensorInfo, mut f: impl FnMut(usize, usize) -> Result<(), E>) -> Result<(), E> {
    if info.shape.contains(&0) {
        return Ok(());
    }
    // Dimensions k.. form one contiguous block of `run` elements.
    let mut k = info.shape.len();
    let mut run = 1usize;
    while k > 0 {
        let (d, s) = match (info.shape.get(k - 1), info.strides.get(k - 1)) {
            (Some(&d), Some(&s)) => (d, s),
            _ => break,
        };
        if d != 1 && s != run {
            break;
        }
        run = run.saturating_mul(d);
        k -= 1;
    }
    let outer_shape = info.shape.get(..k).unwrap_or(&[]);
    let outer_strides = info.strides.get(..k).unwrap_or(&[]);
    let mut index = vec![0usize; k];
    loop {
        let offset = index
            .iter()
            .zip(outer_strides)
            .fold(info.storage_offset, |acc, (&i, &s)| acc.saturating_add(i.saturating_mul(s)));
        f(offset, run)?;
        // Odometer increment over the outer dimensions.
        let mut dim = k;
        loop {
            if dim == 0 {
                return Ok(());
            }
            dim -= 1;
            let (Some(i), Some(&d)) = (index.get_mut(dim), outer_shape.get(dim)) else {
                return Ok(());
            };
            *i += 1;
            if *i < d {
                break;
            }
            *i = 0;
        }
    }
}

/// Copies the view out of `buf`, which holds the storage from element `first` on.
fn gather_from_buffer(info: &TensorInfo, first: u64, buf: &[u8], out: &mut [u8]) -> Option<()> {
    let elem = info.dtype.size();
    let first = usize::try_from(first).ok()?;
    let mut written = 0usize;
    for_each_run(info, |offset, run| {
        let bytes = run.checked_mul(elem).ok_or(())?;
        let src_start = offset.checked_sub(first).and_then(|o| o.checked_mul(elem)).ok_or(())?;
        let src = buf.get(src_start..src_start.checked_add(bytes).ok_or(())?).ok_or(())?;
        let dst = out.get_mut(written..written.checked_add(bytes).ok_or(())?).ok_or(())?;
        dst.copy_from_slice(src);
        written += bytes;
        Ok::<(), ()>(())
    })
    .ok()
}

fn le<const N: usize>(c: &[u8]) -> [u8; N] {
    c.try_into().unwrap_or([0; N])
}

/// Converts little-endian elements of `dtype` to `f32`.
pub fn to_f32(dtype: ElementType, bytes: &[u8]) -> Vec<f32> {
    match dtype {
        ElementType::F32 => bytes.chunks_exact(4).map(|c| f32::from_le_bytes(le(c))).collect(),
        ElementType::F16 => {
            bytes.chunks_exact(2).map(|c| half::f16::from_bits(u16::from_le_bytes(le(c))).to_f32()).collect()
        }
        ElementType::BF16 => {
            bytes.chunks_exact(2).map(|c| half::bf16::from_bits(u16::from_le_bytes(le(c))).to_f32()).collect()
        }
        ElementType::F64 => bytes.chunks_exact(8).map(|c| f64::from_le_bytes(le(c)) as f32).collect(),
        ElementType::I64 => bytes.chunks_exact(8).map(|c| i64::from_le_bytes(le(c)) as f32).collect(),
        ElementType::I32 => bytes.chunks_exact(4).map(|c| i32::from_le_bytes(le(c)) as f32).collect(),
        ElementType::I16 => bytes.chunks_exact(2).map(|c| f32::from(i16::from_le_bytes(le(c)))).collect(),
        ElementType::I8 => bytes.iter().map(|&b| f32::from(b as i8)).collect(),
        ElementType::U8 => bytes.iter().map(|&b| f32::from(b)).collect(),
        ElementType::Bool => bytes.iter().map(|&b| if b != 0 { 1.0 } else { 0.0 }).collect(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn info(shape: &[usize], strides: &[usize], offset: usize) -> TensorInfo {
        TensorInfo {
            dtype: ElementType::U8,
            shape: shape.to_vec(),
            strides: strides.to_vec(),
            storage_offset: offset,
            storage: "s".into(),
            data_offset: 0,
            storage_len: 1000,
            storage_crc32: None,
        }
    }

    fn gather(i: &TensorInfo, storage: &[u8]) -> Vec<u8> {
        let span = span_elems(i);
        let buf = &storage[span.first as usize..(span.first + span.len) as usize];
        let mut out = vec![0u8; i.numel()];
        gather_from_buffer(i, span.first, buf, &mut out).unwrap();
        out
    }

    #[test]
    fn contiguity() {
        assert!(info(&[2, 3], &[3, 1], 0).is_contiguous());
        assert!(!info(&[2, 3], &[1, 2], 0).is_contiguous());
        assert!(info(&[1, 3], &[99, 1], 0).is_contiguous());
        assert!(info(&[], &[], 5).is_contiguous());
    }

    #[test]
    fn gathers_transposed_and_offset_views() {
        let storage: Vec<u8> = (0..20).collect();
        // 3x2 transpose of a 2x3 matrix starting at element 4.
        assert_eq!(gather(&info(&[3, 2], &[1, 3], 4), &storage), vec![4, 7, 5, 8, 6, 9]);
        // Every other row.
        assert_eq!(gather(&info(&[2, 2], &[4, 1], 1), &storage), vec![1, 2, 5, 6]);
        // Broadcast.
        assert_eq!(gather(&info(&[3], &[0], 2), &storage), vec![2, 2, 2]);
        // Scalar.
        assert_eq!(gather(&info(&[], &[], 7), &storage), vec![7]);
    }

    #[test]
    fn bounds() {
        let i = info(&[2, 3], &[3, 1], 994);
        assert_eq!(i.required_bytes(), 1000);
        assert!(i.check_bounds("x").is_ok());
        let i = info(&[2, 3], &[3, 1], 995);
        assert!(matches!(i.check_bounds("x"), Err(WeightsError::TensorOutOfBounds { .. })));
        assert_eq!(info(&[0, 5], &[5, 1], 10_000).required_bytes(), 0);
        let huge = info(&[usize::MAX, usize::MAX], &[usize::MAX, usize::MAX], usize::MAX);
        assert!(huge.check_bounds("h").is_err());
    }

    #[test]
    fn conversions() {
        assert_eq!(to_f32(ElementType::F16, &half::f16::from_f32(1.5).to_le_bytes()), vec![1.5]);
        assert_eq!(to_f32(ElementType::BF16, &half::bf16::from_f32(-2.0).to_le_bytes()), vec![-2.0]);
        assert_eq!(to_f32(ElementType::F64, &0.25f64.to_le_bytes()), vec![0.25]);
        assert_eq!(to_f32(ElementType::I64, &(-7i64).to_le_bytes()), vec![-7.0]);
        assert_eq!(to_f32(ElementType::I8, &[0xFF]), vec![-1.0]);
        assert_eq!(to_f32(ElementType::Bool, &[0, 3]), vec![0.0, 1.0]);
    }

    /// A checkpoint over a 100-byte storage holding 0..100, with the given views.
    fn raw_checkpoint(views: &[(&str, &[usize], &[usize], usize)]) -> (tempfile::TempDir, Checkpoint) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raw.bin");
        let mut bytes = vec![0xEEu8; 7];
        bytes.extend(0..100u8);
        std::fs::write(&path, &bytes).unwrap();
        let entries = views
            .iter()
            .map(|&(name, shape, strides, offset)| {
                let info = TensorInfo { data_offset: 7, storage_len: 100, ..info(shape, strides, offset) };
                info.check_bounds(name).unwrap();
                (name.to_owned(), Entry::Tensor(info))
            })
            .collect();
        let file = Mutex::new(File::open(&path).unwrap());
        (dir, Checkpoint { path, format: CheckpointFormat::Plain, entries, file, verified: Default::default() })
    }

    #[test]
    fn strided_reads_by_span_and_by_run_agree() {
        let views: &[(&str, &[usize], &[usize], usize)] = &[
            ("gaps", &[3], &[40], 2),
            ("rows", &[2, 2], &[50, 1], 3),
            ("t", &[3, 2], &[1, 3], 4),
            ("bc", &[2, 3], &[0, 1], 97),
            ("c", &[2, 5], &[5, 1], 10),
        ];
        let (_dir, ck) = raw_checkpoint(views);
        let expected: [(&str, Vec<u8>); 5] = [
            ("gaps", vec![2, 42, 82]),
            ("rows", vec![3, 4, 53, 54]),
            ("t", vec![4, 7, 5, 8, 6, 9]),
            ("bc", vec![97, 98, 99, 97, 98, 99]),
            ("c", (10..20).collect()),
        ];
        for (name, want) in expected {
            for slack in [0, SPAN_SLACK_BYTES] {
                let (dtype, got) = ck.read_raw_with(name, slack).unwrap();
                assert_eq!(dtype, ElementType::U8);
                assert_eq!(got, want, "{name} slack {slack}");
            }
            assert_eq!(ck.read_f32(name).unwrap(), want.iter().map(|&b| f32::from(b)).collect::<Vec<_>>());
        }
    }

    #[test]
    fn checkpoint_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<Checkpoint>();
    }
}
