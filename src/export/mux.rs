//! A minimal MP4 (ISO BMFF) writer for one H.264 video track, fast-start layout:
//! `ftyp`, `moov` (all sample tables), then `mdat`.
//!
//! Why not a muxer crate: `muxide` 0.5 fixes the timescale at 90 kHz (inexact durations at
//! e.g. 7 fps, 1/90000 s for a single frame), can store only a title, and writes no
//! `colr`; `mp4` 0.14 writes `moov` after `mdat` (not fast-start) and no comment item.
//! This writer stores exact durations (`timescale`, `sample_delta`), an `nclx` `colr` box
//! matching the stream's VUI, square pixels (`pasp`) and the metadata as an iTunes-style
//! `©cmt` item (`moov/udta/meta/ilst`), which ffprobe shows as `comment`.

use std::io::{self, Write};

/// One access unit: NAL units, each prefixed by its 4-byte big-endian length (AVCC).
#[derive(Debug, Clone)]
pub struct Sample {
    /// Length-prefixed NAL units (no SPS/PPS: they live in `avcC`).
    pub data: Vec<u8>,
    /// True for IDR access units (listed in `stss`).
    pub sync: bool,
}

/// `colr`/VUI code points (ITU-T H.273).
#[derive(Debug, Clone, Copy)]
pub struct Colour {
    /// colour_primaries.
    pub primaries: u16,
    /// transfer_characteristics.
    pub transfer: u16,
    /// matrix_coefficients.
    pub matrix: u16,
    /// Full (0..=255) rather than limited range.
    pub full_range: bool,
}

/// Everything the container needs about the track.
#[derive(Debug)]
pub struct VideoTrack<'a> {
    /// Coded width (even).
    pub width: u16,
    /// Coded height (even).
    pub height: u16,
    /// Ticks per second for the movie and the track.
    pub timescale: u32,
    /// Ticks per frame.
    pub sample_delta: u32,
    /// Sequence parameter set (NAL unit without start code).
    pub sps: &'a [u8],
    /// Picture parameter set (NAL unit without start code).
    pub pps: &'a [u8],
    /// Colour description.
    pub colour: Colour,
    /// Text for the `©cmt` item.
    pub comment: Option<&'a str>,
    /// Name for the `©too` (encoder) item.
    pub tool: &'a str,
}

/// Writes the whole file to `w`; returns the number of bytes written.
///
/// # Errors
/// I/O errors of `w`; `InvalidInput` for an SPS shorter than 4 bytes or more than
/// `u32::MAX` samples.
pub fn write_mp4<W: Write>(w: &mut W, track: &VideoTrack<'_>, samples: &[Sample]) -> io::Result<u64> {
    if track.sps.len() < 4 || track.pps.is_empty() || samples.len() > u32::MAX as usize {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "missing SPS/PPS or too many samples"));
    }
    let payload: u64 = samples.iter().map(|s| s.data.len() as u64).sum();
    let large = payload + 8 > u64::from(u32::MAX);
    let mdat_header = if large { 16 } else { 8 };
    let ftyp = ftyp();
    // The chunk offset does not change moov's size: build once to measure, once for real.
    let probe = moov(track, samples, 0, large);
    let offset = (ftyp.len() + probe.len() + mdat_header) as u64;
    let moov = moov(track, samples, offset, large);
    w.write_all(&ftyp)?;
    w.write_all(&moov)?;
    if large {
        w.write_all(&1u32.to_be_bytes())?;
        w.write_all(b"mdat")?;
        w.write_all(&(payload + 16).to_be_bytes())?;
    } else {
        w.write_all(&((payload + 8) as u32).to_be_bytes())?;
        w.write_all(b"mdat")?;
    }
    for s in samples {
        w.write_all(&s.data)?;
    }
    Ok(offset + payload)
}

/// A box: 32-bit size, type, body.
fn bx(typ: &[u8; 4], parts: &[&[u8]]) -> Vec<u8> {
    let len: usize = 8 + parts.iter().map(|p| p.len()).sum::<usize>();
    let mut b = Vec::with_capacity(len);
    b.extend_from_slice(&(len as u32).to_be_bytes());
    b.extend_from_slice(typ);
    for p in parts {
        b.extend_from_slice(p);
    }
    b
}

