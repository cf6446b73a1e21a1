//! Restoring an archive: decompress and stream into pg_restore (custom) or psql (plain),
//! stopping on the first error; with `--jobs N > 1` a custom archive is decompressed to a
//! private temporary file first, so pg_restore can restore in parallel. A directory
//! archive's files are decompressed into a private temporary directory, on every core,
//! for `pg_restore --format=directory --jobs N` (ADR 0027).

use ops_catalog::catalog::{Algorithm, DumpFormat, Manifest};
use ops_core::child;
use ops_core::progress;
use ops_core::redact::Redactor;
use ops_core::stop::StopSignal;
use ops_core::{Category, OpsError};
use ops_pg::conn::ConnSettings;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The client programs a restore runs.
#[derive(Debug, Clone)]
pub struct Programs {
    pub pg_restore: PathBuf,
    pub psql: PathBuf,
}

impl Programs {
    /// The client programs of one installation.
    pub fn of(install: &ops_pg::programs::Install) -> Programs {
        Programs {
            pg_restore: install.program("pg_restore"),
            psql: install.program("psql"),
        }
    }
}

/// What a restore needs besides the archive.
#[derive(Debug)]
pub struct Restore<'a> {
    pub programs: &'a Programs,
    pub target: ConnSettings,
    pub jobs: u16,
    pub with_owners: bool,
    pub stop: &'a StopSignal,
    pub redactor: &'a Redactor,
}

/// pg_restore's sections: what loads the data, then what builds on it.
const DATA: [&str; 2] = ["--section=pre-data", "--section=data"];
const POST: [&str; 1] = ["--section=post-data"];

/// The largest globals script replayed (roles and tablespaces: kilobytes in practice).
const GLOBALS_LIMIT: u64 = 256 << 20;
/// The largest directory archive's toc.dat read (a few MB for 100,000 objects).
const TOC_LIMIT: u64 = 256 << 20;

fn restore_failed(message: String) -> OpsError {
    OpsError::new("restore_failed", Category::Integrity, message)
}

