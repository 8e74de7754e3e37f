//! The headless subcommands (thin wrappers over the library; `anyhow` lives here).

pub mod animate;
pub mod bench;
pub mod bench_interpolate;
pub mod console;
pub mod download;
pub mod export_args;
pub mod import;
pub mod inspect;
pub mod interpolate;
pub mod progress;
pub mod report;
pub mod soak;
pub mod stages;

use std::path::Path;
use std::process::ExitCode;

use crate::parity::ParityOptions;

/// `parity <FIXTURE_DIR> [--backend cpu|wgpu] [--precision …] [--memory …]`: exits non-zero
/// on any failure.
pub fn parity(dir: &Path, opts: ParityOptions) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let summary = crate::parity::run(dir, opts, &mut out)?;
    Ok(if summary.failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `selfcheck [--backend wgpu|cpu] [--precision …]`: prints each stage's agreement with the
/// CPU backend; exits non-zero if a stage disagrees.
pub fn selfcheck(backend: crate::device::Backend, precision: crate::device::Precision) -> anyhow::Result<ExitCode> {
    let report = crate::selfcheck::run(backend, precision)?;
    print!("{}", report.table());
    Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Without a subcommand the desktop app starts.
pub fn app(opts: crate::app::AppOptions) -> anyhow::Result<ExitCode> {
    crate::app::run(opts).map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))?;
    Ok(ExitCode::SUCCESS)
}
