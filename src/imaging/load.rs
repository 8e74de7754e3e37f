//! Loading an input image safely: the format sniffed from its first bytes, its byte length
//! and pixel size checked from the header before any pixel is decoded, decoders bounded by
//! [`image::Limits`], EXIF orientation applied, and alpha dropped or flattened. Any file the
//! app reads as an image (inputs, thumbnails, history frames) goes through here.

use std::io::{BufRead, Cursor, Read, Seek};
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageError, ImageReader, Limits, RgbImage};

use super::PreprocessError;

/// The image types the app reads (the `.desktop` file declares their MIME types).
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff", "gif"];

/// What to do with an alpha channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlphaMode {
    /// Keep the colour values and drop alpha, as PIL `convert("RGB")` in the reference
    /// does (fully transparent pixels show whatever colour they store, often black).
    #[default]
    Discard,
    /// Composite onto this background colour: `c·a + bg·(1 − a)`, rounded.
    Flatten([u8; 3]),
}

/// Options for [`load_image`] / [`decode_image_bytes`].
#[derive(Debug, Clone, PartialEq)]
pub struct LoadOptions {
    /// Apply the EXIF/TIFF orientation tag (camera photos). The reference (PIL
    /// `Image.open`) ignores it, so `false` reproduces the reference exactly.
    pub apply_exif_orientation: bool,
    /// Alpha handling.
    pub alpha: AlphaMode,
    /// Largest accepted width or height, in pixels (checked from the header).
    pub max_side: u32,
    /// Largest accepted width × height (checked from the header).
    pub max_pixels: u64,
    /// Largest accepted file size in bytes.
    pub max_file_bytes: u64,
    /// Largest accepted long side / short side (the resize to the model's size is then at
    /// most `max_aspect` × 1024 pixels long).
    pub max_aspect: u32,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            apply_exif_orientation: true,
            alpha: AlphaMode::Discard,
            max_side: 16_384,
            max_pixels: 100_000_000,
            max_file_bytes: 512 * 1024 * 1024,
            max_aspect: 8,
        }
    }
}

/// Load an image file as 8-bit RGB.
///
/// The format is detected from the content (falling back to the extension): PNG, JPEG,
/// WebP, GIF (first frame), BMP, TIFF. Grayscale is replicated to RGB; 16-bit and float
/// samples are converted to 8 bits with rounding (`round(v·255/65535)`; note that PIL
/// would keep the high byte of 16-bit RGB and clip 16-bit grayscale); alpha follows
/// `opts.alpha`; the EXIF orientation is applied when `opts.apply_exif_orientation`.
///
/// # Errors
/// A [`PreprocessError`] naming the file: unreadable, empty, too large (file size or header
/// dimensions, checked before any pixel is decoded), unsupported format, corrupt data.
pub fn load_image(path: &Path, opts: &LoadOptions) -> Result<RgbImage, PreprocessError> {
    let origin = path.display().to_string();
    let io_err = |error| PreprocessError::Io { origin: origin.clone(), error };
    let meta = std::fs::metadata(path).map_err(io_err)?;
    if meta.is_dir() {
        return Err(PreprocessError::Io {
            origin,
            error: std::io::Error::new(std::io::ErrorKind::InvalidInput, "this is a folder"),
        });
    }
    check_byte_len(&origin, meta.len(), opts)?;
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    std::fs::File::open(path).and_then(|f| f.take(SNIFF_BYTES as u64).read_to_end(&mut head)).map_err(io_err)?;
    check_magic(&origin, &head)?;
    let reader = ImageReader::open(path).map_err(io_err)?.with_guessed_format().map_err(io_err)?;
    decode_reader(reader, &origin, opts)
}

/// Decode an in-memory encoded image (clipboard, drag-and-drop), like [`load_image`].
///
/// # Errors
/// As [`load_image`]; messages name `origin` (e.g. "pasted image").
pub fn decode_image_bytes(bytes: &[u8], origin: &str, opts: &LoadOptions) -> Result<RgbImage, PreprocessError> {
    check_byte_len(origin, bytes.len() as u64, opts)?;
    check_magic(origin, &bytes[..bytes.len().min(SNIFF_BYTES)])?;
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|error| PreprocessError::Io { origin: origin.to_owned(), error })?;
    decode_reader(reader, origin, opts)
}

