//! [`ExportOptions`]: one struct of settings for every format, with validation.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::export::error::ExportError;

/// Lowest accepted frame rate (one frame every 10 s).
pub const MIN_FPS: f32 = 0.1;
/// Highest accepted frame rate. GIF plays at most 50 fps (see [`crate::export::timing`]).
pub const MAX_FPS: f32 = 240.0;
/// Largest accepted upscaling factor.
pub const MAX_SCALE: u32 = 4;

/// Settings for one export. `Default` gives the reference's behaviour: 8 fps, no ping-pong,
/// no trimming, 1×, whole clip, never overwrite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExportOptions {
    /// Playback speed in frames per second, in [`MIN_FPS`]..=[`MAX_FPS`] (the reference writes 8).
    pub fps: f32,
    /// Replace an existing file (or a folder of frames) of the same name.
    pub overwrite: bool,
    /// Text stored in the file where the format allows it: the generation settings as JSON.
    /// GIF: a comment extension; PNG/APNG: an `iTXt` chunk with keyword `dynamicrafter`;
    /// MP4: a `©cmt` item in `moov/udta/meta/ilst`.
    pub metadata: Option<String>,
    /// Also write `<output>.json` (e.g. `clip.gif.json`) with the metadata and export settings.
    pub sidecar: bool,
    /// Play forward then backward without repeating the end frames: `0..n` then `n-2..=1`.
    pub ping_pong: bool,
    /// Drop the last frame, which a looping clip shares with the first (as the reference does).
    pub trim_loop: bool,
    /// Integer upscaling factor, 1..=[`MAX_SCALE`].
    pub scale: u32,
    /// Filter used when `scale > 1`.
    pub scale_filter: ScaleFilter,
    /// Frames `start..end` of the clip (before trimming and ping-pong); `None` for all.
    pub range: Option<Range<usize>>,
    /// GIF settings.
    pub gif: GifOptions,
    /// MP4 settings.
    pub mp4: Mp4Options,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            fps: 8.0,
            overwrite: false,
            metadata: None,
            sidecar: false,
            ping_pong: false,
            trim_loop: false,
            scale: 1,
            scale_filter: ScaleFilter::Lanczos3,
            range: None,
            gif: GifOptions::default(),
            mp4: Mp4Options::default(),
        }
    }
}

impl ExportOptions {
    /// Checks every option that does not depend on the clip.
    ///
    /// # Errors
    /// [`ExportError::InvalidOptions`] naming the option and its accepted range.
    pub fn validate(&self) -> Result<(), ExportError> {
        let bad = |m: String| Err(ExportError::InvalidOptions(m));
        if !(self.fps.is_finite() && (MIN_FPS..=MAX_FPS).contains(&self.fps)) {
            return bad(format!("fps is {}; choose a frame rate between {MIN_FPS} and {MAX_FPS}", self.fps));
        }
        if !(1..=MAX_SCALE).contains(&self.scale) {
            return bad(format!("scale is {}×; choose 1× to {MAX_SCALE}×", self.scale));
        }
        if !(1..=30).contains(&self.gif.sample_factor) {
            return bad(format!("GIF sample factor is {}; choose 1 (best) to 30 (fastest)", self.gif.sample_factor));
        }
        match self.mp4.quality {
            Mp4Quality::Quality(q) if q > 51 => {
                return bad(format!("MP4 quality is {q}; choose 0 (best) to 51 (smallest), 20 is a good default"));
            }
            Mp4Quality::Bitrate(b) if !(10_000..=100_000_000).contains(&b) => {
                return bad(format!("MP4 bitrate is {b} bit/s; choose 10 kbit/s to 100 Mbit/s"));
            }
            _ => {}
        }
        Ok(())
    }
}

/// Upscaling filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ScaleFilter {
    /// Pixel replication: crisp pixels.
    Nearest,
    /// Lanczos, 3 lobes: smooth.
    #[default]
    Lanczos3,
}

/// GIF settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GifOptions {
    /// One palette for the whole clip, or one per frame.
    pub palette: PaletteMode,
    /// How colours between palette entries are approximated.
    pub dither: Dither,
    /// NeuQuant's sampling factor: 1 (slowest, best) to 30 (fastest). 10 is its usual default.
    pub sample_factor: u8,
    /// With a global palette, a pixel whose colour moved by at most this much (per channel)
    /// since its palette index was last chosen keeps that index: stops dither noise from
    /// shimmering on still regions of a clip with slight frame-to-frame noise. 0 reuses only
    /// exactly unchanged pixels.
    pub stability_threshold: u8,
}

impl Default for GifOptions {
    fn default() -> Self {
        Self { palette: PaletteMode::Global, dither: Dither::FloydSteinberg, sample_factor: 10, stability_threshold: 2 }
    }
}

/// GIF palette strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PaletteMode {
    /// 256 colours for the whole clip (trained on all frames). Still regions stay still.
    #[default]
    Global,
    /// 256 colours per frame: more accurate colours, but still regions may flicker slightly
    /// because each frame's palette differs.
    PerFrame,
}

/// GIF dithering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Dither {
    /// Nearest palette colour: flat, may band on gradients.
    None,
    /// 8×8 Bayer matrix: regular pattern, stable over time by construction.
    Ordered,
    /// Floyd–Steinberg error diffusion (serpentine), made temporally stable: see
    /// [`GifOptions::stability_threshold`].
    #[default]
    FloydSteinberg,
}

/// MP4 (H.264) settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Mp4Options {
    /// Constant quality or a target bitrate.
    pub quality: Mp4Quality,
    /// What to do with odd widths or heights (4:2:0 needs even ones).
    pub odd_size: OddSize,
    /// RGB → YCbCr matrix, written into the stream (VUI) and the container (`colr`).
    pub matrix: ColorMatrix,
}

impl Default for Mp4Options {
    fn default() -> Self {
        Self { quality: Mp4Quality::Quality(DEFAULT_MP4_QUALITY), odd_size: OddSize::Pad, matrix: ColorMatrix::Bt601 }
    }
}

/// The default [`Mp4Quality::Quality`] level.
pub const DEFAULT_MP4_QUALITY: u8 = 20;

/// H.264 rate control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mp4Quality {
    /// Constant quality, 0 (best, largest) to 51 (worst, smallest), on x264's CRF scale:
    /// it is the H.264 quantiser (QP) every frame is coded with (openh264's quality rate
    /// control with its QP range pinned to this value). Lower is better: 14 is close to
    /// lossless, 20 the default, 28 small.
    Quality(u8),
    /// Target average bitrate in bits per second (openh264's bitrate rate control; frames
    /// are never skipped).
    Bitrate(u32),
}

impl Default for Mp4Quality {
    fn default() -> Self {
        Self::Quality(DEFAULT_MP4_QUALITY)
    }
}

/// Handling of odd frame sizes for H.264 4:2:0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum OddSize {
    /// Add one row/column repeating the edge pixels (the video is one pixel larger).
    #[default]
    Pad,
    /// Drop the last row/column (a 1-pixel dimension is padded instead).
    Crop,
}

/// RGB → YCbCr matrix, always limited ("TV") range. Both are signalled in the stream (VUI)
/// and the container (`colr`), with BT.709 primaries (those of sRGB) either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ColorMatrix {
    /// ITU-R BT.601 / SMPTE 170M (Kr 0.299, Kb 0.114). The default: players that ignore the
    /// tags assume it below HD sizes, and the reference's ffmpeg export uses it.
    #[default]
    Bt601,
    /// ITU-R BT.709 (Kr 0.2126, Kb 0.0722), the HD matrix.
    Bt709,
}
