//! RIFE weights: `rife47.pth` / `rife49.pth` (ComfyUI-Frame-Interpolation), or Practical-RIFE's
//! `flownet.pkl`, read through the safe checkpoint reader (never unpickled by running code),
//! the `module.` prefix stripped by the key-remap table.
//!
//! 4.7, 4.8 and 4.9 have the same tensors (names and shapes): only the file name tells
//! them apart, as in ComfyUI (`CKPT_NAME_VER_DICT`). Other RIFE families are recognised by
//! their keys and refused with a message naming them.

use std::fmt;
use std::path::Path;

use burn::tensor::{DType, Device};

use crate::rife::net::IFNet;
use crate::weights::checkpoint::Checkpoint;
use crate::weights::error::WeightsError;
use crate::weights::import::open_checkpoint;
use crate::weights::vars::{KeyProblem, LoadContext, LoadMode, MemorySource, TensorSource, check_keys};

/// Which trained RIFE this is (same network for all three).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RifeVersion {
    V4_7,
    V4_8,
    V4_9,
    /// The 4.7 architecture, version not in the file name.
    Arch4_7,
}

impl fmt::Display for RifeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V4_7 => "4.7",
            Self::V4_8 => "4.8",
            Self::V4_9 => "4.9",
            Self::Arch4_7 => "4.7-architecture (4.7, 4.8 or 4.9)",
        })
    }
}

/// Errors loading RIFE weights.
#[derive(Debug, thiserror::Error)]
pub enum RifeError {
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// Another RIFE family, recognised by its keys.
    #[error(
        "{file} is RIFE {family}, which this app does not run; use rife47.pth or rife49.pth \
         (ComfyUI-Frame-Interpolation's files, or Practical-RIFE 4.7–4.9 `flownet.pkl`)"
    )]
    OtherFamily { file: String, family: &'static str },
    /// Not RIFE at all, or damaged.
    #[error("{file} is not a RIFE 4.7/4.9 model: {}", describe(.problems))]
    Keys { file: String, problems: Vec<KeyProblem> },
}

fn describe(p: &[KeyProblem]) -> String {
    let first: Vec<String> = p.iter().take(3).map(ToString::to_string).collect();
    format!("{} tensors do not match ({}{})", p.len(), first.join("; "), if p.len() > 3 { "; …" } else { "" })
}

/// The version a file name says (`rife47.pth`, `rife-v4.9.pth`, `RIFE_4_8`…).
pub fn version_from_name(path: &Path) -> Option<RifeVersion> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    let digits: String = name.chars().filter(char::is_ascii_digit).collect();
    let rife = name.contains("rife") || name.contains("flownet");
    match digits.as_str() {
        "47" if rife => Some(RifeVersion::V4_7),
        "48" if rife => Some(RifeVersion::V4_8),
        "49" if rife => Some(RifeVersion::V4_9),
        _ => None,
    }
}

/// Tells other RIFE families apart by their keys (shapes from `rife_arch.py`).
fn other_family(source: &dyn TensorSource) -> Option<&'static str> {
    let has = |k: &str| source.shape_of(k).is_some();
    let block0_in = source.shape_of("block0.conv0.0.0.weight").map(|s| s.get(1).copied().unwrap_or(0));
    if has("contextnet.conv1.0.weight") || has("unet.down0.conv1.0.weight") {
        Some("4.0–4.3")
    } else if has("block4.conv0.0.0.weight") {
        Some("4.26")
    } else if has("encode.cnn0.weight") {
        Some("4.17+")
    } else if block0_in == Some(23) {
        Some("4.10–4.16")
    } else if block0_in == Some(7) {
        Some("4.5/4.6")
    } else {
        None
    }
}

/// Every tensor the network expects.
pub fn expected_keys() -> Vec<crate::weights::vars::Expected> {
    let empty = MemorySource::new();
    let ctx = LoadContext::new(&empty, &Device::flex(), DType::F32, LoadMode::DryRun);
    let _ = IFNet::load(&ctx.root());
    ctx.expected()
}

/// Checks that `source` holds exactly the 4.7-architecture tensors (names and shapes).
fn validate(source: &dyn TensorSource, file: &str) -> Result<(), RifeError> {
    if let Some(family) = other_family(source) {
        return Err(RifeError::OtherFamily { file: file.into(), family });
    }
    let problems = check_keys(&expected_keys(), source, &[""]);
    if !problems.is_empty() {
        return Err(RifeError::Keys { file: file.into(), problems });
    }
    Ok(())
}

