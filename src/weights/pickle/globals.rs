//! The allow-list: which globals mean something structural (containers, torch's tensor
//! rebuilders, storage types and dtypes). Everything else stays opaque and is never called.

use super::StorageType;
use crate::weights::index::ElementType;

/// What an allowed global means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Known {
    OrderedDict,
    RebuildTensorV2,
    RebuildTensor,
    RebuildParameter,
    RebuildFromTypeV2,
    TorchSize,
    Set,
    /// A storage class or dtype: meaningful as data, not as a callable.
    Descriptor,
}

/// Classifies a global; `None` means "not allowed" (it becomes [`Value::Opaque`]).
pub(super) fn classify_global(module: &str, name: &str) -> Option<Known> {
    let known = match (module, name) {
        ("collections", "OrderedDict") => Known::OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2") => Known::RebuildTensorV2,
        ("torch._utils", "_rebuild_tensor") => Known::RebuildTensor,
        ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => Known::RebuildParameter,
        ("torch._tensor", "_rebuild_from_type_v2") => Known::RebuildFromTypeV2,
        ("torch", "Size") => Known::TorchSize,
        ("builtins" | "__builtin__", "set" | "frozenset") => Known::Set,
        ("torch.storage", "UntypedStorage" | "TypedStorage") => Known::Descriptor,
        ("torch", n) if storage_class_dtype(n).is_some() || torch_dtype(n).is_some() => Known::Descriptor,
        _ => return None,
    };
    Some(known)
}

/// Element type of a legacy typed storage class such as `torch.HalfStorage`.
pub(super) fn storage_class_dtype(name: &str) -> Option<StorageType> {
    let base = name.strip_suffix("Storage")?;
    if base.is_empty() || !base.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let dtype = match base {
        "Float" => ElementType::F32,
        "Half" => ElementType::F16,
        "BFloat16" => ElementType::BF16,
        "Double" => ElementType::F64,
        "Long" => ElementType::I64,
        "Int" => ElementType::I32,
        "Short" => ElementType::I16,
        "Char" => ElementType::I8,
        "Byte" | "Untyped" => ElementType::U8,
        "Bool" => ElementType::Bool,
        other => return Some(StorageType::Unsupported(format!("{other}Storage"))),
    };
    Some(StorageType::Known(dtype))
}

/// Element type named by a torch dtype global such as `torch.float16`.
pub(super) fn torch_dtype(name: &str) -> Option<StorageType> {
    let dtype = match name {
        "float32" | "float" => ElementType::F32,
        "float16" | "half" => ElementType::F16,
        "bfloat16" => ElementType::BF16,
        "float64" | "double" => ElementType::F64,
        "int64" | "long" => ElementType::I64,
        "int32" | "int" => ElementType::I32,
        "int16" | "short" => ElementType::I16,
        "int8" => ElementType::I8,
        "uint8" => ElementType::U8,
        "bool" => ElementType::Bool,
        "complex32" | "complex64" | "complex128" | "cfloat" | "cdouble" | "chalf" | "uint16" | "uint32" | "uint64"
        | "float8_e4m3fn" | "float8_e5m2" | "float8_e4m3fnuz" | "float8_e5m2fnuz" | "qint8" | "quint8" | "qint32"
        | "quint4x2" => {
            return Some(StorageType::Unsupported(name.to_owned()));
        }
        _ => return None,
    };
    Some(StorageType::Known(dtype))
}
