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
pub mod imaging;
pub mod model;
pub mod parity;
pub mod pipeline;
pub mod rife;
pub mod selfcheck;
pub mod weights;
pub mod worker;

/// The message of a caught panic (`panic!` payloads are a `String` or a `&str`). At the root so
/// that the worker, parity, the export and the image loader reach it without importing one
/// another.
pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "internal error".into())
}
