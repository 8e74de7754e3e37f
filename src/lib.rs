//! DynamiCrafter Studio: image-to-video with DynamiCrafter, offline, on burn + wgpu.
//!
//! Module map:
//! - [`weights`]: safe checkpoint readers (PyTorch zip pickles, safetensors), strict
//!   path-based loading ([`weights::vars`]) and the key-remap table.
//! - [`model`]: the network, one file per concept of the spec (`clip`, `resampler`, `vae`,
//!   `unet/…`), presets and configs.
//! - [`pipeline`]: input preparation, conditioning, sampling.
//! - [`parity`]: checks any golden-fixture directory stage by stage.

pub mod app;
pub mod cli;
pub mod device;
pub mod download;
pub mod durable;
pub mod export;
pub mod history;
pub mod identity;
pub mod model;
pub mod parity;
pub mod pipeline;
pub mod selfcheck;
pub mod weights;
pub mod worker;
