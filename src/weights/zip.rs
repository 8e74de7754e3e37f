//! A minimal, defensive, read-only ZIP reader for PyTorch checkpoints.
//!
//! `torch.save` writes an uncompressed ("stored") zip archive whose entries are the pickled
//! index (`<prefix>/data.pkl`) and one entry per tensor storage (`<prefix>/data/<key>`).
//! This reader lists the entries from the central directory (with ZIP64 support) and
//! tells where an entry's bytes lie in the file, so tensors can be read with a seek and a
//! read. Compressed entries are reported as errors, never inflated.
//!
//! Every size read from the file is checked against the file length and against fixed
//! limits before anything is allocated.
//!
//! Hand-rolled, with reason: a checkpoint needs only where each stored entry's bytes lie
//! (tensors of gigabytes are read by seeking, never inflated), checked against hostile
//! sizes; the `zip` crate's reader brings its decompressors and reads entries through its
//! own streams. This reader is about 450 lines, fuzzed with the checkpoint target (`fuzz/`).

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::weights::error::WeightsError;

const EOCD_SIG: u32 = 0x0605_4b50;
const EOCD64_LOCATOR_SIG: u32 = 0x0706_4b50;
const EOCD64_SIG: u32 = 0x0606_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;

const EOCD_LEN: u64 = 22;
const EOCD64_LOCATOR_LEN: u64 = 20;
const EOCD64_LEN: u64 = 56;
const CENTRAL_HEADER_LEN: usize = 46;
const LOCAL_HEADER_LEN: usize = 30;
/// The EOCD record may be followed by a comment of at most this many bytes.
const MAX_COMMENT_LEN: u64 = 0xFFFF;
/// Extra-field id of the ZIP64 extended information.
const ZIP64_EXTRA_ID: u16 = 0x0001;

/// Most entries an archive may list (a checkpoint has one per storage, plus a few).
pub const MAX_ENTRIES: u64 = 4_000_000;
/// Largest central directory we are willing to load into memory.
pub const MAX_CENTRAL_DIR_BYTES: u64 = 512 << 20;
/// Compression method "stored" (no compression), the only one we read.
pub const METHOD_STORED: u16 = 0;

/// One file inside the archive, as listed by the central directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipEntry {
    /// Path inside the archive, e.g. `archive/data/0`.
    pub name: String,
    /// Compression method (0 = stored, 8 = deflate, …).
    pub method: u16,
    /// General-purpose flags (bit 0: encrypted).
    pub flags: u16,
    /// CRC-32 of the uncompressed data.
    pub crc32: u32,
    /// Size of the data as stored in the file.
    pub compressed_size: u64,
    /// Size of the data once decompressed.
    pub uncompressed_size: u64,
    /// Offset of the entry's local header from the start of the file.
    pub local_header_offset: u64,
}

/// Where a stored entry's bytes lie in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataRange {
    /// Absolute offset of the first byte.
    pub offset: u64,
    /// Number of bytes.
    pub len: u64,
}

/// The directory of a ZIP archive.
#[derive(Debug)]
pub struct ZipArchive {
    path: PathBuf,
    file_len: u64,
    entries: Vec<ZipEntry>,
    by_name: HashMap<String, usize>,
}

/// Where the central directory is and how many entries it holds.
#[derive(Debug, Clone, Copy)]
struct Directory {
    entries: u64,
    size: u64,
    offset: u64,
    /// Offset of the first byte after the central directory's allowed area
    /// (the ZIP64 record or the EOCD).
    limit: u64,
}

impl ZipArchive {
    /// Reads the central directory of the archive in `reader`.
    ///
    /// `path` is used only in error messages.
    pub fn read<R: Read + Seek>(path: &Path, reader: &mut R) -> Result<Self, WeightsError> {
        let file_len = reader.seek(SeekFrom::End(0)).map_err(|e| WeightsError::io(path, "file length", e))?;
        let mut archive =
            ZipArchive { path: path.to_path_buf(), file_len, entries: Vec::new(), by_name: HashMap::new() };
        let dir = archive.find_directory(reader)?;
        archive.entries = archive.read_central_directory(reader, dir)?;
        for (i, e) in archive.entries.iter().enumerate() {
            archive.by_name.entry(e.name.clone()).or_insert(i);
        }
        Ok(archive)
    }

    /// All entries, in central-directory order.
    pub fn entries(&self) -> &[ZipEntry] {
        &self.entries
    }

