# shellcheck shell=bash
# Sourced by scripts/install and scripts/package: the systemd units as installed.
#   pgops_render_unit UNIT BIN_DIR DOC_DIR USER BACKUP_DIR STATE_DIR METRICS_DIR
# prints UNIT with the binaries' and documentation's paths, the service user and the
# catalog, state and metrics directories of this installation (systemd expands no
# variable in ReadWritePaths=, so they are written in).
pgops_render_unit() {
  local unit=$1 bin=$2 doc=$3 user=$4 backup=$5 state=$6 metrics=$7
  sed -e "s|/usr/local/bin|$bin|g" \
      -e "s|/usr/share/doc/pgops|$doc|g" \
      -e "s|^User=postgres$|User=$user|" -e "s|^Group=postgres$|Group=$user|" \
      -e "/^ReadWritePaths=/s|/var/backups/pgops|$backup|" \
      -e "/^ReadWritePaths=/s|/var/lib/pgops|$state|" \
      -e "/^ReadWritePaths=/s|/var/lib/prometheus/node-exporter|$metrics|" \
      -e "/^ReadOnlyPaths=/s|/var/backups/pgops|$backup|" \
      -e "/^ReadOnlyPaths=/s|/var/lib/pgops|$state|" \
      "$unit"
}
