//! The directory format (`pg_dump -Fd`), as `pg_backup_directory.c` writes it:
//!
//! ```text
//! toc.dat                the custom format's header and TOC (format byte 3), each entry
//!                        ending with the name of its data file ("" when it has none)
//! <dump id>.dat          one per TABLE DATA entry: its COPY text, ending with `\.`
//! blobs.toc              large objects (pg_dump ≤ 16; 17+: blobs_<dump id>.toc, one per
//!                        BLOBS entry): lines "<oid> blob_<oid>.dat"
//! blob_<oid>.dat         one large object's bytes
//! ```
//! With `--compress`, pg_dump appends `.gz`, `.lz4` or `.zst` to the data files; pgops dumps
//! with `-Z0` and compresses the files itself, so the readers here take the raw bytes.
//! pg_dump writes the data files from its `-j` workers, in any order, and `toc.dat` last.
//!
//! Names come from the archive: any name that is not one of the forms above is an error, so
//! a forged `toc.dat` cannot point a reader outside its directory.

use crate::custom::{self, BlockCompression, Counted, Cur, Layout, Sink, Stop};
use crate::{ArchiveError, Format, Summary, TableCount, TocEntry};
use std::collections::HashMap;

/// The name of the table of contents in a directory archive.
pub const TOC_FILE: &str = "toc.dat";

/// `toc.dat`, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toc {
    pub archive_version: (u8, u8, u8),
    pub compression: BlockCompression,
    pub dbname: Option<String>,
    pub server_version: Option<String>,
    pub pg_dump_version: Option<String>,
    pub entries: Vec<TocEntry>,
}

/// What a file of a directory archive is, from its name alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `toc.dat`.
    Toc,
    /// `<dump id>.dat`: one entry's data.
    Data(i64),
    /// `blobs.toc`, `blobs_<dump id>.toc`: the large objects of a BLOBS entry.
    BlobsToc,
    /// `blob_<oid>.dat`: one large object.
    Blob(u64),
}

impl FileKind {
    /// The kind of `name`, or `None` when pg_dump never writes such a name. Only canonical
    /// numbers count (no sign, no leading zero), so one file has one name.
    pub fn of(name: &str) -> Option<FileKind> {
        fn number(s: &str) -> Option<u64> {
            let canonical = !s.is_empty()
                && s.bytes().all(|b| b.is_ascii_digit())
                && !(s.len() > 1 && s.starts_with('0'));
            canonical.then(|| s.parse().ok()).flatten()
        }
        if name == TOC_FILE || name == "blobs.toc" {
            return Some(if name == TOC_FILE {
                FileKind::Toc
            } else {
                FileKind::BlobsToc
            });
        }
        if let Some(id) = name
            .strip_prefix("blobs_")
            .and_then(|r| r.strip_suffix(".toc"))
        {
            return number(id).map(|_| FileKind::BlobsToc);
        }
        let stem = name.strip_suffix(".dat")?;
        if let Some(oid) = stem.strip_prefix("blob_") {
            return number(oid).map(FileKind::Blob);
        }
        number(stem)
            .and_then(|id| i64::try_from(id).ok())
            .map(FileKind::Data)
    }
}

/// Reads a whole `toc.dat`.
pub fn read_toc(bytes: &[u8]) -> Result<Toc, ArchiveError> {
    if bytes.is_empty() {
        return Err(ArchiveError::Empty);
    }
    let mut c = Cur {
        b: bytes,
        pos: 0,
        int_size: 4,
    };
    let parsed = custom::parse_head(&mut c, Layout::Directory).and_then(|head| {
        let entries = custom::parse_toc(&mut c, &head, Layout::Directory)?;
        Ok((head, entries))
    });
    let (head, entries) = match parsed {
        Ok(p) => p,
        Err(Stop::More) => {
            return Err(ArchiveError::Truncated(
                "inside the header or the table of contents".into(),
            ))
        }
        Err(Stop::Version((a, b, c))) => return Err(ArchiveError::UnsupportedVersion(a, b, c)),
        Err(Stop::Bad(pos, what)) => {
            return Err(ArchiveError::Corrupt {
                offset: pos as u64,
                what,
            })
        }
    };
    if c.pos != bytes.len() {
        return Err(ArchiveError::Corrupt {
            offset: c.pos as u64,
            what: "bytes after the table of contents".into(),
        });
    }
    let mut seen = std::collections::HashSet::new();
    for e in &entries {
        let Some(file) = &e.file else { continue };
        let fits = match FileKind::of(file) {
            Some(FileKind::Data(id)) => id == e.dump_id && e.desc != "BLOBS",
            Some(FileKind::BlobsToc) => e.desc == "BLOBS",
            _ => false,
        };
        if !fits || !seen.insert(file.as_str()) {
            return Err(ArchiveError::Corrupt {
                offset: 0,
                what: format!(
                    "{} {}.{} (dump id {}) names the data file {file:?}",
                    e.desc, e.namespace, e.tag, e.dump_id
                ),
            });
        }
    }
    Ok(Toc {
        archive_version: head.version,
        compression: head.compression,
        dbname: head.dbname,
        server_version: head.server_version,
        pg_dump_version: head.pg_dump_version,
        entries,
    })
}

