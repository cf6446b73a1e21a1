//! Sealing a local set into a store: every file encrypted to the recipients as it streams,
//! checked against the manifest on the way, then the signed envelope, create-only.
//!
//! Resuming: what each object became (its name, ciphertext size and SHA-256) is recorded
//! in a journal on the *source* host as soon as the store has it, so an interrupted copy
//! re-sends only what is missing, and never vouches in an envelope for an object it did
//! not write itself (an object found in the bucket proves nothing: anyone with write access
//! could have put it there).

use super::{envelope_signature_name, key, Envelope, SealedObject, SetLock, AGE_SUFFIX};
use super::{ENVELOPE_FILE, ENVELOPE_FORMAT, ENVELOPE_VERSION};
use crate::backend::Hashing;
use crate::backend::{check_source, check_written_size, PutMode, Store, StoreError, TransferError};
use crate::keys::Recipients;
use ops_catalog::catalog::{Manifest, SetKind, GLOBALS_DIR, MANIFEST_FILE, SIGNATURE_FILE};
use ops_catalog::keys::SigningKey;
use ops_core::{atomic, Category, OpsError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// Ciphertext chunks on their way from the sealing thread to the store's writer.
type Chunk = io::Result<Vec<u8>>;

/// How much ciphertext one message carries, and how many may wait: memory stays at a few
/// MiB per file whatever its size.
const SEAL_CHUNK: usize = 1 << 20;
const SEAL_QUEUE: usize = 4;

/// The age writer's output: batched into chunks and sent to the reader side.
struct ChannelWriter {
    tx: mpsc::SyncSender<Chunk>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(SEAL_CHUNK));
        self.tx
            .send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the upload stopped"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= SEAL_CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            self.send()
        }
    }
}

/// The ciphertext as a stream, for the store's writer (which hashes what it stores).
struct ChannelReader {
    rx: mpsc::Receiver<Chunk>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.cur = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                // The sealing thread finished: the stream ends.
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Reads `file` in a thread of its own, hashing the plaintext and encrypting it to
/// `recipients`: the caller's thread hashes and sends the ciphertext meanwhile, so the
/// three passes over the bytes use two cores. The thread returns the plaintext's size and
/// SHA-256; a read error also reaches the reader side, so the upload fails.
fn seal_stream(
    file: impl Read + Send + 'static,
    recipients: &Recipients,
) -> (
    impl Read,
    std::thread::JoinHandle<io::Result<(u64, String)>>,
) {
    let (tx, rx) = mpsc::sync_channel::<Chunk>(SEAL_QUEUE);
    let encryptor = recipients.encryptor();
    let handle = std::thread::spawn(move || {
        let errors = tx.clone();
        let sealed: io::Result<(u64, String)> = (|| {
            let mut plain =
                Hashing::new(io::BufReader::with_capacity(ops_core::chunks::CHUNK, file));
            let mut w = encryptor.wrap_output(ChannelWriter {
                tx,
                buf: Vec::with_capacity(SEAL_CHUNK),
            })?;
            io::copy(&mut plain, &mut w)?;
            w.finish()?.flush()?;
            let done = crate::backend::stored(plain);
            Ok((done.size, done.sha256))
        })();
        if let Err(e) = &sealed {
            let _ = errors.send(Err(io::Error::new(e.kind(), e.to_string())));
        }
        sealed
    });
    (
        ChannelReader {
            rx,
            cur: Vec::new(),
            pos: 0,
        },
        handle,
    )
}

/// An upper bound of the ciphertext size of `plain` bytes (age: a header, 16 bytes a
/// 64 KiB chunk): what chooses the multipart part size.
pub fn sealed_size_hint(plain: u64) -> u64 {
    plain + plain.div_ceil(64 * 1024) * 16 + 16 + 16 * 1024
}

/// The journal of one set's copy to one store, on the source host.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub nonce: String,
    /// File name → the object it became.
    pub objects: BTreeMap<String, SealedObject>,
}

/// Where journals live: `<source catalog>/.copy-state/<store id>/<dir>/<id>.json`.
pub use ops_catalog::catalog::COPY_STATE_DIR;