    /// The first entry with exactly this name.
    pub fn find(&self, name: &str) -> Option<&ZipEntry> {
        self.by_name.get(name).and_then(|&i| self.entries.get(i))
    }

    /// Length of the whole file in bytes.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// The file this archive was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Locates the bytes of a stored entry by reading its local header.
    ///
    /// Fails for compressed or encrypted entries and for entries whose data would run
    /// past the end of the file.
    pub fn data_range<R: Read + Seek>(&self, reader: &mut R, entry: &ZipEntry) -> Result<DataRange, WeightsError> {
        self.check_stored(entry)?;
        let mut header = [0u8; LOCAL_HEADER_LEN];
        if entry.local_header_offset.saturating_add(LOCAL_HEADER_LEN as u64) > self.file_len {
            return Err(self.truncated(&format!("local header of '{}'", entry.name)));
        }
        read_at(reader, entry.local_header_offset, &mut header)
            .map_err(|e| WeightsError::io(&self.path, "zip local header", e))?;
        let mut c = LeCursor::new(&header);
        if c.u32() != Some(LOCAL_SIG) {
            return Err(self.zip_err(format!("entry '{}' does not start with a local file header", entry.name)));
        }
        let name_len = u64::from(c.u16_at(26).unwrap_or(0));
        let extra_len = u64::from(c.u16_at(28).unwrap_or(0));
        let offset = entry
            .local_header_offset
            .saturating_add(LOCAL_HEADER_LEN as u64)
            .saturating_add(name_len)
            .saturating_add(extra_len);
        let end = offset.saturating_add(entry.compressed_size);
        if end > self.file_len {
            return Err(self.truncated(&format!("data of '{}'", entry.name)));
        }
        Ok(DataRange { offset, len: entry.compressed_size })
    }

    /// Reads a whole stored entry into memory and checks its CRC-32.
    ///
    /// Fails if the entry is larger than `max_len` bytes.
    pub fn read_entry<R: Read + Seek>(
        &self,
        reader: &mut R,
        entry: &ZipEntry,
        max_len: u64,
    ) -> Result<Vec<u8>, WeightsError> {
        let range = self.data_range(reader, entry)?;
        if range.len > max_len {
            return Err(self.zip_err(format!(
                "entry '{}' is {} bytes, more than the {} bytes allowed",
                entry.name, range.len, max_len
            )));
        }
        let len =
            usize::try_from(range.len).map_err(|_| self.zip_err(format!("entry '{}' is too large", entry.name)))?;
        // The length was checked against the file length in `data_range`.
        let mut buf = vec![0u8; len];
        read_at(reader, range.offset, &mut buf)
            .map_err(|e| WeightsError::io(&self.path, &format!("entry '{}'", entry.name), e))?;
        if crc32(&buf) != entry.crc32 {
            return Err(WeightsError::Corrupt {
                path: self.path.clone(),
                what: format!("entry '{}' fails its CRC-32 check", entry.name),
            });
        }
        Ok(buf)
    }

    fn check_stored(&self, entry: &ZipEntry) -> Result<(), WeightsError> {
        if entry.flags & 1 != 0 {
            return Err(self.zip_err(format!("entry '{}' is encrypted", entry.name)));
        }
        if entry.method != METHOD_STORED {
            return Err(self.zip_err(format!(
                "entry '{}' is compressed (method {}); PyTorch writes checkpoints uncompressed — \
                 the file was probably re-zipped: extract it and use the original file",
                entry.name, entry.method
            )));
        }
        if entry.compressed_size != entry.uncompressed_size {
            return Err(self.zip_err(format!(
                "stored entry '{}' has different stored ({}) and real ({}) sizes",
                entry.name, entry.compressed_size, entry.uncompressed_size
            )));
        }
        Ok(())
    }

