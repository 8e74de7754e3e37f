//! A model assembled from the files ComfyUI users already have, in the official key names:
//! a UNet file (Kijai's `*_fp16_pruned.safetensors`: UNet + VAE + Resampler; ExponentialML's
//! `dynamicrafter_unet_*.safetensors`: UNet + Resampler), a text encoder, an image encoder and,
//! where the UNet file has none, the SD VAE. Each layout's renames are one table below (beside
//! the official remap table in `remap.rs`); the layouts are those of
//! `../shared/fixtures/comfy-layouts/README.md`. The schedule buffers are computed from the
//! variant's config: the pruned files carry them in fp16 (ᾱ off by 2.4e-4), never used.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::model::DynamiCrafter;
use crate::model::config::ModelConfig;
use crate::pipeline::schedule::NoiseSchedule;
use crate::weights::checkpoint::Checkpoint;
use crate::weights::error::WeightsError;
use crate::weights::remap::remap_key;
use crate::weights::vars::TensorSource;

/// The component files.
#[derive(Debug, Clone, Default)]
pub struct Parts {
    pub unet: PathBuf,
    pub text_encoder: PathBuf,
    pub image_encoder: PathBuf,
    /// Needed when the UNet file holds no VAE (ExponentialML's files).
    pub vae: Option<PathBuf>,
}

/// Why the parts do not make a model.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error("{} is not {expected}", path.display())]
    WrongKind { path: PathBuf, expected: &'static str },
    #[error("the UNet file {} has no VAE (`first_stage_model.*`): give the SD VAE too (--vae, e.g. vae-ft-mse-840000-ema-pruned.safetensors)", .0.display())]
    NeedsVae(PathBuf),
}

/// Where one official tensor comes from.
#[derive(Debug, Clone)]
enum Origin {
    /// A tensor of file `file` under `name`.
    Direct { file: usize, name: String },
    /// transformers' separate q, k, v projections, stacked into open_clip's `in_proj`.
    Stacked { file: usize, names: [String; 3] },
    /// A transposed matrix (transformers' `visual_projection.weight` is open_clip's `proj`ᵀ).
    Transposed { file: usize, name: String },
    /// The schedule, computed from the config.
    Computed(Vec<f32>),
}

/// The assembled model: a [`TensorSource`] in the official names.
#[derive(Debug)]
pub struct Assembled {
    files: Vec<Checkpoint>,
    map: BTreeMap<String, (Origin, Vec<usize>)>,
}

/// transformers CLIP encoder layer → open_clip residual block (text and vision alike).
const LAYER_RENAMES: [(&str, &str); 8] = [
    ("self_attn.out_proj.weight", "attn.out_proj.weight"),
    ("self_attn.out_proj.bias", "attn.out_proj.bias"),
    ("layer_norm1.weight", "ln_1.weight"),
    ("layer_norm1.bias", "ln_1.bias"),
    ("layer_norm2.weight", "ln_2.weight"),
    ("layer_norm2.bias", "ln_2.bias"),
    ("mlp.fc1.weight", "mlp.c_fc.weight"),
    ("mlp.fc1.bias", "mlp.c_fc.bias"),
];
const LAYER_RENAMES_2: [(&str, &str); 2] =
    [("mlp.fc2.weight", "mlp.c_proj.weight"), ("mlp.fc2.bias", "mlp.c_proj.bias")];

/// SD 2.1 text encoder (transformers `CLIPTextModel`) → `cond_stage_model.model.`.
const HF_TEXT: [(&str, &str); 4] = [
    ("text_model.embeddings.token_embedding.weight", "token_embedding.weight"),
    ("text_model.embeddings.position_embedding.weight", "positional_embedding"),
    ("text_model.final_layer_norm.weight", "ln_final.weight"),
    ("text_model.final_layer_norm.bias", "ln_final.bias"),
];