/// The journal file of the set `dir/id` copied to `location`.
pub fn journal_path(source_root: &Path, location: &str, dir: &str, id: &str) -> PathBuf {
    use sha2::Digest;
    let store_id = hex::encode(&sha2::Sha256::digest(location.as_bytes())[..8]);
    source_root
        .join(COPY_STATE_DIR)
        .join(store_id)
        .join(dir)
        .join(format!("{id}.json"))
}

/// The journal on disk is JSON lines: `{"nonce": …}` first, then one object a line, each
/// appended and fsynced as its object is stored. (Rewriting a whole journal after each
/// object made a set of 10,000 files quadratic: some 10 GB written and fsynced.) A line
/// cut by a crash is ignored: its object is sent again, under the same name.
#[derive(Serialize, Deserialize)]
struct JournalHead {
    nonce: String,
}

fn read_journal(path: &Path) -> Journal {
    let fresh = || Journal {
        nonce: new_nonce(),
        objects: BTreeMap::new(),
    };
    let Ok(bytes) = std::fs::read(path) else {
        return fresh();
    };
    // A journal an earlier build left: one JSON document.
    if let Ok(j) = serde_json::from_slice::<Journal>(&bytes) {
        return j;
    }
    let mut lines = bytes.split(|b| *b == b'\n');
    let Some(head) = lines
        .next()
        .and_then(|l| serde_json::from_slice::<JournalHead>(l).ok())
    else {
        return fresh();
    };
    let objects = lines
        .filter_map(|l| serde_json::from_slice::<SealedObject>(l).ok())
        .map(|o| (o.file.clone(), o))
        .collect();
    Journal {
        nonce: head.nonce,
        objects,
    }
}

fn journal_line(value: &impl Serialize) -> Vec<u8> {
    let mut line = serde_json::to_vec(value).expect("a journal line serializes");
    line.push(b'\n');
    line
}

/// Writes the journal whole, in the lines format (a new copy, or one resumed).
fn save_journal(path: &Path, j: &Journal) -> io::Result<()> {
    atomic::create_private_dir_all(path.parent().expect("a journal has a parent"))?;
    let mut text = journal_line(&JournalHead {
        nonce: j.nonce.clone(),
    });
    for o in j.objects.values() {
        text.extend(journal_line(o));
    }
    atomic::write_file(path, &text)
}

/// Records one stored object at the end of the journal, durably.
fn append_journal(path: &Path, o: &SealedObject) -> io::Result<()> {
    let mut f = std::fs::OpenOptions::new().append(true).open(path)?;
    f.write_all(&journal_line(o))?;
    f.sync_data()
}

pub(crate) fn new_nonce() -> String {
    let mut b = [0u8; 4];
    getrandom::getrandom(&mut b).expect("the system has randomness");
    hex::encode(b)
}

/// One local set to seal.
#[derive(Debug, Clone)]
pub struct SetToSeal<'a> {
    /// Its directory name in every catalog (encoded database, or `_globals`).
    pub dir: &'a str,
    pub id: &'a str,
    pub path: &'a Path,
    pub manifest: &'a Manifest,
}

/// What sealing one set did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Ciphertext bytes sent now.
    pub sent: u64,
    /// Plaintext bytes already there from an interrupted copy, kept.
    pub resumed: u64,
    /// Another writer sealed the same set first: its envelope stands, ours was dropped.
    pub lost_race: bool,
    /// The set's Object Lock, as its envelope records it.
    pub lock: Option<SetLock>,
    /// The writer's nonce: every object this sealing wrote carries it.
    pub nonce: String,
}

/// Where the bytes of a travelling file come from.
enum Source {
    File(PathBuf),
    /// Made for the copy: the manifest and the signature made of exactly those bytes.
    Bytes(Vec<u8>),
}

/// A file of a local set that travels: its name, its recorded size and SHA-256 (data
/// files), and its bytes.
struct Travelling {
    file: String,
    expected: Option<(u64, String)>,
    source: Source,
}

