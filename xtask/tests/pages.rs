//! The man pages and shell completions xtask makes from the tools' clap definitions: one
//! page and three completions per tool. (Also what makes `cargo test --workspace` build
//! the `xtask` binary itself, which scripts/package and scripts/install run.)

use std::path::Path;
use std::process::Command;

fn xtask(args: &[&str], out: &Path) {
    let status = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success(), "xtask {args:?}");
}

#[test]
fn every_tool_gets_a_man_page_and_completions_for_three_shells() {
    let dir = tempfile::tempdir().unwrap();
    let (man, completions) = (dir.path().join("man"), dir.path().join("completions"));
    xtask(&["man"], &man);
    xtask(&["completions"], &completions);
    for t in testkit::TOOLS {
        let page = std::fs::read_to_string(man.join(format!("{t}.1"))).unwrap();
        assert!(page.contains(".TH"), "{t}: a man page");
        assert!(page.contains("\\-\\-help") || page.contains("help"), "{t}");
        for shell_file in [
            format!("bash/{t}"),
            format!("zsh/_{t}"),
            format!("fish/{t}.fish"),
        ] {
            let text = std::fs::read_to_string(completions.join(&shell_file)).unwrap();
            assert!(!text.is_empty(), "{shell_file}");
        }
    }
}
