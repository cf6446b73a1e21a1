//! COPY text data: one row per line, ended by a line holding only `\.`.
//!
//! Newlines inside values are escaped (`\n`) in COPY text format, so every raw newline ends
//! a row. Both readers use this: the plain reader after `COPY … FROM stdin;`, the custom
//! reader inside `TABLE DATA` blocks (where pg_dump, 12 to 18, writes `\.` and two blank
//! lines; the custom reader requires the `\.` of every entry with a COPY statement).

/// Counts the rows of one COPY stream as its bytes arrive.
#[derive(Debug, Default)]
pub(crate) struct CopyLines {
    /// The first bytes of the current line (enough to recognise `\.`) and its length.
    prefix: Vec<u8>,
    len: usize,
    pub(crate) rows: u64,
}

impl CopyLines {
    /// Consumes `data` row by row. Returns `Some(n)` when the `\.` line ends the stream after
    /// `n` bytes of `data` (the bytes after it are not consumed).
    pub(crate) fn feed(&mut self, data: &[u8]) -> Option<usize> {
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', data) {
            self.take(&data[start..nl]);
            let is_end = self.len == 2 && self.prefix == b"\\.";
            self.prefix.clear();
            self.len = 0;
            start = nl + 1;
            if is_end {
                return Some(start);
            }
            self.rows += 1;
        }
        self.take(&data[start..]);
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
}
