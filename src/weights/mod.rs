//! Loading model weights from checkpoints without executing them.
//!
//! Checkpoints are untrusted data: PyTorch files are parsed (zip + pickle), never
//! unpickled by running code. See [`checkpoint::Checkpoint`] for the entry point.
//!
//! * [`zip`]: a minimal stored-only ZIP (and ZIP64) reader.
//! * [`pickle`]: a pickle parser that builds values and never calls anything.
//! * [`torch`]: PyTorch zip checkpoints (Lightning, DeepSpeed, plain state dicts).
//! * [`safetensors_file`]: `.safetensors` headers.
//! * [`index`]: what a checkpoint holds (element types, tensor layouts, entries).
//! * [`checkpoint`]: format dispatch and tensor reads.
//! * [`remap`]: the one key-remap table.
//! * [`vars`]: strict, path-based loading into the module tree.
//! * [`import`]: streaming a checkpoint into the fast-loading cache.

pub mod assemble;
pub mod checkpoint;
pub mod error;
pub mod import;
pub mod index;
pub mod pickle;
pub mod remap;
pub mod safetensors_file;
pub mod torch;
pub mod vars;
pub mod zip;

pub use checkpoint::{Checkpoint, CheckpointFormat, ElementType, Entry, TensorInfo};
pub use error::WeightsError;

impl vars::TensorSource for Checkpoint {
    fn shape_of(&self, name: &str) -> Option<Vec<usize>> {
        self.info(name).map(|i| i.shape.clone())
    }

    fn read_f32(&self, name: &str) -> Result<Vec<f32>, WeightsError> {
        Checkpoint::read_f32(self, name)
    }

    fn tensor_names(&self) -> Vec<String> {
        self.names().map(str::to_owned).collect()
    }

    fn stored_f16(&self, name: &str) -> bool {
        self.info(name).is_some_and(|i| i.dtype == ElementType::F16)
    }

    /// Hands stored f16 (or f32) bytes over as they are when they already have `dtype`;
    /// otherwise converts this one tensor.
    fn read_data(&self, name: &str, dtype: burn::tensor::DType) -> Result<burn::tensor::TensorData, WeightsError> {
        use burn::tensor::{DType as B, TensorData};
        let shape =
            self.info(name).map(|i| i.shape.clone()).ok_or_else(|| WeightsError::Missing { name: name.into() })?;
        let (stored, bytes) = self.read_raw(name)?;
        Ok(match (stored, dtype) {
            (ElementType::F16, B::F16) | (ElementType::F32, B::F32) => TensorData::from_bytes_vec(bytes, shape, dtype),
            (ElementType::F32, B::F16) => {
                let v: Vec<half::f16> = bytes
                    .chunks_exact(4)
                    .map(|c| half::f16::from_f32(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                    .collect();
                drop(bytes);
                TensorData::new(v, shape)
            }
            _ => vars::narrow_f32(checkpoint::to_f32(stored, &bytes), shape, dtype),
        })
    }
}
