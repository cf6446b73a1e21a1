//! Names and layout: the files and prefixes of a catalog, and how a database's name
//! becomes a directory's.

/// Schema version of `manifest.json`.
pub const MANIFEST_VERSION: u32 = 1;
pub const MANIFEST_FILE: &str = "manifest.json";
pub const PARTIAL_PREFIX: &str = ".partial-";
/// A set being deleted: renamed first, so that a crash never leaves half a set under its
/// final name.
pub const DELETING_PREFIX: &str = ".deleting-";
pub const GLOBALS_DIR: &str = "_globals";
/// The last verification result of a set, written by backup-verify.
pub const VERIFY_FILE: &str = "verify.json";
/// A pin: a set holding this file is never deleted by retention.
pub const KEEP_FILE: &str = "KEEP";
/// The manifest's detached minisign signature (ADR 0014), written just before it.
pub const SIGNATURE_FILE: &str = "manifest.json.minisig";
/// Where the set's off-site copies are, written by backup-copy.
pub const OFFSITE_FILE: &str = "offsite.json";
/// In a database's directory: the database was retired on purpose (dropped, moved
/// elsewhere). Freshness is not judged for it until a newer set appears (ADR 0018).
pub const RETIRED_FILE: &str = "RETIRED";
/// Files a complete set may hold besides those its manifest lists.
pub const SET_OWN_FILES: [&str; 5] = [
    MANIFEST_FILE,
    SIGNATURE_FILE,
    VERIFY_FILE,
    KEEP_FILE,
    OFFSITE_FILE,
];

/// Encodes a database name as a directory name: every byte outside `[A-Za-z0-9_-]`, and a
/// leading `_`, becomes `%XX`. Entries starting with `.` or `_` are thus pgops' own.
pub fn encode_db_dir(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, b) in name.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'-' || (b == b'_' && i > 0);
        if plain {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The inverse of [`encode_db_dir`]; `None` for anything it could not have produced.
pub fn decode_db_dir(dir: &str) -> Option<String> {
    let bytes = dir.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                if hex.chars().any(|c| c.is_ascii_lowercase()) {
                    return None;
                }
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b if b.is_ascii_alphanumeric() || b == b'-' || (b == b'_' && i > 0) => {
                out.push(b);
                i += 1;
            }
            _ => return None,
        }
    }
    let name = String::from_utf8(out).ok()?;
    (encode_db_dir(&name) == dir && !name.is_empty()).then_some(name)
}

/// A file name a manifest may list: one path component, no dot file, none of the set's
/// own files (manifest, verify record, pin).
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains('/')
        && !name.contains('\0')
        && !SET_OWN_FILES.contains(&name)
}
