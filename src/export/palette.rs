//! A GIF palette (at most 256 colours) and exact nearest-colour lookup.
//!
//! Clips with at most 256 distinct colours get exactly those colours. Otherwise NeuQuant
//! (`color_quant`, Dekker's neural-net quantiser, which the `gif` crate also uses) picks
//! 256 colours, then a few k-means (Lloyd) passes move each colour to the mean of the
//! pixels nearest to it, which lowers the error markedly on smooth gradients (NeuQuant
//! alone leaves many near-duplicate colours there). Lookups are exact nearest neighbours in RGB (squared Euclidean), sped up by
//! a 32×32×32 grid of candidate lists built on demand.

use color_quant::NeuQuant;

/// Most training pixels; larger clips are subsampled evenly.
const MAX_TRAINING_PIXELS: usize = 1 << 18;
/// NeuQuant gets at least this many learning steps (small clips are cycled).
const MIN_LEARNING_STEPS: usize = 1 << 16;
/// k-means (Lloyd) passes that refine NeuQuant's colours on the training pixels.
const LLOYD_ITERATIONS: usize = 4;
/// Grid cells per channel (8 colour levels per cell).
const CELLS: usize = 32;
const CELL_SHIFT: u32 = 3;

/// Up to 256 RGB colours with a nearest-colour search.
#[derive(Debug, Clone)]
pub struct Palette {
    colors: Vec<[u8; 3]>,
    exact: bool,
    /// Candidate palette indices per grid cell, built on first use.
    cells: Vec<Option<Box<[u8]>>>,
}

impl Palette {
    /// A palette of the given colours (1 to 256 of them; extra colours are dropped, an
    /// empty list becomes black).
    pub fn new(mut colors: Vec<[u8; 3]>, exact: bool) -> Self {
        colors.truncate(256);
        if colors.is_empty() {
            colors.push([0, 0, 0]);
        }
        Self { colors, exact, cells: vec![None; CELLS * CELLS * CELLS] }
    }

    /// The palette for `frames` (RGB8 each): their colours if there are at most 256,
    /// else 256 colours from NeuQuant with `sample_factor` (1 best … 30 fastest).
    pub fn for_frames(frames: &[&[u8]], sample_factor: u8) -> Self {
        if let Some(colors) = distinct_colors(frames, 256) {
            return Self::new(colors, true);
        }
        let samples = training_samples(frames);
        // NeuQuant needs many learning steps: small clips are cycled through repeatedly.
        let mut rgba: Vec<u8> = samples.iter().flat_map(|c| [c[0], c[1], c[2], 255]).collect();
        while rgba.len() / 4 < MIN_LEARNING_STEPS && !rgba.is_empty() {
            rgba.extend_from_within(..);
        }
        let steps_per_factor = (rgba.len() / 4 / MIN_LEARNING_STEPS).max(1);
        let factor = i32::from(sample_factor.clamp(1, 30)).min(i32::try_from(steps_per_factor).unwrap_or(30));
        let nq = NeuQuant::new(factor.max(1), 256, &rgba);
        let mut colors: Vec<[u8; 3]> = nq.color_map_rgb().chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect();
        refine(&mut colors, &samples, LLOYD_ITERATIONS);
        Self::new(colors, false)
    }

    /// The colours.
    pub fn colors(&self) -> &[[u8; 3]] {
        &self.colors
    }

    /// The colours as `r, g, b, r, g, b, …` (a GIF colour table).
    pub fn rgb_bytes(&self) -> Vec<u8> {
        self.colors.iter().flatten().copied().collect()
    }

    /// True if every colour of the frames it was built from is in the palette.
    pub fn is_exact(&self) -> bool {
        self.exact
    }

    /// Colour of index `i` (black past the end).
    pub fn color(&self, i: u8) -> [u8; 3] {
        self.colors.get(usize::from(i)).copied().unwrap_or([0, 0, 0])
    }

    /// The index of the palette colour nearest to `c` (squared Euclidean distance).
    pub fn nearest(&mut self, c: [u8; 3]) -> u8 {
        let cell = (usize::from(c[0]) >> CELL_SHIFT) * CELLS * CELLS
            + (usize::from(c[1]) >> CELL_SHIFT) * CELLS
            + (usize::from(c[2]) >> CELL_SHIFT);
        if self.cells[cell].is_none() {
            self.cells[cell] = Some(self.candidates(cell));
        }
        let cands = self.cells[cell].as_deref().unwrap_or(&[]);
        let mut best = (u32::MAX, 0u8);
        for &i in cands {
            let p = self.colors[usize::from(i)];
            let d = dist2(p, c);
            if d < best.0 {
                best = (d, i);
            }
        }
        best.1
    }