/// transformers `CLIPVisionModelWithProjection` → `embedder.model.visual.` (`proj` separately).
const HF_VISION: [(&str, &str); 7] = [
    ("vision_model.embeddings.patch_embedding.weight", "conv1.weight"),
    ("vision_model.embeddings.class_embedding", "class_embedding"),
    ("vision_model.embeddings.position_embedding.weight", "positional_embedding"),
    ("vision_model.pre_layrnorm.weight", "ln_pre.weight"),
    ("vision_model.pre_layrnorm.bias", "ln_pre.bias"),
    ("vision_model.post_layernorm.weight", "ln_post.weight"),
    ("vision_model.post_layernorm.bias", "ln_post.bias"),
];

impl Assembled {
    /// Opens the parts, recognises each file's layout, and maps every tensor the model
    /// expects for `cfg`. Files of the wrong kind are refused naming the expected layout.
    pub fn open(parts: &Parts, cfg: &ModelConfig) -> Result<Self, AssembleError> {
        let expected: BTreeMap<String, Vec<usize>> =
            DynamiCrafter::expected_keys(cfg).into_iter().map(|e| (e.name, e.shape)).collect();
        let mut a = Assembled { files: Vec::new(), map: BTreeMap::new() };
        let put = |a: &mut Assembled, name: String, origin: Origin| {
            if let Some(shape) = expected.get(&name) {
                a.map.insert(name, (origin, shape.clone()));
            }
        };

        // UNet (+ Resampler, + VAE in Kijai's files), official names.
        let unet = Checkpoint::open(&parts.unet)?;
        if unet.info("model.diffusion_model.input_blocks.0.0.weight").is_none() {
            return Err(AssembleError::WrongKind {
                path: parts.unet.clone(),
                expected: "a DynamiCrafter UNet file (`model.diffusion_model.*` in the official names, as in Kijai's \
                           *_fp16_pruned or ExponentialML's dynamicrafter_unet_* files)",
            });
        }
        let has_vae = unet.info("first_stage_model.encoder.conv_in.weight").is_some();
        let names: Vec<String> = unet.names().map(str::to_owned).collect();
        a.files.push(unet);
        for n in names {
            let official = remap_key(&n).unwrap_or_else(|| n.clone());
            let keep = ["model.diffusion_model.", "image_proj_model.", "first_stage_model."];
            if keep.iter().any(|p| official.starts_with(p)) {
                put(&mut a, official, Origin::Direct { file: 0, name: n });
            }
        }

        // VAE: from the UNet file, or the standalone SD VAE (LDM names without the prefix).
        if !has_vae {
            let path = parts.vae.clone().ok_or_else(|| AssembleError::NeedsVae(parts.unet.clone()))?;
            let vae = Checkpoint::open(&path)?;
            if vae.info("encoder.conv_in.weight").is_none() || vae.info("post_quant_conv.weight").is_none() {
                return Err(AssembleError::WrongKind {
                    path,
                    expected: "an SD VAE (`encoder.*`, `decoder.*`, `quant_conv`, `post_quant_conv`, as in \
                               vae-ft-mse-840000-ema-pruned.safetensors)",
                });
            }
            let file = a.files.len();
            let names: Vec<String> = vae.names().map(str::to_owned).collect();
            a.files.push(vae);
            for n in names {
                put(&mut a, format!("first_stage_model.{n}"), Origin::Direct { file, name: n });
            }
        }

        // Text encoder: transformers layout, or the open_clip (laion) file's text tower.
        let text = Checkpoint::open(&parts.text_encoder)?;
        let file = a.files.len();
        let dst = "cond_stage_model.model.";
        if text.info("text_model.embeddings.token_embedding.weight").is_some() {
            for (from, to) in HF_TEXT {
                put(&mut a, format!("{dst}{to}"), Origin::Direct { file, name: from.into() });
            }
            map_layers(
                &text,
                file,
                "text_model.encoder.layers.",
                &format!("{dst}transformer.resblocks."),
                &mut |n, o| put(&mut a, n, o),
            );
        } else if text.info("transformer.resblocks.0.attn.in_proj_weight").is_some() {
            for n in text.names().filter(|n| !n.starts_with("visual.")) {
                put(&mut a, format!("{dst}{n}"), Origin::Direct { file, name: n.to_owned() });
            }
        } else {
            return Err(AssembleError::WrongKind {
                path: parts.text_encoder.clone(),
                expected: "the SD 2.1 text encoder (transformers `text_model.*`, e.g. text_encoder/model.safetensors or \
                           stable-diffusion-2-1-clip.safetensors) or laion's open_clip ViT-H/14 file",
            });
        }
        a.files.push(text);

        // Image encoder: open_clip (laion) names, or transformers' CLIPVisionModelWithProjection.
        let image = Checkpoint::open(&parts.image_encoder)?;
        let file = a.files.len();
        let dst = "embedder.model.visual.";
        if image.info("visual.transformer.resblocks.0.attn.in_proj_weight").is_some() {
            for n in image.names().filter(|n| n.starts_with("visual.")) {
                put(&mut a, format!("embedder.model.{n}"), Origin::Direct { file, name: n.to_owned() });
            }
        } else if image.info("vision_model.embeddings.patch_embedding.weight").is_some() {
            for (from, to) in HF_VISION {
                put(&mut a, format!("{dst}{to}"), Origin::Direct { file, name: from.into() });
            }
            put(&mut a, format!("{dst}proj"), Origin::Transposed { file, name: "visual_projection.weight".into() });
            map_layers(
                &image,
                file,
                "vision_model.encoder.layers.",
                &format!("{dst}transformer.resblocks."),
                &mut |n, o| put(&mut a, n, o),
            );
        } else {
            return Err(AssembleError::WrongKind {
                path: parts.image_encoder.clone(),
                expected: "the OpenCLIP ViT-H/14 image encoder (laion's open_clip_pytorch_model.safetensors, `visual.*`) \
                           or transformers' CLIPVisionModelWithProjection (CLIP-ViT-H-fp16.safetensors, `vision_model.*`)",
            });
        }
        a.files.push(image);

        // The schedule from the config (the files' buffers, where present, are fp16).
        for (name, v) in NoiseSchedule::new(&cfg.diffusion).buffers() {
            put(&mut a, name.into(), Origin::Computed(v));
        }
        Ok(a)
    }

