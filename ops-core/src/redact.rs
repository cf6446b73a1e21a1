//! Scrubbing secrets from text before anyone sees it.
//!
//! Everything a child process prints (pg_dump's stderr) and every message that quotes a
//! connection string passes through a [`Redactor`] first. It removes the known secrets
//! verbatim and, whatever the secret, the password parts of URIs and conninfo strings.

/// What replaces a secret.
pub const MASK: &str = "***";

#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Redactor {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| !s.is_empty()).collect();
        // Longest first, so a secret that contains another is removed whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
        }
        redact_uri_passwords(&redact_conninfo_passwords(&out))
    }
}

/// `postgresql://user:secret@host` → `postgresql://user:***@host`.
fn redact_uri_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '/' || c == '"' || c == '\'')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => match authority[..at].find(':') {
                Some(colon) => {
                    out.push_str(&authority[..=colon]);
                    out.push_str(MASK);
                    out.push_str(&authority[at..]);
                }
                None => out.push_str(authority),
            },
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// `password=secret` and `password='sec ret'` → `password=***`.
fn redact_conninfo_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.to_ascii_lowercase().find("password") {
        let after = &rest[pos + "password".len()..];
        let trimmed = after.trim_start();
        if let Some(value) = trimmed.strip_prefix('=') {
            out.push_str(&rest[..pos + "password".len()]);
            out.push('=');
            out.push_str(MASK);
            let value = value.trim_start();
            let consumed = if let Some(q) = value.strip_prefix('\'') {
                let mut chars = q.char_indices();
                let mut end = q.len();
                while let Some((i, c)) = chars.next() {
                    if c == '\\' {
                        chars.next();
                    } else if c == '\'' {
                        end = i + 1;
                        break;
                    }
                }
                1 + end
            } else {
                value
                    .find(|c: char| c.is_whitespace())
                    .unwrap_or(value.len())
            };
            rest = &value[consumed..];
        } else {
            out.push_str(&rest[..pos + "password".len()]);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn removes_known_secrets_and_password_parts() {
        let r = Redactor::new(["hunter2".to_string()]);
        assert_eq!(r.redact("auth failed for hunter2"), "auth failed for ***");
        assert_eq!(
            r.redact("connecting to postgresql://bob:xyz@db:5432/app failed"),
            "connecting to postgresql://bob:***@db:5432/app failed"
        );
        assert_eq!(
            r.redact("conninfo host=x password='a b\\'c' user=y"),
            "conninfo host=x password=*** user=y"
        );
        assert_eq!(
            r.redact("password authentication failed for user"),
            "password authentication failed for user"
        );
    }

    proptest! {
        #[test]
        fn a_known_secret_never_survives(secret in "[A-Za-z0-9]{6,24}", before in ".{0,40}", after in ".{0,40}") {
            let r = Redactor::new([secret.clone()]);
            let text = format!("{before}{secret}{after}");
            prop_assert!(!r.redact(&text).contains(&secret));
        }
    }
}
