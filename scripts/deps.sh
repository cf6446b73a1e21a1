# shellcheck shell=bash
# Sourced by scripts/*: installs what pgops needs when it is missing (Debian packages).
#   pgops_ensure_deps        PostgreSQL server and client, jq, zstd, GNU time, bc, util-linux,
#                            OpenSSL headers and pkg-config, iproute2, iptables, nftables, nmap,
#                            age, minisign, ssh-keygen, promtool (prometheus), vmalert
#                            (victoria-metrics), curl, systemd-analyze (systemd), strace,
#                            dpkg-dev, fakeroot, lintian, faketime, msmtp,
#                            prometheus-alertmanager

pgops_missing() {
  local missing=()
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
  command -v psql >/dev/null || missing+=(postgresql-client)
  command -v jq >/dev/null || missing+=(jq)
  command -v zstd >/dev/null || missing+=(zstd)
  command -v gzip >/dev/null || missing+=(gzip)
  [ -x /usr/bin/time ] || missing+=(time)
  command -v runuser >/dev/null || missing+=(util-linux)
  command -v sha256sum >/dev/null || missing+=(coreutils)
  command -v bc >/dev/null || missing+=(bc)
  # TLS to the server (ADR 0007): building links OpenSSL; the tests make a throwaway CA
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  [ -e /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
  command -v openssl >/dev/null || missing+=(openssl)
  # the Python packages the tests compare against live in a venv (scripts/py-tools.sh)
  python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
  # port-audit's evidence and its tests' peers
  command -v ip >/dev/null || missing+=(iproute2)
  command -v iptables-save >/dev/null || missing+=(iptables)
  command -v nft >/dev/null || missing+=(nftables)
  command -v nmap >/dev/null || missing+=(nmap)
  # backup-copy's interoperability tests: the standard tools decrypt and check what it wrote
  command -v age >/dev/null || missing+=(age)
  command -v minisign >/dev/null || missing+=(minisign)
  command -v ssh-keygen >/dev/null || missing+=(openssh-client)
  # ops-status' metrics are checked by Prometheus' own linter
  command -v promtool >/dev/null || missing+=(prometheus)
  # the alert rules are checked by vmalert too (the platform runs both stacks); the
  # services these packages ship are never started (policy-rc.d below)
  command -v vmalert >/dev/null || missing+=(victoria-metrics)
  # ops-status serve's tests: a second client address
  command -v curl >/dev/null || missing+=(curl)
  # the systemd units are checked by systemd's own analyser (verify, security, the
  # system call sets), and the tools' system calls traced against their filter
  command -v systemd-analyze >/dev/null || missing+=(systemd)
  command -v strace >/dev/null || missing+=(strace)
  # a host whose clock ran ahead (sets from the future, in a bucket too)
  command -v faketime >/dev/null || missing+=(faketime)
  # the Debian package: built with dpkg-deb under fakeroot, its dependencies read by
  # dpkg-shlibdeps, checked by lintian
  command -v dpkg-shlibdeps >/dev/null || missing+=(dpkg-dev)
  command -v fakeroot >/dev/null || missing+=(fakeroot)
  command -v lintian >/dev/null || missing+=(lintian)
  # ops-notify's tests: a real sendmail (msmtp relaying to the test's SMTP server), and
  # Alertmanager routing a pgops alert to it by mail
  command -v msmtp >/dev/null || missing+=(msmtp)
  command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
  printf '%s\n' "${missing[@]}"
}

pgops_ensure_deps() {
  local missing
  mapfile -t missing < <(pgops_missing | sed '/^$/d')
  [ "${#missing[@]}" -eq 0 ] && return 0
  echo "pgops: installing ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  # Installing the server must not start a cluster of its own on 5432: pgops never uses it.
  if [ -d /usr/sbin ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod 755 /usr/sbin/policy-rc.d
    trap '$sudo rm -f /usr/sbin/policy-rc.d' RETURN
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# The newest PostgreSQL server binaries.
pgops_pg_bin() {
  if [ -n "${PGOPS_PG_BIN_DIR:-}" ]; then echo "$PGOPS_PG_BIN_DIR"; return; fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}
