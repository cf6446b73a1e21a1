//! The custom format (`pg_dump -Fc`), as written by `pg_backup_archiver.c` and
//! `pg_backup_custom.c`:
//!
//! ```text
//! header  "PGDMP" vmaj vmin vrev intSize offSize format compression crtm[7] dbname
//!         server_version pg_dump_version
//! toc     count, then per entry: dumpId hadDumper tableoid oid tag desc section defn
//!         dropStmt copyStmt namespace tablespace [tableam ≥1.14] [relkind ≥1.16] owner
//!         "false" deps… NULL, offset(flag byte + offSize bytes)
//! data    per entry with data: type(1=data, 3=blobs) dumpId, then chunks (int len, bytes)
//!         ending with len 0; a blobs block is (oid, chunks…)* ending with oid 0
//! ```
//! Integers are a sign byte and `intSize` little-endian magnitude bytes; strings are an
//! integer length (−1 for NULL) and bytes. When pg_dump writes to a pipe there is no end
//! marker: the archive is complete when every entry whose offset flag promises data has had
//! its block, and nothing follows.

use crate::copy::{self, CopyLines};
use crate::digest::MultisetDigest;
use crate::{ArchiveError, Format, Section, Summary, TableCount, TocEntry};
use flate2::{Decompress, FlushDecompress, Status};
use std::collections::HashMap;

/// How the data blocks of a custom archive are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockCompression {
    None,
    Zlib,
    Lz4,
    Zstd,
}

const BLK_DATA: u8 = 1;
const BLK_BLOBS: u8 = 3;
const K_OFFSET_NO_DATA: u8 = 3;
const MAX_STRING: i64 = 256 << 20;
const MAX_TOC_ENTRIES: i64 = 50_000_000;

pub(crate) struct Head {
    pub(crate) version: (u8, u8, u8),
    pub(crate) int_size: usize,
    pub(crate) off_size: usize,
    pub(crate) compression: BlockCompression,
    pub(crate) dbname: Option<String>,
    pub(crate) server_version: Option<String>,
    pub(crate) pg_dump_version: Option<String>,
}

/// What a TOC entry ends with: the custom format's data offset, the directory format's
/// file name (`_WriteExtraToc` of `pg_backup_custom.c` and `pg_backup_directory.c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    Custom,
    Directory,
}

pub(crate) enum Stop {
    More,
    Bad(usize, String),
    Version((u8, u8, u8)),
}

pub(crate) struct Cur<'a> {
    pub(crate) b: &'a [u8],
    pub(crate) pos: usize,
    pub(crate) int_size: usize,
}

impl Cur<'_> {
    fn bad<T>(&self, what: impl Into<String>) -> Result<T, Stop> {
        Err(Stop::Bad(self.pos, what.into()))
    }

    fn byte(&mut self) -> Result<u8, Stop> {
        let b = *self.b.get(self.pos).ok_or(Stop::More)?;
        self.pos += 1;
        Ok(b)
    }

    fn bytes(&mut self, n: usize) -> Result<&[u8], Stop> {
        let end = self.pos.checked_add(n).ok_or(Stop::More)?;
        let s = self.b.get(self.pos..end).ok_or(Stop::More)?;
        self.pos = end;
        Ok(s)
    }

    fn int(&mut self) -> Result<i64, Stop> {
        let start = self.pos;
        let sign = self.byte()?;
        let size = self.int_size;
        let raw = self.bytes(size)?;
        match decode_int(sign, raw) {
            Some(v) => Ok(v),
            None => Err(Stop::Bad(start, "invalid integer".into())),
        }
    }

    fn string(&mut self) -> Result<Option<String>, Stop> {
        let len = self.int()?;
        if len == -1 {
            return Ok(None);
        }
        if !(0..=MAX_STRING).contains(&len) {
            return self.bad(format!("invalid string length {len}"));
        }
        let s = self.bytes(len as usize)?;
        Ok(Some(String::from_utf8_lossy(s).into_owned()))
    }
}

