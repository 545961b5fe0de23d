#!/usr/bin/env bash
# Prepare this machine for the lab and the tests: Debian packages, podman
# settings and the Python requirements. Idempotent; safe to run every time.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
log() { printf '[lab setup] %s\n' "$*" >&2; }

debs=(podman runc netavark aardvark-dns debootstrap openssl iproute2 iptables shellcheck chromium)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# podman on this kind of machine: runc (crun refuses the cgroup layout),
# netavark, and ulimits that may actually be set here. Only a file that is
# missing or that this script wrote is (re)written.
marker="# written by tke.flannel tests/lab/setup-host.sh"
conf=/etc/containers/containers.conf
if [[ ! -e "$conf" ]] || grep -qF "$marker" "$conf"; then
  mkdir -p /etc/containers
  cat >"$conf" <<EOF
$marker
[containers]
default_ulimits = ["nofile=8192:8192", "nproc=8192:8192"]

[engine]
runtime = "runc"

[network]
network_backend = "netavark"
EOF
else
  log "$conf exists and was not written by the lab: left as is"
fi
policy=/etc/containers/policy.json
if [[ ! -e "$policy" ]]; then
  echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$policy"
fi

if ! python3 -c 'import ansible, kubernetes, netaddr, yaml, pytest, hypothesis' 2>/dev/null ||
  ! command -v ansible-lint >/dev/null || ! command -v ruff >/dev/null; then
  log "installing Python requirements"
  python3 -m pip install -q --disable-pip-version-check -r "$repo/requirements-test.txt"
fi
log "host ready"
