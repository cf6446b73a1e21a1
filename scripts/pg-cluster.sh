# shellcheck shell=bash
# Sourced by scripts/quickstart and scripts/bench: a throwaway PostgreSQL cluster.
#   pgops_cluster_start DIR   initdb + start on a Unix socket in DIR (no TCP), password auth;
#                             exports PGHOST PGPORT PGUSER PGPASSFILE for the tools
#   pgops_cluster_stop DIR    stops it
# initdb refuses root: as root the server runs as the postgres user.

pgops_as_server() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pgops_cluster_start() {
  local dir=$1 bin
  bin=$(pgops_pg_bin)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local password
  password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    rm -rf "$dir/data"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    local pwfile="$dir/.pw"
    ( umask 077; printf '%s' "$password" >"$pwfile" )
    [ "$(id -u)" -eq 0 ] && chown postgres: "$pwfile"
    pgops_as_server "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$pwfile" \
      --auth=scram-sha-256 -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
    rm -f "$pwfile"
    ( umask 077; printf '*:*:*:postgres:%s\n' "$password" >"$dir/pgpass" )
  fi
  # A server left running (a run that was killed) is reused, not started twice.
  if ! pgops_as_server "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    pgops_as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses='' -c unix_socket_directories='$dir' -p 5432" start >/dev/null
  fi
  export PGHOST="$dir" PGPORT=5432 PGUSER=postgres PGPASSFILE="$dir/pgpass"
}

pgops_cluster_stop() {
  local dir=$1
  [ -f "$dir/data/postmaster.pid" ] || return 0
  pgops_as_server "$(pgops_pg_bin)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}
