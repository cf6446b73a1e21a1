//! One pass over a stored file: the catalog's reader hashes and decodes it
//! ([`ops_catalog::codec::scan_file`]), and pg-archive reads the decoded bytes as they come:
//! the whole archive when it is one file, or one file of a directory archive, which
//! [`structure`] then puts together.

use crate::checks::ReadError;
use ops_catalog::catalog::{DumpFormat, Manifest};
use ops_catalog::codec;
pub use ops_catalog::codec::{Decoded, Layout};
use pg_archive::directory::{self, DataFile, FileRead};
use pg_archive::{ArchiveError, Reader, Summary};
use std::collections::HashMap;
use std::io;
use std::path::Path;

/// What pg-archive makes of one file of a set.
#[derive(Debug)]
pub enum Read {
    /// A whole single-file archive (custom, plain).
    Archive(Result<Summary, ArchiveError>),
    /// A directory archive's `toc.dat`: its bytes, read by [`structure`].
    Toc(Vec<u8>),
    /// Another file of a directory archive.
    File(Result<FileRead, ArchiveError>),
    /// Not part of the archive (a globals set's server settings).
    Nothing,
}

/// How one file of a set is read: from its manifest entry and the set's format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    Archive,
    /// A directory archive's file, by pg_dump's own name (without the compression's).
    Directory(String),
    Nothing,
}

impl Reading {
    /// The reading of the `index`-th file of `m`.
    pub fn of(m: &Manifest, index: usize) -> Reading {
        match m.format {
            DumpFormat::Directory => {
                let name = &m.files[index].name;
                let raw = name.strip_suffix(m.compression.extension()).unwrap_or(name);
                Reading::Directory(raw.to_string())
            }
            _ if index == 0 => Reading::Archive,
            _ => Reading::Nothing,
        }
    }
}

/// What one pass over a file found.
#[derive(Debug)]
pub struct Scan {
    pub stored_bytes: u64,
    pub stored_sha256: String,
    /// What decoding found, or why the file could not be decompressed to its end.
    pub decode: Result<Decoded, String>,
    /// What pg-archive read.
    pub read: Read,
}

/// Where pg-archive's reading of one file is.
enum Parser {
    Archive(Reader),
    Toc(Vec<u8>),
    File(Option<DataFile>),
    Nothing,
}

/// Reads `path` once, counting the decoded bytes into `progress`. `Err` only when the
/// file cannot be opened or read at all.
pub fn scan_file(
    path: &Path,
    layout: Layout,
    reading: &Reading,
    progress: &ops_core::progress::Counter,
) -> io::Result<Scan> {
    let mut reader = match reading {
        Reading::Archive => Parser::Archive(Reader::new()),
        Reading::Directory(name) if name == directory::TOC_FILE => Parser::Toc(Vec::new()),
        Reading::Directory(name) => Parser::File(DataFile::for_name(name, false)),
        Reading::Nothing => Parser::Nothing,
    };
    let mut failed: Option<ArchiveError> = None;
    let s = codec::scan_file(path, layout, &mut |bytes: &[u8]| {
        progress.inc(bytes.len() as u64);
        if failed.is_some() {
            return;
        }
        failed = match &mut reader {
            Parser::Archive(r) => r.feed(bytes).err(),
            Parser::File(Some(r)) => r.feed(bytes).err(),
            Parser::Toc(buf) => {
                buf.extend_from_slice(bytes);
                None
            }
            Parser::File(None) | Parser::Nothing => None,
        };
    })?;
    let read = match (reader, failed) {
        (Parser::Archive(_), Some(e)) => Read::Archive(Err(e)),
        (Parser::Archive(r), None) => Read::Archive(r.finish()),
        (Parser::Toc(buf), _) => Read::Toc(buf),
        (Parser::File(_), Some(e)) => Read::File(Err(e)),
        (Parser::File(Some(r)), None) => Read::File(r.finish()),
        (Parser::File(None), None) => Read::File(Err(ArchiveError::Corrupt {
            offset: 0,
            what: "not a file of a directory archive".into(),
        })),
        (Parser::Nothing, _) => Read::Nothing,
    };
    Ok(Scan {
        stored_bytes: s.stored_bytes,
        stored_sha256: s.stored_sha256,
        decode: s.decode,
        read,
    })
}

/// The archive of a set from the scans of its files (in manifest order): the first file's
/// for a single-file archive; for a directory archive, its TOC and every file put together
/// (an error names the file). `None` when a file the archive needs could not be read.
pub fn structure(
    m: &Manifest,
    scans: &[Result<Scan, ReadError>],
) -> Option<Result<Summary, ArchiveError>> {
    if m.format != DumpFormat::Directory {
        return match scans.first()? {
            Ok(Scan {
                read: Read::Archive(r),
                ..
            }) => Some(r.clone()),
            _ => None,
        };
    }
    let mut toc = None;
    let mut files = HashMap::new();
    let mut raw = 0u64;
    for (i, scan) in scans.iter().enumerate() {
        let scan = scan.as_ref().ok()?;
        let Reading::Directory(name) = Reading::of(m, i) else {
            return None;
        };
        raw += scan.decode.as_ref().map_or(0, |d| d.raw_bytes);
        match &scan.read {
            Read::Toc(bytes) => toc = Some(bytes),
            Read::File(Ok(read)) => {
                files.insert(name, read.clone());
            }
            Read::File(Err(e)) => return Some(Err(in_file(&name, e))),
            Read::Archive(_) | Read::Nothing => return None,
        }
    }
    let Some(toc) = toc else {
        return Some(Err(ArchiveError::Truncated(
            "the set lists no toc.dat".into(),
        )));
    };
    Some(directory::read_toc(toc).and_then(|t| directory::summarize(t, &files, raw)))
}

/// `e`, saying which file of a directory archive it is about.
fn in_file(name: &str, e: &ArchiveError) -> ArchiveError {
    match e {
        ArchiveError::Corrupt { offset, what } => ArchiveError::Corrupt {
            offset: *offset,
            what: format!("{name}: {what}"),
        },
        ArchiveError::Truncated(what) => ArchiveError::Truncated(format!("{name}: {what}")),
        other => other.clone(),
    }
}
