//! The headless subcommands (thin wrappers over the library; `anyhow` lives here).

pub mod animate;
pub mod bench;
pub mod import;
pub mod inspect;

use std::path::Path;
use std::process::ExitCode;

use crate::device::Backend;

/// `parity <FIXTURE_DIR> [--backend cpu|wgpu]`: exits non-zero on any failure.
pub fn parity(dir: &Path, backend: Backend) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let summary = crate::parity::run(dir, backend, &mut out)?;
    Ok(if summary.failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Without a subcommand the desktop app starts.
pub fn app(opts: crate::app::AppOptions) -> anyhow::Result<ExitCode> {
    crate::app::run(opts).map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))?;
    Ok(ExitCode::SUCCESS)
}
