# shellcheck shell=bash
# Sourced by scripts/*: the one release build of pgops.
#   PGOPS_TOOLS            every tool, by the name it is installed as
#   pgops_build_release    cargo build --release of every tool and xtask (man pages,
#                          completions), as the user who ran sudo when run through sudo
# Every script builds the same set of packages: cargo unifies features per build, so a
# different set (one without xtask, say) would rebuild much of the tree a second time.
PGOPS_TOOLS=(pgdump-run backup-verify backup-rotate backup-copy backup-restore backup-bucket restore-drill port-audit ops-status ops-notify)

pgops_build_release() {
  # The build date --version shows is the last commit's (reproducible, and the same for
  # every script: ops-core's build script reruns when SOURCE_DATE_EPOCH changes).
  SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
  export SOURCE_DATE_EPOCH
  local build=(cargo build --release --quiet) t
  for t in "${PGOPS_TOOLS[@]}" xtask; do build+=(-p "$t"); done
  if [ "$(id -u)" -eq 0 ] && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
    build=(runuser -u "$SUDO_USER" -- "${build[@]}")
  fi
  "${build[@]}"
}
