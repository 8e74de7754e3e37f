//! Reading a clip to interpolate: an animated GIF (frames composited as a viewer shows
//! them, the frame rate from its delays) or a folder of numbered image frames (read in
//! name order through [`load_image`], so every guard of an input image applies).

use std::io::BufReader;
use std::path::Path;

use image::AnimationDecoder;
use image::codecs::gif::GifDecoder;

use crate::export::Clip;
use crate::imaging::PreprocessError;
use crate::imaging::load::{IMAGE_EXTENSIONS, LoadOptions, load_image};

/// Errors reading a clip.
#[derive(Debug, thiserror::Error)]
pub enum ClipReadError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path} is not a readable GIF: {msg}")]
    Gif { path: String, msg: String },
    #[error(transparent)]
    Image(#[from] PreprocessError),
    #[error("{path} has no image frames (png, jpg, webp, …)")]
    Empty { path: String },
    #[error("{path}: frame {name} is {found}, the first frame is {expected}; all frames must have one size")]
    Mixed { path: String, name: String, found: String, expected: String },
    #[error("{path} is too large to interpolate in memory ({frames} frames of {width}×{height})")]
    TooLarge { path: String, frames: usize, width: usize, height: usize },
}

/// At most this many bytes of decoded frames (the input is held on the host).
const MAX_CLIP_BYTES: usize = 4 << 30;

/// A clip and the frame rate its file states (a GIF's mean delay; `None` for a folder).
pub fn read_clip(path: &Path) -> Result<(Clip, Option<f32>), ClipReadError> {
    let p = path.display().to_string();
    if path.is_dir() { read_folder(path, &p).map(|c| (c, None)) } else { read_gif(path, &p) }
}

fn read_gif(path: &Path, p: &str) -> Result<(Clip, Option<f32>), ClipReadError> {
    let file = std::fs::File::open(path).map_err(|source| ClipReadError::Io { path: p.into(), source })?;
    let gif = |e: image::ImageError| ClipReadError::Gif { path: p.into(), msg: e.to_string() };
    let decoder = GifDecoder::new(BufReader::new(file)).map_err(gif)?;
    let (mut frames, mut width, mut height, mut millis) = (Vec::new(), 0, 0, 0.0f64);
    for frame in decoder.into_frames() {
        let frame = frame.map_err(gif)?;
        let (num, den) = frame.delay().numer_denom_ms();
        millis += f64::from(num) / f64::from(den.max(1));
        let rgba = frame.into_buffer();
        (width, height) = (rgba.width() as usize, rgba.height() as usize);
        if (frames.len() + 1) * width * height * 3 > MAX_CLIP_BYTES {
            return Err(ClipReadError::TooLarge { path: p.into(), frames: frames.len() + 1, width, height });
        }
        frames.push(rgba.pixels().flat_map(|px| [px[0], px[1], px[2]]).collect::<Vec<u8>>());
    }
    if frames.is_empty() {
        return Err(ClipReadError::Empty { path: p.into() });
    }
    let fps = (millis > 0.0).then(|| (frames.len() as f64 * 1000.0 / millis) as f32);
    Ok((Clip { width, height, frames }, fps))
}

/// Sorts `frame_2.png` before `frame_10.png`: digit runs compare as numbers.
fn natural_key(path: &Path) -> Vec<(String, u64)> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut out = Vec::new();
    let (mut text, mut num, mut in_num) = (String::new(), String::new(), false);
    for c in name.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            in_num = true;
        } else {
            if in_num {
                out.push((std::mem::take(&mut text), num.parse().unwrap_or(u64::MAX)));
                num.clear();
                in_num = false;
            }
            text.push(c);
        }
    }
    out.push((text, if num.is_empty() { 0 } else { num.parse().unwrap_or(u64::MAX) }));
    out
}

fn read_folder(dir: &Path, p: &str) -> Result<Clip, ClipReadError> {
    let io = |source| ClipReadError::Io { path: p.into(), source };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|f| {
            f.extension().is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_string_lossy().to_ascii_lowercase().as_str()))
        })
        .collect();
    files.sort_by_key(|f| natural_key(f));
    let mut clip = Clip { width: 0, height: 0, frames: Vec::new() };
    for f in &files {
        let img = load_image(f, &LoadOptions::default())?;
        let (w, h) = (img.width() as usize, img.height() as usize);
        if clip.frames.is_empty() {
            (clip.width, clip.height) = (w, h);
        } else if (w, h) != (clip.width, clip.height) {
            return Err(ClipReadError::Mixed {
                path: p.into(),
                name: f.file_name().unwrap_or_default().to_string_lossy().into_owned(),
                found: format!("{w}×{h}"),
                expected: format!("{}×{}", clip.width, clip.height),
            });
        }
        if (clip.frames.len() + 1) * w * h * 3 > MAX_CLIP_BYTES {
            return Err(ClipReadError::TooLarge { path: p.into(), frames: clip.frames.len() + 1, width: w, height: h });
        }
        clip.frames.push(img.into_raw());
    }
    if clip.frames.is_empty() {
        return Err(ClipReadError::Empty { path: p.into() });
    }
    Ok(clip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_folders_sort_by_number() {
        let mut v: Vec<std::path::PathBuf> =
            ["f_10.png", "f_2.png", "f_1.png", "g.png"].iter().map(std::path::PathBuf::from).collect();
        v.sort_by_key(|f| natural_key(f));
        let names: Vec<_> = v.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(names, ["f_1.png", "f_2.png", "f_10.png", "g.png"]);
    }
}
