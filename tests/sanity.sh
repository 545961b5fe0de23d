#!/usr/bin/env bash
# ansible-test sanity on a copy of the collection laid out as
# ansible_collections/tke/flannel. ansible-test's own per-test virtualenvs
# need a pip bootstrap script from a host this machine can't reach, so the
# sanity requirements are installed once (cached by ansible-core version)
# into a virtualenv of their own and ansible-test runs there with --local.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=tests/lab/versions.sh
source "$repo/tests/lab/versions.sh"

core="$(python3 -c 'from ansible.release import __version__; print(__version__)')"
venv="$LAB_CACHE/sanity-venv-$core"
reqs="$(python3 -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')/_data/requirements"
if [[ ! -x "$venv/bin/ansible-test" ]]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  # Pins from ansible-test's sanity requirements, less the ones ansible-core
  # itself pins differently.
  mapfile -t pins < <(cat "$reqs"/sanity.*.txt | grep -v '^#' |
    grep -viE '^(pyyaml|jinja2|markupsafe|packaging)==' | sort -u)
  "$venv/bin/pip" install -q --disable-pip-version-check "ansible-core==$core" \
    netaddr kubernetes "${pins[@]}"
fi

# ansible-test creates each sanity test's virtualenv without pip and then
# runs a pip bootstrap script it downloads, which this machine can't reach.
# It reads the script from its cache when one is there: this one installs the
# interpreter's bundled pip (ensurepip), then what ansible-test asks for.
pip_version="$(sed -n "s/^ *pip='\([0-9.]*\)',.*/\1/p" \
  "$(dirname "$reqs")/../_internal/python_requirements.py" | head -1)"
bootstrap="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
if [[ ! -s "$bootstrap" ]]; then
  mkdir -p "$(dirname "$bootstrap")"
  cat >"$bootstrap" <<'PY'
"""pip bootstrap for ansible-test, written by tke.flannel's tests/sanity.sh."""
import subprocess
import sys

# In a child process: ensurepip points PIP_CONFIG_FILE at /dev/null in its
# own environment, which would hide the machine's pip configuration below.
subprocess.check_call([sys.executable, "-m", "ensurepip"])
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args]))
PY
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/tke/flannel"
mkdir -p "$dest"
# Only what git tracks (plus new files not ignored), as a release would hold;
# tracked files deleted from the work tree (not yet committed) are left out.
(cd "$repo" && git ls-files -co --exclude-standard -z |
  while IFS= read -r -d '' f; do
    if [[ -e "$f" || -L "$f" ]]; then printf '%s\0' "$f"; fi
  done | xargs -0 tar -cf - --no-recursion) |
  tar -xf - -C "$dest"
cd "$dest"
git init -q . && git add -A >/dev/null
"$venv/bin/ansible-test" sanity --local --python 3.11 --color no
