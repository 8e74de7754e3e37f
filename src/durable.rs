//! Writes that survive a power loss: a file's data is flushed to the disk before a rename
//! publishes it, and the folder is flushed after the rename. Used by the history and the
//! model import (the export flushes through its own writers, `export::atomic`).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Creates `path`, lets `fill` write it, and flushes it to the disk.
pub fn write_with(path: &Path, fill: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>) -> io::Result<()> {
    let mut w = BufWriter::new(File::create(path)?);
    fill(&mut w)?;
    w.flush()?;
    w.get_ref().sync_all()
}

/// Flushes a folder's entries (new names, renames) to the disk. Only Unix lets a program
/// open a folder for this; NTFS journals its metadata itself.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
