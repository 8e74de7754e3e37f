//! MP4 (H.264 Constrained Baseline, yuv420p, limited range) with openh264, muxed by
//! [`crate::export::mux`] into a fast-start file with one video track.
//!
//! Quality: [`Mp4Quality::Quality`]`(q)` runs openh264's quality rate control with its QP
//! range pinned to `q..=q`, so every frame is coded at QP `q` (constant QP, the closest
//! openh264 has to x264's CRF; with rate control "off" openh264 ignores the QP range and
//! codes everything at QP 26);
//! [`Mp4Quality::Bitrate`] uses openh264's bitrate control. Frames are never skipped.
//! An IDR frame starts the clip and every 2 seconds after.
//!
//! Licensing: OpenH264's source is BSD-2-Clause, but Cisco's H.264 patent licence covers
//! only Cisco's prebuilt binaries; a build that compiles the source (the `openh264` crate's
//! default `source` feature) is not covered by it.

use std::path::Path;

use openh264::OpenH264API;
use openh264::encoder::{
    BitRate, ColorPrimaries, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, QpRange, RateControlMode,
    VuiConfig,
};
use openh264::formats::YUVBuffer;

use crate::export::atomic::{create_file, finish_file};
use crate::export::error::ExportError;
use crate::export::mux::{Colour, Sample, VideoTrack, write_mp4};
use crate::export::options::{ColorMatrix, ExportOptions, Mp4Quality};
use crate::export::progress::{ExportPhase, Reporter};
use crate::export::sequence::Sequence;
use crate::export::timing::mp4_timescale;
use crate::export::yuv::{even_size, rgb_to_i420};

/// openh264's largest frame: 3840 pixels on the long side, 2160 on the short one.
const MAX_LONG: usize = 3840;
const MAX_SHORT: usize = 2160;
/// Nominal bitrate of [`Mp4Quality::Quality`] (see [`config`]).
const NOMINAL_BPS: u32 = 8_000_000;
/// openh264 rejects tiny frames: smaller sizes are padded up to this (edge replicated).
const MIN_SIDE: usize = 16;

fn enc_err(e: impl std::fmt::Display) -> ExportError {
    ExportError::Encode(format!("H.264 (openh264): {e}"))
}

/// The size the video is coded at for a `w × h` sequence: even (see
/// [`crate::export::OddSize`]) and at least 16 pixels a side.
pub fn coded_size(w: usize, h: usize, opts: &ExportOptions) -> (usize, usize) {
    let (cw, ch) = even_size(w, h, opts.mp4.odd_size);
    (cw.max(MIN_SIDE), ch.max(MIN_SIDE))
}

