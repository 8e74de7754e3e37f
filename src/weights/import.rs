//! Importing a user's checkpoint into the model cache.
//!
//! The official `model.ckpt` files are 10.4 GB fp32 pickles. Import parses the pickle
//! without executing it, checks every tensor name and shape against the chosen variant
//! **before reading any data**, then streams the tensors one by one into a safetensors file
//! (fp16 by default) in the platform data directory. The file is written under a temporary
//! name and renamed when complete, so an interrupted import leaves nothing half-written.
//! Peak memory is one tensor (at most ~200 MB for the token embedding).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use half::f16;
use serde::{Deserialize, Serialize};

use crate::model::DynamiCrafter;
use crate::model::config::{ModelConfig, Variant};
use crate::weights::checkpoint::Checkpoint;
use crate::weights::error::WeightsError;
use crate::weights::remap::remap_key;
use crate::weights::vars::{KeyProblem, TensorSource, check_keys};

/// Storage precision of the cached copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum CachePrecision {
    /// Half the size; what the GPU path runs.
    #[default]
    F16,
    /// Bit-exact copy of fp32 weights.
    F32,
}

impl CachePrecision {
    fn bytes(self) -> usize {
        match self {
            Self::F16 => 2,
            Self::F32 => 4,
        }
    }
    fn safetensors_name(self) -> &'static str {
        match self {
            Self::F16 => "F16",
            Self::F32 => "F32",
        }
    }
}

/// What went wrong during an import.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error("{path} does not look like a DynamiCrafter checkpoint: {why}")]
    NotDynamiCrafter { path: PathBuf, why: String },
    #[error("the checkpoint does not match DynamiCrafter {variant}: {count} problems, first: {first}")]
    Keys { variant: String, count: usize, first: String, problems: Vec<KeyProblem> },
    #[error("cannot write the model cache at {path}: {source} (check free disk space and permissions)")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("import cancelled")]
    Cancelled,
}

/// Progress of an import, reported after each tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportProgress {
    pub tensors_done: usize,
    pub tensors_total: usize,
    pub bytes_written: u64,
    pub bytes_total: u64,
}

/// The manifest stored next to a cached model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelManifest {
    /// `256`, `512`, `1024` or `512_interp`.
    pub variant: String,
    pub source: PathBuf,
    pub source_bytes: u64,
    pub dtype: CachePrecision,
    pub tensors: usize,
    pub weights_file: String,
}

/// What a checkpoint tells about which DynamiCrafter it is.
#[derive(Debug, Clone, PartialEq)]
pub enum Detection {
    /// The tensors decide (or, within the 512 family, the file name does).
    Known { variant: Variant, why: String },
    /// The file cannot decide between these: ask the user, never pick silently.
    Ambiguous { candidates: Vec<Variant>, why: String },
}

impl Detection {
    /// The variant, or an error that says how to choose (`--variant`).
    pub fn require(self) -> Result<Variant, String> {
        match self {
            Detection::Known { variant, .. } => Ok(variant),
            Detection::Ambiguous { candidates, why } => {
                let names: Vec<String> = candidates.iter().map(|v| format!("--variant {}", v.name())).collect();
                Err(format!("{why}; choose with {}", names.join(" or ")))
            }
        }
    }
}

/// The variant a path names (file or folder: `…_512_interp/model.ckpt`, `dc_1024.ckpt`).
pub fn variant_from_name(path: &Path) -> Option<Variant> {
    let p = path.to_string_lossy().to_ascii_lowercase();
    if p.contains("interp") {
        Some(Variant::V512Interp)
    } else if p.contains("1024") {
        Some(Variant::V1024)
    } else if p.contains("256") {
        Some(Variant::V256)
    } else if p.contains("512") {
        Some(Variant::V512)
    } else {
        None
    }
}

/// The `base_scale` of the dynamic rescale at which `scale_arr` ends (spec §5: 0.7 for 512
/// and 512_Interp, 0.3 for 1024; the configs `inference_512_v1.0.yaml`, `inference_1024_v1.0.yaml`).
const BASE_SCALE_512: f32 = 0.7;
const BASE_SCALE_1024: f32 = 0.3;

