//! Shared PNG settings for still frames and APNG: RGB8, adaptive filtering, balanced
//! compression, and the metadata as an `iTXt` chunk with keyword [`METADATA_KEYWORD`].

use std::io::Write;
use std::path::Path;

use crate::export::error::ExportError;

/// `iTXt` keyword of the generation settings (UTF-8 JSON, uncompressed).
pub const METADATA_KEYWORD: &str = "dynamicrafter";

/// A PNG encoder for an RGB8 `width × height` image writing to `w`.
///
/// # Errors
/// [`ExportError::Unsupported`] for sizes PNG cannot hold, [`ExportError::Encode`] if the
/// metadata cannot be stored.
pub fn encoder<W: Write>(
    w: W,
    width: usize,
    height: usize,
    metadata: Option<&str>,
    path: &Path,
) -> Result<png::Encoder<'static, W>, ExportError> {
    let (Ok(pw), Ok(ph)) = (u32::try_from(width), u32::try_from(height)) else {
        return Err(ExportError::Unsupported(format!("{width}×{height} is too large for PNG")));
    };
    let mut enc = png::Encoder::new(w, pw, ph);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Balanced);
    enc.set_filter(png::Filter::Adaptive);
    if let Some(text) = metadata {
        enc.add_itxt_chunk(METADATA_KEYWORD.to_owned(), text.to_owned()).map_err(|e| png_err(e, path))?;
    }
    Ok(enc)
}

/// Maps the `png` crate's errors: I/O errors keep their kind (disk full, …).
pub fn png_err(e: png::EncodingError, path: &Path) -> ExportError {
    match e {
        png::EncodingError::IoError(source) => ExportError::io(path, source),
        other => ExportError::Encode(format!("PNG {}: {other}", path.display())),
    }
}