/// A full box: version and 24-bit flags before the body.
fn full(typ: &[u8; 4], version: u8, flags: u32, body: &[u8]) -> Vec<u8> {
    let vf = (u32::from(version) << 24 | (flags & 0x00FF_FFFF)).to_be_bytes();
    bx(typ, &[&vf, body])
}

/// Big-endian field writer.
#[derive(Default)]
struct Be(Vec<u8>);

impl Be {
    fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn bytes(mut self, v: &[u8]) -> Self {
        self.0.extend_from_slice(v);
        self
    }
    fn zeros(mut self, n: usize) -> Self {
        self.0.resize(self.0.len() + n, 0);
        self
    }
    /// The unity transformation matrix of `mvhd`/`tkhd`.
    fn matrix(self) -> Self {
        self.u32(0x0001_0000).u32(0).u32(0).u32(0).u32(0x0001_0000).u32(0).u32(0).u32(0).u32(0x4000_0000)
    }
}

fn ftyp() -> Vec<u8> {
    bx(b"ftyp", &[b"isom", &512u32.to_be_bytes(), b"isom", b"iso2", b"avc1", b"mp41"])
}

fn moov(t: &VideoTrack<'_>, samples: &[Sample], chunk_offset: u64, large: bool) -> Vec<u8> {
    let duration = u64::from(t.sample_delta) * samples.len() as u64;
    let v1 = duration > u64::from(u32::MAX);
    let mvhd = {
        let b = if v1 {
            Be::default().u64(0).u64(0).u32(t.timescale).u64(duration)
        } else {
            Be::default().u32(0).u32(0).u32(t.timescale).u32(duration as u32)
        };
        let b = b.u32(0x0001_0000).u16(0x0100).zeros(10).matrix().zeros(24).u32(2);
        full(b"mvhd", u8::from(v1), 0, &b.0)
    };
    let trak = bx(b"trak", &[&tkhd(t, duration, v1), &mdia(t, samples, duration, v1, chunk_offset, large)]);
    let udta = udta(t);
    bx(b"moov", &[&mvhd, &trak, &udta])
}

fn tkhd(t: &VideoTrack<'_>, duration: u64, v1: bool) -> Vec<u8> {
    let b = if v1 {
        Be::default().u64(0).u64(0).u32(1).u32(0).u64(duration)
    } else {
        Be::default().u32(0).u32(0).u32(1).u32(0).u32(duration as u32)
    };
    // reserved, layer, alternate_group, volume 0 (video), reserved, matrix, size in 16.16.
    let b = b.zeros(8).u16(0).u16(0).u16(0).u16(0).matrix();
    let b = b.u32(u32::from(t.width) << 16).u32(u32::from(t.height) << 16);
    // Flags: enabled | in movie | in preview.
    full(b"tkhd", u8::from(v1), 0x7, &b.0)
}

fn mdia(t: &VideoTrack<'_>, samples: &[Sample], duration: u64, v1: bool, offset: u64, large: bool) -> Vec<u8> {
    // Language "und" packed as three 5-bit letters.
    let und = ((u16::from(b'u' - 0x60)) << 10) | ((u16::from(b'n' - 0x60)) << 5) | u16::from(b'd' - 0x60);
    let b = if v1 {
        Be::default().u64(0).u64(0).u32(t.timescale).u64(duration)
    } else {
        Be::default().u32(0).u32(0).u32(t.timescale).u32(duration as u32)
    };
    let mdhd = full(b"mdhd", u8::from(v1), 0, &b.u16(und).u16(0).0);
    let hdlr = full(b"hdlr", 0, 0, &Be::default().u32(0).bytes(b"vide").zeros(12).bytes(b"VideoHandler\0").0);
    let vmhd = full(b"vmhd", 0, 1, &[0u8; 8]);
    let url = full(b"url ", 0, 1, &[]);
    let dinf = bx(b"dinf", &[&full(b"dref", 0, 0, &Be::default().u32(1).bytes(&url).0)]);
    let minf = bx(b"minf", &[&vmhd, &dinf, &stbl(t, samples, offset, large)]);
    bx(b"mdia", &[&mdhd, &hdlr, &minf])
}

