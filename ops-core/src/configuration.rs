//! Configuration changes, audited (the platform's FR27, ADR 0029): every run compares what
//! configures it — its environment (the env file or the ConfigMap as the process sees it),
//! the files `PGOPS_CONFIG_FILES` names (the env file itself, the units, the keys), and what
//! the tool says it applied (backup-rotate's retention) — with what it saw the last time,
//! and records what changed in its `run.finished` line: the run trace.
//!
//! Nothing secret is recorded or shown: a secret variable is recorded as set or not set
//! (its change shows through the digest of the file that holds it); a file is recorded by
//! its SHA-256 only, its contents never; a value that is shown is scrubbed first. The last
//! snapshot of each tool lives in `<state dir>/config/<tool>.json`: each tool says what
//! changed since *its* last run, so a change reaches the trace with the first run it
//! affects.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The files (and directories: their files, one level down) whose change is recorded,
/// `:`-separated; a last component may hold one `*` (`/etc/systemd/system/pgops-*`).
pub const CONFIG_FILES_ENV: &str = "PGOPS_CONFIG_FILES";
/// The state directory's subdirectory of last snapshots, one file per tool.
pub const SNAPSHOT_DIR: &str = "config";

/// Files larger than this are recorded by their size, not hashed.
const MAX_HASHED: u64 = 1 << 20;

/// Variables (prefixes) that change on every run by design, or only in tests: not
/// configuration.
const PER_RUN: [&str; 2] = ["PGOPS_CORRELATION_ID", "PGOPS_FAILPOINT"];

/// One thing that configures a run, as recorded: a value that may be shown, or the digest
/// of a file, or only that a secret is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Item {
    Value(String),
    Sha256(String),
    SecretSet,
}

/// Item name (`env:PGHOST`, `file:/etc/pgops/pgops.env`, `file:/etc/pgops/pgops.env:PGOPS_KEEP_DAILY`,
/// `setting:retention`) → item.
pub type Snapshot = BTreeMap<String, Item>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Changed => "changed",
        }
    }
}

/// One recorded change: what, how, and the values before and after when they may be shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub item: String,
    pub change: ChangeKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// The changes in words, for the event's `message` and a person: `configuration changed:
/// env:PGHOST db → db2; file:/etc/pgops/age.pub changed`.
pub fn describe(changes: &[Change]) -> String {
    let each: Vec<String> = changes
        .iter()
        .map(|c| match (c.change, &c.from, &c.to) {
            (ChangeKind::Changed, Some(a), Some(b)) => format!("{} {a} → {b}", c.item),
            (ChangeKind::Added, _, Some(b)) => format!("{} added ({b})", c.item),
            (kind, _, _) => format!("{} {}", c.item, kind.as_str()),
        })
        .collect();
    format!("configuration changed: {}", each.join("; "))
}

/// Whether a variable's value is a secret by its name: never recorded, only "set".
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "PASSWORD",
        "SECRET",
        "TOKEN",
        "PASSPHRASE",
        "ACCESS_KEY",
        "PRIVATE",
    ]
    .iter()
    .any(|w| upper.contains(w))
}

/// Whether a variable configures pgops: its own (`PGOPS_`) and libpq's (`PG`), the S3
/// client's (`AWS_`).
fn is_configuration(name: &str) -> bool {
    (name.starts_with("PG") || name.starts_with("AWS_"))
        && !PER_RUN.iter().any(|p| name.starts_with(p))
}

fn item_for(name: &str, value: &str) -> Item {
    if is_secret_name(name) {
        Item::SecretSet
    } else {
        Item::Value(crate::redact::scrub(value))
    }
}

