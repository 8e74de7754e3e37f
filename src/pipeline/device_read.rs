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

/// A failure injected into the next read on a named thread (tests only: the worker's handling
/// of a lost device is tested by making a read fail as a driver reset would). Always `None`
/// outside tests.
pub fn injected() -> Option<DeviceRead> {
    #[cfg(test)]
    {
        let name = std::thread::current().name().map(str::to_owned)?;
        let mut faults = injection::FAULTS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let at = faults.iter().position(|(thread, _)| *thread == name)?;
        Some(faults.remove(at).1)
    }
    #[cfg(not(test))]
    None
}

#[cfg(test)]
pub mod injection {
    use super::DeviceRead;

    pub(super) static FAULTS: std::sync::Mutex<Vec<(String, DeviceRead)>> = std::sync::Mutex::new(Vec::new());

    /// Makes the next read on the thread named `thread` fail with `fault`.
    pub fn fail_next_read(thread: &str, fault: DeviceRead) {
        FAULTS.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((thread.to_owned(), fault));
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
