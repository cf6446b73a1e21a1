//! `scripts/install` (#14) into a temporary DESTDIR: the tree and its modes, idempotence,
//! an edited unit kept, and `--uninstall` removing what it installed and nothing else.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use testkit::TOOLS;

/// Runs scripts/install staged under `destdir` with the debug build; returns (exit code,
/// stdout, stderr).
fn install(destdir: &Path, extra: &[&str]) -> (i32, String, String) {
    // Every tool built (`next_back` of a map would have built only the last one).
    let bins: Vec<_> = TOOLS.iter().map(|t| testkit::tool_bin(t)).collect();
    let bin_dir = bins[0].parent().unwrap().to_path_buf();
    let out = Command::new("bash")
        .arg(testkit::workspace_root().join("scripts/install"))
        .args(["--prefix", "/usr", "--bin-dir"])
        .arg(&bin_dir)
        .args(extra)
        .env("DESTDIR", destdir)
        .env("PGOPS_XTASK", testkit::tool_bin("xtask"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Every file under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = testkit::files_under(dir)
        .into_iter()
        .map(|p| p.strip_prefix(dir).unwrap().to_path_buf())
        .collect();
    out.sort();
    out
}

#[test]
fn install_into_a_destdir_then_again_then_uninstall() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, _, stderr) = install(d, &[]);
    assert_eq!(code, 0, "{stderr}");

    for t in TOOLS {
        assert_eq!(mode(&d.join(format!("usr/bin/{t}"))), 0o755, "{t}");
        // Stripped: no debug sections (the release build's line tables stay in target/).
        let sections = std::process::Command::new("readelf")
            .arg("-S")
            .arg(d.join(format!("usr/bin/{t}")))
            .output()
            .expect("readelf (binutils)");
        let sections = String::from_utf8_lossy(&sections.stdout);
        // (.debug_gdb_scripts is loaded with the program: strip keeps it.)
        assert!(
            !sections.contains(".debug_info") && !sections.contains(".debug_line"),
            "{t} is not stripped"
        );
        assert_eq!(mode(&d.join(format!("usr/share/man/man1/{t}.1.gz"))), 0o644);
        for c in [
            format!("usr/share/bash-completion/completions/{t}"),
            format!("usr/share/zsh/vendor-completions/_{t}"),
            format!("usr/share/fish/vendor_completions.d/{t}.fish"),
        ] {
            assert_eq!(mode(&d.join(&c)), 0o644, "{c}");
        }
    }
    // The environment file may hold the S3 secret: not readable by every user.
    assert_eq!(mode(&d.join("etc/pgops/pgops.env")), 0o640);
    assert_eq!(
        mode(&d.join("var/backups/pgops")),
        0o700,
        "the catalog is private"
    );
    assert_eq!(mode(&d.join("var/lib/pgops")), 0o750);
    let backup =
        std::fs::read_to_string(d.join("etc/systemd/system/pgops-backup.service")).unwrap();
    assert!(backup.contains("/usr/bin/pgdump-run") && !backup.contains("/usr/local/bin"));
    assert!(backup.contains("file:///usr/share/doc/pgops/runbooks/"));
    assert!(d.join("usr/share/doc/pgops/runbooks/restore.md").is_file());
    assert!(d.join("usr/share/doc/pgops/LICENSE-APACHE").is_file());
    for unit in [
        "pgops-backup.timer",
        "pgops-failure@.service",
        "pgops-health.service",
    ] {
        assert_eq!(
            mode(&d.join("etc/systemd/system").join(unit)),
            0o644,
            "{unit}"
        );
    }

    // Again: nothing to do (a dry run after an install has no action left).
    let before = tree(d);
    let (code, stdout, _) = install(d, &["--dry-run"]);
    assert_eq!(code, 0);
    assert!(
        !stdout.contains("would run"),
        "an install is idempotent:\n{stdout}"
    );
    let (code, _, _) = install(d, &[]);
    assert_eq!(code, 0);
    assert_eq!(tree(d), before);

    // An edited unit is never overwritten: the new one goes beside it.
    let unit = d.join("etc/systemd/system/pgops-backup.service");
    let edited = backup.replace("Nice=10", "Nice=15");
    std::fs::write(&unit, &edited).unwrap();
    let (code, _, stderr) = install(d, &[]);
    assert_eq!(code, 0);
    assert_eq!(std::fs::read_to_string(&unit).unwrap(), edited);
    assert!(stderr.contains("kept your edited /etc/systemd/system/pgops-backup.service"));
    assert!(d
        .join("etc/systemd/system/pgops-backup.service.pgops-new")
        .is_file());

    // A dry-run uninstall changes nothing; the real one removes what install put there,
    // and keeps the settings, the catalog, the state and the edited unit.
    let before = tree(d);
    let (code, stdout, _) = install(d, &["--uninstall", "--dry-run"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("would run: rm -f"), "{stdout}");
    assert_eq!(tree(d), before);
    std::fs::write(d.join("var/backups/pgops/keep-me"), b"a backup").unwrap();
    let (code, _, stderr) = install(d, &["--uninstall"]);
    assert_eq!(code, 0, "{stderr}");
    for t in TOOLS {
        assert!(!d.join(format!("usr/bin/{t}")).exists(), "{t}");
        assert!(!d.join(format!("usr/share/man/man1/{t}.1.gz")).exists());
    }
    assert!(
        testkit::files_under(&d.join("usr/share/man")).is_empty(),
        "every page, the subcommands' too"
    );
    assert!(!d.join("etc/systemd/system/pgops-backup.timer").exists());
    assert!(!d.join("usr/share/doc/pgops").exists());
    assert!(unit.is_file(), "the edited unit is the operator's");
    assert!(d.join("etc/pgops/pgops.env").is_file());
    assert!(
        d.join("var/backups/pgops/keep-me").is_file(),
        "never a backup"
    );
    assert!(stderr.contains("kept /etc/systemd/system/pgops-backup.service"));
}

#[test]
fn bad_arguments_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = install(dir.path(), &["--frobnicate"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, _) = install(dir.path(), &["--prefix", "relative/dir"]);
    assert_eq!(code, 2);
    assert!(tree(dir.path()).is_empty());
}
