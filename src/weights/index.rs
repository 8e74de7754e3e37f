//! What a checkpoint holds, as the format readers describe it: element types, where each
//! tensor's bytes are and how they are laid out, and the named entries. Shared by the
//! readers ([`super::torch`], [`super::safetensors_file`], [`super::pickle`]) and the
//! dispatcher ([`super::checkpoint`]), which depends on them, not the other way round.

use std::collections::BTreeMap;
use std::fmt;

use crate::weights::error::WeightsError;

/// Most dimensions a tensor may have.
pub const MAX_DIMS: usize = 64;

/// Element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ElementType {
    /// 32-bit float.
    F32,
    /// IEEE half.
    F16,
    /// bfloat16.
    BF16,
    /// 64-bit float.
    F64,
    /// 64-bit signed integer.
    I64,
    /// 32-bit signed integer.
    I32,
    /// 16-bit signed integer.
    I16,
    /// 8-bit signed integer.
    I8,
    /// 8-bit unsigned integer.
    U8,
    /// Boolean (one byte).
    Bool,
}

impl ElementType {
    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            ElementType::F64 | ElementType::I64 => 8,
            ElementType::F32 | ElementType::I32 => 4,
            ElementType::F16 | ElementType::BF16 | ElementType::I16 => 2,
            ElementType::I8 | ElementType::U8 | ElementType::Bool => 1,
        }
    }

    /// The safetensors name of the type (`F32`, `BF16`, …).
    pub fn name(self) -> &'static str {
        match self {
            ElementType::F32 => "F32",
            ElementType::F16 => "F16",
            ElementType::BF16 => "BF16",
            ElementType::F64 => "F64",
            ElementType::I64 => "I64",
            ElementType::I32 => "I32",
            ElementType::I16 => "I16",
            ElementType::I8 => "I8",
            ElementType::U8 => "U8",
            ElementType::Bool => "BOOL",
        }
    }

    /// Parses a safetensors dtype name.
    pub fn from_safetensors(name: &str) -> Option<ElementType> {
        Some(match name {
            "F32" => ElementType::F32,
            "F16" => ElementType::F16,
            "BF16" => ElementType::BF16,
            "F64" => ElementType::F64,
            "I64" => ElementType::I64,
            "I32" => ElementType::I32,
            "I16" => ElementType::I16,
            "I8" => ElementType::I8,
            "U8" => ElementType::U8,
            "BOOL" => ElementType::Bool,
            _ => return None,
        })
    }
}

impl fmt::Display for ElementType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a tensor's elements are in the file and how they are laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Element type.
    pub dtype: ElementType,
    /// Shape.
    pub shape: Vec<usize>,
    /// Strides in elements (row-major contiguous for safetensors).
    pub strides: Vec<usize>,
    /// Offset of the first element from the start of the storage, in elements.
    pub storage_offset: usize,
    /// The storage: the zip entry (`<prefix>/data/<key>`) or, for safetensors, the tensor name.
    pub storage: String,
    /// Absolute offset in the file of the first byte of the storage.
    pub data_offset: u64,
    /// Length of the storage in bytes.
    pub storage_len: u64,
    /// CRC-32 of the whole storage, where the format records one (PyTorch zip entries;
    /// safetensors has none). Checked on every read that covers the storage.
    pub storage_crc32: Option<u32>,
}

impl TensorInfo {
    /// Number of elements (saturating; validated views never saturate in practice).
    pub fn numel(&self) -> usize {
        self.shape.iter().fold(1usize, |acc, &d| acc.saturating_mul(d))
    }

    /// Number of bytes of the tensor once made contiguous (saturating).
    pub fn byte_len(&self) -> usize {
        self.numel().saturating_mul(self.dtype.size())
    }

    /// Whether the elements are stored row-major without gaps.
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1usize;
        for (&d, &s) in self.shape.iter().zip(&self.strides).rev() {
            if d != 1 && s != expected {
                return false;
            }
            expected = expected.saturating_mul(d);
        }
        true
    }

    /// Bytes of the storage the view addresses: `(max element index + 1) * element size`,
    /// or 0 for an empty tensor. Saturates at `u128::MAX`.
    pub fn required_bytes(&self) -> u128 {
        if self.shape.contains(&0) {
            return 0;
        }
        let mut max = self.storage_offset as u128;
        for (&d, &s) in self.shape.iter().zip(&self.strides) {
            max = max.saturating_add((d as u128 - 1).saturating_mul(s as u128));
        }
        max.saturating_add(1).saturating_mul(self.dtype.size() as u128)
    }

    /// Checks that the view fits in its storage; called before any data is read.
    pub fn check_bounds(&self, name: &str) -> Result<(), WeightsError> {
        let needed = self.required_bytes();
        if needed > u128::from(self.storage_len) {
            return Err(WeightsError::TensorOutOfBounds {
                name: name.to_owned(),
                needed: u64::try_from(needed).unwrap_or(u64::MAX),
                available: self.storage_len,
            });
        }
        Ok(())
    }
}

/// Which kind of file a checkpoint came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckpointFormat {
    /// PyTorch Lightning: tensors under the top-level key `state_dict`.
    Lightning,
    /// DeepSpeed: tensors under `module`, with `_forward_module.` stripped.
    DeepSpeed,
    /// A plain `torch.save(model.state_dict())`.
    Plain,
    /// A `.safetensors` file.
    Safetensors,
}

/// One named entry of the state dict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A readable tensor.
    Tensor(TensorInfo),
    /// Something that is not a tensor (a scalar, an opaque object…).
    NotATensor {
        /// What it is.
        kind: String,
    },
    /// A tensor of an element type we cannot read.
    UnsupportedDType {
        /// The type as named in the file.
        dtype: String,
    },
}

/// The directory of a checkpoint, as built by the format readers.
#[derive(Debug)]
pub(crate) struct Index {
    pub(crate) format: CheckpointFormat,
    pub(crate) entries: BTreeMap<String, Entry>,
}
