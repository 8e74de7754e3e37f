//! Input images are decoded off the UI thread: a file, dropped or pasted bytes, or clipboard
//! pixels are checked (size, aspect ratio: before any pixel is decoded), decoded, hashed and
//! given a small preview on a short-lived thread; the UI polls for the result.

use std::path::PathBuf;
use std::sync::Arc;

use crossbeam_channel::{Receiver, TryRecvError, bounded};
use image::RgbImage;

use super::session::InputImage;
use crate::history::digest;
use crate::imaging::load::{LoadOptions, check_dimensions, decode_image_bytes, load_image};

/// Longest side of the preview the input panel fits and draws (the job uses the full image).
const PREVIEW_SIDE: u32 = 1024;

/// Where an input image comes from.
#[derive(Debug, Clone)]
pub enum ImageSource {
    File(PathBuf),
    Bytes { bytes: Arc<Vec<u8>>, origin: String },
    Rgb(Arc<RgbImage>),
}

/// Where a decoded image goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Input slot 1 (`second = false`) or 2.
    Input { second: bool },
    /// The end of the storyboard's keyframes.
    Keyframe,
}

/// One image being decoded for `slot`.
#[derive(Debug)]
pub struct ImageLoad {
    pub slot: Slot,
    rx: Receiver<Result<InputImage, String>>,
}

impl ImageLoad {
    /// Starts decoding on its own thread; `wake` repaints the UI when done.
    pub fn start(slot: Slot, source: ImageSource, wake: impl Fn() + Send + 'static) -> Self {
        let (tx, rx) = bounded(1);
        let spawned = std::thread::Builder::new().name("image-decode".into()).spawn(move || {
            let result = std::panic::catch_unwind(|| decode(source))
                .unwrap_or_else(|p| Err(format!("internal error: {}", crate::panic_message(&*p))));
            let _ = tx.send(result);
            wake();
        });
        let rx = match spawned {
            Ok(_) => rx,
            Err(e) => {
                // No thread: report it through the same channel.
                let (tx, rx) = bounded(1);
                let _ = tx.send(Err(format!("cannot start the image decoder: {e}")));
                rx
            }
        };
        Self { slot, rx }
    }

    /// The result once decoding has ended (an error if the thread died without one).
    pub fn poll(&self) -> Option<Result<InputImage, String>> {
        match self.rx.try_recv() {
            Ok(r) => Some(r),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Err("the image decoder stopped unexpectedly".into())),
        }
    }
}

fn decode(source: ImageSource) -> Result<InputImage, String> {
    let opts = LoadOptions::default();
    let (path, rgb, hash) = match source {
        ImageSource::File(path) => {
            let rgb = load_image(&path, &opts).map_err(|e| e.to_string())?;
            let hash = std::fs::read(&path).map(|b| digest(&b)).unwrap_or_default();
            (Some(path), rgb, hash)
        }
        ImageSource::Bytes { bytes, origin } => {
            (None, decode_image_bytes(&bytes, &origin, &opts).map_err(|e| e.to_string())?, digest(&bytes))
        }
        ImageSource::Rgb(rgb) => {
            check_dimensions("pasted image", rgb.width(), rgb.height(), &opts).map_err(|e| e.to_string())?;
            let hash = digest(rgb.as_raw());
            (None, Arc::unwrap_or_clone(rgb), hash)
        }
    };
    let (w, h) = rgb.dimensions();
    let preview = if w.max(h) > PREVIEW_SIDE {
        let s = f64::from(PREVIEW_SIDE) / f64::from(w.max(h));
        let (pw, ph) = (((f64::from(w) * s).round() as u32).max(1), ((f64::from(h) * s).round() as u32).max(1));
        Arc::new(image::imageops::resize(&rgb, pw, ph, image::imageops::FilterType::Triangle))
    } else {
        Arc::new(rgb.clone())
    };
    Ok(InputImage { path, rgb: Arc::new(rgb), preview, hash })
}
