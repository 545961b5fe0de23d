# Pinned versions of the lab's components and where their builds are cached.
# Sourced by build.sh and lab.sh; change a version here and the next
# `lab.sh up` builds it into a fresh cache directory.
# shellcheck shell=bash
# The variables are used by the scripts that source this file.
# shellcheck disable=SC2034

K8S_VERSION="v1.34.4"
ETCD_VERSION="v3.6.16"
KWOK_VERSION="v0.8.0"
HELM_VERSION="v3.21.4"
HELM_DIFF_VERSION="v3.9.14"
PODCIDR_CONTROLLER_VERSION="v1.1.0"
# What runs inside the registered-node containers (issue 6): flanneld at the
# version of the lab's newest flannel chart; the CNI reference plugins
# (bridge, host-local, portmap, loopback) and cnitool, which adds a Pod
# network namespace through a conflist as a container runtime does. The
# flannel CNI plugin's own module (github.com/flannel-io/cni-plugin) is not
# served by the Go module proxy; its predecessor, plugins/meta/flannel of the
# reference plugins, is, at its last release there (v0.9.1; v1.0.0 dropped it).
FLANNEL_VERSION="v0.28.9"
CNI_PLUGINS_VERSION="v1.10.0"
CNI_FLANNEL_PLUGIN_VERSION="v0.9.1"
CNI_VERSION="v1.3.0"

LAB_CACHE="${TKE_FLANNEL_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tke-flannel-lab}"

K8S_DIR="$LAB_CACHE/bin-kubernetes-$K8S_VERSION"
ETCD_DIR="$LAB_CACHE/bin-etcd-$ETCD_VERSION"
KWOK_DIR="$LAB_CACHE/bin-kwok-$KWOK_VERSION"
HELM_DIR="$LAB_CACHE/bin-helm-$HELM_VERSION"
HELM_DIFF_DIR="$LAB_CACHE/bin-helm-diff-$HELM_DIFF_VERSION"
PODCIDR_DIR="$LAB_CACHE/bin-podcidr-controller-$PODCIDR_CONTROLLER_VERSION"
FLANNEL_DIR="$LAB_CACHE/bin-flannel-$FLANNEL_VERSION"
CNI_PLUGINS_DIR="$LAB_CACHE/bin-cni-plugins-$CNI_PLUGINS_VERSION"
CNI_FLANNEL_DIR="$LAB_CACHE/bin-cni-flannel-$CNI_FLANNEL_PLUGIN_VERSION"
CNITOOL_DIR="$LAB_CACHE/bin-cnitool-$CNI_VERSION"
# Image of the lab's registered-node containers (tests/lab/nodes.sh); bump it
# when the node's package list or sshd settings change.
NODE_IMAGE_VERSION="2"

# Where a running lab keeps its files, and its network: one place for lab.sh
# and nodes.sh. The podman network is internal: the host reaches the node
# containers, and they have no route out.
LAB_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE="${TKE_FLANNEL_LAB_STATE:-$LAB_HERE/.state}"
PKI="$STATE/pki"
NETWORK_NAME="tke-flannel-lab"
NODE_NET_PREFIX="192.168.250"
NETWORK_SUBNET="$NODE_NET_PREFIX.0/24"
GATEWAY_IP="$NODE_NET_PREFIX.1"
