//! The worker's frame interpolation: RIFE loaded once from the model folder (on the model's
//! backend and precision), clips interpolated one frame pair at a time with progress, and
//! RIFE files installed into the model folder.

use std::path::Path;
use std::sync::atomic::Ordering;

use image::RgbImage;

use super::Runner;
use crate::export::Clip;
use crate::rife::{IFNet, InterpolateError, Options, interpolate_clip, output_frames};
use crate::worker::protocol::{ClipFrames, Event, InterpolateRequest};

/// The RIFE network the worker holds (loaded on first use, kept for the next clip).
#[derive(Default)]
pub struct Smoother {
    net: Option<(std::path::PathBuf, IFNet)>,
}

impl Smoother {
    /// Drops the network (a new device or precision).
    pub fn reset(&mut self) {
        self.net = None;
    }
}

impl Runner {
    /// Installs a RIFE file into the model folder.
    pub(super) fn install_rife(&mut self, path: &Path) {
        let Some(dir) = self.models.clone() else {
            self.send(Event::RifeFailed { message: "this platform has no data directory for models".into() });
            return;
        };
        match crate::rife::weights::install(path, &dir) {
            Ok((dest, version)) => {
                self.smoother.reset();
                self.send(Event::RifeInstalled { path: dest, version: version.to_string() });
            }
            Err(e) => {
                self.send(Event::RifeFailed { message: e.to_string() });
            }
        }
    }

    fn rife(&mut self) -> Result<&IFNet, (String, String)> {
        let dir = self
            .models
            .clone()
            .ok_or_else(|| ("this platform has no data directory for models".to_owned(), String::new()))?;
        let path = crate::rife::weights::find_installed(&dir).ok_or_else(|| {
            (
                "no frame interpolation model is installed".to_owned(),
                format!(
                    "Open rife49.pth or rife47.pth (ComfyUI-Frame-Interpolation's files) with the studio, or put one in {}",
                    dir.display()
                ),
            )
        })?;
        if self.smoother.net.as_ref().is_none_or(|(p, _)| *p != path) {
            let dtype = self.run.dtype().map_err(|e| (e.to_string(), String::new()))?;
            let (net, _) = crate::rife::load_rife(&path, &self.run.backend.device(), dtype)
                .map_err(|e| (e.to_string(), "Open a rife47.pth or rife49.pth file again to replace it.".to_owned()))?;
            self.smoother.net = Some((path, net));
        }
        Ok(&self.smoother.net.as_ref().expect("just loaded").1)
    }

    /// Interpolates the request's clip; the frames come back in [`Event::Interpolated`].
    pub(super) fn interpolate(&mut self, req: InterpolateRequest) {
        let id = req.id;
        let fail = |r: &Self, message: String, advice: String| {
            r.send(Event::InterpolateFailed { id, message, advice });
        };
        let frames = match &req.clip {
            ClipFrames::Frames(f) => Ok(f.to_vec()),
            ClipFrames::Entry(e) => self.history.load_frames(e).map_err(|e| e.to_string()),
        };
        let frames = match frames {
            Ok(f) => f,
            Err(m) => return fail(self, format!("cannot read the clip: {m}"), String::new()),
        };
        let Some(first) = frames.first() else {
            return fail(self, "the clip has no frames".into(), String::new());
        };
        let (w, h) = (first.width() as usize, first.height() as usize);
        let clip = Clip { width: w, height: h, frames: frames.into_iter().map(RgbImage::into_raw).collect() };
        let events = self.events.clone();
        let wake = self.wake.clone();
        let net = match self.rife() {
            Ok(n) => n,
            Err((m, a)) => return fail(self, m, a),
        };
        let total = output_frames(clip.frames.len(), req.factor);
        let mut out: Vec<RgbImage> = Vec::with_capacity(total);
        let opts = Options { timestep: 0.5, scale: req.scale, ensemble: req.ensemble };
        let result = interpolate_clip(net, &clip, req.factor, opts, |k, frame| {
            out.extend(RgbImage::from_raw(w as u32, h as u32, frame));
            let _ = events.try_send(Event::Interpolating { id, done: k + 1, total });
            wake();
            !req.cancel.load(Ordering::Relaxed)
        });
        match result {
            Ok(()) => {
                self.send(Event::Interpolated { id, factor: req.factor, frames: out });
            }
            Err(InterpolateError::Cancelled) => fail(self, "interpolation cancelled".into(), String::new()),
            Err(e) => {
                let message = e.to_string();
                let advice = super::advice_for(&message);
                fail(self, message, advice);
            }
        }
    }
}
