//! `inspect <CHECKPOINT> [--variant …]`: the checkpoint's format and tensor count, the
//! detected variant, and every mismatch against that variant's module tree.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::model::DynamiCrafter;
use crate::model::config::{ModelConfig, Variant};
use crate::weights::import::{Detection, detect_variant, open_checkpoint};
use crate::weights::vars::{TensorSource, check_keys};

/// Arguments of `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The checkpoint to read (nothing is loaded onto a device).
    pub checkpoint: PathBuf,
    /// Compare against this variant instead of the detected one.
    #[arg(long)]
    pub variant: Option<String>,
}

/// Prints the report; exits non-zero when the file does not match.
pub fn run(a: &InspectArgs) -> anyhow::Result<ExitCode> {
    let ckpt = open_checkpoint(&a.checkpoint)?;
    println!("{}: {:?}, {} tensors", a.checkpoint.display(), ckpt.format(), ckpt.tensor_names().len());
    let variant = match &a.variant {
        Some(v) => Variant::parse(v).with_context(|| format!("unknown variant `{v}`"))?,
        None => {
            detect_variant(&ckpt, &a.checkpoint).and_then(Detection::require).map_err(|why| anyhow::anyhow!(why))?
        }
    };
    let expected = DynamiCrafter::expected_keys(&ModelConfig::preset(variant));
    let problems = check_keys(&expected, &ckpt, &[""]);
    println!("variant {}: {} expected tensors, {} problems", variant.name(), expected.len(), problems.len());
    for p in &problems {
        println!("  {p}");
    }
    Ok(if problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
