//! The integration suite, one test binary (one link of the whole stack) for all of it.
#![allow(clippy::unwrap_used)]

mod checkpoint_formats;
mod common;
mod golden_prep;
mod pipeline;
mod preset_keys;