/// Detects the variant (spec §0, §5) from what the file can tell, then from its name:
/// 256 has learnable `attn2.alpha` scalars and no `scale_arr`; 1024 ends `scale_arr` at 0.3
/// and 512 / 512_Interp at 0.7; 512 and 512_Interp are identical in keys, shapes and
/// buffers, so only the name can tell them apart, and without a telling name the answer is
/// [`Detection::Ambiguous`]. The file wins over a name that contradicts it.
pub fn detect_variant(source: &dyn TensorSource, path: &Path) -> Result<Detection, String> {
    let conv_in = source.shape_of("model.diffusion_model.input_blocks.0.0.weight");
    if conv_in.as_deref().map(|s| s.len() == 4 && s[1] == 8) != Some(true) {
        return Err("it has no DynamiCrafter UNet input convolution (`model.diffusion_model.input_blocks.0.0.weight` with 8 input channels)".into());
    }
    let named = variant_from_name(path);
    let has_alpha = source.tensor_names().iter().any(|n| n.ends_with("attn2.alpha"));
    let base = match source.shape_of("scale_arr") {
        Some(_) => source.read_f32("scale_arr").map_err(|e| e.to_string())?.last().copied(),
        None => None,
    };
    let family_512 = |why: &str| match named {
        Some(v @ (Variant::V512 | Variant::V512Interp)) => {
            Detection::Known { variant: v, why: format!("{why}; the file name says {}", v.name()) }
        }
        _ => Detection::Ambiguous {
            candidates: vec![Variant::V512, Variant::V512Interp],
            why: format!("{why}, and 512 and 512_interp have the same tensors; the file name does not say which"),
        },
    };
    Ok(match base {
        None if has_alpha => Detection::Known {
            variant: Variant::V256,
            why: "learnable attn2.alpha scalars and no scale_arr: the 256 model".into(),
        },
        Some(b) if (b - BASE_SCALE_1024).abs() < 1e-3 => Detection::Known {
            variant: Variant::V1024,
            why: format!("scale_arr ends at {b:.3}: the 1024 model's base_scale"),
        },
        Some(b) if (b - BASE_SCALE_512).abs() < 1e-3 => {
            family_512(&format!("scale_arr ends at {b:.3}: the 512 family's base_scale"))
        }
        _ => match named {
            Some(v) => Detection::Known {
                variant: v,
                why: format!("the tensors do not tell; the file name says {}", v.name()),
            },
            None => Detection::Ambiguous {
                candidates: vec![Variant::V512, Variant::V1024, Variant::V512Interp, Variant::V256],
                why: "neither the tensors nor the file name tell which model this is".into(),
            },
        },
    })
}

/// Opens a checkpoint and applies the key-remap table.
pub fn open_checkpoint(path: &Path) -> Result<Checkpoint, WeightsError> {
    let mut ckpt = Checkpoint::open(path)?;
    ckpt.remap_keys(|k| Some(remap_key(k).unwrap_or_else(|| k.to_owned())));
    Ok(ckpt)
}

/// Imports `src` as `variant` into `dest_dir` (created if needed). `progress` is called
/// after every tensor; returning `false` cancels (the partial file is removed).
pub fn import_checkpoint(
    src: &Path,
    variant: Variant,
    dest_dir: &Path,
    dtype: CachePrecision,
    progress: impl FnMut(ImportProgress) -> bool,
) -> Result<ModelManifest, ImportError> {
    import_with_config(src, &ModelConfig::preset(variant), variant.name(), dest_dir, dtype, progress)
}

/// [`import_checkpoint`] for any configuration (`name` names the cached files), e.g. a
/// fixture's.
pub fn import_with_config(
    src: &Path,
    cfg: &ModelConfig,
    name: &str,
    dest_dir: &Path,
    dtype: CachePrecision,
    progress: impl FnMut(ImportProgress) -> bool,
) -> Result<ModelManifest, ImportError> {
    let ckpt = open_checkpoint(src)?;
    import_source(&ckpt, src, cfg, name, dest_dir, dtype, progress)
}

