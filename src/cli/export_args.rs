//! The export flags of `animate`: every option of [`ExportOptions`], parsed into the same
//! struct the app's export dialog fills (one code path for both).

use std::path::Path;

use anyhow::{Context, bail};
use clap::Args;

use crate::export::{Dither, ExportOptions, Mp4Quality, PaletteMode, ScaleFilter};

/// How the clip is written. The format follows `--out`: `.gif`, `.mp4`, `.png` / `.apng`
/// (animated PNG), or a folder (numbered PNG frames).
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// Playback speed of the written file (frames per second).
    #[arg(long, default_value_t = 8.0)]
    pub fps: f32,
    /// Replace an existing file or frame folder.
    #[arg(long)]
    pub overwrite: bool,
    /// Integer upscaling, 1 to 4.
    #[arg(long, default_value_t = 1)]
    pub scale: u32,
    /// Upscaling filter: `nearest` (crisp pixels) or `lanczos` (smooth).
    #[arg(long, default_value = "lanczos")]
    pub filter: String,
    /// Only frames A..B of the clip (0-based, B excluded), e.g. `2..14`.
    #[arg(long)]
    pub range: Option<String>,
    /// Play forward then backward.
    #[arg(long)]
    pub ping_pong: bool,
    /// Drop the last frame, which a looping clip shares with the first.
    #[arg(long)]
    pub loop_trim: bool,
    /// MP4 constant quality, 0 (best) to 51 (smallest); 20 by default.
    #[arg(long, conflicts_with = "bitrate")]
    pub quality: Option<u8>,
    /// MP4 target bitrate in kbit/s.
    #[arg(long)]
    pub bitrate: Option<u32>,
    /// GIF palette: `global` (still regions stay still) or `per-frame`.
    #[arg(long, default_value = "global")]
    pub palette: String,
    /// GIF dithering: `none`, `ordered` or `floyd-steinberg`.
    #[arg(long, default_value = "floyd-steinberg")]
    pub dither: String,
    /// Also write `<out>.json` with the generation and export settings.
    #[arg(long)]
    pub sidecar: bool,
}

impl Default for ExportArgs {
    fn default() -> Self {
        Self {
            fps: 8.0,
            overwrite: false,
            scale: 1,
            filter: "lanczos".into(),
            range: None,
            ping_pong: false,
            loop_trim: false,
            quality: None,
            bitrate: None,
            palette: "global".into(),
            dither: "floyd-steinberg".into(),
            sidecar: false,
        }
    }
}

impl ExportArgs {
    /// The export options, with `metadata` (the generation settings) embedded; validated.
    pub fn options(&self, metadata: Option<String>, out: &Path) -> anyhow::Result<ExportOptions> {
        let mut o = ExportOptions {
            fps: self.fps,
            overwrite: self.overwrite,
            metadata,
            sidecar: self.sidecar,
            ping_pong: self.ping_pong,
            trim_loop: self.loop_trim,
            scale: self.scale,
            ..Default::default()
        };
        o.scale_filter = match self.filter.as_str() {
            "nearest" => ScaleFilter::Nearest,
            "lanczos" | "lanczos3" => ScaleFilter::Lanczos3,
            other => bail!("unknown --filter `{other}` (use nearest or lanczos)"),
        };
        if let Some(r) = &self.range {
            let (a, b) = r.split_once("..").with_context(|| format!("--range `{r}` is not A..B (e.g. 2..14)"))?;
            let a: usize = a.trim().parse().with_context(|| format!("--range `{r}`: `{a}` is not a frame number"))?;
            let b: usize = b.trim().parse().with_context(|| format!("--range `{r}`: `{b}` is not a frame number"))?;
            if a >= b {
                bail!("--range `{r}` is empty: the end must be after the start");
            }
            o.range = Some(a..b);
        }
        o.gif.palette = match self.palette.as_str() {
            "global" => PaletteMode::Global,
            "per-frame" | "per_frame" => PaletteMode::PerFrame,
            other => bail!("unknown --palette `{other}` (use global or per-frame)"),
        };
        o.gif.dither = match self.dither.as_str() {
            "none" => Dither::None,
            "ordered" => Dither::Ordered,
            "floyd-steinberg" | "fs" => Dither::FloydSteinberg,
            other => bail!("unknown --dither `{other}` (use none, ordered or floyd-steinberg)"),
        };
        let ext = out.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
        if (self.quality.is_some() || self.bitrate.is_some()) && ext != "mp4" {
            bail!("--quality and --bitrate apply to MP4 output only (--out {})", out.display());
        }
        if let Some(q) = self.quality {
            o.mp4.quality = Mp4Quality::Quality(q);
        }
        if let Some(kbps) = self.bitrate {
            o.mp4.quality = Mp4Quality::Bitrate(kbps.saturating_mul(1000));
        }
        o.validate()?;
        Ok(o)
    }
}