    fn stored_shape(&self, file: usize, name: &str) -> Option<Vec<usize>> {
        self.files.get(file)?.info(name).map(|i| i.shape.clone())
    }
}

/// Maps transformers' encoder layers under `src` to open_clip blocks under `dst`.
fn map_layers(ckpt: &Checkpoint, file: usize, src: &str, dst: &str, put: &mut dyn FnMut(String, Origin)) {
    let mut i = 0;
    while ckpt.info(&format!("{src}{i}.self_attn.q_proj.weight")).is_some() {
        for kind in ["weight", "bias"] {
            let names = ["q", "k", "v"].map(|p| format!("{src}{i}.self_attn.{p}_proj.{kind}"));
            put(format!("{dst}{i}.attn.in_proj_{kind}"), Origin::Stacked { file, names });
        }
        for (from, to) in LAYER_RENAMES.iter().chain(&LAYER_RENAMES_2) {
            put(format!("{dst}{i}.{to}"), Origin::Direct { file, name: format!("{src}{i}.{from}") });
        }
        i += 1;
    }
}

impl TensorSource for Assembled {
    /// The shape as stored (so a file whose tensor has the wrong shape fails the key check).
    fn shape_of(&self, name: &str) -> Option<Vec<usize>> {
        let (origin, expected) = self.map.get(name)?;
        match origin {
            Origin::Direct { file, name } => self.stored_shape(*file, name),
            Origin::Stacked { file, names } => {
                let shapes: Option<Vec<Vec<usize>>> = names.iter().map(|n| self.stored_shape(*file, n)).collect();
                let shapes = shapes?;
                let mut s = shapes[0].clone();
                s[0] = shapes.iter().map(|x| x[0]).sum();
                Some(s)
            }
            Origin::Transposed { file, name } => self.stored_shape(*file, name).map(|s| s.into_iter().rev().collect()),
            Origin::Computed(_) => Some(expected.clone()),
        }
    }