impl Restore<'_> {
    /// Restores `archive` (described by `m`) into the target database.
    /// On a terminal, a bar shows the archive's bytes going in against the manifest's
    /// total (with `--jobs`, first unpacking it, then pg_restore's own time).
    pub fn run(&self, archive: &Path, m: &Manifest) -> Result<(), OpsError> {
        self.run_proving(archive, m, || ())
    }

    /// Restores `archive` and runs `prove` as soon as every table's data is in: for a
    /// custom archive the data sections first, then the post-data section (indexes,
    /// constraints, triggers: often a third of a restore) while `prove` reads the tables on
    /// another thread; for plain SQL, after the script. The data is final once loaded
    /// (post-data builds on it, changes no row), so the proof is the same, and costs the
    /// RTO only what it does not overlap. `Err` when the restore failed (the proof's
    /// result is then dropped).
    pub fn run_proving<T: Send>(
        &self,
        archive: &Path,
        m: &Manifest,
        prove: impl FnOnce() -> T + Send,
    ) -> Result<T, OpsError> {
        let raw: u64 = m.files.iter().map(|f| f.raw_bytes).sum();
        let db = self.target.dbname.clone().unwrap_or_default();
        match m.format {
            DumpFormat::Directory => {
                let dir = self.unpack_directory(archive, m)?;
                self.restore_unpacked(dir.path(), true, prove)
            }
            DumpFormat::Custom if self.jobs > 1 => {
                let tmp = TempFile::new()?;
                let bar = progress::bytes(format!("{db}: unpack"), Some(raw));
                self.decompress_to(archive, m.compression.algorithm, tmp.path(), &bar)?;
                drop(bar);
                self.restore_unpacked(tmp.path(), false, prove)
            }
            DumpFormat::Custom => {
                let section = |sections: &[&str], label: &str| {
                    let mut cmd = self.pg_restore_cmd();
                    cmd.args(sections).stdin(Stdio::piped());
                    let bar = progress::bytes(format!("{db}: {label}"), Some(raw));
                    self.supervise(cmd, Some((self.decoded(archive, m)?, &bar)))
                };
                section(&DATA, "restore")?;
                // The second stream is no second pass: post-data has no data blocks, and
                // pg_restore stops reading after the TOC (0.01 s of a 540 MB archive); the
                // feeder then sees the pipe close and stops decompressing.
                overlap(|| section(&POST, "indexes and constraints"), prove)
            }
            DumpFormat::Plain => {
                let mut cmd = self.psql_cmd(&self.target);
                cmd.args(["-v", "ON_ERROR_STOP=1"]).stdin(Stdio::piped());
                let bar = progress::bytes(format!("{db}: restore"), Some(raw));
                self.supervise(cmd, Some((self.decoded(archive, m)?, &bar)))?;
                Ok(prove())
            }
        }
    }

    /// `pg_restore --jobs N` of an archive unpacked to `path` (a file, or a directory
    /// archive's directory): pre-data and data, then post-data beside `prove`.
    fn restore_unpacked<T: Send>(
        &self,
        path: &Path,
        directory: bool,
        prove: impl FnOnce() -> T + Send,
    ) -> Result<T, OpsError> {
        let db = self.target.dbname.clone().unwrap_or_default();
        let section = |sections: &[&str]| {
            let mut cmd = self.pg_restore_cmd();
            cmd.arg(format!("--jobs={}", self.jobs));
            if directory {
                cmd.arg("--format=directory");
            }
            cmd.args(sections).arg(path).stdin(Stdio::null());
            let _bar = progress::spinner(format!("{db}: pg_restore --jobs={}", self.jobs));
            self.supervise(cmd, None)
        };
        section(&DATA)?;
        overlap(|| section(&POST), prove)
    }

    /// Restores only the entries `ids` of a custom archive (a [`crate::select`]ion) into
    /// the target: unpacked to a private file with its offsets set, so that pg_restore
    /// finds each entry's data wherever it lies (`-L`, and `--jobs` when asked).
    pub fn run_selected(&self, archive: &Path, m: &Manifest, ids: &[i64]) -> Result<(), OpsError> {
        let raw: u64 = m.files.iter().map(|f| f.raw_bytes).sum();
        let db = self.target.dbname.clone().unwrap_or_default();
        let tmp = TempFile::new()?;
        // A directory archive is unpacked whole (pg_restore reads only what the list names);
        // a custom one into one file with its offsets set.
        let unpacked_dir;
        let unpacked: &Path = if m.format == DumpFormat::Directory {
            unpacked_dir = self.unpack_directory(archive, m)?;
            unpacked_dir.path()
        } else {
            let bar = progress::bytes(format!("{db}: unpack"), Some(raw));
            self.decompress_to(archive, m.compression.algorithm, tmp.path(), &bar)?;
            tmp.path()
        };
        let list = TempFile::new()?;
        let text: String = ids.iter().map(|id| format!("{id}\n")).collect();
        let file = ops_core::atomic::create_private_file(list.path())
            .map_err(|e| OpsError::io("creating the restore list", &e))?;
        (&file)
            .write_all(text.as_bytes())
            .map_err(|e| OpsError::io("writing the restore list", &e))?;
        let mut cmd = self.pg_restore_cmd();
        cmd.arg(format!("--jobs={}", self.jobs.max(1)))
            .arg("--use-list")
            .arg(list.path())
            .arg(unpacked)
            .stdin(Stdio::null());
        let _bar = progress::spinner(format!("{db}: pg_restore of {} entries", ids.len()));
        self.supervise(cmd, None)
    }

    /// Copies the schema `schema` of the database `from` (on a server this run may dump)
    /// into the target: `pg_dump -Fc -n` to a private file, then pg_restore. How the tables
    /// a scratch database brought back reach the live database.
    pub fn copy_schema(
        &self,
        pg_dump: &Path,
        from: &ConnSettings,
        schema: &str,
    ) -> Result<(), OpsError> {
        let tmp = TempFile::new()?;
        let mut dump = Command::new(pg_dump);
        dump.args(["--format=custom", "--no-password"])
            .arg(format!("--schema={}", ops_pg::quote_ident(schema)))
            .arg(format!("--file={}", tmp.path().display()));
        from.apply_to_command(&mut dump);
        dump.stdin(Stdio::null()).stdout(Stdio::null());
        self.supervise(dump, None)?;
        let mut cmd = self.pg_restore_cmd();
        cmd.arg(tmp.path()).stdin(Stdio::null());
        self.supervise(cmd, None)
    }

    fn decoded(&self, archive: &Path, m: &Manifest) -> Result<Box<dyn Read + Send>, OpsError> {
        ops_catalog::codec::open_decoded(archive, m.compression.algorithm)
            .map_err(|e| OpsError::io(format!("opening {}", archive.display()), &e))
    }

    /// Replays a globals set (roles, tablespaces) into the target server: missing roles are
    /// created; roles that exist are left exactly as they are ([`crate::globals`]), the
    /// role this run connects as first among them. Other statements that fail (a
    /// tablespace that exists) are expected, so this replay does not stop on error.
    pub fn globals(
        &self,
        archive: &Path,
        m: &Manifest,
        admin: &ConnSettings,
    ) -> Result<crate::globals::Filtered, OpsError> {
        let existing: std::collections::BTreeSet<String> = admin
            .connect()?
            .query("SELECT rolname::text FROM pg_roles", &[])
            .map_err(|e| crate::sql_error("listing the roles of the target server", e))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        // A globals script is small (roles and tablespaces): read whole, with a bound.
        let mut script = Vec::new();
        self.decoded(archive, m)?
            .take(GLOBALS_LIMIT)
            .read_to_end(&mut script)
            .map_err(|e| restore_failed(format!("decompressing the globals: {e}")))?;
        let mut filtered = crate::globals::filter(&script, &existing);
        let mut cmd = self.psql_cmd(admin);
        cmd.stdin(Stdio::piped());
        let bar = progress::bytes("globals: restore", Some(filtered.script.len() as u64));
        let text = std::mem::take(&mut filtered.script);
        self.supervise(cmd, Some((Box::new(io::Cursor::new(text)), &bar)))?;
        Ok(filtered)
    }

    fn pg_restore_cmd(&self) -> Command {
        let mut cmd = Command::new(&self.programs.pg_restore);
        cmd.args(["--exit-on-error", "--no-password"]);
        if !self.with_owners {
            cmd.args(["--no-owner", "--no-privileges"]);
        }
        let db = self.target.dbname.clone().unwrap_or_default();
        self.target.apply_to_command(&mut cmd);
        // pg_restore needs -d to restore rather than print SQL; any name (a restore keeps
        // the original, whatever its characters) goes in as a quoted conninfo value, so it
        // is never read as a connection string of its own.
        cmd.arg(format!("--dbname=dbname={}", conninfo_value(&db)))
            .stdout(Stdio::null());
        cmd
    }

    fn psql_cmd(&self, settings: &ConnSettings) -> Command {
        let mut cmd = Command::new(&self.programs.psql);
        cmd.args(["-X", "-q", "--no-password"]);
        settings.apply_to_command(&mut cmd);
        cmd.stdout(Stdio::null());
        cmd
    }

    /// Decompresses the archive into `to` and, in the same pass, reads its structure, then
    /// fills in the data offsets that pg_dump could not write into a pipe, as pg_dump does
    /// for a file: `pg_restore -j` then seeks to each table instead of scanning for it.
    fn decompress_to(
        &self,
        archive: &Path,
        algorithm: Algorithm,
        to: &Path,
        bar: &progress::Bar,
    ) -> Result<(), OpsError> {
        let mut src = ops_catalog::codec::open_decoded(archive, algorithm)
            .map_err(|e| OpsError::io("opening the archive", &e))?;
        let file = ops_core::atomic::create_private_file(to)
            .map_err(|e| OpsError::io("creating the temporary archive", &e))?;
        let mut out = io::BufWriter::with_capacity(ops_core::chunks::CHUNK, file);
        let mut reader = pg_archive::Reader::new();
        let mut parsed = Ok(());
        self.copy_decoded(&mut src, &mut out, bar, "the archive", &mut |b| {
            if parsed.is_ok() {
                parsed = reader.feed(b);
            }
        })?;
        let file = out
            .into_inner()
            .map_err(|e| OpsError::io("writing the temporary archive", e.error()))?;
        // An archive that does not read to its end is left as it is: pg_restore will say why.
        if let Ok(summary) = parsed.and_then(|()| reader.finish()) {
            patch_offsets(&file, &summary)
                .map_err(|e| OpsError::io("writing the data offsets", &e))?;
        }
        Ok(())
    }

    /// Decompresses every file of the directory archive whose `toc.dat` is `archive` into a
    /// private temporary directory (removed when dropped), several files at once: what
    /// `pg_restore --format=directory` reads, whatever compression its build knows.
    fn unpack_directory(
        &self,
        archive: &Path,
        m: &Manifest,
    ) -> Result<ops_core::scratch::Dir, OpsError> {
        let set = archive.parent().unwrap_or(Path::new("."));
        let dir = ops_core::scratch::dir("drill")
            .map_err(|e| OpsError::io("creating the temporary directory", &e))?;
        let raw: u64 = m.files.iter().map(|f| f.raw_bytes).sum();
        let db = self.target.dbname.clone().unwrap_or_default();
        let bar = progress::bytes(format!("{db}: unpack"), Some(raw));
        let unpacked = ops_core::parallel::map(&m.files, ops_core::parallel::cores(), |f| {
            self.unpack_file(&set.join(&f.name), m, dir.path(), &bar)
        });
        unpacked
            .into_iter()
            .collect::<Result<Vec<()>, OpsError>>()?;
        Ok(dir)
    }

    /// One file of a directory archive, decompressed into `to` under pg_dump's own name.
    fn unpack_file(
        &self,
        stored: &Path,
        m: &Manifest,
        to: &Path,
        bar: &progress::Bar,
    ) -> Result<(), OpsError> {
        let name = stored
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let raw_name = name
            .strip_suffix(m.compression.extension())
            .unwrap_or(&name);
        // Only pg_dump's own names are ever written (never a path out of the directory).
        if pg_archive::directory::FileKind::of(raw_name).is_none() {
            return Err(restore_failed(format!(
                "{name} is not a file of a directory archive"
            )));
        }
        let mut src = ops_catalog::codec::open_decoded(stored, m.compression.algorithm)
            .map_err(|e| OpsError::io(format!("opening {}", stored.display()), &e))?;
        let file = ops_core::atomic::create_private_file(&to.join(raw_name))
            .map_err(|e| OpsError::io("creating an unpacked file", &e))?;
        let mut out = io::BufWriter::with_capacity(ops_core::chunks::CHUNK, file);
        self.copy_decoded(&mut src, &mut out, bar, &name, &mut |_| {})?;
        out.flush()
            .map_err(|e| OpsError::io("writing an unpacked file", &e))
    }

    /// Copies the decoded bytes of `what` from `src` into `out`, showing each chunk to
    /// `observe`, counting it on `bar`, and stopping at a stop signal.
    fn copy_decoded(
        &self,
        src: &mut dyn Read,
        out: &mut dyn Write,
        bar: &progress::Bar,
        what: &str,
        observe: &mut dyn FnMut(&[u8]),
    ) -> Result<(), OpsError> {
        let mut buf = vec![0u8; ops_core::chunks::CHUNK];
        loop {
            if let Some(reason) = self.stop.reason() {
                return Err(reason);
            }
            let n = src
                .read(&mut buf)
                .map_err(|e| restore_failed(format!("decompressing {what}: {e}")))?;
            if n == 0 {
                return Ok(());
            }
            bar.inc(n as u64);
            observe(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(|e| OpsError::io(format!("writing what {what} unpacks to"), &e))?;
        }
    }

    /// Runs a restore child, feeding it `input`; fails on its first error.
    fn supervise(
        &self,
        cmd: Command,
        input: Option<(Box<dyn Read + Send>, &progress::Bar)>,
    ) -> Result<(), OpsError> {
        let program = child::program_name(&cmd);
        let stop = self.stop.clone();
        let mut child = child::spawn(cmd, move || stop.reason()).map_err(|e| {
            OpsError::new(
                "client_missing",
                Category::Dependency,
                format!("cannot start {program}: {e}"),
            )
        })?;
        let mut fed: Result<(), String> = Ok(());
        if let (Some((mut src, bar)), Some(mut stdin)) = (input, child.stdin()) {
            let mut buf = vec![0u8; ops_core::chunks::CHUNK];
            fed = loop {
                let n = match src.read(&mut buf) {
                    Ok(0) => break Ok(()),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => break Err(format!("decompressing the archive: {e}")),
                };
                // A write error means the child stopped reading: its status says why.
                if stdin.write_all(&buf[..n]).is_err() {
                    break Ok(());
                }
                bar.inc(n as u64);
            };
            if fed.is_err() {
                child.kill();
            }
        }
        let ended = child.wait();
        if let Some(reason) = ended.stopped.clone() {
            return Err(reason);
        }
        let status = ended
            .status
            .as_ref()
            .map_err(|e| OpsError::io(format!("waiting for {program}"), e))?;
        if !status.success() {
            let last = self.redactor.redact(ended.last_line());
            return Err(restore_failed(format!("{program} failed: {last}")));
        }
        fed.map_err(restore_failed)
    }
}