/// Imports any [`TensorSource`] in the official names (a checkpoint, or a model assembled
/// from ComfyUI files, `weights::assemble`) into the cache; `src` is recorded in the manifest.
pub fn import_source(
    source: &dyn TensorSource,
    src: &Path,
    cfg: &ModelConfig,
    name: &str,
    dest_dir: &Path,
    dtype: CachePrecision,
    mut progress: impl FnMut(ImportProgress) -> bool,
) -> Result<ModelManifest, ImportError> {
    let expected = DynamiCrafter::expected_keys(cfg);
    let problems = check_keys(&expected, source, &[""]);
    if let Some(first) = problems.first() {
        return Err(ImportError::Keys {
            variant: name.to_owned(),
            count: problems.len(),
            first: first.to_string(),
            problems,
        });
    }
    // Only what inference reads goes into the cache.
    let mut tensors: Vec<(String, Vec<usize>)> =
        expected.iter().filter(|e| e.used).map(|e| (e.name.clone(), e.shape.clone())).collect();
    tensors.sort();

    let werr = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ImportError::Write { path: path.clone(), source }
    };
    std::fs::create_dir_all(dest_dir).map_err(werr(dest_dir))?;
    let weights_file = format!("dynamicrafter_{name}.safetensors");
    let final_path = dest_dir.join(&weights_file);
    let tmp_path = dest_dir.join(format!("{weights_file}.partial"));
    let result = write_safetensors(source, &tensors, &tmp_path, dtype, &mut progress);
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp_path);
        return Err(e);
    }
    std::fs::rename(&tmp_path, &final_path).map_err(werr(&final_path))?;
    crate::durable::sync_dir(dest_dir).map_err(werr(dest_dir))?;
    let manifest = ModelManifest {
        variant: name.into(),
        source: src.to_path_buf(),
        source_bytes: std::fs::metadata(src).map(|m| m.len()).unwrap_or(0),
        dtype,
        tensors: tensors.len(),
        weights_file,
    };
    let mpath = dest_dir.join(format!("dynamicrafter_{name}.json"));
    let json = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    let mtmp = mpath.with_extension("json.partial");
    crate::durable::write_with(&mtmp, |w| w.write_all(json.as_bytes())).map_err(werr(&mtmp))?;
    std::fs::rename(&mtmp, &mpath).map_err(werr(&mpath))?;
    crate::durable::sync_dir(dest_dir).map_err(werr(dest_dir))?;
    Ok(manifest)
}

/// How long an import's temporary file must have been left untouched to count as abandoned
/// (an import in progress writes to it all the time).
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(300);

/// Removes what interrupted imports left in `dir`: `*.partial` files (up to ~5 GB each, from
/// a closed app or a crash mid-import) untouched for five minutes. Returns how many files
/// and bytes went. Downloads keep their `.part` files on purpose (they resume).
pub fn clean_stale_partials(dir: &Path) -> (usize, u64) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return (0, 0);
    };
    let now = std::time::SystemTime::now();
    let mut removed = (0, 0);
    for e in rd.filter_map(Result::ok) {
        let Ok(meta) = e.metadata() else { continue };
        let stale = meta.modified().ok().and_then(|t| now.duration_since(t).ok()).is_some_and(|age| age >= STALE_AFTER);
        let partial = e.path().extension().is_some_and(|x| x == "partial");
        if meta.is_file() && partial && stale && std::fs::remove_file(e.path()).is_ok() {
            removed.0 += 1;
            removed.1 += meta.len();
        }
    }
    removed
}

/// The dtype a tensor is cached in: the top-level buffers (the noise schedule: `betas`,
/// `alphas_cumprod`, …, `scale_arr`) stay f32 whatever the weight dtype. In f16,
/// ᾱ₀ = 0.99915 would become 0.99902 and 1 − ᾱ₀ 15 % too large.
/// The stored dtype of one tensor: buffers (the schedule: top-level names) and the VAE
/// (`first_stage_model.*`, which always computes in f32, README "Precision and memory") stay
/// f32 whatever the weight dtype, so an f16 cache changes neither the schedule nor the VAE.
fn cache_dtype(name: &str, weights: CachePrecision) -> CachePrecision {
    if name.contains('.') && !name.starts_with("first_stage_model.") { weights } else { CachePrecision::F32 }
}

/// [`cache_dtype`], except that weights the source stores in f16 stay f16 (never widened).
fn stored_dtype(source: &dyn TensorSource, name: &str, weights: CachePrecision) -> CachePrecision {
    match cache_dtype(name, weights) {
        CachePrecision::F32
            if name.contains('.') && !name.starts_with("first_stage_model.") && source.stored_f16(name) =>
        {
            CachePrecision::F16
        }
        dt => dt,
    }
}