/// Encodes `seq` to H.264 and writes the MP4 to the (temporary) file `path`; returns its
/// size.
///
/// # Errors
/// [`ExportError::Unsupported`] above 3840×2160, [`ExportError::Encode`] if openh264
/// fails, [`ExportError::Io`] about `path`, [`ExportError::Cancelled`].
pub fn write(
    seq: &Sequence<'_>,
    path: &Path,
    opts: &ExportOptions,
    progress: &mut Reporter<'_>,
) -> Result<u64, ExportError> {
    let (cw, ch) = coded_size(seq.width, seq.height, opts);
    if cw.max(ch) > MAX_LONG || cw.min(ch) > MAX_SHORT {
        return Err(ExportError::Unsupported(format!(
            "{cw}×{ch} is too large for the H.264 encoder (at most 3840×2160 or 2160×3840); choose a smaller scale, GIF, APNG or PNG frames"
        )));
    }
    let (timescale, sample_delta) = mp4_timescale(opts.fps);
    let mut encoder = Encoder::with_api_config(OpenH264API::from_source(), config(opts)).map_err(enc_err)?;
    progress.report(ExportPhase::Preparing, 0)?;

    let (mut sps, mut pps) = (None::<Vec<u8>>, None::<Vec<u8>>);
    let mut samples = Vec::with_capacity(seq.len());
    for (k, rgb) in seq.iter().enumerate() {
        let yuv = YUVBuffer::from_vec(rgb_to_i420(rgb, seq.width, seq.height, cw, ch, opts.mp4.matrix), cw, ch);
        let bits = encoder.encode(&yuv).map_err(enc_err)?;
        if matches!(bits.frame_type(), FrameType::Skip | FrameType::Invalid) {
            return Err(enc_err(format!("frame {k} was skipped by the encoder; choose a higher bitrate")));
        }
        let mut sample = Sample { data: Vec::new(), sync: false };
        for l in 0..bits.num_layers() {
            let Some(layer) = bits.layer(l) else { continue };
            for n in 0..layer.nal_count() {
                let Some(nal) = layer.nal_unit(n).map(strip_start_code) else { continue };
                match nal.first().map(|b| b & 0x1F) {
                    None => {}
                    Some(7) if sps.is_none() => sps = Some(nal.to_vec()),
                    Some(8) if pps.is_none() => pps = Some(nal.to_vec()),
                    Some(7 | 8) => {}
                    Some(t) => {
                        sample.sync |= t == 5;
                        sample.data.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                        sample.data.extend_from_slice(nal);
                    }
                }
            }
        }
        if sample.data.is_empty() {
            return Err(enc_err(format!("no picture data for frame {k}")));
        }
        samples.push(sample);
        progress.frame(k + 1)?;
    }
    let (Some(sps), Some(pps)) = (sps, pps) else {
        return Err(enc_err("the stream has no SPS/PPS"));
    };
    let Some(first) = samples.first() else { return Err(ExportError::Empty) };
    if !first.sync {
        return Err(enc_err("the first frame is not an IDR frame"));
    }
    progress.report(ExportPhase::Finishing, seq.len())?;
    let track = VideoTrack {
        width: cw as u16,
        height: ch as u16,
        timescale,
        sample_delta,
        sps: &sps,
        pps: &pps,
        colour: colour(opts.mp4.matrix),
        comment: opts.metadata.as_deref(),
        tool: "DynamiCrafter Studio (OpenH264)",
    };
    let mut file = create_file(path)?;
    write_mp4(&mut file, &track, &samples).map_err(ExportError::io_at(path))?;
    finish_file(file, path)
}

/// The encoder settings for `opts` (see the module docs).
fn config(opts: &ExportOptions) -> EncoderConfig {
    let gop = (opts.fps * 2.0).round().clamp(1.0, 1000.0) as u32;
    // The RGB input is sRGB: BT.709 primaries whatever the matrix.
    let vui = match opts.mp4.matrix {
        ColorMatrix::Bt601 => VuiConfig::bt601().color_primaries(ColorPrimaries::Bt709),
        ColorMatrix::Bt709 => VuiConfig::bt709(),
    };
    let cfg = EncoderConfig::new()
        .max_frame_rate(FrameRate::from_hz(opts.fps))
        .skip_frames(false)
        .intra_frame_period(IntraFramePeriod::from_num_frames(gop))
        .vui(vui);
    match opts.mp4.quality {
        Mp4Quality::Quality(q) => {
            let q = q.min(51);
            // openh264 ignores the QP range with rate control off; in quality mode a QP range of
            // one value pins every frame's QP. The nominal bitrate only steers the signalled
            // level (3.0 up to 720×576, more only where the frame size needs it).
            cfg.rate_control_mode(RateControlMode::Quality)
                .qp(QpRange::new(q, q))
                .bitrate(BitRate::from_bps(NOMINAL_BPS))
        }
        Mp4Quality::Bitrate(bps) => cfg.rate_control_mode(RateControlMode::Bitrate).bitrate(BitRate::from_bps(bps)),
    }
}

/// The `colr` code points, the same as the stream's VUI: BT.709 primaries (those of
/// sRGB), the matrix's own transfer and matrix codes (BT.709: 1, 1; SMPTE 170M: 6, 6, the
/// same transfer curve), limited range.
fn colour(m: ColorMatrix) -> Colour {
    let code = match m {
        ColorMatrix::Bt601 => 6,
        ColorMatrix::Bt709 => 1,
    };
    Colour { primaries: 1, transfer: code, matrix: code, full_range: false }
}

/// The NAL unit without its Annex-B start code (`00 00 01` or `00 00 00 01`).
fn strip_start_code(nal: &[u8]) -> &[u8] {
    let zeros = nal.iter().take_while(|&&b| b == 0).count();
    if zeros >= 2 && nal.get(zeros) == Some(&1) { &nal[zeros + 1..] } else { nal }
}