fn decode_int(sign: u8, raw: &[u8]) -> Option<i64> {
    if sign > 1 {
        return None;
    }
    let mut v: u64 = 0;
    for (i, b) in raw.iter().enumerate() {
        v |= (*b as u64) << (8 * i);
    }
    let v = i64::try_from(v).ok()?;
    Some(if sign == 1 { -v } else { v })
}

pub(crate) fn parse_head(c: &mut Cur<'_>, layout: Layout) -> Result<Head, Stop> {
    let magic = c.bytes(5)?;
    if magic != b"PGDMP" {
        return c.bad("missing PGDMP magic");
    }
    let version = (c.byte()?, c.byte()?, c.byte()?);
    if version.0 != 1 || !(12..=16).contains(&version.1) {
        return Err(Stop::Version(version));
    }
    let int_size = c.byte()? as usize;
    let off_size = c.byte()? as usize;
    if !(4..=8).contains(&int_size) || !(4..=8).contains(&off_size) {
        return c.bad(format!("invalid integer sizes {int_size}/{off_size}"));
    }
    c.int_size = int_size;
    let format = c.byte()?;
    // pg_dump 12–18 write 3 in a directory archive's toc.dat (observed); 5 is the
    // directory format's own number in pg_backup.h.
    match (layout, format) {
        (Layout::Custom, 1) | (Layout::Directory, 3 | 5) => {}
        (Layout::Custom, _) => {
            return c.bad(format!("archive format {format} is not the custom format"))
        }
        (Layout::Directory, _) => {
            return c.bad(format!(
                "archive format {format} is not the directory format"
            ))
        }
    }
    let compression = if version.1 >= 15 {
        match c.byte()? {
            0 => BlockCompression::None,
            1 => BlockCompression::Zlib,
            2 => BlockCompression::Lz4,
            3 => BlockCompression::Zstd,
            other => return c.bad(format!("unknown compression algorithm {other}")),
        }
    } else {
        match c.int()? {
            0 => BlockCompression::None,
            -1 | 1..=9 => BlockCompression::Zlib,
            other => return c.bad(format!("invalid compression level {other}")),
        }
    };
    for _ in 0..7 {
        c.int()?; // creation time: sec, min, hour, mday, mon, year, isdst
    }
    Ok(Head {
        version,
        int_size,
        off_size,
        compression,
        dbname: c.string()?,
        server_version: c.string()?,
        pg_dump_version: c.string()?,
    })
}

