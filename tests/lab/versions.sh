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

LAB_CACHE="${TKE_FLANNEL_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tke-flannel-lab}"

K8S_DIR="$LAB_CACHE/bin-kubernetes-$K8S_VERSION"
ETCD_DIR="$LAB_CACHE/bin-etcd-$ETCD_VERSION"
KWOK_DIR="$LAB_CACHE/bin-kwok-$KWOK_VERSION"
HELM_DIR="$LAB_CACHE/bin-helm-$HELM_VERSION"
HELM_DIFF_DIR="$LAB_CACHE/bin-helm-diff-$HELM_DIFF_VERSION"
PODCIDR_DIR="$LAB_CACHE/bin-podcidr-controller-$PODCIDR_CONTROLLER_VERSION"
# Image of the lab's registered-node containers (tests/lab/nodes.sh); bump it
# when the node's package list or sshd settings change.
NODE_IMAGE_VERSION="1"