/// The snapshot of `env` (name, value pairs), the files `files` and the tool's own
/// `settings`. A file that cannot be read is recorded as such, not skipped: a key that
/// became unreadable is a change.
pub fn snapshot(
    env: impl IntoIterator<Item = (String, String)>,
    files: &[PathBuf],
    settings: &BTreeMap<String, String>,
) -> Snapshot {
    let mut out = Snapshot::new();
    // Names are scrubbed like values: a setting may be named by a location that holds a
    // credential (`s3://key:secret@bucket`), a path could hold anything.
    let mut put = |label: String, item: Item| {
        out.insert(crate::redact::scrub(&label), item);
    };
    for (name, value) in env.into_iter().filter(|(n, _)| is_configuration(n)) {
        let item = item_for(&name, &value);
        put(format!("env:{name}"), item);
    }
    for path in files {
        let label = format!("file:{}", path.display());
        // Configuration is small; a big file named by mistake (a catalog directory) is
        // recorded by its size, never read on every run.
        match std::fs::metadata(path) {
            Ok(m) if m.len() > MAX_HASHED => {
                put(label, Item::Value(format!("{} bytes, not hashed", m.len())));
                continue;
            }
            _ => {}
        }
        match std::fs::read(path) {
            Ok(bytes) => {
                use sha2::Digest;
                put(
                    label.clone(),
                    Item::Sha256(hex::encode(sha2::Sha256::digest(&bytes))),
                );
                // An env file says which of its settings changed, with their values.
                if path.extension().is_some_and(|x| x == "env") {
                    for (name, value) in env_file_lines(&String::from_utf8_lossy(&bytes)) {
                        put(format!("{label}:{name}"), item_for(&name, &value));
                    }
                }
            }
            Err(e) => {
                put(label, Item::Value(format!("unreadable: {}", e.kind())));
            }
        }
    }
    for (name, value) in settings {
        put(
            format!("setting:{name}"),
            Item::Value(crate::redact::scrub(value)),
        );
    }
    out
}

/// `NAME=value` lines of a systemd `EnvironmentFile=` (comments and blanks skipped,
/// surrounding quotes removed).
fn env_file_lines(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            (k.trim().to_string(), v.to_string())
        })
        .collect()
}

/// The files `spec` (`PGOPS_CONFIG_FILES`) names, sorted: each path, a directory's files
/// (one level), and the matches of a last component with one `*`.
pub fn watched_files(spec: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in spec.split(':').filter(|e| !e.is_empty()) {
        let path = Path::new(entry);
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some((head, tail)) = name.split_once('*') {
            let parent = path.parent().unwrap_or(Path::new("/"));
            for p in dir_entries(parent) {
                let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if n.len() >= head.len() + tail.len() && n.starts_with(head) && n.ends_with(tail) {
                    push_file_or_dir(&mut out, p);
                }
            }
        } else {
            push_file_or_dir(&mut out, path.to_path_buf());
        }
    }
    out.sort();
    out.dedup();
    out
}

fn dir_entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn push_file_or_dir(out: &mut Vec<PathBuf>, path: PathBuf) {
    if path.is_dir() {
        out.extend(dir_entries(&path).into_iter().filter(|p| !p.is_dir()));
    } else {
        // A named file that is missing is recorded as unreadable: it was removed.
        out.push(path);
    }
}

/// What changed from `old` to `new`, in item order. A first run (no `old`) is the baseline:
/// nothing changed.
pub fn diff(old: &Snapshot, new: &Snapshot) -> Vec<Change> {
    let shown = |i: &Item| match i {
        Item::Value(v) => Some(v.clone()),
        Item::Sha256(_) | Item::SecretSet => None,
    };
    let mut out = Vec::new();
    for (name, item) in new {
        match old.get(name) {
            None => out.push(Change {
                item: name.clone(),
                change: ChangeKind::Added,
                from: None,
                to: shown(item),
            }),
            Some(before) if before != item => out.push(Change {
                item: name.clone(),
                change: ChangeKind::Changed,
                from: shown(before),
                to: shown(item),
            }),
            Some(_) => {}
        }
    }
    for (name, item) in old.iter().filter(|(n, _)| !new.contains_key(*n)) {
        out.push(Change {
            item: name.clone(),
            change: ChangeKind::Removed,
            from: shown(item),
            to: None,
        });
    }
    out
}

