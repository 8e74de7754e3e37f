//! The CLI's progress bars: indicatif on stderr, drawn only when stderr is a terminal (a
//! log or a pipe gets the result lines alone).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `total` units drawn with `template` (indicatif's template syntax).
pub fn bar(total: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    // A template is a constant of this module's callers; a bad one falls back to the default.
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("#>-"));
    }
    bar
}

/// Bytes: done of total, speed and time left.
pub const BYTES: &str = "  [{bar:30}] {bytes}/{total_bytes}  {bytes_per_sec}  ETA {eta}";
/// Tensors written, with `{msg}` for the megabytes.
pub const TENSORS: &str = "  [{bar:30}] {pos}/{len} tensors  {msg}  {elapsed}";
/// Sampling steps, with `{msg}` for seconds per step.
pub const STEPS: &str = "[{bar:24}] step {pos}/{len}  {msg}  ETA {eta}";
