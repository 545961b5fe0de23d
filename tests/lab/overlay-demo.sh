#!/usr/bin/env bash
# Flannel carrying real packets, after the README's main command
# (tests/lab/demo.sh) converted the lab's cluster: two registered-node
# containers join through nodes.yml, run the real flanneld (the lab daemon
# runs it as their Flannel Pod would), and a Pod on each reaches the other
# across nodes over vxlan, and the VPC host outside the cluster CIDR.
#
#   bash tests/lab/overlay-demo.sh
#
# It prints the two Pod IPs, the round trip and what the VPC host saw. The
# nodes stay up; `bash tests/lab/lab.sh down` removes everything.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
# shellcheck source=tests/lab/versions.sh
source tests/lab/versions.sh

say() { printf '[overlay] %s\n' "$*"; }
die() {
  printf '[overlay] ERROR: %s\n' "$*" >&2
  exit 1
}
nodes=(node-192.168.250.11 node-192.168.250.12)
on_node() { podman exec "tke-lab-node-$1" sh -c "$2"; }

bash tests/lab/lab.sh status >/dev/null 2>&1 ||
  die "the lab is not up: run 'bash tests/lab/demo.sh' first (the README's main command)"
grep -q '^LAB_PODCIDR_CONTROLLER_BIN=' "$STATE/lab.env" ||
  die "$STATE/lab.env is from an older lab: run 'bash tests/lab/demo.sh' again"

start=$SECONDS
say "starting two registered-node containers"
bash tests/lab/nodes.sh up 2
inventory="$(bash tests/lab/nodes.sh inventory)"

say "joining them and preparing them for Flannel (playbooks/nodes.yml)"
ansible-playbook playbooks/nodes.yml -i inventories/lab -i "$inventory" \
  -e registered_node_registration_script_path="$repo/tests/lab/node/tke-register.sh" \
  -e registered_node_registration_script_run=true \
  -e '{"registered_node_registration_script_args": ["--token", "overlay-demo"]}'

bin="$(sed -n 's/^LAB_PODCIDR_CONTROLLER_BIN=//p' "$STATE/lab.env")"
if [[ -f "$bin" ]]; then
  say "podcidr-controller ($bin) gives the nodes their podCIDRs"
else
  say "this lab has no podcidr-controller binary (the Go module proxy does not serve it):"
  say "giving each node the podCIDR it would, as the lab administrator (tests/lab/podcidrs.py)"
  python3 tests/lab/podcidrs.py "${nodes[0]}=10.244.1.0/24" "${nodes[1]}=10.244.2.0/24"
fi

say "waiting for flanneld's lease and routes on both nodes"
for i in 1 2; do
  t=0
  until on_node "$i" 'test -s /run/flannel/subnet.env && ip route show dev flannel.1 | grep -q .'; do
    t=$((t + 1))
    ((t < 120)) || die "no lease on ${nodes[i - 1]} after 120s; see $STATE/labd.status and
      podman exec tke-lab-node-$i cat /var/log/tke-lab/flanneld.log"
    sleep 1
  done
  say "${nodes[i - 1]}: $(on_node "$i" 'tr "\n" " " </run/flannel/subnet.env')"
done

say "checking both nodes with playbooks/verify.yml (over SSH)"
ansible-playbook playbooks/verify.yml -i inventories/lab -i "$inventory"

for pod in 1:demo-a 2:demo-b; do
  i="${pod%%:*}"
  bash tests/lab/pods.sh del "$i" "${pod#*:}" >/dev/null 2>&1 || true
done
a="$(bash tests/lab/pods.sh add 1 demo-a)"
b="$(bash tests/lab/pods.sh add 2 demo-b)"
echo
say "Pod demo-a on ${nodes[0]}: $a"
say "Pod demo-b on ${nodes[1]}: $b"
say "demo-a -> demo-b across nodes (vxlan):"
bash tests/lab/pods.sh exec 1 demo-a ping -c 3 -W 2 "$b" | tail -n 2
say "demo-b -> the VPC host 192.168.250.200, outside the cluster CIDR:"
seen="$(bash tests/lab/pods.sh exec 2 demo-b python3 -c \
  'import socket; s = socket.create_connection(("192.168.250.200", 7000), timeout=5); print(s.recv(100).decode().strip())')"
[[ "$seen" == "seen-from 192.168.250.12" ]] ||
  die "the VPC host saw '$seen', not the node's address 192.168.250.12: no masquerading"
say "  it saw the connection come from ${seen#seen-from }: the node's address, as Flannel's --ip-masq makes it"
say "done in $((SECONDS - start))s; the Pods and nodes stay up ('bash tests/lab/lab.sh down' removes them)"