/// Loads `source` strictly (every tensor present, none extra) in `dtype` on `device`.
pub fn load_from(source: &dyn TensorSource, file: &str, device: &Device, dtype: DType) -> Result<IFNet, RifeError> {
    validate(source, file)?;
    let ctx = LoadContext::new(source, device, dtype, LoadMode::Load);
    let net = IFNet::load(&ctx.root());
    ctx.finish()?;
    Ok(net)
}

/// Opens and loads a RIFE file: the network and its version (file name; the keys only
/// say the architecture).
pub fn load_rife(path: &Path, device: &Device, dtype: DType) -> Result<(IFNet, RifeVersion), RifeError> {
    let ckpt: Checkpoint = open_checkpoint(path)?;
    let file = path.display().to_string();
    let net = load_from(&ckpt, &file, device, dtype)?;
    Ok((net, version_from_name(path).unwrap_or(RifeVersion::Arch4_7)))
}

/// The names the downloader and ComfyUI give the files, newest first (the last: a 4.7-family
/// file whose name does not say the version).
pub const FILE_NAMES: [&str; 4] = ["rife49.pth", "rife48.pth", "rife47.pth", "rife4x.pth"];

/// The name a file of `version` is kept under in the model folder.
pub fn installed_name(version: RifeVersion) -> &'static str {
    match version {
        RifeVersion::V4_9 => FILE_NAMES[0],
        RifeVersion::V4_8 => FILE_NAMES[1],
        RifeVersion::V4_7 => FILE_NAMES[2],
        RifeVersion::Arch4_7 => FILE_NAMES[3],
    }
}

/// Whether a checkpoint holds RIFE rather than DynamiCrafter tensors (any RIFE family).
pub fn looks_like_rife(source: &dyn TensorSource) -> bool {
    source.shape_of("block0.conv0.0.0.weight").is_some() && source.shape_of("block1.conv0.0.0.weight").is_some()
}

/// Checks `src` (every tensor, shapes; nothing executed) and copies it into the model folder
/// `dir` under its version's name (atomically: a partial copy is never seen as installed).
/// Returns the installed path and the version.
pub fn install(src: &Path, dir: &Path) -> Result<(std::path::PathBuf, RifeVersion), RifeError> {
    validate(&open_checkpoint(src)?, &src.display().to_string())?;
    let version = version_from_name(src).unwrap_or(RifeVersion::Arch4_7);
    let io = |e: std::io::Error| RifeError::Weights(WeightsError::Io { path: dir.to_path_buf(), source: e });
    std::fs::create_dir_all(dir).map_err(io)?;
    let dest = dir.join(installed_name(version));
    let part = dir.join(format!("{}.part", installed_name(version)));
    std::fs::copy(src, &part).map_err(io)?;
    std::fs::rename(&part, &dest).map_err(io)?;
    Ok((dest, version))
}

/// The RIFE file installed in the model folder `dir`: the one installed last (a user who
/// installs 4.7 after 4.9 wants 4.7).
pub fn find_installed(dir: &Path) -> Option<std::path::PathBuf> {
    FILE_NAMES
        .iter()
        .map(|n| dir.join(n))
        .filter_map(|p| Some((std::fs::metadata(&p).ok().filter(std::fs::Metadata::is_file)?.modified().ok()?, p)))
        .max_by_key(|(t, _)| *t)
        .map(|(_, p)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_dict_has_124_tensors_and_5_325_012_parameters() {
        let keys = expected_keys();
        assert_eq!(keys.len(), 124);
        let params: usize = keys.iter().map(|k| k.shape.iter().product::<usize>()).sum();
        assert_eq!(params, 5_325_012);
        assert!(keys.iter().any(|k| k.name == "block3.lastconv.0.weight" && k.shape == [64, 24, 4, 4]));
    }

    #[test]
    fn the_version_comes_from_the_file_name() {
        assert_eq!(version_from_name(Path::new("/m/rife47.pth")), Some(RifeVersion::V4_7));
        assert_eq!(version_from_name(Path::new("rife49.pth")), Some(RifeVersion::V4_9));
        assert_eq!(version_from_name(Path::new("RIFE_v4.8_flownet.pkl")), Some(RifeVersion::V4_8));
        assert_eq!(version_from_name(Path::new("rife426.pth")), None);
        assert_eq!(version_from_name(Path::new("model47.pth")), None);
    }
}
