//! `import <CHECKPOINT> [--variant …] [--dtype f16|f32] [--dest DIR]`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;

use crate::model::config::{ModelConfig, Variant};
use crate::weights::import::{
    CachePrecision, Detection, default_model_dir, detect_variant, import_with_config, open_checkpoint,
};

/// Arguments of `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// An official `model.ckpt` (or `.safetensors`, `.pt`, `.pth`); or give the parts below.
    #[arg(required_unless_present = "unet")]
    pub checkpoint: Option<PathBuf>,
    /// Assemble from ComfyUI files instead: the UNet file (Kijai's *_fp16_pruned or
    /// ExponentialML's dynamicrafter_unet_*); needs --text-encoder, --image-encoder, --variant.
    #[arg(long, requires_all = ["text_encoder", "image_encoder"], conflicts_with = "checkpoint")]
    pub unet: Option<PathBuf>,
    /// SD 2.1 text encoder (transformers layout) or laion's open_clip ViT-H file.
    #[arg(long)]
    pub text_encoder: Option<PathBuf>,
    /// OpenCLIP ViT-H/14 (laion names) or transformers CLIPVisionModelWithProjection.
    #[arg(long)]
    pub image_encoder: Option<PathBuf>,
    /// The SD VAE, when the UNet file has none.
    #[arg(long)]
    pub vae: Option<PathBuf>,
    /// `256`, `512`, `1024` or `512_interp`; guessed from the tensors and the path if absent.
    #[arg(long)]
    pub variant: Option<String>,
    /// Precision of the cached copy.
    #[arg(long, default_value = "f16")]
    pub dtype: String,
    /// Where to put the cache (default: the platform data directory).
    #[arg(long)]
    pub dest: Option<PathBuf>,
    /// Import a fixture-style model: the `config.json` of a fixture directory (then
    /// `--variant` is not used and the cache is named after the fixture's folder).
    #[arg(long, conflicts_with = "variant")]
    pub config: Option<PathBuf>,
}

/// Runs the import with a progress line on stderr.
pub fn run(a: &ImportArgs) -> anyhow::Result<ExitCode> {
    if let Some(unet) = &a.unet {
        return assemble(a, unet);
    }
    let checkpoint = a.checkpoint.clone().context("give a checkpoint, or --unet with the other parts")?;
    if a.config.is_none() && crate::rife::weights::looks_like_rife(&open_checkpoint(&checkpoint)?) {
        let dest =
            a.dest.clone().or_else(default_model_dir).context("no data directory on this platform; pass --dest")?;
        let (path, version) = crate::rife::weights::install(&checkpoint, &dest)?;
        eprintln!("RIFE {version}: checked and installed as {}", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let (cfg, name) = match &a.config {
        Some(path) => {
            let cfg = ModelConfig::from_fixture_file(path).with_context(|| format!("reading {}", path.display()))?;
            let dir = path.parent().and_then(|d| d.file_name()).map(|n| n.to_string_lossy().into_owned());
            (cfg, dir.unwrap_or_else(|| "fixture".into()))
        }
        None => {
            let variant = match &a.variant {
                Some(v) => Variant::parse(v)
                    .with_context(|| format!("unknown variant `{v}` (use 256, 512, 1024 or 512_interp)"))?,
                None => {
                    let ckpt = open_checkpoint(&checkpoint)?;
                    detect_variant(&ckpt, &checkpoint)
                        .and_then(Detection::require)
                        .map_err(|why| anyhow::anyhow!("{}: {why}", checkpoint.display()))?
                }
            };
            (ModelConfig::preset(variant), variant.name().to_owned())
        }
    };
    let dtype = match a.dtype.as_str() {
        "f16" | "fp16" => CachePrecision::F16,
        "f32" | "fp32" => CachePrecision::F32,
        other => anyhow::bail!("unknown dtype `{other}` (use f16 or f32)"),
    };
    let dest = a.dest.clone().or_else(default_model_dir).context("no data directory on this platform; pass --dest")?;
    eprintln!("importing {} as DynamiCrafter {name} into {}", checkpoint.display(), dest.display());
    let start = Instant::now();
    let bar = super::progress::bar(0, super::progress::TENSORS);
    let manifest = import_with_config(&checkpoint, &cfg, &name, &dest, dtype, |p| {
        let mb = |b: u64| b as f64 / 1e6;
        bar.set_length(p.tensors_total as u64);
        bar.set_position(p.tensors_done as u64);
        bar.set_message(format!("{:.0}/{:.0} MB", mb(p.bytes_written), mb(p.bytes_total)));
        true
    });
    bar.finish_and_clear();
    let manifest = manifest?;
    eprintln!("  in {:.1} s", start.elapsed().as_secs_f64());
    println!("imported {} tensors into {}", manifest.tensors, dest.join(&manifest.weights_file).display());
    Ok(ExitCode::SUCCESS)
}

/// `import --unet … --text-encoder … --image-encoder … [--vae …] --variant V`: a model
/// assembled from ComfyUI files (`weights::assemble`), imported like an official checkpoint.
fn assemble(a: &ImportArgs, unet: &std::path::Path) -> anyhow::Result<ExitCode> {
    use crate::weights::assemble::{Assembled, Parts};
    let (cfg, name) = match (&a.config, &a.variant) {
        (Some(path), _) => {
            let cfg = ModelConfig::from_fixture_file(path).with_context(|| format!("reading {}", path.display()))?;
            let dir = path.parent().and_then(|d| d.file_name()).map(|n| n.to_string_lossy().into_owned());
            (cfg, format!("{}-assembled", dir.unwrap_or_else(|| "fixture".into())))
        }
        (None, Some(v)) => {
            let variant = Variant::parse(v)
                .with_context(|| format!("unknown variant `{v}` (use 256, 512, 1024 or 512_interp)"))?;
            (ModelConfig::preset(variant), variant.name().to_owned())
        }
        (None, None) => {
            anyhow::bail!("the parts do not tell which model they are: pass --variant 256|512|1024|512_interp")
        }
    };
    let parts = Parts {
        unet: unet.to_path_buf(),
        text_encoder: a.text_encoder.clone().context("--text-encoder is required with --unet")?,
        image_encoder: a.image_encoder.clone().context("--image-encoder is required with --unet")?,
        vae: a.vae.clone(),
    };
    let source = Assembled::open(&parts, &cfg)?;
    let dtype = match a.dtype.as_str() {
        "f16" | "fp16" => CachePrecision::F16,
        "f32" | "fp32" => CachePrecision::F32,
        other => anyhow::bail!("unknown dtype `{other}` (use f16 or f32)"),
    };
    let dest = a.dest.clone().or_else(default_model_dir).context("no data directory on this platform; pass --dest")?;
    eprintln!(
        "assembling {name} from {} (+ text, image encoders{})",
        unet.display(),
        if a.vae.is_some() { ", VAE" } else { "" }
    );
    let manifest = crate::weights::import::import_source(&source, unet, &cfg, &name, &dest, dtype, |_| true)?;
    println!("imported {} tensors into {}", manifest.tensors, dest.join(&manifest.weights_file).display());
    Ok(ExitCode::SUCCESS)
}