/// How many leading bytes are enough to recognise every supported format.
const SNIFF_BYTES: usize = 64;

/// Every supported format has a signature, so content that matches none is rejected with
/// a clear message whatever the file name says (e.g. a text file renamed `.png`).
fn check_magic(origin: &str, head: &[u8]) -> Result<(), PreprocessError> {
    use image::ImageFormat as F;
    match image::guess_format(head) {
        Ok(F::Png | F::Jpeg | F::WebP | F::Gif | F::Bmp | F::Tiff) => Ok(()),
        Ok(other) => Err(PreprocessError::UnsupportedFormat {
            origin: origin.to_owned(),
            detail: format!("{other:?} images are not supported"),
        }),
        Err(_) => Err(PreprocessError::UnsupportedFormat {
            origin: origin.to_owned(),
            detail: "the content is not an image in any of these formats, whatever the file \
                     name says"
                .to_owned(),
        }),
    }
}

fn check_byte_len(origin: &str, len: u64, opts: &LoadOptions) -> Result<(), PreprocessError> {
    if len == 0 {
        return Err(PreprocessError::Empty { origin: origin.to_owned() });
    }
    if len > opts.max_file_bytes {
        return Err(PreprocessError::FileTooLarge {
            origin: origin.to_owned(),
            bytes: len,
            limit: opts.max_file_bytes,
        });
    }
    Ok(())
}

fn map_image_error(origin: &str, error: ImageError) -> PreprocessError {
    match error {
        ImageError::Unsupported(u) => {
            PreprocessError::UnsupportedFormat { origin: origin.to_owned(), detail: u.to_string() }
        }
        ImageError::IoError(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
            PreprocessError::Truncated { origin: origin.to_owned() }
        }
        ImageError::IoError(error) => PreprocessError::Io { origin: origin.to_owned(), error },
        error => PreprocessError::Decode { origin: origin.to_owned(), error },
    }
}

/// Refuses sizes the app will not process: zero, over the side or pixel limits, or an
/// extreme aspect ratio. Called from the header before any pixel is decoded, and on images
/// that arrive already decoded (clipboard).
pub fn check_dimensions(origin: &str, width: u32, height: u32, opts: &LoadOptions) -> Result<(), PreprocessError> {
    if width == 0 || height == 0 {
        return Err(PreprocessError::ZeroSize { origin: origin.to_owned(), width, height });
    }
    if width > opts.max_side || height > opts.max_side || u64::from(width) * u64::from(height) > opts.max_pixels {
        return Err(PreprocessError::TooLarge {
            origin: origin.to_owned(),
            width,
            height,
            max_side: opts.max_side,
            max_pixels: opts.max_pixels,
        });
    }
    let (long, short) = (u64::from(width.max(height)), u64::from(width.min(height)));
    if long > short * u64::from(opts.max_aspect.max(1)) {
        return Err(PreprocessError::AspectRatio {
            origin: origin.to_owned(),
            width,
            height,
            max_aspect: opts.max_aspect,
        });
    }
    Ok(())
}

fn decode_reader<R: BufRead + Seek>(
    mut reader: ImageReader<R>,
    origin: &str,
    opts: &LoadOptions,
) -> Result<RgbImage, PreprocessError> {
    if reader.format().is_none() {
        return Err(PreprocessError::UnsupportedFormat {
            origin: origin.to_owned(),
            detail: "the content is not a recognised image format".to_owned(),
        });
    }
    // Header only; our own checks come before any pixel allocation.
    reader.no_limits();
    let mut decoder = reader.into_decoder().map_err(|e| map_image_error(origin, e))?;
    let (width, height) = decoder.dimensions();
    check_dimensions(origin, width, height, opts)?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(opts.max_side);
    limits.max_image_height = Some(opts.max_side);
    // Enough for the largest accepted image at 16 bytes per pixel (RGBA f32), plus slack.
    limits.max_alloc = Some(opts.max_pixels.saturating_mul(16).saturating_add(64 * 1024 * 1024));
    decoder.set_limits(limits).map_err(|e| map_image_error(origin, e))?;
    let orientation = if opts.apply_exif_orientation {
        // A broken EXIF block should not make a decodable picture unusable.
        decoder.orientation().ok()
    } else {
        None
    };
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| map_image_error(origin, e))?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    Ok(to_rgb8(&img, opts.alpha))
}

