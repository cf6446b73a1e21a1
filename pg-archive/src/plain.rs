//! Plain SQL (`pg_dump -Fp`, `pg_dumpall --globals-only`): `COPY … FROM stdin;` blocks ending
//! with `\.`, `-- Name: …; Type: …` comments for the TOC, and the completion marker that
//! pg_dump writes last. Without that marker the dump did not finish.

use crate::copy::{self, CopyLines};
use crate::{ArchiveError, Format, Summary, TableCount, TocEntry};

const MARKERS: [&[u8]; 2] = [
    b"-- PostgreSQL database dump complete",
    b"-- PostgreSQL database cluster dump complete",
];

enum State {
    Sql,
    /// Inside COPY data, counted by `copy`.
    Copy,
}

pub(crate) struct PlainReader {
    state: State,
    line: Vec<u8>,
    copy: CopyLines,
    line_no: u64,
    complete: bool,
    entries: Vec<TocEntry>,
    tables: Vec<TableCount>,
    large_objects: u64,
    digests: bool,
}

impl PlainReader {
    pub(crate) fn new(digests: bool) -> PlainReader {
        PlainReader {
            digests,
            state: State::Sql,
            line: Vec::new(),
            copy: CopyLines::new(digests),
            line_no: 0,
            complete: false,
            entries: Vec::new(),
            tables: Vec::new(),
            large_objects: 0,
        }
    }

    pub(crate) fn feed(&mut self, mut data: &[u8]) -> Result<(), ArchiveError> {
        while !data.is_empty() {
            match self.state {
                State::Sql => match memchr::memchr(b'\n', data) {
                    Some(nl) => {
                        self.line.extend_from_slice(&data[..nl]);
                        data = &data[nl + 1..];
                        let line = std::mem::take(&mut self.line);
                        self.line_no += 1;
                        self.sql_line(&line)?;
                    }
                    None => {
                        self.line.extend_from_slice(data);
                        data = &[];
                    }
                },
                State::Copy => match self.copy.feed(data) {
                    Some(used) => {
                        let done = std::mem::replace(&mut self.copy, CopyLines::new(self.digests));
                        let table = self.tables.last_mut().expect("a COPY is open");
                        table.rows = done.rows;
                        table.digest = done.digest();
                        self.state = State::Sql;
                        data = &data[used..];
                    }
                    None => data = &[],
                },
            }
        }
        Ok(())
    }

    fn sql_line(&mut self, line: &[u8]) -> Result<(), ArchiveError> {
        let trivial = line.is_empty()
            || line.starts_with(b"--")
            || line.starts_with(b"\\unrestrict ")
            || line == b"\r";
        if MARKERS.iter().any(|m| line.starts_with(m)) {
            self.complete = true;
            return Ok(());
        }
        if !trivial {
            self.complete = false;
        }
        if let Some(rest) = line.strip_prefix(b"COPY ") {
            if line.ends_with(b" FROM stdin;") {
                let text = String::from_utf8_lossy(rest);
                let (schema, name, _) =
                    copy::qualified(&text).ok_or_else(|| ArchiveError::Corrupt {
                        offset: self.line_no,
                        what: format!("line {}: unreadable COPY target", self.line_no),
                    })?;
                self.tables.push(TableCount {
                    schema,
                    name,
                    columns: copy::copy_columns(&String::from_utf8_lossy(line)),
                    ..TableCount::default()
                });
                self.state = State::Copy;
            }
        } else if line.starts_with(b"SELECT pg_catalog.lo_create(") {
            self.large_objects += 1;
        } else if let Some(e) = toc_comment(line) {
            self.entries.push(e);
        }
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<Summary, ArchiveError> {
        if let State::Copy = self.state {
            let t = self.tables.last().expect("a COPY is open");
            return Err(ArchiveError::Truncated(format!(
                "COPY of {}.{} has no terminating \\.",
                t.schema, t.name
            )));
        }
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.sql_line(&line)?;
        }
        if !self.complete {
            return Err(ArchiveError::Truncated(
                "no \"dump complete\" marker at the end of the SQL".into(),
            ));
        }
        Ok(Summary {
            format: Format::Plain,
            archive_version: None,
            compression: None,
            dbname: None,
            server_version: None,
            pg_dump_version: None,
            entries: self.entries,
            tables: self.tables,
            large_objects: self.large_objects,
            bytes: 0,
            offset_size: None,
        })
    }
}

/// `-- Name: users; Type: TABLE; Schema: app; Owner: postgres` (also `-- Data for Name: …`).
fn toc_comment(line: &[u8]) -> Option<TocEntry> {
    let text = std::str::from_utf8(line).ok()?;
    let rest = text
        .strip_prefix("-- Name: ")
        .or_else(|| text.strip_prefix("-- Data for Name: "))?;
    let mut tag = String::new();
    let mut desc = String::new();
    let mut namespace = String::new();
    let mut owner = String::new();
    for (i, part) in rest.split("; ").enumerate() {
        if i == 0 {
            tag = part.to_string();
        } else if let Some(v) = part.strip_prefix("Type: ") {
            desc = v.to_string();
        } else if let Some(v) = part.strip_prefix("Schema: ") {
            namespace = v.to_string();
        } else if let Some(v) = part.strip_prefix("Owner: ") {
            owner = v.to_string();
        }
    }
    Some(TocEntry {
        dump_id: 0,
        has_data: desc == "TABLE DATA",
        copy: desc == "TABLE DATA",
        offset_field: None,
        file: None,
        data_at: None,
        columns: None,
        section: crate::Section::None,
        deps: Vec::new(),
        desc,
        tag,
        namespace,
        owner,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names() {
        assert_eq!(
            copy::qualified("app.users (id) FROM stdin;"),
            Some(("app".into(), "users".into(), " (id) FROM stdin;"))
        );
        assert_eq!(copy::qualified("\"unterminated"), None);
    }
}
