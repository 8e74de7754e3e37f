//! Longer clips from several generations: a **storyboard** of keyframes, where each
//! neighbouring pair becomes one interpolation segment (the 512_interp model, first and last
//! frame given), and **continue**, where a new image-to-video clip starts from a clip's last
//! frame. This module plans the segments and joins their frames; running them is the
//! caller's (the CLI's loop, the app's queue).
//!
//! Joins: segment `i` ends on (a generated version of) keyframe `i+1`, and segment `i+1`
//! starts on it, so the later segment's first frame is dropped: `n` segments of `T` frames
//! give `n·(T−1)+1` frames. With *loop*, the extra segment from the last keyframe back to
//! the first ends on the clip's first frame, so that last frame is dropped too: `n·(T−1)`
//! frames, and the clip repeats seamlessly.

/// One segment of a storyboard: from keyframe `from` to keyframe `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Segment {
    pub from: usize,
    pub to: usize,
}

/// How a generation belongs to a longer clip (kept with the job and in its history entry).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Part {
    /// Segment `index` of storyboard `board` (`count` segments).
    Storyboard { board: String, index: usize, count: usize, segment: Segment, looped: bool },
    /// Continues history entry `parent` from its last frame, blending `crossfade` frames;
    /// `chain` names this continuation (two continuations of one clip are two chains).
    Continuation { parent: String, chain: String, crossfade: usize },
}

impl Part {
    /// The storyboard or chain this part belongs to.
    pub fn key(&self) -> &str {
        match self {
            Self::Storyboard { board, .. } => board,
            Self::Continuation { chain, .. } => chain,
        }
    }
}

/// A clip joined from history entries (a storyboard, a continued clip): the entries it was
/// made of, in order, so one part can be generated again and the clip rebuilt.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Joined {
    pub kind: JoinKind,
    /// History entry ids of the parts, in clip order.
    pub parts: Vec<String>,
}

/// How [`Joined::parts`] were put together.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum JoinKind {
    /// Interpolation segments, boundary frames once ([`join`]); `board` is the storyboard's id,
    /// `keyframes` the input hashes of its keyframes in order.
    Storyboard { board: String, looped: bool, segments: Vec<Segment>, keyframes: Vec<String> },
    /// A clip and its continuations ([`append`]); `crossfades[i]` is the blend at the join
    /// before part `i + 1`.
    Continuation { crossfades: Vec<usize> },
}

impl Joined {
    /// Joins the parts' frames (8-bit RGB, in [`Self::parts`] order) as this kind says.
    pub fn frames(&self, parts: &[Vec<Vec<u8>>]) -> Vec<Vec<u8>> {
        match &self.kind {
            JoinKind::Storyboard { looped, segments, .. } => join(parts, *looped && parts.len() == segments.len()),
            JoinKind::Continuation { crossfades } => {
                let mut out = parts.first().cloned().unwrap_or_default();
                for (i, next) in parts.iter().enumerate().skip(1) {
                    out = append(&out, next, crossfades.get(i - 1).copied().unwrap_or(0));
                }
                out
            }
        }
    }
}

/// The segments of `keyframes` keyframes in order (and back to the first with `looped`).
pub fn segments(keyframes: usize, looped: bool) -> Vec<Segment> {
    let mut s: Vec<Segment> = (1..keyframes).map(|i| Segment { from: i - 1, to: i }).collect();
    if looped && keyframes >= 2 {
        s.push(Segment { from: keyframes - 1, to: 0 });
    }
    s
}

/// Frames of the joined clip for `n` segments of `t` frames.
pub fn joined_len(n: usize, t: usize, looped: bool) -> usize {
    match n {
        0 => 0,
        _ if looped => n * (t - 1),
        _ => n * (t - 1) + 1,
    }
}

/// Joins segment clips (in order) into one, without doubled boundary frames (see the module
/// docs). Segments may be missing at the end (a cancelled storyboard keeps what finished):
/// the loop trim applies only when every segment is there (`complete`).
pub fn join<F: Clone>(segments: &[Vec<F>], looped_and_complete: bool) -> Vec<F> {
    let mut out: Vec<F> = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        let skip = usize::from(i > 0 && !seg.is_empty());
        out.extend(seg.iter().skip(skip).cloned());
    }
    if looped_and_complete && segments.len() > 1 {
        out.pop();
    }
    out
}

/// Appends `next` (a continuation generated from `clip`'s last frame) to `clip`. Its first
/// frame restates that last frame, so it is dropped; with `crossfade > 0` the last
/// `crossfade` frames of `clip` are blended into the first frames of `next` instead
/// (linear, 8-bit RGB), shortening the result by `crossfade`.
pub fn append(clip: &[Vec<u8>], next: &[Vec<u8>], crossfade: usize) -> Vec<Vec<u8>> {
    let next = next.get(1..).unwrap_or_default();
    let k = crossfade.min(clip.len().saturating_sub(1)).min(next.len());
    let mut out: Vec<Vec<u8>> = clip[..clip.len() - k].to_vec();
    for j in 0..k {
        let (a, b) = (&clip[clip.len() - k + j], &next[j]);
        let w = (j + 1) as f32 / (k + 1) as f32;
        out.push(a.iter().zip(b).map(|(&x, &y)| (f32::from(x) * (1.0 - w) + f32::from(y) * w).round() as u8).collect());
    }
    out.extend(next[k..].iter().cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_keyframes_make_two_segments_and_loop_adds_the_way_back() {
        assert_eq!(segments(3, false), vec![Segment { from: 0, to: 1 }, Segment { from: 1, to: 2 }]);
        assert_eq!(segments(3, true).last(), Some(&Segment { from: 2, to: 0 }));
        assert!(segments(1, true).is_empty());
    }

    #[test]
    fn joins_drop_the_doubled_boundary_frames() {
        // Segment i holds frames labelled (i, k).
        let seg = |i: usize| (0..4).map(|k| (i, k)).collect::<Vec<_>>();
        let j = join(&[seg(0), seg(1)], false);
        assert_eq!(j.len(), joined_len(2, 4, false));
        assert_eq!(j, vec![(0, 0), (0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 3)]);
        let l = join(&[seg(0), seg(1), seg(2)], true);
        assert_eq!(l.len(), joined_len(3, 4, true));
        assert_eq!(l.last(), Some(&(2, 2)));
        // A cancelled loop keeps its finished segments whole.
        assert_eq!(join(&[seg(0)], false), seg(0));
    }

    #[test]
    fn append_drops_the_restated_frame_or_crossfades() {
        let clip = vec![vec![0u8; 3], vec![100; 3], vec![200; 3]];
        let next = vec![vec![200u8; 3], vec![50; 3], vec![60; 3]];
        assert_eq!(append(&clip, &next, 0), vec![vec![0; 3], vec![100; 3], vec![200; 3], vec![50; 3], vec![60; 3]]);
        let x = append(&clip, &next, 1);
        assert_eq!(x.len(), 4);
        assert_eq!(x[2], vec![125; 3]); // 200·½ + 50·½
        assert_eq!(x[3], vec![60; 3]);
    }
}
