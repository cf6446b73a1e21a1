# shellcheck shell=bash
# Sourced by scripts/test and scripts/pg-matrix: the Python packages tests compare pgops
# against, pinned, from PyPI, in a virtual environment the scripts own.
#   pgops_python_tools   creates $PGOPS_PY_VENV (default ~/.cache/pgops/venv, as root
#                        /var/cache/pgops/venv), installs what is missing, exports PGOPS_PYTHON
# pgdumplib: an independent reader of custom-format archives (pg-archive/tests/cross_check.rs);
# moto_server: a real S3-compatible server on loopback for the object-store tests; awscli
# (aws s3 cp) for the comparisons in scripts/bench; kubernetes-validate: the Kubernetes
# manifests against the API schemas, offline; aiosmtpd: a real SMTP server (STARTTLS,
# implicit TLS, AUTH) that ops-notify's tests and Alertmanager send mail to.

if [ "$(id -u)" -eq 0 ]; then
  PGOPS_PY_VENV=${PGOPS_PY_VENV:-/var/cache/pgops/venv}
else
  PGOPS_PY_VENV=${PGOPS_PY_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/pgops/venv}
fi
PGOPS_PY_PACKAGES=(pgdumplib==4.0.0 "moto[server]==5.2.5" awscli==1.46.2 kubernetes-validate==1.34.1 aiosmtpd==1.4.6)

pgops_python_tools() {
  local want="${PGOPS_PY_PACKAGES[*]}" stamp="$PGOPS_PY_VENV/.pgops-packages"
  if [ ! -x "$PGOPS_PY_VENV/bin/python" ]; then
    mkdir -p "$(dirname "$PGOPS_PY_VENV")"
    python3 -m venv "$PGOPS_PY_VENV" >&2
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "pgops: installing ${want} into $PGOPS_PY_VENV" >&2
    "$PGOPS_PY_VENV/bin/pip" install --quiet --disable-pip-version-check "${PGOPS_PY_PACKAGES[@]}" >&2
    printf '%s' "$want" >"$stamp"
  fi
  export PGOPS_PYTHON="$PGOPS_PY_VENV/bin/python"
}
