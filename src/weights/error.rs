//! Errors raised while opening or reading a checkpoint.
//!
//! Every message names the file or tensor involved and, where it helps, what the user
//! can do about it (re-download, re-save, convert to safetensors).

use std::path::PathBuf;

/// Anything that can go wrong while opening a checkpoint or reading a tensor out of it.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The operating system refused a read, seek or open.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The file is not in any checkpoint format we understand.
    #[error(
        "{} is not a model checkpoint: {what}. Expected a PyTorch .ckpt/.pt/.pth file (zip format) or a .safetensors file",
        path.display()
    )]
    NotACheckpoint {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        what: String,
    },

    /// The file ends before the data it announces.
    #[error(
        "{} ends early ({what}) — the download may be incomplete; download the file again",
        path.display()
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Which part is missing.
        what: String,
    },

    /// The zip container of a PyTorch checkpoint is damaged or uses an unsupported feature.
    #[error("{} is a damaged or unsupported zip archive: {msg}", path.display())]
    Zip {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },

    /// The pickled index (`data.pkl`) of a PyTorch checkpoint is malformed.
    #[error(
        "{}: the checkpoint's pickled index is malformed at byte {pos}: {msg}. The file may be corrupt; download it again",
        path.display()
    )]
    Pickle {
        /// The file.
        path: PathBuf,
        /// Byte position inside `data.pkl`.
        pos: u64,
        /// What is wrong.
        msg: String,
    },

    /// The checkpoint parsed, but no dictionary of tensors was found in it.
    #[error(
        "{} holds no model weights: expected a 'state_dict' (Lightning), a 'module' (DeepSpeed) or a plain dictionary of tensors; top-level keys are {top_level_keys:?}",
        path.display()
    )]
    NoStateDict {
        /// The file.
        path: PathBuf,
        /// Keys found at the top level (or a description of what the top level is).
        top_level_keys: Vec<String>,
    },

    /// The checkpoint is internally inconsistent (for example a tensor refers to a storage
    /// that is not in the archive).
    #[error("{} is corrupt: {what}. Download the file again", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is inconsistent.
        what: String,
    },

    /// The checkpoint was written on a big-endian machine.
    #[error(
        "{}: big-endian checkpoints are not supported; re-save it on a little-endian machine (x86, ARM) or convert it to safetensors",
        path.display()
    )]
    BigEndian {
        /// The file.
        path: PathBuf,
    },

    /// A tensor's shape, strides and offset address more data than its storage holds.
    #[error(
        "tensor '{name}' needs {needed} bytes but its storage holds only {available} bytes — the checkpoint is corrupt or truncated"
    )]
    TensorOutOfBounds {
        /// Tensor name.
        name: String,
        /// Bytes the tensor addresses (saturated at `u64::MAX`).
        needed: u64,
        /// Bytes the storage holds.
        available: u64,
    },

    /// The tensor's element type cannot be read.
    #[error("tensor '{name}' has element type {dtype}, which is not supported")]
    UnsupportedDType {
        /// Tensor name.
        name: String,
        /// The element type as written in the file.
        dtype: String,
    },

    /// The safetensors header is malformed.
    #[error("{} is not a valid safetensors file: {msg}", path.display())]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },

    /// The entry exists in the checkpoint but is not a tensor (a scalar, an unknown object…).
    #[error("'{name}' in the checkpoint is not a tensor")]
    NotATensor {
        /// Entry name.
        name: String,
    },

    /// No tensor of that name.
    #[error("tensor '{name}' is missing from the checkpoint")]
    Missing {
        /// Tensor name.
        name: String,
    },

    /// A tensor would need more memory than is sensible or available.
    #[error(
        "tensor '{name}' would need {bytes} bytes of memory (its stored data is {stored} bytes); refusing to load it"
    )]
    TooLarge {
        /// Tensor name.
        name: String,
        /// Bytes the contiguous copy would take.
        bytes: u64,
        /// Bytes stored in the file for it (0 if unknown).
        stored: u64,
    },

    /// A tensor has a different shape than the model expects.
    #[error("tensor '{name}' has shape {found:?} but the model expects {expected:?}")]
    ShapeMismatch {
        /// Tensor name.
        name: String,
        /// Shape the model expects.
        expected: Vec<usize>,
        /// Shape found in the checkpoint.
        found: Vec<usize>,
    },
}

impl WeightsError {
    /// Wraps an I/O error; an unexpected end of file becomes [`WeightsError::Truncated`].
    pub fn io(path: impl Into<PathBuf>, what: &str, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::UnexpectedEof {
            WeightsError::Truncated { path, what: what.to_owned() }
        } else {
            WeightsError::Io { path, source }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn eof_becomes_truncated() {
        let e =
            WeightsError::io("/x/model.ckpt", "tensor data", std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
        assert!(matches!(e, WeightsError::Truncated { .. }));
        let msg = e.to_string();
        assert!(msg.contains("download may be incomplete"), "{msg}");
        assert!(msg.contains("/x/model.ckpt"), "{msg}");
    }

    #[test]
    fn other_io_stays_io() {
        let e = WeightsError::io("a", "b", std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert!(matches!(e, WeightsError::Io { .. }));
    }

    #[test]
    fn error_is_send_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<WeightsError>();
    }
}
