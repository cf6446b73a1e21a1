//! What of a globals set (`pg_dumpall --globals-only`) a restore replays into a live server:
//! roles that are missing are created with everything the set says of them; roles that
//! exist are left exactly as they are. Replayed whole, the script would `ALTER ROLE` every
//! existing role back to the backup: a role made `NOLOGIN` since logs in again with its
//! old password, and the password of the role the restore itself connects as reverts
//! mid-run, locking the operator out.
//!
//! The script is cut into statements (quotes, quoted identifiers, dollar quotes and
//! comments respected), and a statement is left out when it changes a role that exists:
//! `CREATE ROLE`, `ALTER ROLE` (attributes, password, settings, `IN DATABASE … SET`),
//! `COMMENT ON ROLE`, `SECURITY LABEL … ON ROLE`, and a membership `GRANT … TO` it.
//! Everything else (tablespaces, memberships of new roles) is replayed. Pure.

use std::collections::BTreeSet;

/// What [`filter`] did: the script to replay, and the statements left out, by role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filtered {
    pub script: Vec<u8>,
    /// Existing roles the set would have changed, sorted.
    pub roles_kept: Vec<String>,
    /// Roles the script creates.
    pub roles_created: Vec<String>,
    pub statements_skipped: usize,
}

/// Splits `script` into statements, each with what precedes it (comments, blank lines),
/// ending at a `;` outside quotes and comments. The last piece may have no `;`.
fn statements(script: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let (mut start, mut i) = (0, 0);
    let n = script.len();
    while i < n {
        match script[i] {
            b'\'' | b'"' => {
                let q = script[i];
                i += 1;
                while i < n {
                    if script[i] == q {
                        if i + 1 < n && script[i + 1] == q {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'-' if script.get(i + 1) == Some(&b'-') => {
                while i < n && script[i] != b'\n' {
                    i += 1;
                }
            }
            b'$' => {
                // A dollar quote: $tag$ … $tag$ (tag empty or an identifier).
                let tag_end = script[i + 1..]
                    .iter()
                    .position(|&c| !(c.is_ascii_alphanumeric() || c == b'_'))
                    .map(|p| i + 1 + p);
                match tag_end {
                    Some(e) if script[e] == b'$' => {
                        let tag = &script[i..=e];
                        let body = e + 1;
                        i = match script[body..].windows(tag.len()).position(|w| w == tag) {
                            Some(p) => body + p + tag.len(),
                            None => n,
                        };
                    }
                    _ => i += 1,
                }
            }
            b';' => {
                i += 1;
                out.push(&script[start..i]);
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < n {
        out.push(&script[start..]);
    }
    out
}

/// The statement's words and identifiers, comments and whitespace left out: a bare word
/// folded to lower case, a quoted identifier unquoted (`"a""b"` → `a"b`), a string as
/// `'…'` (its content is never a role name here).
fn tokens(stmt: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    let n = stmt.len();
    while i < n {
        let c = stmt[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'-' && stmt.get(i + 1) == Some(&b'-') {
            while i < n && stmt[i] != b'\n' {
                i += 1;
            }
        } else if c == b'"' {
            let mut ident = Vec::new();
            i += 1;
            while i < n {
                if stmt[i] == b'"' {
                    if stmt.get(i + 1) == Some(&b'"') {
                        ident.push(b'"');
                        i += 2;
                        continue;
                    }
                    break;
                }
                ident.push(stmt[i]);
                i += 1;
            }
            i += 1;
            out.push(String::from_utf8_lossy(&ident).into_owned());
        } else if c == b'\'' {
            i += 1;
            while i < n {
                if stmt[i] == b'\'' {
                    if stmt.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i += 1;
            out.push("'…'".into());
        } else if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 {
            let s = i;
            while i < n && (stmt[i].is_ascii_alphanumeric() || stmt[i] == b'_' || stmt[i] >= 0x80) {
                i += 1;
            }
            out.push(String::from_utf8_lossy(&stmt[s..i]).to_lowercase());
        } else {
            out.push((c as char).to_string());
            i += 1;
        }
    }
    out
}

/// The role a statement changes, and whether it creates it; `None` for any other statement.
fn role_of(tokens: &[String]) -> Option<(&str, bool)> {
    let t: Vec<&str> = tokens.iter().map(String::as_str).collect();
    match t.as_slice() {
        ["create", "role", name, ..] => Some((name, true)),
        ["alter", "role", name, ..] | ["alter", "user", name, ..] => Some((name, false)),
        ["comment", "on", "role", name, ..] => Some((name, false)),
        ["security", "label", rest @ ..] => {
            let at = rest.windows(2).position(|w| w == ["on", "role"])?;
            rest.get(at + 2).map(|n| (*n, false))
        }
        ["grant", rest @ ..] => {
            // A membership grant: GRANT role[, …] TO grantee [WITH …] [GRANTED BY …]; an
            // object privilege has ON before TO.
            let to = rest.iter().position(|w| *w == "to")?;
            if rest[..to].contains(&"on") {
                return None;
            }
            rest.get(to + 1).map(|n| (*n, false))
        }
        _ => None,
    }
}

/// The globals `script` with every statement that would change a role of `existing` left
/// out (as a comment saying so, so the replayed script still reads in order).
pub fn filter(script: &[u8], existing: &BTreeSet<String>) -> Filtered {
    let mut out = Filtered::default();
    let mut kept = BTreeSet::new();
    let mut created = BTreeSet::new();
    for stmt in statements(script) {
        let toks = tokens(stmt);
        match role_of(&toks) {
            Some((role, _)) if existing.contains(role) => {
                kept.insert(role.to_string());
                out.statements_skipped += 1;
                // Keep the line structure (and psql's line numbers) without the statement.
                out.script
                    .extend_from_slice(b"-- pgops: left out, the role exists\n");
            }
            Some((role, creates)) => {
                if creates {
                    created.insert(role.to_string());
                }
                out.script.extend_from_slice(stmt);
            }
            None => out.script.extend_from_slice(stmt),
        }
    }
    out.roles_kept = kept.into_iter().collect();
    out.roles_created = created.into_iter().collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str = r#"--
-- PostgreSQL database cluster dump
--

SET default_transaction_read_only = off;

--
-- Roles
--

CREATE ROLE app;
ALTER ROLE app WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS PASSWORD 'SCRAM-SHA-256$4096:a;b''c';
CREATE ROLE "Odd ""one"";
x";
ALTER ROLE "Odd ""one"";
x" WITH LOGIN;
CREATE ROLE postgres;
ALTER ROLE postgres WITH SUPERUSER PASSWORD 'old';
COMMENT ON ROLE app IS 'the app; -- not a comment';
ALTER ROLE app SET search_path TO 'a', 'b';
ALTER ROLE app IN DATABASE shop SET work_mem TO '8MB';

--
-- Role memberships
--

GRANT pg_read_all_data TO app WITH INHERIT TRUE GRANTED BY postgres;
GRANT app TO "Odd ""one"";
x" GRANTED BY postgres;

CREATE TABLESPACE fast OWNER postgres LOCATION '/srv/fast';
GRANT ALL ON TABLESPACE fast TO app;
"#;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn statements_end_at_semicolons_outside_quotes_and_comments() {
        let s = statements(SCRIPT.as_bytes());
        assert_eq!(s.concat(), SCRIPT.as_bytes(), "nothing is lost");
        let password = s
            .iter()
            .find(|x| String::from_utf8_lossy(x).contains("SCRAM"))
            .unwrap();
        assert!(String::from_utf8_lossy(password).ends_with("b''c';"));
        let d = statements(b"DO $x$ a; b $x$; SELECT 1;");
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn existing_roles_are_left_exactly_as_they_are() {
        let f = filter(SCRIPT.as_bytes(), &set(&["postgres", "app"]));
        let text = String::from_utf8(f.script).unwrap();
        assert!(!text.contains("ALTER ROLE postgres"), "{text}");
        assert!(!text.contains("PASSWORD"), "{text}");
        assert!(!text.contains("COMMENT ON ROLE"), "{text}");
        assert!(!text.contains("work_mem"), "{text}");
        assert!(!text.contains("pg_read_all_data TO app"), "{text}");
        // The missing role is created, with its membership in an existing one.
        assert!(
            text.contains("CREATE ROLE \"Odd \"\"one\"\";\nx\";"),
            "{text}"
        );
        assert!(text.contains("GRANT app TO \"Odd"), "{text}");
        assert!(text.contains("CREATE TABLESPACE fast"), "{text}");
        assert_eq!(f.roles_kept, ["app", "postgres"]);
        assert_eq!(f.roles_created, ["Odd \"one\";\nx"]);
        assert_eq!(f.statements_skipped, 8);
    }

    #[test]
    fn with_no_role_there_everything_is_replayed() {
        let f = filter(SCRIPT.as_bytes(), &set(&[]));
        assert_eq!(f.script, SCRIPT.as_bytes());
        assert!(f.roles_kept.is_empty());
        assert_eq!(f.roles_created.len(), 3);
    }

    #[test]
    fn object_grants_are_not_memberships() {
        let t = tokens(b"GRANT ALL ON TABLESPACE fast TO app;");
        assert_eq!(role_of(&t), None);
        let t = tokens(b"GRANT a, b TO \"C\" GRANTED BY x;");
        assert_eq!(role_of(&t), Some(("C", false)));
    }
}