/// Parses the TOC; returns entries and their offset flags (custom) or files (directory).
pub(crate) fn parse_toc(
    c: &mut Cur<'_>,
    head: &Head,
    layout: Layout,
) -> Result<Vec<TocEntry>, Stop> {
    let count = c.int()?;
    if !(0..=MAX_TOC_ENTRIES).contains(&count) {
        return c.bad(format!("invalid TOC entry count {count}"));
    }
    // A hint only: a forged count must not make a small input allocate much.
    let mut entries = Vec::with_capacity(count.min(4096) as usize);
    for _ in 0..count {
        let dump_id = c.int()?;
        if dump_id <= 0 {
            return c.bad(format!("invalid dump id {dump_id}"));
        }
        let had_dumper = c.int()?;
        if !(0..=1).contains(&had_dumper) {
            return c.bad("invalid hadDumper flag");
        }
        c.string()?; // tableoid
        c.string()?; // oid
        let tag = c.string()?.unwrap_or_default();
        let desc = c.string()?.unwrap_or_default();
        let section = c.int()?;
        if !(0..=4).contains(&section) {
            return c.bad(format!("invalid section {section}"));
        }
        c.string()?; // defn
        c.string()?; // dropStmt
        let copy_stmt = c.string()?.filter(|s| !s.is_empty());
        let copy = copy_stmt.is_some();
        let columns = copy_stmt.as_deref().and_then(copy::copy_columns);
        let namespace = c.string()?.unwrap_or_default();
        c.string()?; // tablespace
        if head.version.1 >= 14 {
            c.string()?; // tableam
        }
        if head.version.1 >= 16 {
            c.int()?; // relkind
        }
        let owner = c.string()?.unwrap_or_default();
        c.string()?; // withOids, always "false"
        let mut deps = Vec::new();
        while let Some(dep) = c.string()? {
            // An id that is not a number names nothing pgops selects by: kept out.
            if let Ok(id) = dep.trim().parse::<i64>() {
                deps.push(id);
            }
            if deps.len() > 10_000_000 {
                return c.bad("dependency list does not end");
            }
        }
        let (offset_field, file, has_data) = match layout {
            Layout::Custom => {
                let offset_field = c.pos as u64;
                let flag = c.byte()?;
                if !(1..=3).contains(&flag) {
                    return c.bad(format!("invalid data offset flag {flag}"));
                }
                c.bytes(head.off_size)?;
                (Some(offset_field), None, flag != K_OFFSET_NO_DATA)
            }
            Layout::Directory => {
                let file = c.string()?.filter(|f| !f.is_empty());
                let has_data = file.is_some();
                (None, file, has_data)
            }
        };
        if has_data != (had_dumper == 1) {
            return c.bad("the entry's data contradicts hadDumper");
        }
        entries.push(TocEntry {
            dump_id,
            desc,
            tag,
            namespace,
            owner,
            has_data,
            copy,
            columns,
            section: match section {
                2 => Section::PreData,
                3 => Section::Data,
                4 => Section::PostData,
                _ => Section::None,
            },
            deps,
            offset_field,
            data_at: None,
            file,
        });
    }
    Ok(entries)
}

/// The COPY rows of one block, and what may follow its `\.` line: only blank lines.
struct Rows {
    lines: CopyLines,
    terminated: bool,
    bad_tail: bool,
}

impl Rows {
    fn new(digest: bool) -> Rows {
        Rows {
            lines: CopyLines::new(digest),
            terminated: false,
            bad_tail: false,
        }
    }

    fn add(&mut self, mut plain: &[u8]) {
        if !self.terminated {
            match self.lines.feed(plain) {
                Some(used) => {
                    self.terminated = true;
                    plain = &plain[used..];
                }
                None => return,
            }
        }
        self.bad_tail |= plain.iter().any(|&b| b != b'\n');
    }
}

/// Counts COPY rows (newlines) of one block's payload, inflating it first if needed.
pub(crate) struct Sink {
    rows: Rows,
    inflate: Option<Decompress>,
    stream_ended: bool,
    scratch: Vec<u8>,
}

/// What one table's data block held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counted {
    pub rows: u64,
    pub digest: Option<MultisetDigest>,
}

impl Sink {
    pub(crate) fn new(compression: BlockCompression, digest: bool) -> Sink {
        let zlib = compression == BlockCompression::Zlib;
        Sink {
            rows: Rows::new(digest),
            inflate: zlib.then(|| Decompress::new(true)),
            stream_ended: false,
            scratch: if zlib { vec![0; 64 * 1024] } else { Vec::new() },
        }
    }

    pub(crate) fn feed(&mut self, mut data: &[u8]) -> Result<(), String> {
        let Some(z) = self.inflate.as_mut() else {
            self.rows.add(data);
            return Ok(());
        };
        while !data.is_empty() {
            if self.stream_ended {
                return Err("data after the end of a zlib stream".into());
            }
            let (in0, out0) = (z.total_in(), z.total_out());
            let status = z
                .decompress(data, &mut self.scratch, FlushDecompress::None)
                .map_err(|e| format!("zlib: {e}"))?;
            let used = (z.total_in() - in0) as usize;
            let made = (z.total_out() - out0) as usize;
            data = &data[used..];
            if status == Status::StreamEnd {
                self.stream_ended = true;
            }
            self.rows.add(&self.scratch[..made]);
            if used == 0 && made == 0 && !self.stream_ended {
                return Err("zlib stream makes no progress".into());
            }
        }
        Ok(())
    }