/// Compares this run's configuration with `tool`'s last one in the state directory `dir`
/// and keeps this one for the next run. Best effort, like all state: a snapshot that
/// cannot be read is a new baseline, one that cannot be written is said on stderr.
pub fn audit(dir: &Path, tool: &str, settings: &BTreeMap<String, String>) -> Vec<Change> {
    let files = std::env::var(CONFIG_FILES_ENV)
        .map(|s| watched_files(&s))
        .unwrap_or_default();
    let mut now = snapshot(std::env::vars(), &files, settings);
    let path = dir.join(SNAPSHOT_DIR).join(format!("{tool}.json"));
    // No snapshot yet: this run is the baseline. One that cannot be read or parsed (cut,
    // or tampered with) is compared as empty: every item reads as added, never silently
    // becoming the new baseline.
    let before: Option<Snapshot> = match std::fs::read(&path) {
        Ok(bytes) => Some(serde_json::from_slice(&bytes).unwrap_or_default()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(_) => Some(Snapshot::new()),
    };
    // A setting belongs to what the run applied it to (one catalog's retention): one that
    // this run did not apply is carried over, not removed, so two runs on two catalogs
    // never report each other's settings as changes.
    for (name, item) in before.iter().flatten() {
        if name.starts_with("setting:") && !now.contains_key(name) {
            now.insert(name.clone(), item.clone());
        }
    }
    let changes = before.as_ref().map(|b| diff(b, &now)).unwrap_or_default();
    if before.is_none() || !changes.is_empty() {
        crate::state::write_record_in(dir, &format!("{SNAPSHOT_DIR}/{tool}.json"), &now);
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn a_changed_setting_shows_its_values_and_a_secret_never_does() {
        let dir = tempfile::tempdir().unwrap();
        let env_file = dir.path().join("pgops.env");
        std::fs::write(
            &env_file,
            "PGOPS_KEEP_DAILY=7\nPGPASSWORD=hunter2-sentinel\n",
        )
        .unwrap();
        let key = dir.path().join("backup.pub");
        std::fs::write(&key, "untrusted comment: a\nRWQ1\n").unwrap();
        let files = vec![env_file.clone(), key.clone()];
        let retention = BTreeMap::from([("retention".to_string(), "keep-daily 7".to_string())]);
        let first = snapshot(
            env(&[
                ("PGHOST", "db"),
                ("PGPASSWORD", "hunter2-sentinel"),
                ("HOME", "/root"),
            ]),
            &files,
            &retention,
        );
        assert!(
            !first.contains_key("env:HOME"),
            "only what configures pgops"
        );

        std::fs::write(&env_file, "PGOPS_KEEP_DAILY=3\nPGPASSWORD=other-sentinel\n").unwrap();
        std::fs::write(&key, "untrusted comment: b\nRWQ2\n").unwrap();
        let retention = BTreeMap::from([("retention".to_string(), "keep-daily 3".to_string())]);
        let second = snapshot(
            env(&[("PGHOST", "db2"), ("PGPASSWORD", "other-sentinel")]),
            &files,
            &retention,
        );
        let changes = diff(&first, &second);
        let text = serde_json::to_string(&changes).unwrap();
        assert!(!text.contains("sentinel"), "{text}");
        let words = describe(&changes);
        assert!(words.contains(":PGOPS_KEEP_DAILY 7 → 3") && !words.contains("sentinel"));
        assert!(
            words.contains(&format!("file:{} changed", key.display())),
            "{words}"
        );
        assert!(!serde_json::to_string(&second).unwrap().contains("sentinel"));
        let find = |item: &str| changes.iter().find(|c| c.item == item).cloned();
        let daily = format!("file:{}:PGOPS_KEEP_DAILY", env_file.display());
        assert_eq!(
            find(&daily).map(|c| (c.from, c.to)),
            Some((Some("7".into()), Some("3".into())))
        );
        assert_eq!(
            find("env:PGHOST").map(|c| (c.change, c.to)),
            Some((ChangeKind::Changed, Some("db2".into())))
        );
        // The key and the env file changed: named, no contents.
        let key_change = find(&format!("file:{}", key.display())).unwrap();
        assert_eq!((key_change.from, key_change.to), (None, None));
        assert!(find(&format!("file:{}", env_file.display())).is_some());
        // The password changed: only the file holding it says so.
        assert!(find("env:PGPASSWORD").is_none());
        assert!(find(&format!("file:{}:PGPASSWORD", env_file.display())).is_none());
        assert_eq!(
            find("setting:retention").and_then(|c| c.to),
            Some("keep-daily 3".into())
        );
        assert!(
            find("env:HOME").is_none() && diff(&second, &second).is_empty(),
            "nothing else"
        );
    }

    #[test]
    fn watched_files_expand_directories_and_one_star() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        let units = dir.path().join("units");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::create_dir_all(units.join("pgops-backup.service.d")).unwrap();
        for f in [
            etc.join("pgops.env"),
            etc.join("age.pub"),
            units.join("pgops-backup.service"),
            units.join("pgops-backup.timer"),
            units.join("ssh.service"),
            units.join("pgops-backup.service.d/override.conf"),
        ] {
            std::fs::write(f, "x").unwrap();
        }
        let spec = format!(
            "{}:{}/pgops-*:{}/missing.env",
            etc.display(),
            units.display(),
            etc.display()
        );
        let got: Vec<String> = watched_files(&spec)
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(
            got,
            [
                "etc/age.pub",
                "etc/missing.env",
                "etc/pgops.env",
                "units/pgops-backup.service",
                "units/pgops-backup.service.d/override.conf",
                "units/pgops-backup.timer",
            ]
        );
    }

    #[test]
    fn runs_on_two_catalogs_keep_their_own_settings() {
        let dir = tempfile::tempdir().unwrap();
        let set = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        let local = set("retention /var/backups/pgops", "daily 7");
        let remote = set("retention s3://b/p", "within 30d");
        assert!(
            audit(dir.path(), "backup-rotate", &local).is_empty(),
            "baseline"
        );
        assert_eq!(
            audit(dir.path(), "backup-rotate", &remote).len(),
            1,
            "a new catalog"
        );
        for _ in 0..2 {
            assert!(audit(dir.path(), "backup-rotate", &local).is_empty());
            assert!(audit(dir.path(), "backup-rotate", &remote).is_empty());
        }
        let changed = audit(
            dir.path(),
            "backup-rotate",
            &set("retention s3://b/p", "within 20d"),
        );
        assert_eq!(changed.len(), 1);
        assert_eq!(
            (changed[0].from.as_deref(), changed[0].to.as_deref()),
            (Some("within 30d"), Some("within 20d"))
        );
        // Another tool has its own snapshot.
        assert!(audit(dir.path(), "backup-verify", &BTreeMap::new()).is_empty());
    }

    #[test]
    fn a_credential_in_a_settings_name_is_never_kept() {
        let dir = tempfile::tempdir().unwrap();
        let location = "retention s3://AKIAEXAMPLE:Sentinel-in-name@pgops/p";
        let settings = BTreeMap::from([(location.to_string(), "last 1".to_string())]);
        for _ in 0..2 {
            // The same name scrubbed the same way each run: never a change of its own.
            assert!(audit(dir.path(), "backup-rotate", &settings).is_empty());
        }
        let kept = std::fs::read_to_string(dir.path().join("config/backup-rotate.json")).unwrap();
        assert!(
            !kept.contains("Sentinel-in-name") && kept.contains("s3://"),
            "{kept}"
        );
    }

    #[test]
    fn a_damaged_baseline_reads_as_everything_added() {
        let dir = tempfile::tempdir().unwrap();
        let settings = BTreeMap::from([("retention /b".to_string(), "last 1".to_string())]);
        assert!(audit(dir.path(), "backup-rotate", &settings).is_empty());
        std::fs::write(dir.path().join("config/backup-rotate.json"), "{\"cut").unwrap();
        let changes = audit(dir.path(), "backup-rotate", &settings);
        assert!(changes
            .iter()
            .any(|c| c.item == "setting:retention /b" && c.change == ChangeKind::Added));
        assert!(
            audit(dir.path(), "backup-rotate", &settings).is_empty(),
            "a new baseline"
        );
    }

    #[test]
    fn a_big_file_named_by_mistake_is_recorded_by_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("shop.dump.zst");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(MAX_HASHED + 1)
            .unwrap();
        let s = snapshot(Vec::new(), std::slice::from_ref(&big), &BTreeMap::new());
        assert_eq!(
            s[&format!("file:{}", big.display())],
            Item::Value(format!("{} bytes, not hashed", MAX_HASHED + 1))
        );
    }

    #[test]
    fn the_first_run_is_the_baseline_and_a_removed_file_is_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("age.pub");
        std::fs::write(&f, "age1…").unwrap();
        let files = vec![f.clone()];
        let none = BTreeMap::new();
        let a = snapshot(Vec::new(), &files, &none);
        std::fs::remove_file(&f).unwrap();
        let b = snapshot(Vec::new(), &files, &none);
        let changes = diff(&a, &b);
        assert_eq!(changes.len(), 1);
        assert_eq!(
            changes[0].to.as_deref(),
            Some("unreadable: entity not found")
        );
    }
}