/// The files of a local set that travel: the data files with their recorded size and
/// SHA-256, then the manifest and its signature (checked by the envelope's signature). A
/// set taken without a signing key gets its manifest signed here with the key that signs
/// the envelope: the catalog it is unsealed into trusts that key and refuses an unsigned
/// manifest, so an unsigned sealed set would pass remote verification and fail every
/// restore. The local set is not changed.
fn travelling(s: &SetToSeal<'_>, signing: &SigningKey) -> io::Result<Vec<Travelling>> {
    let mut out: Vec<_> = s
        .manifest
        .files
        .iter()
        .map(|f| Travelling {
            file: f.name.clone(),
            expected: Some((f.bytes, f.sha256.clone())),
            source: Source::File(s.path.join(&f.name)),
        })
        .collect();
    let own = |file: &str| Travelling {
        file: file.to_string(),
        expected: None,
        source: Source::File(s.path.join(file)),
    };
    if s.path.join(SIGNATURE_FILE).is_file() {
        out.push(own(MANIFEST_FILE));
        out.push(own(SIGNATURE_FILE));
    } else {
        let text = std::fs::read(s.path.join(MANIFEST_FILE))?;
        let signature = ops_catalog::catalog::sign_manifest(signing, s.manifest, &text);
        out.push(Travelling {
            file: MANIFEST_FILE.into(),
            expected: None,
            source: Source::Bytes(text),
        });
        out.push(Travelling {
            file: SIGNATURE_FILE.into(),
            expected: None,
            source: Source::Bytes(signature.into_bytes()),
        });
    }
    Ok(out)
}

impl Source {
    fn open(&self) -> io::Result<Box<dyn Read + Send>> {
        Ok(match self {
            Source::File(path) => Box::new(std::fs::File::open(path)?),
            Source::Bytes(b) => Box::new(io::Cursor::new(b.clone())),
        })
    }

    fn describe(&self, s: &SetToSeal<'_>) -> PathBuf {
        match self {
            Source::File(path) => path.clone(),
            Source::Bytes(_) => s.path.to_path_buf(),
        }
    }
}