fn stbl(t: &VideoTrack<'_>, samples: &[Sample], offset: u64, large: bool) -> Vec<u8> {
    let n = samples.len() as u32;
    let stsd = full(b"stsd", 0, 0, &Be::default().u32(1).bytes(&avc1(t)).0);
    let stts = full(b"stts", 0, 0, &Be::default().u32(1).u32(n).u32(t.sample_delta).0);
    let sync: Vec<u32> = (1..=n).filter(|&i| samples[(i - 1) as usize].sync).collect();
    let mut stss = Be::default().u32(sync.len() as u32);
    for i in sync {
        stss = stss.u32(i);
    }
    let stss = full(b"stss", 0, 0, &stss.0);
    // One chunk holding every sample.
    let stsc = full(b"stsc", 0, 0, &Be::default().u32(1).u32(1).u32(n).u32(1).0);
    let mut stsz = Be::default().u32(0).u32(n);
    for s in samples {
        stsz = stsz.u32(s.data.len() as u32);
    }
    let stsz = full(b"stsz", 0, 0, &stsz.0);
    let stco = if large || offset > u64::from(u32::MAX) {
        full(b"co64", 0, 0, &Be::default().u32(1).u64(offset).0)
    } else {
        full(b"stco", 0, 0, &Be::default().u32(1).u32(offset as u32).0)
    };
    bx(b"stbl", &[&stsd, &stts, &stss, &stsc, &stsz, &stco])
}

fn avc1(t: &VideoTrack<'_>) -> Vec<u8> {
    let mut compressor = [0u8; 32];
    let name = b"OpenH264";
    compressor[0] = name.len() as u8;
    compressor[1..=name.len()].copy_from_slice(name);
    let b = Be::default()
        .zeros(6)
        .u16(1) // data_reference_index
        .zeros(16) // pre_defined, reserved
        .u16(t.width)
        .u16(t.height)
        .u32(0x0048_0000) // 72 dpi
        .u32(0x0048_0000)
        .u32(0)
        .u16(1) // frame_count
        .bytes(&compressor)
        .u16(0x0018) // depth
        .u16(0xFFFF); // pre_defined = -1
    let colr = bx(
        b"colr",
        &[
            b"nclx",
            &Be::default()
                .u16(t.colour.primaries)
                .u16(t.colour.transfer)
                .u16(t.colour.matrix)
                .u8(if t.colour.full_range { 0x80 } else { 0 })
                .0,
        ],
    );
    let pasp = bx(b"pasp", &[&Be::default().u32(1).u32(1).0]);
    bx(b"avc1", &[&b.0, &avcc(t.sps, t.pps), &colr, &pasp])
}

/// AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1).
fn avcc(sps: &[u8], pps: &[u8]) -> Vec<u8> {
    let profile = sps[1];
    let mut b = Be::default()
        .u8(1)
        .u8(profile)
        .u8(sps[2])
        .u8(sps[3])
        .u8(0xFF) // 4-byte NAL lengths
        .u8(0xE1) // one SPS
        .u16(sps.len() as u16)
        .bytes(sps)
        .u8(1)
        .u16(pps.len() as u16)
        .bytes(pps);
    if matches!(profile, 100 | 110 | 122 | 144) {
        // 4:2:0, 8-bit, no SPS extensions.
        b = b.u8(0xFC | 1).u8(0xF8).u8(0xF8).u8(0);
    }
    bx(b"avcC", &[&b.0])
}

/// `udta/meta/ilst` with `©too` and, if given, `©cmt` (UTF-8 `data` atoms).
fn udta(t: &VideoTrack<'_>) -> Vec<u8> {
    let item = |name: &[u8; 4], text: &str| {
        let data = bx(b"data", &[&1u32.to_be_bytes(), &0u32.to_be_bytes(), text.as_bytes()]);
        bx(name, &[&data])
    };
    let mut ilst = item(b"\xA9too", t.tool);
    if let Some(c) = t.comment {
        ilst.extend_from_slice(&item(b"\xA9cmt", c));
    }
    let hdlr = full(b"hdlr", 0, 0, &Be::default().u32(0).bytes(b"mdir").bytes(b"appl").zeros(8).u8(0).0);
    let meta = full(b"meta", 0, 0, &[hdlr, bx(b"ilst", &[&ilst])].concat());
    bx(b"udta", &[&meta])
}
