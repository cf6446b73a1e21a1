# shellcheck shell=bash
# Sourced by scripts/*: the one release build of pgops.
#   PGOPS_TOOLS            every tool, by the name it is installed as
#   pgops_bin_dir          where the built tools are (target/release, or PGOPS_BIN_DIR)
#   pgops_build_release    cargo build --release of every tool and xtask (man pages,
#                          completions), as the user who ran sudo when run through sudo
# Every script builds the same set of packages: cargo unifies features per build, so a
# different set (one without xtask, say) would rebuild much of the tree a second time.
PGOPS_TOOLS=(pgdump-run backup-verify backup-rotate backup-copy backup-restore backup-bucket restore-drill port-audit ops-status ops-notify)

# Where the built tools are: target/release, or PGOPS_BIN_DIR when a build is already there
# (scripts/test: the test build's own binaries, ADR 0022).
pgops_bin_dir() {
  echo "${PGOPS_BIN_DIR:-$PWD/target/release}"
}

pgops_build_release() {
  # The build date --version shows is the last commit's (reproducible, and the same for
  # every script: ops-core's build script reruns when SOURCE_DATE_EPOCH changes).
  SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
  export SOURCE_DATE_EPOCH
  if [ -n "${PGOPS_BIN_DIR:-}" ]; then
    local t
    for t in "${PGOPS_TOOLS[@]}" xtask; do
      [ -x "$PGOPS_BIN_DIR/$t" ] || { echo "pgops: PGOPS_BIN_DIR=$PGOPS_BIN_DIR has no $t" >&2; return 1; }
    done
    return 0
  fi
  local build=(cargo build --release --quiet) t
  for t in "${PGOPS_TOOLS[@]}" xtask; do build+=(-p "$t"); done
  if [ "$(id -u)" -eq 0 ] && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
    build=(runuser -u "$SUDO_USER" -- "${build[@]}")
  fi
  "${build[@]}"
}
