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

/// Without a subcommand the desktop app starts (issue 4); until it lands, say so.
pub fn app_placeholder() -> anyhow::Result<ExitCode> {
    anyhow::bail!("the desktop app is not built yet; see `dynamicrafter-studio --help` for the headless commands")
}
