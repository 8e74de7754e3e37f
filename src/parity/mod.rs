//! `dynamicrafter-studio parity <FIXTURE_DIR>`: checks every case of a golden-fixture
//! directory that the project implements, stage by stage, against the reference's tensors.
//!
//! Every size and flag comes from the fixture's `config.json` and `cases.json`.

pub mod fixture;
mod metrics;
mod sampling;
mod stages;

use std::cell::OnceCell;
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use burn::tensor::{DType, Device};
use serde_json::Value;

use crate::device::Backend;
use crate::model::DynamiCrafter;
use crate::weights::import::open_checkpoint;
use fixture::{Fixture, FixtureError};
pub use metrics::{max_abs, rel_l2};

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Pass,
    Fail,
    /// A stage the project does not implement yet (counted apart).
    NotImplemented,
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub metric: &'static str,
    pub value: f64,
    pub bound: f64,
    pub verdict: Verdict,
    pub note: Option<String>,
}

impl Check {
    /// A check that passes when `value <= bound` (NaN fails).
    pub fn le(name: impl Into<String>, metric: &'static str, value: f64, bound: f64) -> Self {
        let verdict = if value <= bound { Verdict::Pass } else { Verdict::Fail };
        Self { name: name.into(), metric, value, bound, verdict, note: None }
    }

    /// A failed check carrying an error message.
    pub fn error(name: impl Into<String>, msg: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            metric: "error",
            value: f64::NAN,
            bound: f64::NAN,
            verdict: Verdict::Fail,
            note: Some(msg.into()),
        }
    }

    fn line(&self) -> String {
        let v = match self.verdict {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::NotImplemented => "not implemented",
        };
        let mut s = if self.verdict == Verdict::NotImplemented {
            format!("{:<34} {:<9} {:>11} {:>10}  {v}", self.name, "-", "-", "-")
        } else {
            format!("{:<34} {:<9} {:>11.3e} {:>10.3e}  {v}", self.name, self.metric, self.value, self.bound)
        };
        if let Some(n) = &self.note {
            s.push_str(&format!("  ({n})"));
        }
        s
    }
}

/// Totals of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub not_implemented: usize,
}

/// Shared state of a run: the fixture, the device and the lazily loaded model.
pub struct Runner<'f> {
    pub fx: &'f Fixture,
    pub device: Device,
    model: OnceCell<Result<DynamiCrafter, String>>,
}

impl<'f> Runner<'f> {
    /// The fixture's model, loaded on first use from `model.ckpt` (or the file named by
    /// `cases.json` → `checkpoint.file`).
    pub fn model(&self) -> Result<&DynamiCrafter, String> {
        self.model
            .get_or_init(|| {
                let file = self.fx.cases.pointer("/checkpoint/file").and_then(Value::as_str).unwrap_or("model.ckpt");
                let path = self.fx.dir.join(file);
                let ckpt = open_checkpoint(&path).map_err(|e| e.to_string())?;
                DynamiCrafter::load(&ckpt, &self.fx.config, &self.device, DType::F32).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// Runs every case of the fixture in `dir` on `backend`, writing one line per check to
/// `out` and ending with `parity: N passed, M failed`.
pub fn run(dir: &Path, backend: Backend, out: &mut dyn Write) -> Result<Summary, FixtureError> {
    let fx = Fixture::open(dir)?;
    let runner = Runner { fx: &fx, device: backend.device(), model: OnceCell::new() };
    let io = |e: std::io::Error| FixtureError::Io { path: "<stdout>".into(), source: e };
    writeln!(out, "parity: fixture {} on {backend}", dir.display()).map_err(io)?;
    writeln!(out, "{:<34} {:<9} {:>11} {:>10}  result", "case", "metric", "value", "bound").map_err(io)?;
    let mut summary = Summary::default();
    for (name, case) in fx.case_list() {
        let stage = case.get("stage").and_then(Value::as_str).unwrap_or("").to_owned();
        let outcome = catch_unwind(AssertUnwindSafe(|| stages::run_case(&runner, &name, &stage, &case)));
        let checks = match outcome {
            Ok(Ok(c)) => c,
            Ok(Err(msg)) => vec![Check::error(&name, msg)],
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "panic".into());
                vec![Check::error(&name, format!("panicked: {msg}"))]
            }
        };
        for c in checks {
            match c.verdict {
                Verdict::Pass => summary.passed += 1,
                Verdict::Fail => summary.failed += 1,
                Verdict::NotImplemented => summary.not_implemented += 1,
            }
            writeln!(out, "{}", c.line()).map_err(io)?;
            out.flush().map_err(io)?;
        }
    }
    if summary.not_implemented > 0 {
        writeln!(out, "parity: {} cases not implemented (counted apart)", summary.not_implemented).map_err(io)?;
    }
    writeln!(out, "parity: {} passed, {} failed", summary.passed, summary.failed).map_err(io)?;
    Ok(summary)
}
