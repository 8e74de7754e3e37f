//! A folder of numbered PNG frames (`frame_0001.png`, …).

use std::path::Path;

use super::atomic::write_atomically;
use super::{Clip, ExportError, ExportOptions};

/// Zero-padded file name of frame `k` (1-based in the name) among `n`.
pub fn frame_name(k: usize, n: usize) -> String {
    let digits = n.to_string().len().max(4);
    format!("frame_{:0digits$}.png", k + 1)
}

/// Writes every frame into the folder `dir`.
pub fn write(clip: &Clip, dir: &Path, opts: &ExportOptions) -> Result<(), ExportError> {
    write_atomically(dir, opts.overwrite, |tmp| {
        std::fs::create_dir_all(tmp).map_err(|source| ExportError::Io { path: tmp.to_path_buf(), source })?;
        for (k, rgb) in clip.frames.iter().enumerate() {
            let p = tmp.join(frame_name(k, clip.frames.len()));
            image::save_buffer(&p, rgb, clip.width as u32, clip.height as u32, image::ExtendedColorType::Rgb8)
                .map_err(|e| ExportError::Encode(format!("{}: {e}", p.display())))?;
        }
        Ok(())
    })
}