    /// Finds the (ZIP64) end-of-central-directory record.
    fn find_directory<R: Read + Seek>(&self, reader: &mut R) -> Result<Directory, WeightsError> {
        if self.file_len < EOCD_LEN {
            return Err(self.truncated("the file is too short to be a zip archive"));
        }
        let tail_len = self.file_len.min(EOCD_LEN + MAX_COMMENT_LEN);
        let tail_start = self.file_len - tail_len;
        let mut tail = vec![0u8; usize::try_from(tail_len).unwrap_or(0)];
        read_at(reader, tail_start, &mut tail).map_err(|e| WeightsError::io(&self.path, "zip directory", e))?;
        let Some(pos) = find_eocd(&tail) else {
            return Err(self.truncated("the zip directory at the end of the file is missing"));
        };
        let eocd_pos = tail_start + pos as u64;
        let rec = tail.get(pos..).unwrap_or(&[]);
        let c = LeCursor::new(rec);
        let entries = u64::from(c.u16_at(10).unwrap_or(0));
        let size = u64::from(c.u32_at(12).unwrap_or(0));
        let offset = u64::from(c.u32_at(16).unwrap_or(0));
        let needs64 = entries == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF;
        if let Some(dir) = self.read_zip64_directory(reader, eocd_pos)? {
            return Ok(dir);
        }
        if needs64 {
            return Err(self.zip_err("ZIP64 end-of-directory record is missing".into()));
        }
        Ok(Directory { entries, size, offset, limit: eocd_pos })
    }

    /// Reads the ZIP64 locator just before the EOCD and the record it points to, if any.
    fn read_zip64_directory<R: Read + Seek>(
        &self,
        reader: &mut R,
        eocd_pos: u64,
    ) -> Result<Option<Directory>, WeightsError> {
        let Some(locator_pos) = eocd_pos.checked_sub(EOCD64_LOCATOR_LEN) else {
            return Ok(None);
        };
        let mut locator = [0u8; EOCD64_LOCATOR_LEN as usize];
        read_at(reader, locator_pos, &mut locator).map_err(|e| WeightsError::io(&self.path, "zip64 locator", e))?;
        let c = LeCursor::new(&locator);
        if c.u32_at(0) != Some(EOCD64_LOCATOR_SIG) {
            return Ok(None);
        }
        let record_pos = c.u64_at(8).unwrap_or(u64::MAX);
        if record_pos.saturating_add(EOCD64_LEN) > locator_pos {
            return Err(self.zip_err("ZIP64 locator points outside the file".into()));
        }
        let mut record = [0u8; EOCD64_LEN as usize];
        read_at(reader, record_pos, &mut record)
            .map_err(|e| WeightsError::io(&self.path, "zip64 directory record", e))?;
        let c = LeCursor::new(&record);
        if c.u32_at(0) != Some(EOCD64_SIG) {
            return Err(self.zip_err("ZIP64 end-of-directory record is damaged".into()));
        }
        Ok(Some(Directory {
            entries: c.u64_at(32).unwrap_or(0),
            size: c.u64_at(40).unwrap_or(0),
            offset: c.u64_at(48).unwrap_or(0),
            limit: record_pos,
        }))
    }

    /// Loads and parses the central directory.
    fn read_central_directory<R: Read + Seek>(
        &self,
        reader: &mut R,
        dir: Directory,
    ) -> Result<Vec<ZipEntry>, WeightsError> {
        if dir.offset.saturating_add(dir.size) > dir.limit {
            return Err(self.zip_err(format!(
                "central directory ({} bytes at offset {}) lies outside the archive",
                dir.size, dir.offset
            )));
        }
        if dir.size > MAX_CENTRAL_DIR_BYTES {
            return Err(self.zip_err(format!("central directory is too large ({} bytes)", dir.size)));
        }
        if dir.entries > MAX_ENTRIES || dir.entries.saturating_mul(CENTRAL_HEADER_LEN as u64) > dir.size {
            return Err(self.zip_err(format!("central directory claims {} entries in {} bytes", dir.entries, dir.size)));
        }
        let mut buf = vec![0u8; usize::try_from(dir.size).unwrap_or(0)];
        read_at(reader, dir.offset, &mut buf).map_err(|e| WeightsError::io(&self.path, "zip central directory", e))?;
        let count = usize::try_from(dir.entries).unwrap_or(0);
        let mut entries = Vec::with_capacity(count);
        let mut pos = 0usize;
        for index in 0..count {
            let (entry, next) = self.parse_central_entry(&buf, pos, index, dir.offset)?;
            entries.push(entry);
            pos = next;
        }
        Ok(entries)
    }

