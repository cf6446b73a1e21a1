//! The archive file: pg_dump's stream written by the catalog's one writer
//! ([`ops_catalog::codec::write_stored`]) while pg-archive reads every chunk, so the set's
//! row counts come from exactly the bytes that were stored.

use ops_catalog::catalog::Compression;
use ops_catalog::codec;
pub use ops_catalog::codec::StreamError;
use pg_archive::{ArchiveError, Reader, Summary};
use std::fs::File;
use std::io::Read;

/// What one pass produced: the stored files (by name; a single-file archive has one, a
/// directory archive its `toc.dat` first), and the archive as pg-archive read it.
#[derive(Debug)]
pub struct Written {
    pub files: Vec<(String, codec::Written)>,
    pub summary: Summary,
}

/// Streams pg_dump's output `src` into `file`, counting and digesting each table's rows
/// (ADR 0026); an incomplete archive is `StreamError::Observed`.
pub fn write_archive(
    src: impl Read,
    (name, file): (&str, File),
    compression: Compression,
    progress: &mut dyn FnMut(u64),
) -> Result<Written, StreamError<ArchiveError>> {
    let mut parser = Reader::with_digests();
    let w = codec::write_stored(src, file, compression, &mut |b| parser.feed(b), progress)?;
    let summary = parser.finish().map_err(StreamError::Observed)?;
    Ok(Written {
        files: vec![(name.to_string(), w)],
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQL: &[u8] = b"COPY public.t (a) FROM stdin;\n1\n2\n3\n\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n";

    #[test]
    fn rows_are_counted_from_what_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("f")).unwrap();
        let w = write_archive(SQL, ("f", file), "zstd".parse().unwrap(), &mut |_| {}).unwrap();
        assert_eq!(w.summary.total_rows(), 3);
        assert_eq!(w.files[0].1.raw_bytes, SQL.len() as u64);
    }

    #[test]
    fn an_incomplete_stream_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("f")).unwrap();
        let r = write_archive(
            &SQL[..20],
            ("f", file),
            "zstd".parse().unwrap(),
            &mut |_| {},
        );
        assert!(matches!(r, Err(StreamError::Observed(_))));
    }
}