    /// Ends the block; `Err` if its payload was cut short. Table data must end with a whole
    /// row, COPY text with its `\.` line (every pg_dump up to 18 writes it: without it, a
    /// damaged terminator would let the blank lines after it count as rows); a large
    /// object's bytes may end anywhere.
    pub(crate) fn finish(mut self, copy_data: bool, terminated: bool) -> Result<Counted, String> {
        if let Some(z) = self.inflate.as_mut() {
            if z.total_in() > 0 && !self.stream_ended {
                // Drain what zlib still holds before judging.
                loop {
                    let out0 = z.total_out();
                    let status = z
                        .decompress(&[], &mut self.scratch, FlushDecompress::Finish)
                        .map_err(|e| format!("zlib: {e}"))?;
                    let made = (z.total_out() - out0) as usize;
                    self.rows.add(&self.scratch[..made]);
                    if status == Status::StreamEnd {
                        break;
                    }
                    if made == 0 {
                        return Err("compressed data block is cut short".into());
                    }
                }
            }
        }
        if !copy_data {
            Ok(Counted::default())
        } else if self.rows.bad_tail {
            Err("table data continues after its \\. terminator".into())
        } else if !self.rows.lines.at_row_boundary() {
            Err("table data does not end with a complete row".into())
        } else if terminated && !self.rows.terminated {
            Err("COPY data does not end with its \\. line".into())
        } else {
            Ok(Counted {
                rows: self.rows.lines.rows,
                digest: self.rows.lines.digest(),
            })
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Toc,
    BlockHeader,
    ChunkLen,
    ChunkData(u64),
    BlobOid,
}

struct Block {
    id: i64,
    blobs: bool,
    /// COPY text: must end with its `\.` line.
    copy: bool,
    sink: Sink,
}

pub(crate) struct CustomReader {
    phase: Phase,
    /// Header and TOC bytes until they parse; afterwards, a fixed-size field being assembled.
    buf: Vec<u8>,
    next_attempt: usize,
    /// Absolute offset of the next byte to be consumed (for error messages).
    offset: u64,
    head: Option<Head>,
    entries: Vec<TocEntry>,
    pending: HashMap<i64, usize>,
    rows: HashMap<i64, Counted>,
    block: Option<Block>,
    /// Where the block header being read began.
    block_start: u64,
    large_objects: u64,
    /// Digest each table's rows (ADR 0026).
    digests: bool,
}

impl CustomReader {
    pub(crate) fn new(digests: bool) -> CustomReader {
        CustomReader {
            digests,
            phase: Phase::Toc,
            buf: Vec::new(),
            next_attempt: 0,
            offset: 0,
            head: None,
            entries: Vec::new(),
            pending: HashMap::new(),
            rows: HashMap::new(),
            block: None,
            block_start: 0,
            large_objects: 0,
        }
    }

    /// The entries, once the TOC has been read.
    pub(crate) fn toc(&self) -> Option<&[TocEntry]> {
        (self.phase != Phase::Toc).then_some(self.entries.as_slice())
    }

    fn corrupt(&self, what: impl Into<String>) -> ArchiveError {
        ArchiveError::Corrupt {
            offset: self.offset,
            what: what.into(),
        }
    }

    pub(crate) fn feed(&mut self, data: &[u8]) -> Result<(), ArchiveError> {
        if self.phase != Phase::Toc {
            return self.feed_data(data);
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() < self.next_attempt {
            return Ok(());
        }
        self.try_toc()
    }

    /// Parses header and TOC once enough bytes have arrived. Retries only after the buffer
    /// doubled, so a huge TOC fed in small pieces costs linear time.
    fn try_toc(&mut self) -> Result<(), ArchiveError> {
        let mut c = Cur {
            b: &self.buf,
            pos: 0,
            int_size: 4,
        };
        let parsed = parse_head(&mut c, Layout::Custom).and_then(|head| {
            let entries = parse_toc(&mut c, &head, Layout::Custom)?;
            Ok((head, entries, c.pos))
        });
        match parsed {
            Ok((head, entries, used)) => {
                if head.compression == BlockCompression::Lz4
                    || head.compression == BlockCompression::Zstd
                {
                    let name = format!("{:?}", head.compression).to_lowercase();
                    return Err(ArchiveError::UnsupportedCompression(name));
                }
                for (i, e) in entries.iter().enumerate() {
                    if e.has_data && self.pending.insert(e.dump_id, i).is_some() {
                        return Err(self.corrupt(format!("dump id {} appears twice", e.dump_id)));
                    }
                }
                self.head = Some(head);
                self.entries = entries;
                let rest = self.buf.split_off(used);
                self.buf.clear();
                self.offset = used as u64;
                self.phase = Phase::BlockHeader;
                self.feed_data(&rest)
            }
            Err(Stop::More) => {
                self.next_attempt = (self.buf.len() * 2).max(4096);
                Ok(())
            }
            Err(Stop::Version((a, b, c))) => Err(ArchiveError::UnsupportedVersion(a, b, c)),
            Err(Stop::Bad(pos, what)) => Err(ArchiveError::Corrupt {
                offset: pos as u64,
                what,
            }),
        }
    }

    fn int_size(&self) -> usize {
        self.head.as_ref().map_or(4, |h| h.int_size)
    }

    /// Moves bytes from `data` into `buf` until it holds `n`; true when it does.
    fn fill(&mut self, data: &mut &[u8], n: usize) -> bool {
        let take = (n - self.buf.len()).min(data.len());
        self.buf.extend_from_slice(&data[..take]);
        *data = &data[take..];
        self.offset += take as u64;
        self.buf.len() == n
    }

    fn take_int(&mut self, at: usize) -> Result<i64, ArchiveError> {
        let v = decode_int(self.buf[at], &self.buf[at + 1..]);
        self.buf.clear();
        v.ok_or_else(|| self.corrupt("invalid integer"))
    }

    fn feed_data(&mut self, mut data: &[u8]) -> Result<(), ArchiveError> {
        let isz = self.int_size();
        while !data.is_empty() {
            match self.phase {
                Phase::Toc => unreachable!("feed_data runs after the TOC"),
                Phase::BlockHeader => {
                    if self.buf.is_empty() {
                        self.block_start = self.offset;
                    }
                    if !self.fill(&mut data, 2 + isz) {
                        return Ok(());
                    }
                    let kind = self.buf[0];
                    let id = self.take_int(1)?;
                    self.start_block(kind, id)?;
                }
                Phase::ChunkLen => {
                    if !self.fill(&mut data, 1 + isz) {
                        return Ok(());
                    }
                    let len = self.take_int(0)?;
                    if len < 0 {
                        return Err(self.corrupt(format!("negative chunk length {len}")));
                    }
                    if len == 0 {
                        self.end_stream()?;
                    } else {
                        self.phase = Phase::ChunkData(len as u64);
                    }
                }
                Phase::ChunkData(remaining) => {
                    let take = remaining.min(data.len() as u64) as usize;
                    let block = self.block.as_mut().expect("a block is open");
                    if let Err(e) = block.sink.feed(&data[..take]) {
                        return Err(self.corrupt(e));
                    }
                    data = &data[take..];
                    self.offset += take as u64;
                    let left = remaining - take as u64;
                    self.phase = if left == 0 {
                        Phase::ChunkLen
                    } else {
                        Phase::ChunkData(left)
                    };
                }
                Phase::BlobOid => {
                    if !self.fill(&mut data, 1 + isz) {
                        return Ok(());
                    }
                    let oid = self.take_int(0)?;
                    if oid < 0 {
                        return Err(self.corrupt(format!("invalid large object oid {oid}")));
                    }
                    if oid == 0 {
                        let block = self.block.take().expect("a blobs block is open");
                        self.rows.insert(block.id, Counted::default());
                        self.phase = Phase::BlockHeader;
                    } else {
                        self.large_objects += 1;
                        let compression = self.head.as_ref().expect("header parsed").compression;
                        self.block.as_mut().expect("a blobs block is open").sink =
                            Sink::new(compression, false);
                        self.phase = Phase::ChunkLen;
                    }
                }
            }
        }
        Ok(())
    }

    fn start_block(&mut self, kind: u8, id: i64) -> Result<(), ArchiveError> {
        let Some(&idx) = self.pending.get(&id) else {
            return Err(self.corrupt(if self.rows.contains_key(&id) {
                format!("second data block for dump id {id}")
            } else {
                format!("data block for dump id {id}, which the TOC does not promise")
            }));
        };
        let is_blobs = self.entries[idx].desc == "BLOBS";
        match kind {
            BLK_DATA if !is_blobs => {}
            BLK_BLOBS if is_blobs => {}
            _ => return Err(self.corrupt(format!("block type {kind} does not match dump id {id}"))),
        }
        self.pending.remove(&id);
        self.entries[idx].data_at = Some(self.block_start);
        let compression = self.head.as_ref().expect("header parsed").compression;
        let copy = self.entries[idx].copy;
        self.block = Some(Block {
            id,
            blobs: is_blobs,
            copy,
            sink: Sink::new(compression, copy && self.digests),
        });
        self.phase = if is_blobs {
            Phase::BlobOid
        } else {
            Phase::ChunkLen
        };
        Ok(())
    }

    /// A zero-length chunk: the end of a table's data or of one large object.
    fn end_stream(&mut self) -> Result<(), ArchiveError> {
        let compression = self.head.as_ref().expect("header parsed").compression;
        let block = self.block.as_mut().expect("a block is open");
        let sink = std::mem::replace(&mut block.sink, Sink::new(compression, false));
        let blobs = block.blobs;
        let id = block.id;
        let rows = sink
            .finish(!blobs, block.copy)
            .map_err(|e| self.corrupt(e))?;
        if blobs {
            self.phase = Phase::BlobOid;
        } else {
            self.rows.insert(id, rows);
            self.block = None;
            self.phase = Phase::BlockHeader;
        }
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<Summary, ArchiveError> {
        if self.phase == Phase::Toc {
            self.try_toc()?;
            if self.phase == Phase::Toc {
                return Err(ArchiveError::Truncated(
                    "inside the header or the table of contents".into(),
                ));
            }
        }
        if self.phase != Phase::BlockHeader || !self.buf.is_empty() {
            let what = match self.block.as_ref() {
                Some(b) => {
                    let e = self.entries.iter().find(|e| e.dump_id == b.id);
                    format!(
                        "inside the data block of {} {}.{}",
                        e.map_or("", |e| e.desc.as_str()),
                        e.map_or("", |e| e.namespace.as_str()),
                        e.map_or("", |e| e.tag.as_str())
                    )
                }
                None => "inside a block header".into(),
            };
            return Err(ArchiveError::Truncated(what));
        }
        if let Some(e) = self
            .entries
            .iter()
            .find(|e| self.pending.contains_key(&e.dump_id))
        {
            return Err(ArchiveError::Truncated(format!(
                "no data block for {} {}.{} (dump id {}, {} missing in all)",
                e.desc,
                e.namespace,
                e.tag,
                e.dump_id,
                self.pending.len()
            )));
        }
        let tables = self
            .entries
            .iter()
            .filter(|e| e.desc == "TABLE DATA")
            .map(|e| TableCount::of(e, self.rows.get(&e.dump_id).copied().unwrap_or_default()))
            .collect();
        let head = self.head.expect("header parsed");
        Ok(Summary {
            format: Format::Custom,
            archive_version: Some(head.version),
            compression: Some(head.compression),
            dbname: head.dbname,
            server_version: head.server_version,
            pg_dump_version: head.pg_dump_version,
            entries: self.entries,
            tables,
            large_objects: self.large_objects,
            bytes: 0,
            offset_size: Some(head.off_size as u8),
        })
    }
}