    /// Parses one central-directory header at `pos` of `buf`; returns it and the next position.
    fn parse_central_entry(
        &self,
        buf: &[u8],
        pos: usize,
        index: usize,
        cd_offset: u64,
    ) -> Result<(ZipEntry, usize), WeightsError> {
        let bad = |what: &str| self.zip_err(format!("central directory entry {index}: {what}"));
        let rec = buf.get(pos..).ok_or_else(|| bad("out of range"))?;
        let c = LeCursor::new(rec);
        if rec.len() < CENTRAL_HEADER_LEN || c.u32_at(0) != Some(CENTRAL_SIG) {
            return Err(bad("bad signature"));
        }
        let flags = c.u16_at(8).unwrap_or(0);
        let method = c.u16_at(10).unwrap_or(0);
        let crc32 = c.u32_at(16).unwrap_or(0);
        let mut compressed_size = u64::from(c.u32_at(20).unwrap_or(0));
        let mut uncompressed_size = u64::from(c.u32_at(24).unwrap_or(0));
        let name_len = usize::from(c.u16_at(28).unwrap_or(0));
        let extra_len = usize::from(c.u16_at(30).unwrap_or(0));
        let comment_len = usize::from(c.u16_at(32).unwrap_or(0));
        let mut local_header_offset = u64::from(c.u32_at(42).unwrap_or(0));

        let name_end = CENTRAL_HEADER_LEN + name_len;
        let extra_end = name_end + extra_len;
        let total = extra_end + comment_len;
        let name_bytes = rec.get(CENTRAL_HEADER_LEN..name_end).ok_or_else(|| bad("name runs past the directory"))?;
        let extra = rec.get(name_end..extra_end).ok_or_else(|| bad("extra field runs past the directory"))?;
        if rec.len() < total {
            return Err(bad("comment runs past the directory"));
        }
        let name = String::from_utf8_lossy(name_bytes).into_owned();

        let want_uncompressed = uncompressed_size == 0xFFFF_FFFF;
        let want_compressed = compressed_size == 0xFFFF_FFFF;
        let want_offset = local_header_offset == 0xFFFF_FFFF;
        if want_uncompressed || want_compressed || want_offset {
            let z = find_extra(extra, ZIP64_EXTRA_ID).ok_or_else(|| bad("ZIP64 sizes are missing"))?;
            let mut zc = LeCursor::new(z);
            let mut take = |wanted: bool, value: &mut u64| -> Result<(), WeightsError> {
                if wanted {
                    *value = zc.u64().ok_or_else(|| bad("ZIP64 extra field is too short"))?;
                }
                Ok(())
            };
            take(want_uncompressed, &mut uncompressed_size)?;
            take(want_compressed, &mut compressed_size)?;
            take(want_offset, &mut local_header_offset)?;
        }
        if local_header_offset.saturating_add(LOCAL_HEADER_LEN as u64) > cd_offset {
            return Err(bad("local header offset lies outside the archive"));
        }
        if compressed_size > cd_offset {
            return Err(bad("entry is larger than the archive"));
        }
        let entry = ZipEntry { name, method, flags, crc32, compressed_size, uncompressed_size, local_header_offset };
        Ok((entry, pos + total))
    }

    fn zip_err(&self, msg: String) -> WeightsError {
        WeightsError::Zip { path: self.path.clone(), msg }
    }

    fn truncated(&self, what: &str) -> WeightsError {
        WeightsError::Truncated { path: self.path.clone(), what: what.to_owned() }
    }
}

/// Position of the last EOCD signature in `tail` whose comment fits in what follows.
fn find_eocd(tail: &[u8]) -> Option<usize> {
    let last = tail.len().checked_sub(EOCD_LEN as usize)?;
    (0..=last).rev().find(|&i| {
        let c = LeCursor::new(tail.get(i..).unwrap_or(&[]));
        if c.u32_at(0) != Some(EOCD_SIG) {
            return false;
        }
        let comment = usize::from(c.u16_at(20).unwrap_or(u16::MAX));
        i + EOCD_LEN as usize + comment <= tail.len()
    })
}

/// The payload of the extra-field block with header id `id`.
fn find_extra(mut extra: &[u8], id: u16) -> Option<&[u8]> {
    while extra.len() >= 4 {
        let c = LeCursor::new(extra);
        let this_id = c.u16_at(0)?;
        let len = usize::from(c.u16_at(2)?);
        let body = extra.get(4..4 + len)?;
        if this_id == id {
            return Some(body);
        }
        extra = extra.get(4 + len..)?;
    }
    None
}

/// Seeks to `offset` and fills `buf`.
pub(crate) fn read_at<R: Read + Seek>(reader: &mut R, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
    reader.seek(SeekFrom::Start(offset))?;
    reader.read_exact(buf)
}

