//! Sweeps: a grid of settings queued at once (seeds × text attention weight × image attention
//! weight × CFG), shown as a contact sheet. This is how an artist learns what the UniVid
//! branch weights do to their image.

use serde::{Deserialize, Serialize};

use crate::pipeline::generate::Settings;

/// Most clips one sweep may queue.
pub const MAX_CLIPS: usize = 64;

/// The values a sweep varies, as typed (comma-separated); an empty list keeps the current
/// setting.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SweepSpec {
    pub seeds: String,
    pub text_weights: String,
    pub image_weights: String,
    pub cfgs: String,
}

fn list<T: std::str::FromStr>(s: &str, what: &str) -> Result<Vec<T>, String> {
    s.split([',', ' ', ';'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| t.parse::<T>().map_err(|_| format!("{what}: `{t}` is not a number")))
        .collect()
}

impl SweepSpec {
    /// Every combination, in row-major order (seeds vary slowest, CFG fastest), each a copy
    /// of `base` with its values set; checked against the same ranges as a single run.
    pub fn expand(&self, base: &Settings) -> Result<Vec<Settings>, String> {
        let or = |v: Vec<f32>, d: f32| if v.is_empty() { vec![d] } else { v };
        let seeds: Vec<u64> = list(&self.seeds, "seeds")?;
        let seeds = if seeds.is_empty() { vec![base.seed] } else { seeds };
        let text = or(list(&self.text_weights, "text weights")?, base.text_weight);
        let image = or(list(&self.image_weights, "image weights")?, base.image_weight);
        let cfg = or(list(&self.cfgs, "CFG")?, base.cfg);
        let n = seeds.len() * text.len() * image.len() * cfg.len();
        if n > MAX_CLIPS {
            return Err(format!("{n} clips is more than a sweep may queue ({MAX_CLIPS}); use fewer values"));
        }
        for (what, v, lo, hi) in
            [("text weight", &text, 0.0, 4.0), ("image weight", &image, 0.0, 4.0), ("CFG", &cfg, 1.0, 30.0)]
        {
            if let Some(bad) = v.iter().find(|x| !(x.is_finite() && (lo..=hi).contains(*x))) {
                return Err(format!("{what} {bad} is outside {lo}..={hi}"));
            }
        }
        let mut out = Vec::with_capacity(n);
        for &seed in &seeds {
            for &t in &text {
                for &i in &image {
                    for &c in &cfg {
                        out.push(Settings { seed, text_weight: t, image_weight: i, cfg: c, ..base.clone() });
                    }
                }
            }
        }
        Ok(out)
    }
}

/// The finished clips of sweep `id`, in grid order.
pub fn members(entries: &[crate::history::HistoryEntry], id: &str) -> Vec<crate::history::HistoryEntry> {
    let mut m: Vec<_> =
        entries.iter().filter(|e| e.record.sweep.as_ref().is_some_and(|s| s.id == id)).cloned().collect();
    m.sort_by_key(|e| e.record.sweep.as_ref().map_or(0, |s| s.index));
    m
}

/// The caption of a sweep cell: the values a sweep varies.
pub fn caption(s: &Settings) -> String {
    format!("seed {} · text {:.2} · image {:.2} · cfg {}", s.seed, s.text_weight, s.image_weight, s.cfg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::config::Variant;

    #[test]
    fn a_two_by_two_grid_varies_only_what_was_asked() {
        let base = Settings::defaults(Variant::V512);
        let spec = SweepSpec { text_weights: "0.5, 1.5".into(), image_weights: "0.5 1.5".into(), ..Default::default() };
        let grid = spec.expand(&base).unwrap();
        assert_eq!(grid.len(), 4);
        let pairs: Vec<(f32, f32)> = grid.iter().map(|s| (s.text_weight, s.image_weight)).collect();
        assert_eq!(pairs, vec![(0.5, 0.5), (0.5, 1.5), (1.5, 0.5), (1.5, 1.5)]);
        assert!(grid.iter().all(|s| s.seed == base.seed && s.cfg == base.cfg && s.prompt == base.prompt));
        assert!(SweepSpec { cfgs: "7.5, x".into(), ..Default::default() }.expand(&base).unwrap_err().contains("`x`"));
        assert!(SweepSpec { text_weights: "9".into(), ..Default::default() }.expand(&base).is_err());
        let big = SweepSpec {
            seeds: (0..9).map(|i| i.to_string()).collect::<Vec<_>>().join(","),
            cfgs: "1,2,3,4,5,6,7,8".into(),
            ..Default::default()
        };
        assert!(big.expand(&base).is_err(), "72 clips must be refused");
    }
}

/// One contact sheet: the clips of a sweep side by side in a grid (cells scaled to at most
/// `cell_width` pixels wide), as many frames as the shortest clip.
pub fn compose_sheet(clips: &[Vec<image::RgbImage>], cell_width: u32) -> Result<crate::export::Clip, String> {
    let first = clips.first().and_then(|c| c.first()).ok_or("the sweep has no finished clip yet")?;
    let scale = (f64::from(cell_width) / f64::from(first.width())).min(1.0);
    let (cw, ch) = (
        ((f64::from(first.width()) * scale).round() as u32).max(1),
        ((f64::from(first.height()) * scale).round() as u32).max(1),
    );
    let cols = (clips.len() as f64).sqrt().ceil() as u32;
    let rows = (clips.len() as u32).div_ceil(cols);
    let (w, h) = (cols * cw, rows * ch);
    let frames = clips.iter().map(Vec::len).min().unwrap_or(0);
    let mut out = Vec::with_capacity(frames);
    for k in 0..frames {
        let mut sheet = image::RgbImage::new(w, h);
        for (i, clip) in clips.iter().enumerate() {
            let cell = image::imageops::resize(&clip[k], cw, ch, image::imageops::FilterType::Triangle);
            let (x, y) = ((i as u32 % cols) * cw, (i as u32 / cols) * ch);
            image::imageops::replace(&mut sheet, &cell, i64::from(x), i64::from(y));
        }
        out.push(sheet.into_raw());
    }
    Ok(crate::export::Clip { width: w as usize, height: h as usize, frames: out })
}