/// Seals `s` into `dst`: data first, envelope signature, envelope last, written with
/// `envelope_mode`: `Create` for a copy (the first complete copy wins), `Overwrite` for a
/// re-seal, which replaces the set's envelope. `there` is what the destination lists
/// (key → size); `journal` is where this copy's progress is kept.
pub fn seal_set(
    dst: &dyn Store,
    s: &SetToSeal<'_>,
    there: &BTreeMap<String, u64>,
    recipients: &Recipients,
    signing: &SigningKey,
    journal: &Path,
    envelope_mode: PutMode,
) -> Result<Sealed, TransferError> {
    // One writer per set and store on this host: two copies sharing a journal would share
    // its nonce and overwrite each other's objects.
    let parent = journal.parent().expect("a journal has a parent");
    atomic::create_private_dir_all(parent).map_err(|e| {
        TransferError::Set(OpsError::io(format!("creating {}", parent.display()), &e))
    })?;
    let _owner = ops_catalog::lock::CatalogLock::acquire_file(
        &journal.with_extension("lock"),
        ops_catalog::lock::LockMode::Exclusive,
        std::time::Duration::ZERO,
    )
    .map_err(|e| match e {
        ops_catalog::lock::LockError::Busy(_) => TransferError::Busy,
        e => TransferError::Set(e.to_ops_error()),
    })?;
    let mut j = read_journal(journal);
    // The nonce is kept before anything is sent: a run killed after an object reached the
    // store but before it was journaled is resumed under the same names, so its object
    // is overwritten, never left beside the set as a full-size stray. (Written whole each
    // time: a resumed journal is then in the lines format, whatever wrote it.)
    save_journal(journal, &j).map_err(|e| {
        TransferError::Set(OpsError::io(format!("recording {}", journal.display()), &e))
    })?;
    let mut done = Sealed::default();
    let mut objects = Vec::new();
    let files = travelling(s, signing).map_err(|e| {
        TransferError::Set(OpsError::io(
            format!("reading the manifest of {}", s.path.display()),
            &e,
        ))
    })?;
    // On a terminal: the set's plain bytes going out, against their total.
    let bar = ops_core::progress::bytes(
        format!("{} {}: copy", s.dir, s.id),
        Some(
            files
                .iter()
                .map(|t| t.expected.as_ref().map_or(0, |e| e.0))
                .sum(),
        ),
    );
    for Travelling {
        file,
        expected,
        source,
    } in files
    {
        if let Some(o) = j.objects.get(&file) {
            if there.get(&key(s.dir, s.id, &o.name)) == Some(&o.bytes) {
                done.resumed += expected.as_ref().map_or(0, |e| e.0);
                bar.inc(expected.as_ref().map_or(0, |e| e.0));
                objects.push(o.clone());
                continue;
            }
        }
        let name = format!("{file}.{}{AGE_SUFFIX}", j.nonce);
        let k = key(s.dir, s.id, &name);
        let path = source.describe(s);
        let src = source.open().map_err(|e| {
            TransferError::Set(OpsError::io(format!("reading {}", path.display()), &e))
        })?;
        let hint = sealed_size_hint(expected.as_ref().map_or(64 * 1024, |e| e.0));
        let (mut ciphertext, sealer) = seal_stream(bar.reader(src), recipients);
        let put = dst.put(&k, &mut ciphertext, Some(hint), PutMode::Overwrite);
        // Dropping the reader stops the thread if the upload stopped first.
        drop(ciphertext);
        let sealed = sealer.join().expect("the sealing thread does not panic");
        // A read error of the source is the cause of a failed upload, not the other way.
        let read_error = |e: &io::Error| {
            TransferError::Set(OpsError::io(format!("reading {}", path.display()), e))
        };
        if let Err(e) = &sealed {
            if e.kind() != io::ErrorKind::BrokenPipe {
                return Err(read_error(e));
            }
        }
        let stored = put.map_err(TransferError::store(format!("writing {k}")))?;
        let (plain_size, plain_sha) = sealed.map_err(|e| read_error(&e))?;
        if let Some((bytes, sha)) = &expected {
            check_source(dst, &k, &path, (plain_size, &plain_sha), (*bytes, sha))?;
        }
        check_written_size(dst, &k, stored.size)?;
        ops_core::failpoint::hit("copy.after_put");
        let o = SealedObject {
            name,
            file: file.clone(),
            bytes: stored.size,
            sha256: stored.sha256,
            locked_until: dst
                .write_retention()
                .map(|r| ops_core::timefmt::rfc3339(r.until)),
        };
        append_journal(journal, &o).map_err(|e| {
            TransferError::Set(OpsError::io(format!("recording {}", journal.display()), &e))
        })?;
        j.objects.insert(file, o.clone());
        done.sent += o.bytes;
        objects.push(o);
    }
    ops_core::failpoint::hit("copy.before_manifest");
    let envelope = Envelope {
        format: ENVELOPE_FORMAT.into(),
        v: ENVELOPE_VERSION,
        kind: s.manifest.kind,
        dir: s.dir.to_string(),
        id: s.id.to_string(),
        sealed_at: ops_core::timefmt::now_rfc3339(),
        encryption: "age".into(),
        lock: SetLock::of(&objects, dst.write_retention().map(|r| r.mode)),
        objects,
    };
    done.lock = envelope.lock.clone();
    done.nonce = j.nonce.clone();
    let mut text = serde_json::to_vec_pretty(&envelope).expect("an envelope serializes");
    text.push(b'\n');
    let kind = match s.manifest.kind {
        SetKind::Database => "database",
        SetKind::Globals => GLOBALS_DIR,
    };
    let signature = signing.sign(
        &text,
        &format!("pgops sealed {kind} set {}/{}", s.dir, s.id),
    );
    let sig_key = key(s.dir, s.id, &envelope_signature_name(&j.nonce));
    dst.put(
        &sig_key,
        &mut signature.as_bytes(),
        Some(signature.len() as u64),
        PutMode::Overwrite,
    )
    .map_err(TransferError::store(format!("writing {sig_key}")))?;
    let env_key = key(s.dir, s.id, ENVELOPE_FILE);
    match dst.put(
        &env_key,
        &mut &text[..],
        Some(text.len() as u64),
        envelope_mode,
    ) {
        Ok(_) => {}
        Err(StoreError::Exists(_)) => {
            // Another copy sealed this set first. Its objects and signature carry its own
            // nonce, so ours are strays, whatever the timing: removed.
            for o in j.objects.values() {
                let _ = dst.delete(&key(s.dir, s.id, &o.name));
            }
            let _ = dst.delete(&sig_key);
            done.lost_race = true;
        }
        Err(e) => return Err(TransferError::store(format!("writing {env_key}"))(e)),
    }
    let _ = std::fs::remove_file(journal);
    Ok(done)
}

