//! Streaming reader of what `pg_dump` writes: the custom format (`-Fc`, archive versions
//! 1.12–1.16, i.e. pg_dump 12 to 17, data blocks uncompressed or zlib-compressed) and plain
//! SQL.
//!
//! The reader does no I/O: it is *fed* bytes ([`Reader::feed`]) as they pass through a
//! backup or a verification, and at the end ([`Reader::finish`]) it returns a [`Summary`]:
//! the TOC entries, the number of COPY rows of every `TABLE DATA` entry, and the number of
//! large objects. A stream that ends early — inside the header or TOC, a missing data block,
//! an unfinished block, a COPY without its `\.`, no completion marker — is an error, never a
//! shorter success. No input makes it panic (see the property tests).
//!
//! ```
//! let mut r = pg_archive::Reader::new();
//! r.feed(b"COPY public.t (a) FROM stdin;\n1\n2\n\\.\n\n--\n-- PostgreSQL database dump complete\n--\n").unwrap();
//! let summary = r.finish().unwrap();
//! assert_eq!(summary.tables[0].rows, 2);
//! ```

mod copy;
mod custom;
pub mod digest;
pub mod directory;
mod plain;

pub use custom::{BlockCompression, Counted};

/// `schema.name` at the start of `s`, each bare or `"quoted ""like"" this"` as pg_dump
/// writes them (a bare `name` has the schema `""`), and what follows.
pub fn qualified(s: &str) -> Option<(String, String, &str)> {
    copy::qualified(s)
}

/// What kind of stream this is, detected from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// pg_dump `-Fc`.
    Custom,
    /// pg_dump `-Fd`: `toc.dat` and a file per table ([`directory`]).
    Directory,
    /// pg_dump `-Fp` or pg_dumpall.
    Plain,
}

/// One entry of the archive's table of contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TocEntry {
    pub dump_id: i64,
    /// `TABLE`, `TABLE DATA`, `INDEX`, `BLOBS`, …
    pub desc: String,
    pub tag: String,
    pub namespace: String,
    pub owner: String,
    /// The archive promises a data block for this entry.
    pub has_data: bool,
    /// The entry's data is COPY text (its TOC carries a COPY statement), which pg_dump ends
    /// with a `\.` line: data that lacks it was cut or damaged.
    pub copy: bool,
    /// The columns of the entry's COPY statement, in order (what the dump wrote of the
    /// table: generated and dropped columns are not among them).
    pub columns: Option<Vec<String>>,
    /// The restore section pg_dump put the entry in (custom format; plain SQL: `None`).
    pub section: Section,
    /// The dump ids this entry depends on (custom format): an index on its table, a
    /// table's data on the table, a foreign key on both tables.
    pub deps: Vec<i64>,
    /// Custom format: where this entry's data-offset field (flag byte, then the offset)
    /// sits in the stream, and where its data block starts. pg_dump cannot fill the offsets
    /// when it writes to a pipe; a reader that stores the archive in a file can, so that
    /// `pg_restore -j` seeks instead of scanning.
    pub offset_field: Option<u64>,
    pub data_at: Option<u64>,
    /// Directory format: the file that holds this entry's data (`<dump id>.dat`, a
    /// `blobs….toc` for large objects), as `toc.dat` names it.
    pub file: Option<String>,
}

/// pg_dump's `teSection`: where pg_restore's `--section` puts an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Section {
    /// Outside the three sections (ACLs, comments, the encoding), or unknown.
    #[default]
    None,
    PreData,
    Data,
    PostData,
}

/// Rows of one `TABLE DATA` entry, counted in its COPY data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableCount {
    pub schema: String,
    pub name: String,
    pub rows: u64,
    /// The columns the COPY wrote, in order (from its statement).
    pub columns: Option<Vec<String>>,
    /// The multiset digest of the rows ([`Reader::with_digests`]).
    pub digest: Option<digest::MultisetDigest>,
}

impl TableCount {
    /// The rows of the TABLE DATA entry `e`, as counted in its data.
    pub(crate) fn of(e: &TocEntry, counted: Counted) -> TableCount {
        TableCount {
            schema: e.namespace.clone(),
            name: e.tag.clone(),
            rows: counted.rows,
            columns: e.columns.clone(),
            digest: counted.digest,
        }
    }
}

/// What a complete stream held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub format: Format,
    /// `(major, minor, revision)` of the custom archive format; `None` for plain SQL.
    pub archive_version: Option<(u8, u8, u8)>,
    pub compression: Option<BlockCompression>,
    pub dbname: Option<String>,
    pub server_version: Option<String>,
    pub pg_dump_version: Option<String>,
    pub entries: Vec<TocEntry>,
    /// In archive order.
    pub tables: Vec<TableCount>,
    pub large_objects: u64,
    /// Bytes fed.
    pub bytes: u64,
    /// Custom format: the size of a data offset in bytes.
    pub offset_size: Option<u8>,
}

/// `K_OFFSET_POS_SET`: the flag of a data offset that points at its block.
pub const OFFSET_POS_SET: u8 = 2;