/// Runs `restore` here and `prove` on another thread at the same time; the proof's result
/// once both are done, or the restore's error.
fn overlap<T: Send>(
    restore: impl FnOnce() -> Result<(), OpsError>,
    prove: impl FnOnce() -> T + Send,
) -> Result<T, OpsError> {
    std::thread::scope(|s| {
        let proving = s.spawn(prove);
        let restored = restore();
        let proof = proving.join().expect("the proof does not panic");
        restored.map(|()| proof)
    })
}

/// The table of contents of a custom archive, read from its first bytes (the rest is not
/// read): what a restore of some tables chooses from.
pub fn read_toc(archive: &Path, m: &Manifest) -> Result<Vec<pg_archive::TocEntry>, OpsError> {
    if m.format == DumpFormat::Directory {
        // A directory archive's toc.dat is a file of its own, small: read whole, bounded.
        let mut bytes = Vec::new();
        ops_catalog::codec::open_decoded(archive, m.compression.algorithm)
            .map_err(|e| OpsError::io(format!("opening {}", archive.display()), &e))?
            .take(TOC_LIMIT)
            .read_to_end(&mut bytes)
            .map_err(|e| restore_failed(format!("decompressing the table of contents: {e}")))?;
        return pg_archive::directory::read_toc(&bytes)
            .map(|t| t.entries)
            .map_err(|e| restore_failed(format!("reading the archive's table of contents: {e}")));
    }
    let mut src = ops_catalog::codec::open_decoded(archive, m.compression.algorithm)
        .map_err(|e| OpsError::io(format!("opening {}", archive.display()), &e))?;
    let mut reader = pg_archive::Reader::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        if let Some(toc) = reader.toc() {
            return Ok(toc.to_vec());
        }
        let n = src
            .read(&mut buf)
            .map_err(|e| restore_failed(format!("decompressing the archive: {e}")))?;
        if n == 0 {
            // Ended before its TOC: finish says why.
            let why = reader
                .finish()
                .err()
                .map_or("no table of contents".to_string(), |e| e.to_string());
            return Err(restore_failed(format!(
                "reading the archive's table of contents: {why}"
            )));
        }
        reader
            .feed(&buf[..n])
            .map_err(|e| restore_failed(format!("reading the archive's table of contents: {e}")))?;
    }
}

/// A conninfo value: single-quoted, with `\` and `'` escaped (libpq's rule).
pub fn conninfo_value(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Writes each entry's data offset (flag `OFFSET_POS_SET`, then the block's position).
fn patch_offsets(file: &File, summary: &pg_archive::Summary) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let Some(size) = summary.offset_size else {
        return Ok(());
    };
    for e in &summary.entries {
        if let (Some(field), Some(at)) = (e.offset_field, e.data_at) {
            let mut bytes = vec![pg_archive::OFFSET_POS_SET];
            bytes.extend_from_slice(&at.to_le_bytes()[..size as usize]);
            file.write_all_at(&bytes, field)?;
        }
    }
    Ok(())
}

/// A private temporary file, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    pub(crate) fn new() -> Result<TempFile, OpsError> {
        Ok(TempFile(ops_core::scratch::file_path(
            "drill",
            &ops_core::event::new_correlation_id(),
            "dump",
        )))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn any_database_name_is_one_conninfo_value() {
        assert_eq!(super::conninfo_value("shop"), "'shop'");
        assert_eq!(
            super::conninfo_value("a'b\\c host=evil"),
            "'a\\'b\\\\c host=evil'"
        );
    }
}