    /// Palette indices that can be nearest to some colour in grid cell `cell`: those whose
    /// smallest distance to the cell is at most the smallest largest-distance of any entry.
    fn candidates(&self, cell: usize) -> Box<[u8]> {
        let side = 1u32 << CELL_SHIFT;
        let lo = [
            ((cell / (CELLS * CELLS)) as u32) << CELL_SHIFT,
            (((cell / CELLS) % CELLS) as u32) << CELL_SHIFT,
            ((cell % CELLS) as u32) << CELL_SHIFT,
        ];
        let (mut min_d, mut max_d) = (Vec::with_capacity(self.colors.len()), u32::MAX);
        for p in &self.colors {
            let (mut near, mut far) = (0u32, 0u32);
            for ch in 0..3 {
                let v = u32::from(p[ch]);
                let (a, b) = (lo[ch], lo[ch] + side - 1);
                let dn = if v < a { a - v } else { v.saturating_sub(b) };
                let df = v.abs_diff(a).max(v.abs_diff(b));
                near += dn * dn;
                far += df * df;
            }
            min_d.push(near);
            max_d = max_d.min(far);
        }
        (0..self.colors.len()).filter(|&i| min_d[i] <= max_d).map(|i| i as u8).collect()
    }

    /// Median distance from each colour to its nearest other colour: the typical gap
    /// ordered dithering has to bridge.
    pub fn spread(&self) -> f32 {
        if self.colors.len() < 2 {
            return 0.0;
        }
        let mut gaps: Vec<u32> = self
            .colors
            .iter()
            .enumerate()
            .map(|(i, &a)| {
                let others = self.colors.iter().enumerate().filter(|&(j, _)| j != i);
                others.map(|(_, &b)| dist2(a, b)).filter(|&d| d > 0).min().unwrap_or(0)
            })
            .collect();
        gaps.sort_unstable();
        (gaps[gaps.len() / 2] as f32).sqrt()
    }
}

/// At most [`MAX_TRAINING_PIXELS`] pixels of `frames`, taken at an even stride.
fn training_samples(frames: &[&[u8]]) -> Vec<[u8; 3]> {
    let total: usize = frames.iter().map(|f| f.len() / 3).sum();
    let step = total.div_ceil(MAX_TRAINING_PIXELS).max(1);
    let mut out = Vec::with_capacity(total / step + 1);
    let mut i = 0usize;
    for f in frames {
        for px in f.chunks_exact(3) {
            if i.is_multiple_of(step) {
                out.push([px[0], px[1], px[2]]);
            }
            i += 1;
        }
    }
    out
}

/// Lloyd iterations: each colour moves to the mean of the samples nearest to it (colours
/// nearest to no sample stay).
fn refine(colors: &mut [[u8; 3]], samples: &[[u8; 3]], iterations: usize) {
    for _ in 0..iterations {
        let mut p = Palette::new(colors.to_vec(), false);
        let mut sums = vec![[0u64; 4]; colors.len()];
        for &s in samples {
            let acc = &mut sums[usize::from(p.nearest(s))];
            for c in 0..3 {
                acc[c] += u64::from(s[c]);
            }
            acc[3] += 1;
        }
        for (color, acc) in colors.iter_mut().zip(&sums) {
            if acc[3] > 0 {
                *color = [0, 1, 2].map(|c| ((acc[c] + acc[3] / 2) / acc[3]).min(255) as u8);
            }
        }
    }
}

fn dist2(a: [u8; 3], b: [u8; 3]) -> u32 {
    let d = |i: usize| u32::from(a[i].abs_diff(b[i]));
    d(0) * d(0) + d(1) * d(1) + d(2) * d(2)
}

/// The distinct colours of `frames` in first-seen order, or `None` if there are more
/// than `limit`.
fn distinct_colors(frames: &[&[u8]], limit: usize) -> Option<Vec<[u8; 3]>> {
    let mut seen = vec![0u64; (1 << 24) / 64];
    let mut out = Vec::new();
    for f in frames {
        for px in f.chunks_exact(3) {
            let key = (usize::from(px[0]) << 16) | (usize::from(px[1]) << 8) | usize::from(px[2]);
            let (word, bit) = (key / 64, 1u64 << (key % 64));
            if seen[word] & bit == 0 {
                seen[word] |= bit;
                out.push([px[0], px[1], px[2]]);
                if out.len() > limit {
                    return None;
                }
            }
        }
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn few_colours_are_kept_exactly() {
        let f = [255u8, 0, 0, 0, 255, 0, 255, 0, 0];
        let mut p = Palette::for_frames(&[&f], 10);
        assert!(p.is_exact());
        assert_eq!(p.colors(), &[[255, 0, 0], [0, 255, 0]]);
        assert_eq!(p.nearest([250, 10, 10]), 0);
        assert_eq!(p.nearest([0, 200, 0]), 1);
    }

    #[test]
    fn grid_search_matches_brute_force() {
        let colors: Vec<[u8; 3]> =
            (0..256u32).map(|i| [(i * 37 % 256) as u8, (i * 91 % 256) as u8, (i * 13) as u8]).collect();
        let mut p = Palette::new(colors.clone(), false);
        for k in 0..5000u32 {
            let c = [(k * 7919 % 256) as u8, (k * 104_729 % 256) as u8, (k * 31 % 256) as u8];
            let i = p.nearest(c);
            let best = colors.iter().map(|&q| dist2(q, c)).min().unwrap();
            assert_eq!(dist2(colors[usize::from(i)], c), best);
        }
    }
}
