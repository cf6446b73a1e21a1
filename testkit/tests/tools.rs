//! What every pgops tool promises on its command line, checked across all of them.

const TOOLS: [&str; 7] = [
    "pgdump-run",
    "backup-verify",
    "backup-rotate",
    "backup-copy",
    "restore-drill",
    "port-audit",
    "ops-status",
];

/// `--version`: the name, the version, the git commit and the build date, so a report
/// names exactly the build that wrote it.
#[test]
fn every_tool_says_its_version_commit_and_build_date() {
    for tool in TOOLS {
        let out = std::process::Command::new(testkit::tool_bin(tool))
            .arg("--version")
            .output()
            .unwrap();
        assert!(out.status.success(), "{tool}");
        let text = String::from_utf8(out.stdout).unwrap();
        let want = format!("{tool} {} (commit ", env!("CARGO_PKG_VERSION"));
        assert!(text.starts_with(&want), "{tool}: {text}");
        let built = text
            .split(", built ")
            .nth(1)
            .and_then(|r| r.strip_suffix(")\n"))
            .unwrap_or_else(|| panic!("{tool}: no build date in {text:?}"));
        assert!(
            jiff::civil::Date::strptime("%Y-%m-%d", built).is_ok(),
            "{tool}: {built:?}"
        );
        assert!(
            !text.contains("commit unknown"),
            "{tool}: built in a checkout: {text}"
        );
    }
}

/// Words for people: on a terminal (a real pseudo-terminal, from `script`) each error
/// and a summary are readable lines; piped, stderr stays quiet and stdout JSON; under
/// systemd (JOURNAL_STREAM) the lines carry journald priorities; `-q` silences them.
#[test]
fn people_get_words_on_a_terminal_and_the_journal_gets_priorities() {
    let bin = testkit::tool_bin("pgdump-run");
    let port = testkit::free_port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--all",
        "-p",
        &port,
        "--backup-dir",
        dir.path().to_str().unwrap(),
    ];
    let cmd = format!("{} {}", bin.display(), args.join(" "));
    let in_pty = |extra: &str| {
        let out = std::process::Command::new("script")
            .args(["-qec", &format!("{cmd} {extra}"), "/dev/null"])
            .output()
            .expect("script (util-linux)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = in_pty("");
    assert!(
        text.contains("pgdump-run: error: connect_failed: "),
        "{text}"
    );
    assert!(text.contains(" — check that the server runs"), "{text}");
    assert!(text.contains("pgdump-run: backup error in "), "{text}");
    assert!(!in_pty("-q").contains("pgdump-run: error:"));

    let piped = std::process::Command::new(&bin)
        .args(args)
        .output()
        .unwrap();
    assert_eq!(piped.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert!(!stderr.contains("pgdump-run: error:"), "{stderr}");
    for line in String::from_utf8_lossy(&piped.stdout).lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("stdout stays JSON lines");
    }

    let journal = std::process::Command::new(&bin)
        .args(args)
        .env("JOURNAL_STREAM", "8:1234")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&journal.stderr);
    assert!(
        stderr.contains("<3>pgdump-run: error: connect_failed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("<3>pgdump-run: backup error in"),
        "{stderr}"
    );
}
