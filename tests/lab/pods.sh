#!/usr/bin/env bash
# Pods without a kubelet: a network namespace on a lab node container, added
# through the CNI chain in the node's /etc/cni/net.d exactly as a container
# runtime would (cnitool, with the node's /opt/cni/bin on CNI_PATH).
#
#   pods.sh add I NAME      add Pod NAME on node I; prints its IPv4 address
#   pods.sh del I NAME      delete it through the same chain (CNI DEL)
#   pods.sh exec I NAME CMD...   run CMD in Pod NAME's network namespace
#   pods.sh ip I NAME       print Pod NAME's IPv4 address
#
# Node I is the container tke-lab-node-I (tests/lab/nodes.sh). The network is
# the one the conflist names (Flannel's chart: cbr0).
set -euo pipefail

die() {
  printf '[lab pods] ERROR: %s\n' "$*" >&2
  exit 1
}

(($# >= 3)) || die "usage: $0 add|del|ip I NAME | exec I NAME CMD..."
cmd="$1" node="tke-lab-node-$2" pod="$3"
shift 3
[[ "$pod" =~ ^[a-z0-9][a-z0-9-]*$ ]] || die "Pod name '$pod': use lower-case letters, digits and -"
podman container exists "$node" || die "no lab node container $node (tests/lab/nodes.sh up)"

on_node() { podman exec "$node" sh -c "$1"; }

# The network name of the first conflist, as a runtime picks the first file.
network() {
  # shellcheck disable=SC2016 # expanded in the node, not here
  on_node 'f=$(ls /etc/cni/net.d/*.conflist 2>/dev/null | sort | head -n1);
    [ -n "$f" ] || { echo "no CNI conflist in /etc/cni/net.d" >&2; exit 1; };
    sed -n "s/^ *\"name\": *\"\([^\"]*\)\".*/\1/p" "$f" | head -n1'
}

pod_ip() {
  on_node "ip netns exec $pod ip -4 -o addr show dev eth0" | awk '{print $4}' | cut -d/ -f1
}

cni() {
  local net
  net="$(network)"
  on_node "CNI_PATH=/opt/cni/bin NETCONFPATH=/etc/cni/net.d cnitool $1 $net /var/run/netns/$pod"
}

case "$cmd" in
  add)
    on_node "ip netns add $pod" || die "Pod $pod already exists on $node"
    if ! out="$(cni add 2>&1)"; then
      on_node "ip netns delete $pod" || true
      die "CNI ADD of $pod on $node failed: $out"
    fi
    pod_ip
    ;;
  del)
    cni del >/dev/null
    on_node "ip netns delete $pod"
    ;;
  ip) pod_ip ;;
  exec) podman exec "$node" ip netns exec "$pod" "$@" ;;
  *) die "unknown command $cmd (add, del, ip, exec)" ;;
esac
