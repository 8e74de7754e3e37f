//! The channel-major float image the encoders take, and torchvision's `ToTensor` +
//! `Normalize(0.5, 0.5)` that makes it from 8-bit RGB.

use image::RgbImage;

/// A dense float image, channel-major.
///
/// # Shapes
/// `data` is `[channels, height, width]`, row-major (index `(c * height + y) * width + x`).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageTensor {
    /// Number of channels (3 for RGB).
    pub channels: usize,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
    /// `channels * height * width` values.
    pub data: Vec<f32>,
}

impl ImageTensor {
    /// A tensor filled with `value`.
    ///
    /// # Shapes
    /// Returns `[channels, height, width]`.
    pub fn filled(channels: usize, height: usize, width: usize, value: f32) -> Self {
        Self { channels, height, width, data: vec![value; channels * height * width] }
    }

    /// `[channels, height, width]`.
    pub fn shape(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }

    /// Whether `data.len()` matches the shape.
    pub fn is_consistent(&self) -> bool {
        self.channels.checked_mul(self.height).and_then(|n| n.checked_mul(self.width)) == Some(self.data.len())
    }

    /// One channel plane.
    ///
    /// # Shapes
    /// Returns `[height, width]`. Panics if `c >= channels` or the tensor is inconsistent.
    pub fn plane(&self, c: usize) -> &[f32] {
        let n = self.height * self.width;
        &self.data[c * n..(c + 1) * n]
    }
}

/// `ToTensor()` + `Normalize(0.5, 0.5)` in f32.
///
/// # Shapes
/// `[H, W, 3]` u8 → `[3, H, W]` f32 in [-1, 1].
pub fn rgb_to_tensor(img: &RgbImage) -> ImageTensor {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut t = ImageTensor::filled(3, h, w, 0.0);
    let raw = img.as_raw();
    for c in 0..3 {
        let plane = &mut t.data[c * h * w..(c + 1) * h * w];
        for (i, v) in plane.iter_mut().enumerate() {
            let x = f32::from(raw[i * 3 + c]) / 255.0;
            *v = (x - 0.5) / 0.5;
        }
    }
    t
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Rgb};

    #[test]
    fn tensor_normalisation() {
        let img = ImageBuffer::from_fn(2, 1, |x, _| if x == 0 { Rgb([0, 128, 255]) } else { Rgb([255, 0, 0]) });
        let t = rgb_to_tensor(&img);
        assert_eq!(t.shape(), [3, 1, 2]);
        assert_eq!(t.data, vec![-1.0, 1.0, (128.0f32 / 255.0 - 0.5) / 0.5, -1.0, 1.0, -1.0]);
    }
}