/// Deletes the sealed set `dir/id` (ADR 0013): its envelope first, so the set stops
/// existing before any of its data goes, then every object `listed` under it (names as
/// listed before the deletion: an object a concurrent copy writes afterwards is not
/// touched), then checks that no envelope reappeared. `concurrent_writer` if one did:
/// another host re-created the set meanwhile, and it is left to that host.
pub fn delete_sealed(
    store: &dyn Store,
    dir: &str,
    id: &str,
    listed: &[String],
) -> Result<(), OpsError> {
    let at = |what: &str| {
        let what = what.to_string();
        move |e: StoreError| e.to_ops_error(&what)
    };
    let envelope = key(dir, id, ENVELOPE_FILE);
    // Purged, not hidden: on a versioned bucket a delete marker would free nothing and
    // leave the set to be found again by a recovery.
    store
        .purge(&envelope)
        .map_err(at(&format!("deleting {envelope}")))?;
    for name in listed.iter().filter(|n| *n != ENVELOPE_FILE) {
        let k = key(dir, id, name);
        store.purge(&k).map_err(at(&format!("deleting {k}")))?;
    }
    if store
        .size(&envelope)
        .map_err(at(&format!("checking {envelope}")))?
        .is_some()
    {
        return Err(OpsError::new(
            "concurrent_writer",
            Category::Integrity,
            format!(
                "{dir}/{id} was sealed again by another writer while it was deleted: left to it"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(file: &str, nonce: &str) -> SealedObject {
        SealedObject {
            name: format!("{file}.{nonce}{AGE_SUFFIX}"),
            file: file.into(),
            bytes: 42,
            sha256: "ab".repeat(32),
            locked_until: None,
        }
    }

    /// What a copy killed at any point left is read back: the nonce, and every object whose
    /// line was written whole; a line cut short is dropped (its object is sent again).
    #[test]
    fn a_journal_is_appended_a_line_an_object_and_read_back_after_a_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/app/20261124T030001Z.json");
        let mut j = read_journal(&path);
        assert!(j.objects.is_empty());
        save_journal(&path, &j).unwrap();
        for f in ["toc.dat.zst", "3001.dat.zst", "3002.dat.zst"] {
            let o = object(f, &j.nonce);
            append_journal(&path, &o).unwrap();
            j.objects.insert(f.into(), o);
        }
        assert_eq!(read_journal(&path), j);
        // Each object adds one line, whatever the journal holds already.
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 4);
        // A crash in the middle of the next line.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(br#"{"name":"3003.dat.zst.x","fi"#).unwrap();
        assert_eq!(read_journal(&path), j);
        // Resumed: written whole again, the cut line gone, the nonce kept.
        save_journal(&path, &read_journal(&path)).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 4);
        assert_eq!(read_journal(&path), j);
    }

    #[test]
    fn a_journal_of_an_earlier_build_is_resumed_under_its_nonce() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.json");
        let mut old = Journal {
            nonce: "1f2e3d4c".into(),
            objects: BTreeMap::new(),
        };
        old.objects
            .insert("app.dump.zst".into(), object("app.dump.zst", "1f2e3d4c"));
        std::fs::write(&path, serde_json::to_vec(&old).unwrap()).unwrap();
        assert_eq!(read_journal(&path), old);
        save_journal(&path, &old).unwrap();
        append_journal(&path, &object("b", "1f2e3d4c")).unwrap();
        let j = read_journal(&path);
        assert_eq!(j.nonce, "1f2e3d4c");
        assert_eq!(j.objects.len(), 2);
        // Unreadable: a new nonce, nothing taken as sent.
        std::fs::write(&path, b"garbage").unwrap();
        let fresh = read_journal(&path);
        assert!(fresh.objects.is_empty() && fresh.nonce != "1f2e3d4c");
    }
}
