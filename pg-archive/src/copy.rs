//! COPY text data: one row per line, ended by a line holding only `\.`.
//!
//! Newlines inside values are escaped (`\n`) in COPY text format, so every raw newline ends
//! a row. Both readers use this: the plain reader after `COPY … FROM stdin;`, the custom
//! reader inside `TABLE DATA` blocks (where pg_dump, 12 to 18, writes `\.` and two blank
//! lines; the custom reader requires the `\.` of every entry with a COPY statement).

use crate::digest::{MultisetDigest, RowHasher};

/// Counts the rows of one COPY stream as its bytes arrive and, when asked, digests them
/// (ADR 0026): each row's bytes hashed as they pass, no row kept.
#[derive(Debug, Default)]
pub(crate) struct CopyLines {
    /// The first bytes of the current line (enough to recognise `\.`) and its length.
    prefix: Vec<u8>,
    len: usize,
    pub(crate) rows: u64,
    digest: Option<Box<(RowHasher, MultisetDigest)>>,
}

impl CopyLines {
    pub(crate) fn new(digest: bool) -> CopyLines {
        CopyLines {
            digest: digest.then(Default::default),
            ..CopyLines::default()
        }
    }

    /// Consumes `data` row by row. Returns `Some(n)` when the `\.` line ends the stream after
    /// `n` bytes of `data` (the bytes after it are not consumed).
    pub(crate) fn feed(&mut self, data: &[u8]) -> Option<usize> {
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', data) {
            let line = &data[start..nl];
            // A row that began in this buffer is hashed in one call (the common case, and
            // the fast one); one that began in an earlier buffer ends its streaming hash.
            let whole = self.len == 0;
            self.take(line);
            let is_end = self.len == 2 && self.prefix == b"\\.";
            self.prefix.clear();
            self.len = 0;
            start = nl + 1;
            if is_end {
                if let Some(d) = self.digest.as_mut() {
                    d.0.reset(); // the `\.` line is no row
                }
                return Some(start);
            }
            self.rows += 1;
            if let Some(d) = self.digest.as_mut() {
                let (hasher, sum) = &mut **d;
                if whole {
                    sum.add_row(line);
                } else {
                    hasher.update(line);
                    hasher.finish_into(sum);
                }
            }
        }
        let rest = &data[start..];
        self.take(rest);
        if let Some(d) = self.digest.as_mut() {
            d.0.update(rest);
        }
        None
    }

    fn take(&mut self, part: &[u8]) {
        let room = 3usize.saturating_sub(self.prefix.len()).min(part.len());
        self.prefix.extend_from_slice(&part[..room]);
        self.len += part.len();
    }

    /// True between rows: no partial row is pending.
    pub(crate) fn at_row_boundary(&self) -> bool {
        self.len == 0
    }

    /// The digest of the rows so far, when digesting.
    pub(crate) fn digest(&self) -> Option<MultisetDigest> {
        self.digest.as_ref().map(|d| d.1)
    }
}

/// Reads one identifier at the start of `s`, bare (up to `.`, ` `, `,`, `(` or `)`) or
/// `"quoted ""like"" this"`; returns it and what follows.
pub(crate) fn ident(s: &str) -> Option<(String, &str)> {
    if let Some(quoted) = s.strip_prefix('"') {
        let mut ident = String::new();
        let mut chars = quoted.char_indices().peekable();
        loop {
            match chars.next()? {
                (_, '"') if chars.peek().is_some_and(|&(_, c)| c == '"') => {
                    chars.next();
                    ident.push('"');
                }
                (i, '"') => return Some((ident, &quoted[i + 1..])),
                (_, c) => ident.push(c),
            }
        }
    }
    let end = s.find(['.', ' ', ',', '(', ')']).unwrap_or(s.len());
    (end > 0).then(|| (s[..end].to_string(), &s[end..]))
}

/// `schema.name` at the start of `s` (a bare `name` has the schema `""`), and the rest.
pub(crate) fn qualified(s: &str) -> Option<(String, String, &str)> {
    let (first, rest) = ident(s)?;
    match rest.strip_prefix('.') {
        Some(rest) => {
            let (name, rest) = ident(rest)?;
            (!rest.starts_with('.')).then_some((first, name, rest))
        }
        None => Some((String::new(), first, rest)),
    }
}

/// The columns of pg_dump's `COPY schema.name (a, "B") FROM stdin;`, in order: the
/// columns the dump wrote (generated and dropped columns are not among them). `None` when
/// the statement is not one pg_dump writes.
pub(crate) fn copy_columns(stmt: &str) -> Option<Vec<String>> {
    let (_, _, rest) = qualified(stmt.trim_start().strip_prefix("COPY ")?)?;
    let rest = rest.trim_start();
    let Some(mut list) = rest.strip_prefix('(') else {
        // A table without columns: `COPY public.t  FROM stdin;`.
        return rest.starts_with("FROM stdin").then(Vec::new);
    };
    let mut columns = Vec::new();
    loop {
        let (c, after) = ident(list.trim_start())?;
        columns.push(c);
        match after.as_bytes().first()? {
            b',' => list = &after[1..],
            b')' => {
                return after[1..]
                    .trim_start()
                    .starts_with("FROM stdin")
                    .then_some(columns)
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_statement_columns() {
        assert_eq!(
            copy_columns("COPY public.t (a, b, \"Weird, \"\"col\"\")\") FROM stdin;\n"),
            Some(vec!["a".into(), "b".into(), "Weird, \"col\")".into()])
        );
        assert_eq!(copy_columns("COPY public.t  FROM stdin;\n"), Some(vec![]));
        assert_eq!(copy_columns("COPY public.t (a FROM stdin;"), None);
        assert_eq!(copy_columns("INSERT INTO t"), None);
        assert_eq!(
            qualified("\"My.Schema\".\"ta\"\"ble\" (a)"),
            Some(("My.Schema".into(), "ta\"ble".into(), " (a)"))
        );
    }

    #[test]
    fn rows_are_digested_across_pieces_and_the_end_line_is_no_row() {
        let mut whole = CopyLines::new(true);
        assert_eq!(whole.feed(b"1\tx\n2\t\\N\n\\.\n\n"), Some(12));
        let mut pieces = CopyLines::new(true);
        for part in [&b"1\t"[..], b"x\n2", b"\t\\N\n\\", b".\n"] {
            pieces.feed(part);
        }
        let mut expected = MultisetDigest::default();
        expected.add_row(b"2\t\\N");
        expected.add_row(b"1\tx");
        assert_eq!(whole.digest(), Some(expected));
        assert_eq!(pieces.digest(), Some(expected));
        assert_eq!(CopyLines::new(false).digest(), None);
    }
}
