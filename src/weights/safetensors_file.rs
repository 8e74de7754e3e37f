//! `.safetensors` files: an 8-byte little-endian header length, a JSON header, then the
//! tensor bytes. Only the header is read when opening.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::Path;

use crate::weights::error::WeightsError;
use crate::weights::index::{CheckpointFormat, ElementType, Entry, Index, MAX_DIMS, TensorInfo};
use crate::weights::zip::read_at;

/// Largest JSON header we accept (the format's reference implementation uses 100 MB).
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

/// Reads the header of the safetensors file in `file`.
pub(crate) fn open(path: &Path, file: &mut File) -> Result<Index, WeightsError> {
    let file_len = file.seek(SeekFrom::End(0)).map_err(|e| WeightsError::io(path, "file length", e))?;
    let mut len_bytes = [0u8; 8];
    read_at(file, 0, &mut len_bytes).map_err(|e| WeightsError::io(path, "safetensors header length", e))?;
    let header_len = u64::from_le_bytes(len_bytes);
    if header_len > MAX_HEADER_BYTES {
        return Err(bad(path, format!("header length {header_len} is larger than {MAX_HEADER_BYTES} bytes")));
    }
    let data_start = 8 + header_len;
    if data_start > file_len {
        return Err(WeightsError::Truncated {
            path: path.to_path_buf(),
            what: format!("the {header_len}-byte safetensors header is cut off"),
        });
    }
    let mut header = vec![0u8; usize::try_from(header_len).unwrap_or(0)];
    read_at(file, 8, &mut header).map_err(|e| WeightsError::io(path, "safetensors header", e))?;
    let json: serde_json::Value =
        serde_json::from_slice(&header).map_err(|e| bad(path, format!("header is not valid JSON: {e}")))?;
    let Some(map) = json.as_object() else {
        return Err(bad(path, "header is not a JSON object".into()));
    };
    let data_len = file_len - data_start;
    let mut entries = BTreeMap::new();
    for (name, desc) in map {
        if name == "__metadata__" {
            continue;
        }
        let entry = parse_tensor(path, name, desc, data_start, data_len)?;
        entries.insert(name.clone(), entry);
    }
    Ok(Index { format: CheckpointFormat::Safetensors, entries })
}

/// Parses and validates one `{"dtype", "shape", "data_offsets"}` header entry.
fn parse_tensor(
    path: &Path,
    name: &str,
    desc: &serde_json::Value,
    data_start: u64,
    data_len: u64,
) -> Result<Entry, WeightsError> {
    let field_err = |what: &str| bad(path, format!("tensor '{name}': {what}"));
    let dtype_name = desc.get("dtype").and_then(serde_json::Value::as_str).ok_or_else(|| field_err("missing dtype"))?;
    let shape = desc
        .get("shape")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| field_err("missing shape"))?
        .iter()
        .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| field_err("shape is not a list of non-negative integers"))?;
    if shape.len() > MAX_DIMS {
        return Err(field_err("too many dimensions"));
    }
    let offsets = desc
        .get("data_offsets")
        .and_then(serde_json::Value::as_array)
        .and_then(|a| match a.as_slice() {
            [b, e] => Some((b.as_u64()?, e.as_u64()?)),
            _ => None,
        })
        .ok_or_else(|| field_err("data_offsets is not [begin, end]"))?;
    let (begin, end) = offsets;
    if begin > end {
        return Err(field_err("data_offsets end before they begin"));
    }
    if end > data_len {
        return Err(WeightsError::Truncated {
            path: path.to_path_buf(),
            what: format!("tensor '{name}' needs bytes up to {end} of a {data_len}-byte data section"),
        });
    }
    let Some(dtype) = ElementType::from_safetensors(dtype_name) else {
        return Ok(Entry::UnsupportedDType { dtype: dtype_name.to_owned() });
    };
    let info = TensorInfo {
        dtype,
        strides: contiguous_strides(&shape),
        shape,
        storage_offset: 0,
        storage: name.to_owned(),
        data_offset: data_start + begin,
        storage_len: end - begin,
        storage_crc32: None,
    };
    let expected = (info.numel() as u128).saturating_mul(dtype.size() as u128);
    if info.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).is_none()
        || expected != u128::from(info.storage_len)
    {
        return Err(field_err(&format!(
            "shape {:?} of {dtype} needs {expected} bytes but data_offsets span {} bytes",
            info.shape, info.storage_len
        )));
    }
    Ok(Entry::Tensor(info))
}

/// Row-major strides, in elements, for `shape`.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1usize; shape.len()];
    let mut acc = 1usize;
    for (s, &d) in strides.iter_mut().zip(shape).rev() {
        *s = acc;
        acc = acc.saturating_mul(d);
    }
    strides
}

fn bad(path: &Path, msg: String) -> WeightsError {
    WeightsError::Safetensors { path: path.to_path_buf(), msg }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(header: &str, data: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&(header.len() as u64).to_le_bytes()).unwrap();
        f.write_all(header.as_bytes()).unwrap();
        f.write_all(data).unwrap();
        f
    }

    fn open_tmp(f: &tempfile::NamedTempFile) -> Result<Index, WeightsError> {
        open(f.path(), &mut File::open(f.path()).unwrap())
    }

    #[test]
    fn strides() {
        assert_eq!(contiguous_strides(&[2, 3, 4]), vec![12, 4, 1]);
        assert_eq!(contiguous_strides(&[]), Vec::<usize>::new());
    }

    #[test]
    fn parses_header() {
        let h = r#"{"__metadata__":{"a":"b"},"x":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},"q":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[8,9]}}"#;
        let f = write(h, &[0; 9]);
        let idx = open_tmp(&f).unwrap();
        let Some(Entry::Tensor(x)) = idx.entries.get("x") else { panic!() };
        assert_eq!(x.dtype, ElementType::F16);
        assert_eq!(x.strides, vec![2, 1]);
        assert_eq!(x.data_offset, 8 + h.len() as u64);
        assert!(matches!(idx.entries.get("q"), Some(Entry::UnsupportedDType { .. })));
    }

    #[test]
    fn rejects_bad_headers() {
        let cases = [
            (r#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, 8, "needs 8 bytes"),
            (r#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, 2, "ends early"),
            (r#"{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, 4, "shape"),
            (r#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, 4, "data_offsets"),
            (r#"{"x":{"shape":[1],"data_offsets":[0,4]}}"#, 4, "dtype"),
            (r#"[1, 2]"#, 0, "object"),
            (r#"{"x": nope"#, 0, "JSON"),
        ];
        for (h, n, want) in cases {
            let f = write(h, &vec![0; n]);
            let e = open_tmp(&f).unwrap_err().to_string();
            assert!(e.contains(want), "{h}: {e}");
        }
    }
}