/// The large objects a `blobs….toc` lists: `(oid, file)` in order.
pub fn read_blobs_toc(bytes: &[u8]) -> Result<Vec<(u64, String)>, ArchiveError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ArchiveError::Corrupt {
        offset: e.valid_up_to() as u64,
        what: "a large objects list that is not text".into(),
    })?;
    let mut out = Vec::new();
    let mut offset = 0u64;
    for line in text.split_inclusive('\n') {
        let body = line.strip_suffix('\n').ok_or_else(|| {
            ArchiveError::Truncated("inside the last line of a large objects list".into())
        })?;
        let parsed = body.split_once(' ').and_then(|(oid, file)| {
            match (oid.parse::<u64>().ok(), FileKind::of(file)) {
                (Some(oid), Some(FileKind::Blob(named))) if named == oid => {
                    Some((oid, file.to_string()))
                }
                _ => None,
            }
        });
        out.push(parsed.ok_or_else(|| ArchiveError::Corrupt {
            offset,
            what: format!("{body:?} is not a large object's line"),
        })?);
        offset += line.len() as u64;
    }
    Ok(out)
}

/// What one file of the archive held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileRead {
    /// A table's data: read as COPY text or not, its rows (and digest).
    Table { copy: bool, counted: Counted },
    /// A large object's bytes.
    LargeObject,
    /// A `blobs….toc`: the large objects it lists, `(oid, file)`.
    BlobsList(Vec<(u64, String)>),
}

enum Reading {
    Table { sink: Box<Sink>, copy: bool },
    LargeObject,
    BlobsList(Vec<u8>),
}

/// The reader of one file of the archive, chosen by its name ([`FileKind`]): a table's COPY
/// rows (counted and digested, as in a custom archive's block), a large object's bytes, or
/// a list of large objects.
pub struct DataFile {
    reading: Reading,
    bytes: u64,
}

impl std::fmt::Debug for DataFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataFile")
            .field("bytes", &self.bytes)
            .finish()
    }
}

/// A list of large objects bigger than this is not pg_dump's (a line is < 40 bytes).
const MAX_BLOBS_LIST: usize = 1 << 30;

impl DataFile {
    /// The reader for the file `name`, or `None` for `toc.dat` and names pg_dump never
    /// writes. A table's file is read as COPY text (`copy`): what pgops' dumps hold; the
    /// summary checks it against the TOC.
    pub fn for_name(name: &str, digest: bool) -> Option<DataFile> {
        let reading = match FileKind::of(name)? {
            FileKind::Toc => return None,
            FileKind::Data(_) => Reading::Table {
                sink: Box::new(Sink::new(BlockCompression::None, digest)),
                copy: true,
            },
            FileKind::Blob(_) => Reading::LargeObject,
            FileKind::BlobsToc => Reading::BlobsList(Vec::new()),
        };
        Some(DataFile { reading, bytes: 0 })
    }

    pub fn feed(&mut self, data: &[u8]) -> Result<(), ArchiveError> {
        self.bytes += data.len() as u64;
        match &mut self.reading {
            Reading::Table { sink, .. } => sink.feed(data).map_err(|what| ArchiveError::Corrupt {
                offset: self.bytes,
                what,
            }),
            Reading::LargeObject => Ok(()),
            Reading::BlobsList(buf) => {
                if buf.len() + data.len() > MAX_BLOBS_LIST {
                    return Err(ArchiveError::Corrupt {
                        offset: self.bytes,
                        what: "a large objects list that does not end".into(),
                    });
                }
                buf.extend_from_slice(data);
                Ok(())
            }
        }
    }

    /// What a complete file held; a table's file must end with a whole row and its `\.`
    /// line.
    pub fn finish(self) -> Result<FileRead, ArchiveError> {
        match self.reading {
            Reading::Table { sink, copy } => sink
                .finish(true, copy)
                .map(|counted| FileRead::Table { copy, counted })
                .map_err(ArchiveError::Truncated),
            Reading::LargeObject => Ok(FileRead::LargeObject),
            Reading::BlobsList(buf) => read_blobs_toc(&buf).map(FileRead::BlobsList),
        }
    }
}