impl Summary {
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// Why a stream is not a complete archive. [`ArchiveError::code`] gives the stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    #[error("empty stream: no archive")]
    Empty,
    #[error("archive version {0}.{1}.{2} is not supported (1.12 to 1.16 are)")]
    UnsupportedVersion(u8, u8, u8),
    #[error("data blocks compressed with {0} are not supported")]
    UnsupportedCompression(String),
    #[error("corrupt archive at byte {offset}: {what}")]
    Corrupt { offset: u64, what: String },
    #[error("archive ends early: {0}")]
    Truncated(String),
}

impl ArchiveError {
    pub fn code(&self) -> &'static str {
        match self {
            ArchiveError::Empty => "archive_empty",
            ArchiveError::UnsupportedVersion(..) | ArchiveError::UnsupportedCompression(_) => {
                "archive_unsupported"
            }
            ArchiveError::Corrupt { .. } => "archive_corrupt",
            ArchiveError::Truncated(_) => "archive_truncated",
        }
    }
}

enum Inner {
    Undecided(Vec<u8>),
    Custom(Box<custom::CustomReader>),
    Plain(plain::PlainReader),
    Failed(ArchiveError),
}

/// A push parser over one pg_dump stream. Feed it every byte in order, then `finish`.
pub struct Reader {
    inner: Inner,
    bytes: u64,
    /// Digest each table's rows as they pass (ADR 0026).
    digests: bool,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl Default for Reader {
    fn default() -> Self {
        Self::new()
    }
}

const MAGIC: &[u8] = b"PGDMP";

impl Reader {
    /// A reader that detects the format from the first bytes.
    pub fn new() -> Reader {
        Reader {
            inner: Inner::Undecided(Vec::new()),
            bytes: 0,
            digests: false,
        }
    }

    /// A reader that also digests each table's rows ([`TableCount::digest`]): what a backup
    /// records so that a restore can prove every value, not only every count.
    pub fn with_digests() -> Reader {
        Reader {
            digests: true,
            ..Reader::new()
        }
    }

    /// Feeds the next bytes. After an error, every later call returns the same error.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), ArchiveError> {
        self.bytes += data.len() as u64;
        let result = match &mut self.inner {
            Inner::Failed(e) => return Err(e.clone()),
            Inner::Custom(c) => c.feed(data),
            Inner::Plain(p) => p.feed(data),
            Inner::Undecided(buf) => {
                buf.extend_from_slice(data);
                if buf.len() < MAGIC.len() && MAGIC.starts_with(buf) {
                    return Ok(());
                }
                let buf = std::mem::take(buf);
                if buf.starts_with(MAGIC) {
                    let mut c = Box::new(custom::CustomReader::new(self.digests));
                    let r = c.feed(&buf);
                    self.inner = Inner::Custom(c);
                    r
                } else {
                    let mut p = plain::PlainReader::new(self.digests);
                    let r = p.feed(&buf);
                    self.inner = Inner::Plain(p);
                    r
                }
            }
        };
        if let Err(e) = &result {
            self.inner = Inner::Failed(e.clone());
        }
        result
    }

    /// The table of contents, once it has been read (custom format): what a restore of
    /// some tables selects from, known from the first bytes of the stream.
    pub fn toc(&self) -> Option<&[TocEntry]> {
        match &self.inner {
            Inner::Custom(c) => c.toc(),
            _ => None,
        }
    }

    /// Ends the stream: the summary if it was a complete archive, else why not.
    pub fn finish(self) -> Result<Summary, ArchiveError> {
        let mut summary = match self.inner {
            Inner::Failed(e) => return Err(e),
            Inner::Undecided(buf) if buf.is_empty() => return Err(ArchiveError::Empty),
            Inner::Undecided(_) => {
                return Err(ArchiveError::Truncated("inside the archive header".into()))
            }
            Inner::Custom(c) => c.finish()?,
            Inner::Plain(p) => p.finish()?,
        };
        summary.bytes = self.bytes;
        Ok(summary)
    }
}

/// The multiset digest of one table's rows read back from a server with
/// `COPY … TO STDOUT` (text format): the same rows digest the same as in the dump stream.
#[derive(Debug)]
pub struct CopyDigest(copy::CopyLines);

impl Default for CopyDigest {
    fn default() -> Self {
        CopyDigest(copy::CopyLines::new(true))
    }
}

impl CopyDigest {
    pub fn feed(&mut self, data: &[u8]) {
        // No `\.` line comes over the protocol, and no row can be one (COPY writes a
        // backslash as `\\`): the whole stream is rows.
        self.0.feed(data);
    }

    /// The digest, or `None` when the stream ended inside a row.
    pub fn finish(self) -> Option<digest::MultisetDigest> {
        self.0.at_row_boundary().then(|| self.0.digest()).flatten()
    }
}

/// Reads a whole in-memory stream (tests, small files).
pub fn read_all(data: &[u8]) -> Result<Summary, ArchiveError> {
    let mut r = Reader::new();
    r.feed(data)?;
    r.finish()
}
