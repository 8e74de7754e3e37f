//! Animated GIF: a NeuQuant palette per frame, infinite loop, delay from the FPS.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use super::atomic::write_atomically;
use super::{Clip, ExportError, ExportOptions};

/// GIF delays are in hundredths of a second.
pub fn delay_centis(fps: f32) -> u16 {
    if !(fps.is_finite() && fps > 0.0) {
        return 12;
    }
    (100.0 / fps).round().clamp(2.0, 65535.0) as u16
}

/// Writes `clip` as an animated GIF at `path`.
pub fn write(clip: &Clip, path: &Path, opts: &ExportOptions) -> Result<(), ExportError> {
    let (w, h) = (u16::try_from(clip.width), u16::try_from(clip.height));
    let (Ok(w), Ok(h)) = (w, h) else {
        return Err(ExportError::Encode(format!("{}x{} is too large for GIF", clip.width, clip.height)));
    };
    write_atomically(path, opts.overwrite, |tmp| {
        let io = |source| ExportError::Io { path: tmp.to_path_buf(), source };
        let file = BufWriter::new(File::create(tmp).map_err(io)?);
        let mut enc = ::gif::Encoder::new(file, w, h, &[]).map_err(|e| ExportError::Encode(e.to_string()))?;
        enc.set_repeat(::gif::Repeat::Infinite).map_err(|e| ExportError::Encode(e.to_string()))?;
        if let Some(c) = &opts.comment {
            // A comment extension: sub-blocks of at most 255 bytes.
            let blocks: Vec<&[u8]> = c.as_bytes().chunks(255).collect();
            enc.write_raw_extension(::gif::Extension::Comment.into(), &blocks)
                .map_err(|e| ExportError::Encode(e.to_string()))?;
        }
        let delay = delay_centis(opts.fps);
        for rgb in &clip.frames {
            let mut frame = ::gif::Frame::from_rgb_speed(w, h, rgb, 10);
            frame.delay = delay;
            enc.write_frame(&frame).map_err(|e| ExportError::Encode(e.to_string()))?;
        }
        drop(enc);
        Ok(())
    })
}
