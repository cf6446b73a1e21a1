//! The Ansible role `backup_pg_dump` and `playbooks/backup.yml` (#28), run for real
//! (ansible-core from PyPI, installed by scripts/py-tools.sh) against a throwaway root on
//! this machine: the tools, the units, the env file, the public keys only, the timers
//! enabled; a second run changes nothing; a changed setting changes that one file; a
//! private key offered as a recipient is refused before anything is written; no secret in
//! Ansible's output; and `ansible-lint` (production profile) finds nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ansible_dir() -> PathBuf {
    testkit::workspace_root().join("infra/ansible")
}

/// ansible's virtual environment (`scripts/py-tools.sh`: `PGOPS_ANSIBLE_BIN`, else beside
/// the test venv).
fn ansible_bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("PGOPS_ANSIBLE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let venv = testkit::python();
            venv.ancestors().nth(3).unwrap().join("ansible/bin")
        });
    let bin = dir.join(name);
    assert!(
        bin.is_file(),
        "no {}: run scripts/test, which installs ansible-core and ansible-lint",
        bin.display()
    );
    bin
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

struct Host {
    dir: tempfile::TempDir,
}

impl Host {
    fn new() -> Host {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        std::fs::write(
            dir.path().join("inventory.ini"),
            format!(
                "[backup_pg_dump]\nlocalhost ansible_connection=local ansible_become=false ansible_python_interpreter={}\n",
                ansible_bin("python").display()
            ),
        )
        .unwrap();
        Host { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// Runs the playbook with these variables; its output, and the `changed=` of its recap.
    fn play(&self, vars: &serde_json::Value) -> (Output, Option<u32>) {
        let vars_file = self.dir.path().join("vars.json");
        std::fs::write(&vars_file, vars.to_string()).unwrap();
        let out = Command::new(ansible_bin("ansible-playbook"))
            .current_dir(ansible_dir())
            .env("ANSIBLE_HOME", self.dir.path().join("ansible-home"))
            .env("ANSIBLE_LOCAL_TEMP", self.dir.path().join("ansible-tmp"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_CONFIG", ansible_dir().join("ansible.cfg"))
            .arg("-i")
            .arg(self.dir.path().join("inventory.ini"))
            .arg("playbooks/backup.yml")
            .arg("-e")
            .arg(format!("@{}", vars_file.display()))
            .output()
            .expect("ansible-playbook runs");
        let out_text = text(&out);
        testkit::assert_no_secret("ansible-playbook's output", out_text.as_bytes());
        let changed = out_text
            .lines()
            .find(|l| l.starts_with("localhost") && l.contains("changed="))
            .and_then(|l| l.split("changed=").nth(1))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok());
        (out, changed)
    }
}

fn age_keypair(dir: &Path) -> (String, String) {
    let key = dir.join("identity.age");
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .expect("age-keygen (Debian's age)");
    assert!(out.status.success(), "{}", text(&out));
    let identity = std::fs::read_to_string(&key).unwrap();
    let public = identity
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_string();
    let secret = identity
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_string();
    (public, secret)
}

fn mode_owner(path: &Path) -> (u32, u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.mode() & 0o7777, m.uid(), m.gid())
}

#[test]
fn the_role_installs_pgops_on_a_throwaway_root_twice_and_changes_nothing_the_second_time() {
    let host = Host::new();
    let root = host.root();
    let (recipient, identity) = age_keypair(host.dir.path());
    let bin_dir = testkit::tool_bin("pgdump-run")
        .parent()
        .unwrap()
        .to_path_buf();
    for t in testkit::TOOLS {
        testkit::tool_bin(t);
    }
    let mut vars = serde_json::json!({
        "backup_pg_dump_root": root,
        "backup_pg_dump_bin_dir": bin_dir,
        "backup_pg_dump_recipients": [recipient],
        "backup_pg_dump_env_secrets": {"AWS_SECRET_ACCESS_KEY": testkit::SENTINEL_S3_SECRET},
    });

    let (out, changed) = host.play(&vars);
    assert!(out.status.success(), "{}", text(&out));
    assert!(changed.unwrap() >= 7, "{}", text(&out));

    // The tools run from where the units call them.
    for t in testkit::TOOLS {
        let bin = root.join("usr/local/bin").join(t);
        let v = Command::new(&bin).arg("--version").output().unwrap();
        assert!(v.status.success(), "{t}: {}", text(&v));
        assert_eq!(mode_owner(&bin).0, 0o755);
    }
    // The env file: the settings, the secret only there, 0640 root:postgres.
    let postgres = nix_gid("postgres");
    let env_file = root.join("etc/pgops/pgops.env");
    assert_eq!(mode_owner(&env_file), (0o640, 0, postgres));
    let env = std::fs::read_to_string(&env_file).unwrap();
    for line in [
        "PGOPS_BACKUP_DIR=/var/backups/pgops",
        "PGOPS_STATE_DIR=/var/lib/pgops",
        "PGOPS_REMOTE=s3://backups/pgops",
    ] {
        assert!(env.contains(line), "{line} not in\n{env}");
    }
    assert!(env.contains(testkit::SENTINEL_S3_SECRET));
    // Public keys only: the recipients as given, the host's own signing key made there
    // (private to postgres), never the identity.
    assert_eq!(
        std::fs::read_to_string(root.join("etc/pgops/recipients")).unwrap(),
        format!("{recipient}\n")
    );
    let signing = root.join("etc/pgops/minisign.key");
    assert_eq!(mode_owner(&signing).0, 0o600);
    assert_eq!(mode_owner(&signing).1, nix_uid("postgres"));
    assert!(std::fs::read_to_string(root.join("etc/pgops/minisign.pub"))
        .unwrap()
        .contains("minisign public key"));
    for f in testkit::walk(&root).iter().filter(|p| p.is_file()) {
        let bytes = std::fs::read(f).unwrap();
        let found = bytes
            .windows(identity.len())
            .any(|w| w == identity.as_bytes());
        assert!(!found, "the age identity reached {}", f.display());
    }
    // Directories with their owners; the units; each timer enabled as systemctl does.
    assert_eq!(mode_owner(&root.join("var/backups/pgops")).0, 0o700);
    assert_eq!(mode_owner(&root.join("var/lib/pgops")).0, 0o750);
    let units = root.join("etc/systemd/system");
    let shipped = testkit::workspace_root().join("scripts/systemd");
    for unit in std::fs::read_dir(&shipped).unwrap().flatten() {
        let name = unit.file_name().into_string().unwrap();
        if name.ends_with(".service") || name.ends_with(".timer") {
            assert_eq!(
                std::fs::read(units.join(&name)).unwrap(),
                std::fs::read(unit.path()).unwrap(),
                "{name}"
            );
        }
    }
    for timer in [
        "pgops-backup.timer",
        "pgops-copy.timer",
        "pgops-rotate.timer",
        "pgops-verify.timer",
        "pgops-verify-remote.timer",
        "pgops-drill.timer",
        "pgops-audit.timer",
    ] {
        let link = units.join("timers.target.wants").join(timer);
        assert_eq!(
            std::fs::read_link(&link).unwrap_or_else(|e| panic!("{timer} not enabled: {e}")),
            Path::new("/etc/systemd/system").join(timer)
        );
    }
    assert!(!units
        .join("timers.target.wants/pgops-notify-watch.timer")
        .exists());

    // Idempotent: the second run changes nothing.
    let (out, changed) = host.play(&vars);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(changed, Some(0), "{}", text(&out));

    // A changed setting changes that one file, and nothing else.
    vars["backup_pg_dump_env"] = serde_json::json!({
        "PGOPS_BACKUP_DIR": "/var/backups/pgops", "PGOPS_STATE_DIR": "/var/lib/pgops",
        "PGOPS_METRICS_FILE": "/var/lib/prometheus/node-exporter/pgops.prom",
        "PGOPS_SIGNING_KEY": "/etc/pgops/minisign.key", "PGOPS_PUBLIC_KEY": "/etc/pgops/minisign.pub",
        "PGOPS_RECIPIENTS_FILE": "/etc/pgops/recipients", "PGOPS_RTO_TARGET": "30m",
    });
    let before = std::fs::read(&signing).unwrap();
    let (out, changed) = host.play(&vars);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(changed, Some(1), "{}", text(&out));
    assert!(std::fs::read_to_string(&env_file)
        .unwrap()
        .contains("PGOPS_RTO_TARGET=30m\n"));
    assert_eq!(std::fs::read(&signing).unwrap(), before, "the key is kept");
}

#[test]
fn a_private_key_offered_as_a_recipient_is_refused_before_anything_is_written() {
    let host = Host::new();
    let (_, identity) = age_keypair(host.dir.path());
    let (out, _) = host.play(&serde_json::json!({
        "backup_pg_dump_root": host.root(),
        "backup_pg_dump_bin_dir": "/nonexistent",
        "backup_pg_dump_recipients": [identity],
    }));
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("public keys only"), "{said}");
    assert!(
        !said.contains(&identity),
        "the identity was printed:\n{said}"
    );
    assert_eq!(std::fs::read_dir(host.root()).unwrap().count(), 0);
}

#[test]
fn ansible_lint_finds_nothing_in_the_production_profile() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(ansible_bin("ansible-lint"))
        .current_dir(ansible_dir())
        .env("ANSIBLE_HOME", home.path())
        .env("HOME", home.path())
        .env("NO_COLOR", "1")
        .args(["--offline", "--profile", "production", "--strict"])
        .output()
        .expect("ansible-lint runs");
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("0 failure(s), 0 warning(s)"), "{said}");
}

fn nix_uid(user: &str) -> u32 {
    id(user, "-u")
}

fn nix_gid(user: &str) -> u32 {
    id(user, "-g")
}

fn id(user: &str, flag: &str) -> u32 {
    let out = Command::new("id").args([flag, user]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}