/// Convert any decoded image to 8-bit RGB with the given alpha handling.
pub fn to_rgb8(img: &DynamicImage, alpha: AlphaMode) -> RgbImage {
    let AlphaMode::Flatten(bg) = alpha else {
        return img.to_rgb8();
    };
    if !img.color().has_alpha() {
        return img.to_rgb8();
    }
    let (w, h) = (img.width(), img.height());
    let mut out = RgbImage::new(w, h);
    match img {
        DynamicImage::ImageLumaA8(_) | DynamicImage::ImageRgba8(_) => {
            let rgba = img.to_rgba8();
            for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
                let a = u32::from(p[3]);
                for c in 0..3 {
                    let v = u32::from(p[c]) * a + u32::from(bg[c]) * (255 - a);
                    o[c] = u8::try_from((v + 127) / 255).unwrap_or(255);
                }
            }
        }
        _ => {
            let rgba = img.to_rgba32f();
            for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
                let a = p[3].clamp(0.0, 1.0);
                for c in 0..3 {
                    let v = p[c].clamp(0.0, 1.0) * a + f32::from(bg[c]) / 255.0 * (1.0 - a);
                    o[c] = (v * 255.0).round().clamp(0.0, 255.0) as u8;
                }
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::imaging::gradient;
    use image::{ImageBuffer, ImageEncoder, Luma, Rgb, Rgba};

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    fn opts() -> LoadOptions {
        LoadOptions::default()
    }

    #[test]
    fn sixteen_bit_png_rounds() {
        let d = tmp();
        let p = d.path().join("deep.png");
        let img: ImageBuffer<Rgb<u16>, Vec<u16>> =
            ImageBuffer::from_fn(3, 2, |x, _| Rgb([1000, 0x8080, 65535 - x as u16 * 200]));
        img.save(&p).unwrap();
        let rgb = load_image(&p, &opts()).unwrap();
        assert_eq!(rgb.dimensions(), (3, 2));
        // round(1000·255/65535) = 4, 0x8080 -> 128, 65535 -> 255, 65335 -> 254
        assert_eq!(rgb.get_pixel(0, 0), &Rgb([4, 128, 255]));
        assert_eq!(rgb.get_pixel(1, 1), &Rgb([4, 128, 254]));
    }

    #[test]
    fn grayscale_png_replicates() {
        let d = tmp();
        let p = d.path().join("gray.png");
        let img: ImageBuffer<Luma<u8>, Vec<u8>> = ImageBuffer::from_pixel(4, 4, Luma([77]));
        img.save(&p).unwrap();
        let rgb = load_image(&p, &opts()).unwrap();
        assert!(rgb.pixels().all(|px| *px == Rgb([77, 77, 77])));
    }

    #[test]
    fn rgba_png_discard_and_flatten() {
        let d = tmp();
        let p = d.path().join("alpha.png");
        let img: ImageBuffer<Rgba<u8>, Vec<u8>> =
            ImageBuffer::from_fn(2, 1, |x, _| if x == 0 { Rgba([200, 100, 50, 128]) } else { Rgba([10, 20, 30, 0]) });
        img.save(&p).unwrap();
        let discard = load_image(&p, &opts()).unwrap();
        assert_eq!(discard.get_pixel(0, 0), &Rgb([200, 100, 50]));
        assert_eq!(discard.get_pixel(1, 0), &Rgb([10, 20, 30]));
        let o = LoadOptions { alpha: AlphaMode::Flatten([255, 255, 255]), ..opts() };
        let flat = load_image(&p, &o).unwrap();
        // 200·128/255 + 255·127/255 = 227.4 -> 227 ; 100 -> 177 ; 50 -> 152
        assert_eq!(flat.get_pixel(0, 0), &Rgb([227, 177, 152]));
        assert_eq!(flat.get_pixel(1, 0), &Rgb([255, 255, 255]));
        // 16-bit RGBA goes through the float path
        let p16 = d.path().join("alpha16.png");
        let img16: ImageBuffer<Rgba<u16>, Vec<u16>> = ImageBuffer::from_pixel(1, 1, Rgba([65535, 0, 0, 32768]));
        img16.save(&p16).unwrap();
        let flat = load_image(&p16, &LoadOptions { alpha: AlphaMode::Flatten([0, 0, 255]), ..opts() }).unwrap();
        assert_eq!(flat.get_pixel(0, 0), &Rgb([128, 0, 127]));
    }

    /// A JPEG with an APP1/Exif segment carrying the given orientation.
    fn jpeg_with_orientation(img: &RgbImage, orientation: u16) -> Vec<u8> {
        let mut jpg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpg, 95)
            .write_image(img.as_raw(), img.width(), img.height(), image::ExtendedColorType::Rgb8)
            .unwrap();
        let mut tiff = Vec::new();
        tiff.extend_from_slice(b"II*\0");
        tiff.extend_from_slice(&8u32.to_le_bytes()); // IFD0 offset
        tiff.extend_from_slice(&1u16.to_le_bytes()); // one entry
        tiff.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
        tiff.extend_from_slice(&3u16.to_le_bytes()); // SHORT
        tiff.extend_from_slice(&1u32.to_le_bytes()); // count
        tiff.extend_from_slice(&orientation.to_le_bytes());
        tiff.extend_from_slice(&[0, 0]); // value padding
        tiff.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff);
        let len = u16::try_from(app1.len() + 2).unwrap();
        let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&app1);
        out.extend_from_slice(&jpg[2..]); // rest after SOI
        out
    }

    #[test]
    fn exif_orientation_is_applied() {
        // 16x8: left half red, right half blue
        let img = ImageBuffer::from_fn(16, 8, |x, _| if x < 8 { Rgb([255, 0, 0]) } else { Rgb([0, 0, 255]) });
        let bytes = jpeg_with_orientation(&img, 6);
        let d = tmp();
        let p = d.path().join("rotated.jpg");
        std::fs::write(&p, &bytes).unwrap();
        let rot = load_image(&p, &opts()).unwrap();
        // orientation 6 = rotate 90° clockwise: 8 wide, 16 high, the left (red) half on top
        assert_eq!(rot.dimensions(), (8, 16));
        let top = rot.get_pixel(4, 3);
        let bottom = rot.get_pixel(4, 12);
        assert!(top[0] > 200 && top[2] < 60, "{top:?}");
        assert!(bottom[2] > 200 && bottom[0] < 60, "{bottom:?}");
        // the reference (PIL) ignores EXIF
        let raw = load_image(&p, &LoadOptions { apply_exif_orientation: false, ..opts() }).unwrap();
        assert_eq!(raw.dimensions(), (16, 8));
        // same through the in-memory path
        let mem = decode_image_bytes(&bytes, "pasted image", &opts()).unwrap();
        assert_eq!(mem.dimensions(), (8, 16));
    }

    fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    }

    #[test]
    fn absurd_header_is_rejected_before_decoding() {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        png_chunk(&mut png, b"IHDR", &ihdr);
        png_chunk(&mut png, b"IDAT", &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
        png_chunk(&mut png, b"IEND", &[]);
        let d = tmp();
        let p = d.path().join("bomb.png");
        std::fs::write(&p, &png).unwrap();
        match load_image(&p, &opts()) {
            Err(PreprocessError::TooLarge { width: 100_000, height: 100_000, origin, .. }) => {
                assert!(origin.contains("bomb.png"));
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        // a per-side limit alone also triggers
        let o = LoadOptions { max_side: 64, ..opts() };
        let big = gradient(65, 10);
        let p2 = d.path().join("wide.png");
        big.save(&p2).unwrap();
        assert!(matches!(load_image(&p2, &o), Err(PreprocessError::TooLarge { .. })));
    }

    /// The two shapes that once took gigabytes: a 16384×1 strip (refused for its aspect
    /// ratio, a real file) and a 20000×20000 header (refused before any pixel is decoded).
    #[test]
    fn extreme_shapes_are_refused_before_any_resize() {
        let d = tmp();
        let strip = d.path().join("strip.png");
        gradient(16_384, 1).save(&strip).unwrap();
        match load_image(&strip, &opts()) {
            Err(e @ PreprocessError::AspectRatio { width: 16_384, height: 1, .. }) => {
                assert!(e.to_string().contains("strip.png") && e.to_string().contains("crop"), "{e}");
            }
            other => panic!("expected AspectRatio, got {other:?}"),
        }
        // 8:1 is still accepted.
        let wide = d.path().join("wide.png");
        gradient(64, 8).save(&wide).unwrap();
        assert!(load_image(&wide, &opts()).is_ok());
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&20_000u32.to_be_bytes());
        ihdr.extend_from_slice(&20_000u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        png_chunk(&mut png, b"IHDR", &ihdr);
        png_chunk(&mut png, b"IDAT", &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
        png_chunk(&mut png, b"IEND", &[]);
        assert!(matches!(
            decode_image_bytes(&png, "big", &opts()),
            Err(PreprocessError::TooLarge { width: 20_000, height: 20_000, .. })
        ));
        assert!(matches!(check_dimensions("pasted", 16_384, 1, &opts()), Err(PreprocessError::AspectRatio { .. })));
    }

    #[test]
    fn truncated_png_is_an_error() {
        let d = tmp();
        let p = d.path().join("whole.png");
        gradient(64, 64).save(&p).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        let cut = d.path().join("cut.png");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let err = load_image(&cut, &opts()).unwrap_err();
        assert!(matches!(err, PreprocessError::Truncated { .. }), "{err:?}");
        assert!(err.to_string().contains("cut.png"), "{err}");
    }

    #[test]
    fn not_an_image() {
        let d = tmp();
        let p = d.path().join("notes.png");
        std::fs::write(&p, "this is just text, not a picture\n").unwrap();
        let err = load_image(&p, &opts()).unwrap_err();
        assert!(matches!(err, PreprocessError::UnsupportedFormat { .. }), "{err:?}");
        assert!(err.to_string().contains("notes.png"), "{err}");
        let q = d.path().join("notes.xyz");
        std::fs::write(&q, "plain text").unwrap();
        let err = load_image(&q, &opts()).unwrap_err();
        assert!(matches!(err, PreprocessError::UnsupportedFormat { .. }), "{err:?}");
        let e = d.path().join("empty.png");
        std::fs::write(&e, b"").unwrap();
        assert!(matches!(load_image(&e, &opts()), Err(PreprocessError::Empty { .. })));
        let missing = load_image(&d.path().join("missing.png"), &opts()).unwrap_err();
        assert!(matches!(missing, PreprocessError::Io { .. }));
        assert!(matches!(load_image(d.path(), &opts()), Err(PreprocessError::Io { .. })));
        let small = LoadOptions { max_file_bytes: 4, ..opts() };
        assert!(matches!(load_image(&p, &small), Err(PreprocessError::FileTooLarge { .. })));
        assert!(matches!(decode_image_bytes(b"", "pasted image", &opts()), Err(PreprocessError::Empty { .. })));
        assert!(matches!(
            decode_image_bytes(b"garbage bytes", "pasted image", &opts()),
            Err(PreprocessError::UnsupportedFormat { .. })
        ));
    }

    #[test]
    fn other_formats_decode() {
        let d = tmp();
        let g = gradient(12, 9);
        for ext in ["bmp", "tiff", "gif", "webp"] {
            let p = d.path().join(format!("img.{ext}"));
            g.save(&p).unwrap();
            let back = load_image(&p, &opts()).unwrap_or_else(|e| panic!("{ext}: {e}"));
            assert_eq!(back.dimensions(), (12, 9), "{ext}");
        }
    }
}