/// Bounds-checked little-endian reads from a byte slice.
#[derive(Debug, Clone, Copy)]
struct LeCursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> LeCursor<'a> {
    fn new(buf: &'a [u8]) -> Self {
        LeCursor { buf, pos: 0 }
    }

    fn bytes<const N: usize>(&self, at: usize) -> Option<[u8; N]> {
        self.buf.get(at..at.checked_add(N)?)?.try_into().ok()
    }

    fn u16_at(&self, at: usize) -> Option<u16> {
        self.bytes(at).map(u16::from_le_bytes)
    }

    fn u32_at(&self, at: usize) -> Option<u32> {
        self.bytes(at).map(u32::from_le_bytes)
    }

    fn u64_at(&self, at: usize) -> Option<u64> {
        self.bytes(at).map(u64::from_le_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        let v = self.u32_at(self.pos)?;
        self.pos += 4;
        Some(v)
    }

    fn u64(&mut self) -> Option<u64> {
        let v = self.u64_at(self.pos)?;
        self.pos += 8;
        Some(v)
    }
}

/// CRC-32 (IEEE, as used by ZIP) of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// Options for the test archive writer.
    #[derive(Default)]
    struct Opts {
        zip64: bool,
        comment: Vec<u8>,
        method: u16,
        local_extra: usize,
    }

    /// Writes a stored zip of `files`.
    fn write_zip(files: &[(&str, &[u8])], opts: &Opts) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data) in files {
            let offset = out.len() as u64;
            let crc = crc32(data);
            out.extend_from_slice(&LOCAL_SIG.to_le_bytes());
            out.extend_from_slice(&[20, 0, 0, 0]);
            out.extend_from_slice(&opts.method.to_le_bytes());
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&(opts.local_extra as u16).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend(std::iter::repeat_n(0u8, opts.local_extra));
            out.extend_from_slice(data);

            let mut extra = Vec::new();
            let (size32, off32) = if opts.zip64 {
                extra.extend_from_slice(&ZIP64_EXTRA_ID.to_le_bytes());
                extra.extend_from_slice(&24u16.to_le_bytes());
                extra.extend_from_slice(&(data.len() as u64).to_le_bytes());
                extra.extend_from_slice(&(data.len() as u64).to_le_bytes());
                extra.extend_from_slice(&offset.to_le_bytes());
                (0xFFFF_FFFFu32, 0xFFFF_FFFFu32)
            } else {
                (data.len() as u32, offset as u32)
            };
            central.extend_from_slice(&CENTRAL_SIG.to_le_bytes());
            central.extend_from_slice(&[45, 0, 45, 0, 0, 0]);
            central.extend_from_slice(&opts.method.to_le_bytes());
            central.extend_from_slice(&[0; 4]);
            central.extend_from_slice(&crc.to_le_bytes());
            central.extend_from_slice(&size32.to_le_bytes());
            central.extend_from_slice(&size32.to_le_bytes());
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&(extra.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0; 10]);
            central.extend_from_slice(&off32.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
            central.extend_from_slice(&extra);
        }
        let cd_offset = out.len() as u64;
        out.extend_from_slice(&central);
        let n = files.len() as u64;
        if opts.zip64 {
            let rec_pos = out.len() as u64;
            out.extend_from_slice(&EOCD64_SIG.to_le_bytes());
            out.extend_from_slice(&44u64.to_le_bytes());
            out.extend_from_slice(&[45, 0, 45, 0]);
            out.extend_from_slice(&[0; 8]);
            out.extend_from_slice(&n.to_le_bytes());
            out.extend_from_slice(&n.to_le_bytes());
            out.extend_from_slice(&(central.len() as u64).to_le_bytes());
            out.extend_from_slice(&cd_offset.to_le_bytes());
            out.extend_from_slice(&EOCD64_LOCATOR_SIG.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&rec_pos.to_le_bytes());
            out.extend_from_slice(&1u32.to_le_bytes());
        }
        out.extend_from_slice(&EOCD_SIG.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        let n16 = if opts.zip64 { 0xFFFF } else { n as u16 };
        out.extend_from_slice(&n16.to_le_bytes());
        out.extend_from_slice(&n16.to_le_bytes());
        let (size32, off32) =
            if opts.zip64 { (0xFFFF_FFFFu32, 0xFFFF_FFFFu32) } else { (central.len() as u32, cd_offset as u32) };
        out.extend_from_slice(&size32.to_le_bytes());
        out.extend_from_slice(&off32.to_le_bytes());
        out.extend_from_slice(&(opts.comment.len() as u16).to_le_bytes());
        out.extend_from_slice(&opts.comment);
        out
    }

    fn open(bytes: &[u8]) -> Result<(ZipArchive, Cursor<&[u8]>), WeightsError> {
        let mut cur = Cursor::new(bytes);
        let z = ZipArchive::read(Path::new("test.zip"), &mut cur)?;
        Ok((z, cur))
    }

    const FILES: &[(&str, &[u8])] = &[("a/data.pkl", b"hello"), ("a/data/0", b"0123456789"), ("a/empty", b"")];

    #[test]
    fn crc32_known_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    fn check_contents(bytes: &[u8]) {
        let (z, mut cur) = open(bytes).unwrap();
        assert_eq!(z.entries().len(), 3);
        for (name, data) in FILES {
            let e = z.find(name).unwrap().clone();
            assert_eq!(e.uncompressed_size, data.len() as u64);
            assert_eq!(&z.read_entry(&mut cur, &e, 100).unwrap(), data);
        }
    }

    #[test]
    fn reads_plain_zip() {
        check_contents(&write_zip(FILES, &Opts::default()));
    }

    #[test]
    fn reads_zip64_with_comment_and_local_padding() {
        let opts = Opts { zip64: true, comment: b"a comment PK\x05\x06".to_vec(), local_extra: 37, ..Opts::default() };
        check_contents(&write_zip(FILES, &opts));
    }

    #[test]
    fn compressed_entry_is_refused() {
        let bytes = write_zip(FILES, &Opts { method: 8, ..Opts::default() });
        let (z, mut cur) = open(&bytes).unwrap();
        let e = z.find("a/data.pkl").unwrap().clone();
        let err = z.read_entry(&mut cur, &e, 100).unwrap_err();
        assert!(err.to_string().contains("compressed (method 8)"), "{err}");
    }

    #[test]
    fn entry_over_limit_is_refused() {
        let bytes = write_zip(FILES, &Opts::default());
        let (z, mut cur) = open(&bytes).unwrap();
        let e = z.find("a/data/0").unwrap().clone();
        assert!(z.read_entry(&mut cur, &e, 4).is_err());
    }

    #[test]
    fn crc_mismatch_is_detected() {
        let mut bytes = write_zip(FILES, &Opts::default());
        // Flip a byte of "hello" (after the 30-byte header and the 10-byte name).
        bytes[41] ^= 0xFF;
        let (z, mut cur) = open(&bytes).unwrap();
        let e = z.find("a/data.pkl").unwrap().clone();
        assert!(matches!(z.read_entry(&mut cur, &e, 100), Err(WeightsError::Corrupt { .. })));
    }

    #[test]
    fn every_truncation_and_corruption_fails_cleanly() {
        for zip64 in [false, true] {
            let bytes = write_zip(FILES, &Opts { zip64, ..Opts::default() });
            for len in 0..bytes.len() {
                if let Ok((z, mut cur)) = open(&bytes[..len]) {
                    for e in z.entries().to_vec() {
                        let _ = z.read_entry(&mut cur, &e, 1000);
                    }
                }
            }
            for i in 0..bytes.len() {
                for flip in [0x01u8, 0x80, 0xFF] {
                    let mut b = bytes.clone();
                    b[i] ^= flip;
                    if let Ok((z, mut cur)) = open(&b) {
                        for e in z.entries().to_vec() {
                            let _ = z.read_entry(&mut cur, &e, 1000);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn missing_directory_is_truncation() {
        let bytes = write_zip(FILES, &Opts::default());
        let err = open(&bytes[..bytes.len() - 30]).unwrap_err();
        assert!(matches!(err, WeightsError::Truncated { .. }), "{err}");
    }

    #[test]
    fn huge_entry_count_is_refused_without_allocating() {
        let mut bytes = write_zip(FILES, &Opts::default());
        let n = bytes.len();
        // Total-entries field of the EOCD.
        bytes[n - 12..n - 10].copy_from_slice(&0xFFFEu16.to_le_bytes());
        assert!(matches!(open(&bytes), Err(WeightsError::Zip { .. })));
    }
}