/// The archive's summary, from its TOC and what each of its files held (by name): every
/// file the TOC and its large object lists name must have been read, as what they name,
/// and no other (`bytes`: the raw size of them all).
pub fn summarize(
    toc: Toc,
    files: &HashMap<String, FileRead>,
    bytes: u64,
) -> Result<Summary, ArchiveError> {
    let corrupt = |what: String| ArchiveError::Corrupt { offset: 0, what };
    let mut named = std::collections::HashSet::new();
    let mut large_objects = 0u64;
    for e in &toc.entries {
        let Some(f) = &e.file else { continue };
        named.insert(f.as_str());
        let what = format!(
            "{} {}.{} (dump id {})",
            e.desc, e.namespace, e.tag, e.dump_id
        );
        match files.get(f) {
            None => {
                return Err(ArchiveError::Truncated(format!(
                    "no data file {f} for {what}"
                )))
            }
            Some(FileRead::Table { copy, .. }) if e.desc != "BLOBS" => {
                if *copy != e.copy {
                    return Err(corrupt(format!("{f}: COPY data is not what {what} holds")));
                }
            }
            Some(FileRead::BlobsList(list)) if e.desc == "BLOBS" => {
                for (_, blob) in list {
                    if !named.insert(blob.as_str()) {
                        return Err(corrupt(format!("{blob} is listed twice")));
                    }
                    match files.get(blob) {
                        Some(FileRead::LargeObject) => large_objects += 1,
                        _ => {
                            return Err(ArchiveError::Truncated(format!(
                                "no file {blob} for a large object of {what}"
                            )))
                        }
                    }
                }
            }
            Some(_) => return Err(corrupt(format!("{f} is not the kind of file {what} has"))),
        }
    }
    if let Some(extra) = files.keys().find(|f| !named.contains(f.as_str())) {
        return Err(corrupt(format!("{extra} is not part of the archive")));
    }
    let tables = toc
        .entries
        .iter()
        .filter(|e| e.desc == "TABLE DATA")
        .map(|e| {
            let counted = match e.file.as_ref().and_then(|f| files.get(f)) {
                Some(FileRead::Table { counted, .. }) => *counted,
                _ => Counted::default(),
            };
            TableCount::of(e, counted)
        })
        .collect();
    Ok(Summary {
        format: Format::Directory,
        archive_version: Some(toc.archive_version),
        compression: Some(toc.compression),
        dbname: toc.dbname,
        server_version: toc.server_version,
        pg_dump_version: toc.pg_dump_version,
        entries: toc.entries,
        tables,
        large_objects,
        bytes,
        offset_size: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_names_pg_dump_writes_are_files_of_an_archive() {
        assert_eq!(FileKind::of("toc.dat"), Some(FileKind::Toc));
        assert_eq!(FileKind::of("3342.dat"), Some(FileKind::Data(3342)));
        assert_eq!(FileKind::of("blob_16392.dat"), Some(FileKind::Blob(16392)));
        assert_eq!(FileKind::of("blobs.toc"), Some(FileKind::BlobsToc));
        assert_eq!(FileKind::of("blobs_3345.toc"), Some(FileKind::BlobsToc));
        for bad in [
            "../3342.dat",
            "a/3342.dat",
            "03342.dat",
            "+1.dat",
            "-1.dat",
            ".dat",
            "3342.dat.zst",
            "blob_.dat",
            "blobs_x.toc",
            "manifest.json",
            "99999999999999999999.dat",
        ] {
            assert_eq!(FileKind::of(bad), None, "{bad}");
        }
    }

    fn read(name: &str, bytes: &[u8]) -> Result<FileRead, ArchiveError> {
        let mut f = DataFile::for_name(name, true).expect("a file of the archive");
        f.feed(bytes)?;
        f.finish()
    }

    #[test]
    fn a_table_file_must_end_with_its_terminator_and_a_whole_row() {
        match read("7.dat", b"1\ta\n2\tb\n\\.\n\n\n").unwrap() {
            FileRead::Table { copy, counted } => {
                assert!(copy);
                assert_eq!(counted.rows, 2);
                assert!(counted.digest.is_some());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            read("7.dat", b"1\ta\n2\tb"),
            Err(ArchiveError::Truncated(_))
        ));
        assert!(read("7.dat", b"1\ta\n").is_err(), "no terminator");
        assert!(read("7.dat", b"1\n\\.\nx\n").is_err(), "rows after it");
        assert_eq!(
            read("blob_5.dat", b"any\0bytes").unwrap(),
            FileRead::LargeObject
        );
        assert!(DataFile::for_name("toc.dat", true).is_none());
        assert!(DataFile::for_name("../7.dat", true).is_none());
    }

    #[test]
    fn a_large_objects_list_names_only_blob_files_of_its_oids() {
        let list = read_blobs_toc(b"16392 blob_16392.dat\n16393 blob_16393.dat\n").unwrap();
        assert_eq!(
            list,
            vec![
                (16392, "blob_16392.dat".into()),
                (16393, "blob_16393.dat".into())
            ]
        );
        assert!(read_blobs_toc(b"16392 blob_16393.dat\n").is_err());
        assert!(read_blobs_toc(b"16392 ../x.dat\n").is_err());
        assert!(matches!(
            read_blobs_toc(b"16392 blob_16392.dat"),
            Err(ArchiveError::Truncated(_))
        ));
        assert_eq!(read_blobs_toc(b"").unwrap(), vec![]);
    }
}