fn write_safetensors(
    ckpt: &dyn TensorSource,
    tensors: &[(String, Vec<usize>)],
    path: &Path,
    dtype: CachePrecision,
    progress: &mut impl FnMut(ImportProgress) -> bool,
) -> Result<(), ImportError> {
    let werr = |source| ImportError::Write { path: path.to_path_buf(), source };
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (name, shape) in tensors {
        let n: usize = shape.iter().product();
        let dt = stored_dtype(ckpt, name, dtype);
        let end = offset + n * dt.bytes();
        header.insert(
            name.clone(),
            serde_json::json!({ "dtype": dt.safetensors_name(), "shape": shape, "data_offsets": [offset, end] }),
        );
        offset = end;
    }
    let mut head = serde_json::to_vec(&serde_json::Value::Object(header)).unwrap_or_default();
    while head.len() % 8 != 0 {
        head.push(b' ');
    }
    let bytes_total = offset as u64;
    let mut out = BufWriter::with_capacity(1 << 22, File::create(path).map_err(werr)?);
    out.write_all(&(head.len() as u64).to_le_bytes()).map_err(werr)?;
    out.write_all(&head).map_err(werr)?;
    let mut written = 0u64;
    for (i, (name, _)) in tensors.iter().enumerate() {
        let values = ckpt.read_f32(name)?;
        let dt = stored_dtype(ckpt, name, dtype);
        let mut buf = Vec::with_capacity(values.len() * dt.bytes());
        match dt {
            CachePrecision::F16 => values.iter().for_each(|v| buf.extend_from_slice(&f16::from_f32(*v).to_le_bytes())),
            CachePrecision::F32 => values.iter().for_each(|v| buf.extend_from_slice(&v.to_le_bytes())),
        }
        out.write_all(&buf).map_err(werr)?;
        written += buf.len() as u64;
        let keep_going = progress(ImportProgress {
            tensors_done: i + 1,
            tensors_total: tensors.len(),
            bytes_written: written,
            bytes_total,
        });
        if !keep_going {
            return Err(ImportError::Cancelled);
        }
    }
    let file = out.into_inner().map_err(|e| werr(e.into_error()))?;
    file.sync_all().map_err(werr)?;
    Ok(())
}

/// The platform data directory for imported models, e.g.
/// `~/.local/share/dynamicrafter-studio/models` on Linux.
pub fn default_model_dir() -> Option<PathBuf> {
    crate::identity::data_dir().map(|d| d.join("models"))
}

/// The models imported into `dir` (their manifests), newest file first.
pub fn list_imported(dir: &Path) -> Vec<(PathBuf, ModelManifest)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, ModelManifest, std::time::SystemTime)> = rd
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| {
            let m: ModelManifest = serde_json::from_str(&std::fs::read_to_string(e.path()).ok()?).ok()?;
            let weights = dir.join(&m.weights_file);
            let t = std::fs::metadata(&weights).and_then(|md| md.modified()).ok()?;
            Some((weights, m, t))
        })
        .collect();
    out.sort_by(|a, b| b.2.cmp(&a.2));
    out.into_iter().map(|(p, m, _)| (p, m)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An abandoned import's temporary file goes; one still being written (recently
    /// touched), a resumable download and a finished model stay.
    #[test]
    fn stale_import_leftovers_are_removed() {
        let d = tempfile::tempdir().unwrap();
        let file = |name: &str, bytes: usize, age_s: u64| {
            let p = d.path().join(name);
            std::fs::write(&p, vec![0u8; bytes]).unwrap();
            let t = std::time::SystemTime::now() - std::time::Duration::from_secs(age_s);
            File::options().write(true).open(&p).unwrap().set_modified(t).unwrap();
            p
        };
        let stale = file("dynamicrafter_512.safetensors.partial", 1000, 3600);
        let live = file("dynamicrafter_1024.safetensors.partial", 10, 5);
        let download = file("model.ckpt.part", 10, 3600);
        let model = file("dynamicrafter_256.safetensors", 10, 3600);
        assert_eq!(clean_stale_partials(d.path()), (1, 1000));
        assert!(!stale.exists());
        assert!(live.exists() && download.exists() && model.exists());
        assert_eq!(clean_stale_partials(&d.path().join("missing")), (0, 0));
    }
}
