//! The integration suite, one test binary (one link of the whole stack) for all of it.
#![allow(clippy::unwrap_used)]

mod checkpoint_formats;
mod cli;
mod common;
mod download;
mod export;
mod golden_prep;
mod history;
mod import;
mod memory_plan;
mod pipeline;
mod preset_keys;
mod readme;
mod storyboard;
mod ui;
mod ui_storyboard;
