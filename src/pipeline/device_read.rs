//! Reading a result back from the device, with burn's typed failure kept: a lost device
//! (a driver reset, a removed GPU: burn's `ExecutionError::DevicePoisoned`) fails every later
//! call until the model is loaded on a fresh device, so the worker must tell it apart from any
//! other failure without matching message text.

use burn::tensor::{ExecutionError, TensorReadError};

/// A failed read of a result from the device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceRead {
    /// The device is gone.
    #[error("the GPU device was lost: {0}")]
    Lost(String),
    /// Any other failure.
    #[error("{0}")]
    Failed(String),
}

impl From<ExecutionError> for DeviceRead {
    fn from(e: ExecutionError) -> Self {
        match e {
            ExecutionError::DevicePoisoned { reason } => Self::Lost(reason),
            other => Self::Failed(other.to_string()),
        }
    }
}

impl From<TensorReadError> for DeviceRead {
    fn from(e: TensorReadError) -> Self {
        match e {
            TensorReadError::Execution(e) => e.into(),
            other => Self::Failed(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_device_reads_as_lost() {
        let lost: DeviceRead = ExecutionError::device_poisoned("VK_ERROR_DEVICE_LOST").into();
        assert_eq!(lost, DeviceRead::Lost("VK_ERROR_DEVICE_LOST".into()));
        let other: DeviceRead = TensorReadError::Execution(ExecutionError::generic("out of memory")).into();
        assert!(matches!(other, DeviceRead::Failed(m) if m.contains("out of memory")));
    }
}
