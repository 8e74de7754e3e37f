//! Frame timing per container: GIF centiseconds, APNG fractions, MP4 timescale.
//!
//! The frame rate is taken to a thousandth of a frame per second (`fps_milli`), which
//! represents 8, 12.5, 23.976 or 29.97 fps exactly.

/// The frame rate in thousandths of a frame per second, at least 1.
pub fn fps_milli(fps: f32) -> u32 {
    let m = (f64::from(fps) * 1000.0).round();
    if m.is_finite() && m >= 1.0 { m.min(f64::from(u32::MAX)) as u32 } else { 1 }
}

/// The fastest frame delay GIF players honour: 2 cs (50 fps). Browsers show shorter
/// delays (0 or 1 cs) as 10 cs, so faster clips are slowed to 50 fps rather than to 10.
pub const GIF_MIN_DELAY_CS: u16 = 2;

/// GIF delays in centiseconds for `n` frames at `fps`.
///
/// Rounding is distributed: frame `k` lasts `round((k+1)·100/fps) − round(k·100/fps)`,
/// so the total matches the frame rate to within 1 cs. At 8 fps the delays alternate
/// 13, 12, 13, 12 … (12.5 cs on average). Delays are clamped to
/// [`GIF_MIN_DELAY_CS`]..=65535.
pub fn gif_delays_cs(n: usize, fps: f32) -> Vec<u16> {
    let milli = u64::from(fps_milli(fps));
    // Presentation time of frame k in cs, rounded half up: k·100/fps = k·100_000/milli.
    let at = |k: u64| (k * 200_000 + milli) / (2 * milli);
    (0..n as u64).map(|k| (at(k + 1) - at(k)).clamp(u64::from(GIF_MIN_DELAY_CS), u64::from(u16::MAX)) as u16).collect()
}

/// APNG frame delay `numerator / denominator` seconds for `fps` (1/fps, reduced; if the
/// reduced fraction does not fit in `u16`, the nearest one that does).
pub fn apng_delay(fps: f32) -> (u16, u16) {
    let (mut num, mut den) = (1000u64, u64::from(fps_milli(fps)));
    let g = gcd(num, den);
    (num, den) = (num / g, den / g);
    let big = num.max(den);
    if big > u64::from(u16::MAX) {
        let f = big.div_ceil(u64::from(u16::MAX));
        num = (num + f / 2) / f;
        den = (den + f / 2) / f;
    }
    (num.clamp(1, u64::from(u16::MAX)) as u16, den.clamp(1, u64::from(u16::MAX)) as u16)
}

/// MP4 `(timescale, sample_delta)`: `fps_milli` ticks per second and 1000 ticks per frame,
/// reduced but kept at 1000 ticks/s or more (8 fps → (8000, 1000), 29.97 fps →
/// (2997, 100)). Sample durations and the total duration are exact.
pub fn mp4_timescale(fps: f32) -> (u32, u32) {
    let milli = u64::from(fps_milli(fps));
    let g = gcd(milli, 1000);
    let (mut ts, mut delta) = (milli / g, 1000 / g);
    // Very coarse timescales (e.g. 1 tick/s) trouble some players; keep at least 1000.
    while ts < 1000 {
        ts *= 10;
        delta *= 10;
    }
    (ts as u32, delta as u32)
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gif_delays_average_to_the_frame_rate() {
        assert_eq!(gif_delays_cs(4, 8.0), vec![13, 12, 13, 12]);
        assert_eq!(gif_delays_cs(3, 10.0), vec![10, 10, 10]);
        let d = gif_delays_cs(30, 30.0);
        assert_eq!(d.iter().map(|&x| u32::from(x)).sum::<u32>(), 100);
        assert!(gif_delays_cs(5, 240.0).iter().all(|&x| x == GIF_MIN_DELAY_CS));
        assert_eq!(gif_delays_cs(1, 0.1), vec![1000]);
    }

    #[test]
    fn apng_and_mp4_timing() {
        assert_eq!(apng_delay(8.0), (1, 8));
        assert_eq!(apng_delay(29.97), (100, 2997));
        assert_eq!(apng_delay(0.1), (10, 1));
        assert_eq!(mp4_timescale(8.0), (8000, 1000));
        assert_eq!(mp4_timescale(29.97), (2997, 100));
        assert_eq!(mp4_timescale(7.0), (7000, 1000));
        assert_eq!(mp4_timescale(240.0), (2400, 10));
    }
}
