//! Frames as GPU textures for the player and the previews.

use image::RgbImage;

/// Uploaded frames of one clip.
#[derive(Clone)]
pub struct Frames {
    pub textures: Vec<egui::TextureHandle>,
    pub size: [usize; 2],
    name: String,
}

impl std::fmt::Debug for Frames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Frames({} × {:?})", self.textures.len(), self.size)
    }
}

/// An RGB image as egui's image type.
pub fn color_image(rgb: &RgbImage) -> egui::ColorImage {
    egui::ColorImage::from_rgb([rgb.width() as usize, rgb.height() as usize], rgb.as_raw())
}

impl Frames {
    /// Uploads `frames`.
    pub fn new(ctx: &egui::Context, name: &str, frames: &[RgbImage]) -> Self {
        Self::from_color_images(ctx, name, frames.iter().map(color_image).collect())
    }

    /// Uploads frames already converted to egui's type (the conversion of a long clip is
    /// worth doing off the UI thread, where it was read).
    pub fn from_color_images(ctx: &egui::Context, name: &str, frames: Vec<egui::ColorImage>) -> Self {
        let size = frames.first().map_or([0, 0], |f| f.size);
        let textures = frames
            .into_iter()
            .enumerate()
            .map(|(k, f)| ctx.load_texture(format!("{name}-{k}"), f, egui::TextureOptions::LINEAR))
            .collect();
        Self { textures, size, name: name.into() }
    }

    /// Replaces the pixels in place (live previews).
    pub fn update(&mut self, frames: &[RgbImage]) {
        if frames.len() != self.textures.len() {
            return;
        }
        for (t, f) in self.textures.iter_mut().zip(frames) {
            t.set(color_image(f), egui::TextureOptions::LINEAR);
        }
        self.size = frames.first().map_or(self.size, |f| [f.width() as usize, f.height() as usize]);
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.textures.len()
    }

    /// Whether there is no frame.
    pub fn is_empty(&self) -> bool {
        self.textures.is_empty()
    }

    /// The texture name prefix.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Textures of input crops and history thumbnails by content key, evicted once they have not
/// been drawn for [`TextureCache::KEEP_FRAMES`] frames (a long history scrolled past, inputs
/// replaced), so GPU memory does not grow with use.
#[derive(Default)]
pub struct TextureCache {
    entries: std::collections::HashMap<String, (egui::TextureHandle, u64)>,
    frame: u64,
}

impl std::fmt::Debug for TextureCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TextureCache({} textures)", self.entries.len())
    }
}

impl TextureCache {
    /// Frames a texture survives without being drawn.
    pub const KEEP_FRAMES: u64 = 600;

    /// The texture for `key`, made by `make` when absent (or `None` if it cannot be).
    pub fn get_or_make(
        &mut self,
        key: &str,
        make: impl FnOnce() -> Option<egui::TextureHandle>,
    ) -> Option<egui::TextureHandle> {
        let frame = self.frame;
        if let Some((t, used)) = self.entries.get_mut(key) {
            *used = frame;
            return Some(t.clone());
        }
        let t = make()?;
        self.entries.insert(key.to_owned(), (t.clone(), frame));
        Some(t)
    }

    /// Ends a frame: drops what has not been drawn for a while.
    pub fn end_frame(&mut self) {
        self.frame += 1;
        let frame = self.frame;
        self.entries.retain(|_, (_, used)| frame - *used <= Self::KEEP_FRAMES);
    }

    /// Number of textures held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