    fn read_f32(&self, name: &str) -> Result<Vec<f32>, WeightsError> {
        let missing = || WeightsError::Missing { name: name.to_owned() };
        let (origin, _) = self.map.get(name).ok_or_else(missing)?;
        let file = |i: usize| self.files.get(i).ok_or_else(missing);
        match origin {
            Origin::Direct { file: f, name } => file(*f)?.read_f32(name),
            Origin::Stacked { file: f, names } => {
                let mut out = Vec::new();
                for n in names {
                    out.extend(file(*f)?.read_f32(n)?);
                }
                Ok(out)
            }
            Origin::Transposed { file: f, name } => {
                let shape = self.stored_shape(*f, name).ok_or_else(missing)?;
                let (rows, cols) = (shape[0], shape.get(1).copied().unwrap_or(1));
                let v = file(*f)?.read_f32(name)?;
                Ok((0..cols).flat_map(|c| (0..rows).map(move |r| (r, c))).map(|(r, c)| v[r * cols + c]).collect())
            }
            Origin::Computed(v) => Ok(v.clone()),
        }
    }

    fn tensor_names(&self) -> Vec<String> {
        self.map.keys().cloned().collect()
    }

    fn stored_f16(&self, name: &str) -> bool {
        match self.map.get(name).map(|(o, _)| o) {
            Some(Origin::Direct { file, name } | Origin::Transposed { file, name }) => {
                self.files.get(*file).is_some_and(|f| f.stored_f16(name))
            }
            Some(Origin::Stacked { file, names }) => self.files.get(*file).is_some_and(|f| f.stored_f16(&names[0])),
            _ => false,
        }
    }
}

/// A label for the manifest: the UNet file (the other parts are listed in the CLI output).
pub fn label(parts: &Parts) -> &Path {
    &parts.unet
}

/// Component files found in a ComfyUI `models/` folder (the names the two ComfyUI
/// DynamiCrafter node packs download).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Found {
    pub unets: Vec<PathBuf>,
    pub text_encoder: Option<PathBuf>,
    pub image_encoder: Option<PathBuf>,
    pub vae: Option<PathBuf>,
}

/// Looks for the parts under a ComfyUI `models/` folder (or ComfyUI's root).
pub fn find_in_comfy(dir: &Path) -> Found {
    let root = if dir.join("models").is_dir() { dir.join("models") } else { dir.to_path_buf() };
    let files = |subs: &[&str]| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = subs
            .iter()
            .filter_map(|s| std::fs::read_dir(root.join(s)).ok())
            .flat_map(|rd| rd.filter_map(Result::ok).map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
            .collect();
        v.sort();
        v
    };
    let name = |p: &PathBuf| p.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let first = |v: Vec<PathBuf>, keys: &[&str]| v.into_iter().find(|p| keys.iter().any(|k| name(p).contains(k)));
    Found {
        unets: files(&["checkpoints", "diffusion_models", "unet", "dynamicrafter_models"])
            .into_iter()
            .filter(|p| name(p).contains("dynamicrafter"))
            .collect(),
        text_encoder: first(files(&["clip", "text_encoders"]), &["stable-diffusion-2-1-clip", "sd21", "open_clip"]),
        image_encoder: first(files(&["clip_vision"]), &["vit-h", "open_clip", "clip-vit-h"]),
        vae: first(files(&["vae"]), &["vae-ft-mse", "sd_vae", "sd-vae"]),
    }
}
