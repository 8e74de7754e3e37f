//! Images as files and as tensors, below the model and the pipeline (both use them, and the
//! history reads its thumbnails with the same guards): safe loading with its size guards
//! ([`load`]), the channel-major float layout the encoders take ([`tensor`]), and PIL-exact
//! bilinear resizing ([`resize`]). Fitting an image to the model's size is the pipeline's
//! ([`crate::pipeline::preprocess`]).

pub mod clip_file;
pub mod load;
pub mod resize;
pub mod tensor;

use image::ImageError;

/// Errors from loading or preparing an input image. `origin` is the file path, or a
/// description such as "pasted image data".
#[derive(Debug, thiserror::Error)]
pub enum PreprocessError {
    /// The file could not be opened or read.
    #[error("cannot read image file {origin}: {error}")]
    Io {
        /// The file.
        origin: String,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },
    /// The file or buffer is empty.
    #[error("{origin} is empty (0 bytes); choose another image")]
    Empty {
        /// The file.
        origin: String,
    },
    /// The file is larger than [`LoadOptions::max_file_bytes`].
    #[error(
        "{origin} is {bytes} bytes, more than the {limit}-byte limit for input images; \
         use a smaller file"
    )]
    FileTooLarge {
        /// The file.
        origin: String,
        /// Its size.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The header announces more pixels than allowed (checked before decoding pixels).
    #[error(
        "{origin} is {width}x{height} pixels, larger than the limit ({max_side} px per side, \
         {max_pixels} pixels in total); downscale it first"
    )]
    TooLarge {
        /// The file.
        origin: String,
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
        /// Limit per side.
        max_side: u32,
        /// Limit on width × height.
        max_pixels: u64,
    },
    /// Too long and thin: fitting it to the model would first resize it to millions of
    /// pixels along the long side (16384×1 → 5 million × 320).
    #[error(
        "{origin} is {width}x{height} pixels, an aspect ratio beyond the {max_aspect}:1 this app accepts; \
         crop it closer to the output's shape first"
    )]
    AspectRatio {
        /// The file.
        origin: String,
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
        /// Limit on the long side over the short side.
        max_aspect: u32,
    },
    /// The header announces a zero width or height.
    #[error("{origin} has a zero-sized image ({width}x{height})")]
    ZeroSize {
        /// The file.
        origin: String,
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
    },
    /// Not one of the supported formats.
    #[error("{origin} is not in a supported image format (PNG, JPEG, WebP, GIF, BMP or TIFF): {detail}")]
    UnsupportedFormat {
        /// The file.
        origin: String,
        /// What the decoder said.
        detail: String,
    },
    /// The data ends before the image is complete.
    #[error("{origin} ends too early: the file is truncated (e.g. a partial download)")]
    Truncated {
        /// The file.
        origin: String,
    },
    /// The data is damaged or otherwise undecodable.
    #[error("cannot decode {origin}; the file may be truncated or corrupt: {error}")]
    Decode {
        /// The file.
        origin: String,
        /// The decoder error.
        #[source]
        error: ImageError,
    },
    /// A tensor argument has the wrong shape.
    #[error("invalid image tensor: {0}")]
    BadTensor(String),
}

/// A deterministic test image with detail in both directions.
#[cfg(test)]
pub(crate) fn gradient(w: u32, h: u32) -> image::RgbImage {
    image::ImageBuffer::from_fn(w, h, |x, y| {
        image::Rgb([(x * 7 % 256) as u8, (y * 5 % 256) as u8, ((x + y) % 256) as u8])
    })
}
