//! One pass over a stored file: the catalog's reader hashes and decodes it
//! ([`ops_catalog::codec::scan_file`]), and pg-archive reads the decoded bytes as they come.

use ops_catalog::codec;
pub use ops_catalog::codec::{Decoded, Layout};
use pg_archive::{ArchiveError, Reader, Summary};
use std::io;
use std::path::Path;

/// What one pass over a file found.
#[derive(Debug)]
pub struct Scan {
    pub stored_bytes: u64,
    pub stored_sha256: String,
    /// What decoding found, or why the file could not be decompressed to its end.
    pub decode: Result<Decoded, String>,
    /// The archive as pg-archive read it.
    pub structure: Result<Summary, ArchiveError>,
}

/// Reads `path` once, counting the decoded bytes into `progress`. `Err` only when the
/// file cannot be opened or read at all.
pub fn scan_file(
    path: &Path,
    layout: Layout,
    progress: &ops_core::progress::Counter,
) -> io::Result<Scan> {
    let mut reader = Reader::new();
    let mut failed: Option<ArchiveError> = None;
    let s = codec::scan_file(path, layout, &mut |bytes: &[u8]| {
        progress.inc(bytes.len() as u64);
        if failed.is_none() {
            failed = reader.feed(bytes).err();
        }
    })?;
    Ok(Scan {
        stored_bytes: s.stored_bytes,
        stored_sha256: s.stored_sha256,
        decode: s.decode,
        structure: match failed {
            Some(e) => Err(e),
            None => reader.finish(),
        },
    })
}
