#!/bin/sh
# PID 1's child in a lab node container (started under catatonit by
# tests/lab/nodes.sh): prepare the node as its variant asks, then run sshd.
# No systemd: sshd is the only service a registered node needs in the lab.
#
# LAB_NODE_BRNF (set by nodes.sh) says how br_netfilter looks on this node:
#   builtin   as on this machine's kernel: the sysctl exists, no module
#   loadable  the sysctl is hidden until `modprobe br_netfilter` (a stand-in
#             installed by nodes.sh) "loads" the module
#   absent    the sysctl is hidden and modprobe fails as it does when a kernel
#             has no such module
set -eu

mode="${LAB_NODE_BRNF:-builtin}"
mkdir -p /run/tke-lab /run/sshd
echo "$mode" >/run/tke-lab/brnf

case "$mode" in
  builtin) ;;
  loadable | absent)
    # nodes.sh mounts the stand-in modprobe only into these variants.
    if [ -e /usr/local/lib/tke-lab/modprobe ]; then
      rm -f /usr/sbin/modprobe
      install -m 0755 /usr/local/lib/tke-lab/modprobe /usr/sbin/modprobe
    fi
    # A kernel with loadable modules has its module directory.
    mkdir -p "/lib/modules/$(uname -r)"
    touch "/lib/modules/$(uname -r)/modules.builtin"
    mount -t tmpfs -o size=16k,mode=0555 tke-lab-no-br-netfilter /proc/sys/net/bridge
    # As at boot: load what /etc/modules-load.d lists (a node "rebooted"
    # after the role persisted br_netfilter gets it back).
    if grep -qsx 'br_netfilter' /etc/modules-load.d/*.conf; then
      /usr/sbin/modprobe br_netfilter || true
    fi
    ;;
  *)
    echo "tke-lab node init: LAB_NODE_BRNF=$mode is not builtin, loadable or absent" >&2
    exit 2
    ;;
esac

# What the node's runtime package installs: the CNI reference plugins and
# cnitool (nodes.sh mounts the lab's builds of them).
mkdir -p /opt/cni/bin
cp /usr/local/lib/tke-lab/cni-plugins/* /opt/cni/bin/
install -m 0755 /usr/local/lib/tke-lab/cnitool/cnitool /usr/local/bin/cnitool

# The node link's MTU, when the lab asks for a smaller (or larger) one.
if [ -n "${LAB_NODE_LINK_MTU:-}" ]; then
  ip link set dev eth0 mtu "$LAB_NODE_LINK_MTU"
fi
if [ -n "${LAB_NODE_SECOND_NET_MTU:-}" ]; then
  ip link set dev eth1 mtu "$LAB_NODE_SECOND_NET_MTU"
fi

# A default route, as every real node has (flanneld picks the interface of the
# default route unless --iface names one). Its next hop is the lab's "VPC
# host", which forwards nothing: the lab network stays internal and traffic
# to an unknown address ends there instead of leaving the machine.
if [ -n "${LAB_NODE_GATEWAY:-}" ] && ! ip route show default | grep -q .; then
  ip route add default via "$LAB_NODE_GATEWAY" dev eth0
fi

# On first start, the CNI configs TKE's tke-cni-agent leaves on its nodes
# (when nodes.sh mounts them): the role must move 00-multus.conf aside.
if [ -d /usr/local/lib/tke-lab/cni ] && [ ! -e /var/lib/tke-lab/cni-seeded ]; then
  mkdir -p /etc/cni/net.d /var/lib/tke-lab
  cp /usr/local/lib/tke-lab/cni/* /etc/cni/net.d/
  touch /var/lib/tke-lab/cni-seeded
fi

# Root logs in with the lab's key only.
install -d -m 0700 /root/.ssh
install -m 0600 /run/tke-lab-ssh/authorized_keys /root/.ssh/authorized_keys
# Host keys differ per container; made on first start.
ssh-keygen -A >/dev/null
exec /usr/sbin/sshd -D -e
